"""The language server (pygls). This is the only package that imports pygls or lsprotocol."""
