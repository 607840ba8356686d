; inherits: typescript
(jsx_opening_element name: (identifier) @reference.type)
(jsx_self_closing_element name: (identifier) @reference.type)
