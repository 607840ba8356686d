; Definitions: @definition.<kind> on the whole definition, @name on its name.
; Decorators are not part of the definition node (they live in decorated_definition), which
; matches Python's own ast (FunctionDef.lineno is the `def` line).
(class_definition name: (identifier) @name) @definition.class

(function_definition name: (identifier) @name) @definition.function

(expression_statement
  (assignment left: (identifier) @name) @definition.variable)
