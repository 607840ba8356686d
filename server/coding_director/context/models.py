"""Wire shapes of the context engine (pydantic, camelCase on the wire; see ``coding_director.wire``).

Conventions of :class:`CodeContext` (chosen for people and models reading it, and matching the CLI):
**lines are 1-based and inclusive; columns are 1-based and counted in UTF-16 code units** (the same
as characters for text without astral-plane characters such as emoji). :class:`SyntaxProblem` is the
exception: it is LSP-shaped (0-based lines and UTF-16 columns) because escalation turns problems
into LSP diagnostics and splice checks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from coding_director.wire import WireModel

__all__ = [
    "CodeContext",
    "ContextDiagnostic",
    "CursorPosition",
    "DiagnosticNote",
    "EnclosingDefinition",
    "FocusCode",
    "OutlineItem",
    "RelatedSnippet",
    "SyntaxProblem",
    "TruncationNote",
]

Section = Literal["diagnostics", "focus", "prefix", "suffix", "imports", "related", "outline"]


class SyntaxProblem(WireModel):
    """One ERROR or MISSING node found by the parser.

    ``line``/``end_line``: 0-based. ``column``/``end_column``: 0-based UTF-16 code units (equal to
    code points for text without astral characters). A MISSING node is zero-width: the parser
    inserted the expected token there (``message`` names it).
    """

    kind: Literal["error", "missing"]
    line: int = Field(ge=0)
    column: int = Field(ge=0)
    end_line: int = Field(ge=0)
    end_column: int = Field(ge=0)
    message: str


class ContextDiagnostic(WireModel):
    """A diagnostic given by the caller (LSP-shaped: 0-based lines, UTF-16 characters).

    ``severity`` follows LSP: 1 error, 2 warning, 3 information, 4 hint.
    """

    start_line: int = Field(ge=0)
    start_character: int = Field(default=0, ge=0)
    end_line: int = Field(ge=0)
    end_character: int = Field(default=0, ge=0)
    message: str
    severity: int | None = Field(default=None, ge=1, le=4)
    source: str | None = None
    code: str | int | None = None


class CursorPosition(WireModel):
    """A position in :class:`CodeContext` convention: 1-based line, 1-based UTF-16 column."""

    line: int = Field(ge=1)
    column: int = Field(ge=1)


class EnclosingDefinition(WireModel):
    """One link of the enclosing chain. Lines 1-based, inclusive.

    ``kind``: module, class, function, method, interface, struct, enum, trait, impl, namespace ...
    """

    kind: str
    name: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)


class FocusCode(WireModel):
    """The code the request is about: the innermost enclosing definition (with its decorators or
    ``export``), or a window of lines around the cursor when there is none or no syntax tree.
    ``text`` may be cut (see ``CodeContext.truncation``); lines are 1-based, inclusive, and describe
    the full, uncut span.
    """

    kind: Literal["definition", "window"]
    name: str | None = None
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    text: str


class OutlineItem(WireModel):
    """A definition signature in the file outline. ``depth``: 0 top level, 1 a member of one."""

    kind: str
    name: str
    signature: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    depth: int = Field(ge=0)


class RelatedSnippet(WireModel):
    """The definition of an identifier used in the focus, from an open document.

    ``score``: ranking score (higher first; see ``coding_director.context.related``). ``text``: the
    definition, or only its signature when the full text did not fit (``signature_only``).
    """

    uri: str
    name: str
    kind: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    score: float
    text: str
    signature_only: bool = False


class DiagnosticNote(WireModel):
    """A caller diagnostic overlapping the focus, in CodeContext convention (1-based lines)."""

    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    severity: Literal["error", "warning", "information", "hint"] | None = None
    message: str
    source: str | None = None
    code: str | int | None = None


class TruncationNote(WireModel):
    """One section that did not fit in the token budget, never dropped silently.

    ``original_tokens``/``kept_tokens``: estimated tokens before/after; ``reason`` in words.
    """

    section: Section
    original_tokens: int = Field(ge=0)
    kept_tokens: int = Field(ge=0)
    reason: str


class CodeContext(WireModel):
    """The code a request needs, fitted to a token budget.

    Lines 1-based inclusive, columns 1-based UTF-16 (see the module docstring). ``enclosing`` is
    ordered outermost first and starts with the module when the file was parsed. ``prefix`` /
    ``suffix``: the text before / after the cursor for fill-in-the-middle, cut at syntactic
    boundaries. ``plain_text_reason``: why no syntax tree was used (None when parsed).
    ``token_estimate``: estimated tokens of all sections (see ``budget.estimate_tokens``).
    """

    uri: str
    language: str | None
    version: int | None = None
    cursor: CursorPosition
    range_end: CursorPosition | None = None
    plain_text_reason: str | None = None
    enclosing: list[EnclosingDefinition] = Field(default_factory=list)
    focus: FocusCode
    imports: list[str] = Field(default_factory=list)
    outline: list[OutlineItem] = Field(default_factory=list)
    prefix: str = ""
    suffix: str = ""
    diagnostics: list[DiagnosticNote] = Field(default_factory=list)
    related: list[RelatedSnippet] = Field(default_factory=list)
    token_budget: int = Field(ge=0)
    token_estimate: int = Field(ge=0)
    truncated: bool = False
    truncation: list[TruncationNote] = Field(default_factory=list)
