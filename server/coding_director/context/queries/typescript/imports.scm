; inherits: javascript
(import_alias) @import
