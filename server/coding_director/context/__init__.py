"""Context engine: live syntax trees of open documents and the code a request needs.

Pure and synchronous (no LSP, no asyncio). Main entry points:

- :class:`DocumentStore` / :class:`TextChange`: open documents, incremental re-parse on change;
- :func:`extract` / :func:`extract_from_file` -> :class:`CodeContext`; :func:`render_context`;
- :func:`fim_window`: prefix/suffix for inline completions;
- :func:`check_syntax` / :func:`check_splice` -> :class:`SyntaxProblem` list (escalation checks);
- :func:`detect_language`.
"""

from coding_director.context import models
from coding_director.context.budget import estimate_tokens
from coding_director.context.documents import Document, DocumentStore, TextChange
from coding_director.context.extract import extract, extract_from_file
from coding_director.context.fim import fim_window
from coding_director.context.languages import LANGUAGES, detect_language
from coding_director.context.models import *  # noqa: F403 - the shapes, listed in models.__all__
from coding_director.context.render import render_context
from coding_director.context.syntax import check_splice, check_syntax, find_problems

__all__ = [  # the shapes (models.__all__), then the functions
    *models.__all__,
    "LANGUAGES",
    "Document",
    "DocumentStore",
    "TextChange",
    "check_splice",
    "check_syntax",
    "detect_language",
    "estimate_tokens",
    "extract",
    "extract_from_file",
    "fim_window",
    "find_problems",
    "render_context",
]
