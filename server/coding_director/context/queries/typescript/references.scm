; inherits: javascript
(type_identifier) @reference.type
(extends_clause value: (identifier) @reference.type)
