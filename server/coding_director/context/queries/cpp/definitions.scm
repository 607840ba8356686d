; inherits: c
; A function defined outside its class, `void Foo::bar() {}`, is a method (this file's patterns win
; over C's).
(function_definition
  declarator: (function_declarator declarator: (qualified_identifier) @name)) @definition.method
(function_definition
  declarator: (reference_declarator (function_declarator declarator: (_) @name))) @definition.function
(field_declaration
  declarator: (function_declarator declarator: (_) @name)) @definition.method
(class_specifier name: (_) @name body: (_)) @definition.class
(namespace_definition name: (_) @name) @definition.namespace
(alias_declaration name: (type_identifier) @name) @definition.type
