"""Syntax checks used by escalation: does model output parse, and does a fix keep a file parseable.

Both functions parse with the same grammars as the document store. A language that is not supported
cannot be checked: the functions then return an empty list (meaning "no problem found", not "valid").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from tree_sitter import Node, Tree

from coding_director.context.languages import LANGUAGES, detect_language, new_parser
from coding_director.context.models import SyntaxProblem
from coding_director.context.positions import LineIndex

__all__ = ["check_splice", "check_syntax", "find_problems"]

_ENCODING_ERRORS = "surrogatepass"
_SNIPPET_CHARS = 40


@dataclass(frozen=True, slots=True)
class _RawProblem:
    """A problem as byte offsets ``[start, end)`` into the parsed data (see :func:`_to_model`)."""

    kind: Literal["error", "missing"]
    start: int
    end: int
    message: str

    def shifted(self, delta: int) -> _RawProblem:
        """The same problem ``delta`` bytes later (after an edit before it)."""
        return replace(self, start=self.start + delta, end=self.end + delta)


def _resolve(language: str) -> str | None:
    if language in LANGUAGES:
        return language
    return detect_language(language, None)


def _raw_problems(tree: Tree) -> list[_RawProblem]:
    """Outermost ERROR nodes and MISSING nodes (not inside an ERROR), in document order.
    Only subtrees with ``has_error`` are visited."""
    found: list[_RawProblem] = []
    stack: list[Node] = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            found.append(_RawProblem("missing", node.start_byte, node.end_byte, f"missing {node.type!r}"))
        elif node.is_error:
            snippet = " ".join((node.text or b"").decode("utf-8", "replace").split())
            if len(snippet) > _SNIPPET_CHARS:
                snippet = snippet[: _SNIPPET_CHARS - 1] + "…"
            found.append(_RawProblem("error", node.start_byte, node.end_byte,
                                     f"syntax error near {snippet!r}" if snippet else "syntax error"))
        elif node.has_error:
            stack.extend(reversed(node.children))
    found.sort(key=lambda p: (p.start, p.end))
    return found


def _to_model(problem: _RawProblem, data: bytes, lines: LineIndex) -> SyntaxProblem:
    line, column = lines.position_at(data, problem.start)
    end_line, end_column = lines.position_at(data, problem.end)
    return SyntaxProblem(kind=problem.kind, line=line, column=column, end_line=end_line, end_column=end_column,
                         message=problem.message)


def find_problems(tree: Tree, data: bytes) -> list[SyntaxProblem]:
    """The ERROR/MISSING nodes of an existing ``tree`` of ``data`` (e.g. a store document's tree),
    as :class:`SyntaxProblem` (0-based lines, 0-based UTF-16 columns)."""
    if not tree.root_node.has_error:
        return []
    lines = LineIndex(data)
    return [_to_model(p, data, lines) for p in _raw_problems(tree)]


def check_syntax(code: str, language: str) -> list[SyntaxProblem]:
    """Parse ``code`` and return its syntax problems; an empty list means it parses cleanly.

    ``language``: a language name (``"python"``, ``"tsx"`` ...) or an LSP language id
    (``"typescriptreact"``). Positions: 0-based lines, 0-based columns in UTF-16 code units (equal to
    code points unless the code has astral characters such as emoji). An unsupported language
    returns ``[]`` because it cannot be checked. Never raises for any input string.
    """
    name = _resolve(language)
    if name is None:
        return []
    data = code.encode("utf-8", _ENCODING_ERRORS)
    return find_problems(new_parser(name).parse(data), data)


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """Closed-interval overlap, so zero-width (MISSING) problems match at their position."""
    return a_start <= b_end and b_start <= a_end


def check_splice(text: str, start_line: int, start_character: int, end_line: int, end_character: int,
                 replacement: str, language: str) -> list[SyntaxProblem]:
    """Problems *introduced* by replacing the LSP range of ``text`` with ``replacement``.

    The range is LSP-style: 0-based lines, UTF-16 columns, end exclusive (clamped like the store).
    Returned positions refer to the spliced text (0-based lines, UTF-16 columns).

    How blame is decided: both versions are parsed from scratch. Each problem of the original file
    that lies wholly before the replaced range keeps its bytes, one wholly after it is shifted by the
    length change, and one overlapping the replaced range is dropped (the fix replaced that code).
    A problem of the spliced file counts as pre-existing, and is not returned, when it overlaps a
    mapped original problem of the same kind, unless it lies entirely inside the inserted text
    (then the fix itself is at fault). Everything else is blamed on the fix. An unsupported language
    returns ``[]`` (it cannot be checked).
    """
    name = _resolve(language)
    if name is None:
        return []
    data = text.encode("utf-8", _ENCODING_ERRORS)
    lines = LineIndex(data)
    start = lines.offset_at(data, start_line, start_character)
    end = max(start, lines.offset_at(data, end_line, end_character))
    if (end_line, end_character) < (start_line, start_character):
        start, end = end, start
    inserted = replacement.encode("utf-8", _ENCODING_ERRORS)
    new_data = data[:start] + inserted + data[end:]
    parser = new_parser(name)
    new_tree = parser.parse(new_data)
    if not new_tree.root_node.has_error:
        return []
    delta = len(inserted) - (end - start)
    mapped: list[_RawProblem] = []
    old_tree = parser.parse(data)
    if old_tree.root_node.has_error:
        for problem in _raw_problems(old_tree):
            if (problem.end <= start and problem.start < start) or problem.end <= start == problem.start:
                mapped.append(problem)
            elif problem.start >= end:
                mapped.append(problem.shifted(delta))
    inserted_end = start + len(inserted)
    blamed: list[_RawProblem] = []
    for problem in _raw_problems(new_tree):
        inside_fix = start <= problem.start and problem.end <= inserted_end and inserted_end > start
        known = any(
            old.kind == problem.kind and _overlaps(old.start, old.end, problem.start, problem.end)
            for old in mapped
        )
        if inside_fix or not known:
            blamed.append(problem)
    new_lines = LineIndex(new_data)
    return [_to_model(p, new_data, new_lines) for p in blamed]
