(preproc_include) @import
(using_declaration) @import
