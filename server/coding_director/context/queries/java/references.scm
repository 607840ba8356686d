(method_invocation name: (identifier) @reference.call)
(object_creation_expression type: (type_identifier) @reference.type)
(type_identifier) @reference.type
(identifier) @reference.identifier
