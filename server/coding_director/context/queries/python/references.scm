; Names used in code. Weight in related-snippet ranking: call = type > identifier.
(call function: (identifier) @reference.call)
(call function: (attribute attribute: (identifier) @reference.call))
(type (identifier) @reference.type)
(class_definition superclasses: (argument_list (identifier) @reference.type))
(identifier) @reference.identifier
