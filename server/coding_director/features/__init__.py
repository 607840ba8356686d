"""Use cases (chat, code actions, completions, status) as plain async functions, below the LSP layer."""
