"""Tree-sitter queries kept as data: ``queries/<language>/<kind>.scm``, compiled once per process.

Kinds and their capture conventions:

- ``definitions``: ``@definition.<kind>`` on the whole definition node and ``@name`` on its name
  (kinds: class, function, method, interface, struct, enum, trait, impl, module, namespace, type,
  constant, variable, field, macro). When several patterns match the same node, the earliest pattern
  in the file wins, so specific patterns come first.
- ``imports``: ``@import`` on each import statement.
- ``references``: ``@reference.call`` / ``@reference.type`` / ``@reference.identifier`` on the
  identifier nodes used in code.
- ``comments``: ``@comment`` on comments and ``@doc`` on docstrings.

A file whose first line is ``; inherits: <language>`` is followed by that language's file of the same
kind (TSX inherits TypeScript, which inherits JavaScript; C++ inherits C): its own patterns come first,
so they win over the inherited ones. Captures whose name starts with ``_`` are helpers for predicates
and are ignored by callers.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from tree_sitter import Query

from coding_director.context.languages import LANGUAGES, get_language

__all__ = ["QUERY_KINDS", "get_query", "query_source"]

QUERY_KINDS = ("definitions", "imports", "references", "comments")
_INHERITS = "; inherits:"


@cache
def query_source(language: str, kind: str) -> str:
    """The full source text of the ``kind`` query for ``language``, inheritance resolved.

    Raises ``KeyError`` for an unknown language or kind and ``FileNotFoundError`` when the file is
    missing from the package.
    """
    if language not in LANGUAGES or kind not in QUERY_KINDS:
        raise KeyError(f"no {kind!r} query for {language!r}")
    text = (resources.files("coding_director.context") / "queries" / language / f"{kind}.scm").read_text(
        encoding="utf-8"
    )
    first, _, own = text.partition("\n")
    if first.strip().startswith(_INHERITS):
        parent = first.strip().removeprefix(_INHERITS).strip()
        return own + "\n" + query_source(parent, kind)
    return text


@cache
def get_query(language: str, kind: str) -> Query:
    """The compiled :class:`tree_sitter.Query` (cached per process).

    Raises ``KeyError`` for an unknown language/kind and ``tree_sitter.QueryError`` when the file does
    not compile against the installed grammar (the golden tests compile every file).
    """
    return Query(get_language(language), query_source(language, kind))
