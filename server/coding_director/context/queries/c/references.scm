(call_expression function: (identifier) @reference.call)
(type_identifier) @reference.type
(identifier) @reference.identifier
