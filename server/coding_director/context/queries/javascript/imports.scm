(import_statement) @import
(lexical_declaration
  (variable_declarator
    value: (call_expression function: (identifier) @_require (#eq? @_require "require")))) @import
(variable_declaration
  (variable_declarator
    value: (call_expression function: (identifier) @_require (#eq? @_require "require")))) @import
