"""Open documents: their own copy of the text, a line index and a live syntax tree.

The store keeps its own bytes per URI because pygls applies ``didChange`` to its workspace document
before handlers run, and an incremental re-parse needs the *previous* bytes to compute exact
``tree.edit`` offsets. Thread-unsafe by design: use it from the single asyncio loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tree_sitter import Parser, Point, Tree

from coding_director.context.languages import detect_language, new_parser
from coding_director.context.positions import LineIndex
from coding_director.settings import ContextSettings

__all__ = ["Document", "DocumentStore", "TextChange"]

log = logging.getLogger(__name__)

_ENCODING_ERRORS = "surrogatepass"
_BINARY_PROBE_CHARS = 8192


@dataclass(frozen=True, slots=True)
class TextChange:
    """One LSP ``TextDocumentContentChangeEvent``.

    ``range`` is ``(start_line, start_character, end_line, end_character)``: 0-based lines and
    UTF-16 columns, end exclusive, relative to the text *after* the previous change of the same
    notification (LSP semantics). ``range=None`` means ``text`` replaces the whole document.
    """

    text: str
    range: tuple[int, int, int, int] | None = None

    @classmethod
    def replace_all(cls, text: str) -> TextChange:
        """A full-text replacement."""
        return cls(text=text)

    @classmethod
    def edit(cls, start_line: int, start_character: int, end_line: int, end_character: int,
             text: str) -> TextChange:
        """A range edit (LSP 0-based positions, UTF-16 columns)."""
        return cls(text=text, range=(start_line, start_character, end_line, end_character))


def is_binary(data: bytes) -> bool:
    """Whether ``data`` is binary rather than text: a NUL byte among its first 32 KiB (the
    heuristic of git and grep). Binary content is never parsed nor sent to a model."""
    return b"\x00" in data[: _BINARY_PROBE_CHARS * 4]


@dataclass(eq=False)
class Document:
    """One open document.

    ``data`` is the UTF-8 text (the source of truth), ``text`` its decoded form (cached), ``lines``
    the line-start index. ``tree`` is the syntax tree, or ``None`` when the document is plain text;
    ``skip_reason`` then says why (unknown language, too large, binary). ``cache`` holds derived
    facts keyed by whoever computes them; it is cleared on every change.
    """

    uri: str
    version: int
    language: str | None
    data: bytes
    lines: LineIndex
    tree: Tree | None = None
    skip_reason: str | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    #: Range edits ``(start, old_end, new_end, old_end_row, new_end_row)`` (bytes, rows) since the
    #: file facts were last brought up to date, or ``None`` after a full parse (nothing reusable).
    pending_edits: list[tuple[int, int, int, int, int]] | None = None
    #: Byte ranges (current coordinates) whose syntactic structure changed in incremental re-parses
    #: since the file facts were last brought up to date (``Tree.changed_ranges``).
    pending_ranges: list[tuple[int, int]] = field(default_factory=list)
    #: State kept *across* versions by ``chunks.file_facts`` (unlike ``cache``).
    cache_table: dict[str, Any] = field(default_factory=dict)
    chunks_built: bool = False
    _text: str | None = None

    @property
    def text(self) -> str:
        """The document text (decoded lazily from ``data``, then cached until the next change)."""
        if self._text is None:
            self._text = self.data.decode("utf-8", _ENCODING_ERRORS)
        return self._text

    @property
    def binary(self) -> bool:
        """True when the content is binary (see :func:`is_binary`)."""
        return is_binary(self.data)

    @property
    def parsed(self) -> bool:
        """True when a syntax tree is available."""
        return self.tree is not None


class DocumentStore:
    """Open documents by URI, each with an incrementally maintained syntax tree.

    ``max_file_bytes``: documents larger than this (UTF-8 bytes) are not parsed and fall back to
    line windows; defaults to ``Settings.context.max_file_bytes`` (4 MiB). Documents containing a NUL
    character in their first 8192 characters count as binary and are not parsed either. The reason
    is logged once per URI and reason (logging, never stdout).
    """

    def __init__(self, max_file_bytes: int | None = None) -> None:
        if max_file_bytes is None:
            max_file_bytes = ContextSettings().max_file_bytes
        self.max_file_bytes = max_file_bytes
        self._docs: dict[str, Document] = {}
        self._parsers: dict[str, Parser] = {}
        self._logged: set[tuple[str, str]] = set()

    def __contains__(self, uri: object) -> bool:
        return uri in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def uris(self) -> list[str]:
        """URIs of the open documents, in opening order."""
        return list(self._docs)

    def documents(self) -> Iterable[Document]:
        """The open documents, in opening order."""
        return self._docs.values()

    def get(self, uri: str) -> Document | None:
        """The open document for ``uri``, or ``None``."""
        return self._docs.get(uri)

    def open(self, uri: str, text: str, version: int = 0, language_id: str | None = None) -> Document:
        """Open (or re-open, replacing) ``uri`` and parse it fully. Returns the document.

        The language comes from ``language_id`` (LSP id) or else the URI's file extension.
        """
        language = detect_language(language_id, uri)
        data = text.encode("utf-8", _ENCODING_ERRORS)
        doc = Document(uri=uri, version=version, language=language, data=data, lines=LineIndex(data))
        doc._text = text
        self._docs[uri] = doc
        self._full_parse(doc)
        return doc

    def close(self, uri: str) -> None:
        """Forget ``uri`` (no error when it is not open)."""
        self._docs.pop(uri, None)

    def change(self, uri: str, version: int, changes: Iterable[TextChange]) -> Document:
        """Apply LSP content changes in order, then re-parse once (incrementally when possible).

        Each range edit is mapped to exact byte offsets and points and given to ``tree.edit`` so that
        the following parse reuses unchanged subtrees. Raises ``KeyError`` when ``uri`` is not open.
        """
        doc = self._docs[uri]
        full = False
        for change in changes:
            if change.range is None:
                doc.data = change.text.encode("utf-8", _ENCODING_ERRORS)
                doc.lines = LineIndex(doc.data)
                doc.pending_edits = None
                full = True
                continue
            self._apply_range_edit(doc, change)
        doc.version = version
        doc._text = None
        doc.cache.clear()
        if full or doc.tree is None or self._skip_reason(doc) is not None:
            self._full_parse(doc)
        else:
            old_tree = doc.tree
            doc.tree = self._parser(doc.language).parse(doc.data, old_tree)
            if doc.pending_edits is not None:
                doc.pending_ranges.extend((r.start_byte, r.end_byte) for r in old_tree.changed_ranges(doc.tree))
        return doc

    def _apply_range_edit(self, doc: Document, change: TextChange) -> None:
        assert change.range is not None
        start_line, start_char, end_line, end_char = change.range
        if (end_line, end_char) < (start_line, start_char):
            start_line, start_char, end_line, end_char = end_line, end_char, start_line, start_char
        data, lines = doc.data, doc.lines
        start = lines.offset_at(data, start_line, start_char)
        old_end = max(start, lines.offset_at(data, end_line, end_char))
        new_bytes = change.text.encode("utf-8", _ENCODING_ERRORS)
        start_point = lines.point_at(start)
        old_end_point = lines.point_at(old_end)
        newline = new_bytes.rfind(b"\n")
        if newline < 0:
            new_end_point = (start_point[0], start_point[1] + len(new_bytes))
        else:
            new_end_point = (start_point[0] + new_bytes.count(b"\n"), len(new_bytes) - newline - 1)
        doc.data = data[:start] + new_bytes + data[old_end:]
        if doc.pending_edits is not None:
            new_end = start + len(new_bytes)
            doc.pending_edits.append((start, old_end, new_end, old_end_point[0], new_end_point[0]))
            delta = new_end - old_end
            doc.pending_ranges = [
                (low, high) if high < start
                else (low + delta, high + delta) if low > old_end
                else (min(low, start), max(high + delta if high >= old_end else new_end, new_end))
                for low, high in doc.pending_ranges
            ]
        lines.apply_edit(start, old_end, new_bytes)
        if doc.tree is not None:
            doc.tree.edit(
                start_byte=start,
                old_end_byte=old_end,
                new_end_byte=start + len(new_bytes),
                start_point=Point(*start_point),
                old_end_point=Point(*old_end_point),
                new_end_point=Point(*new_end_point),
            )

    def _parser(self, language: str | None) -> Parser:
        assert language is not None
        parser = self._parsers.get(language)
        if parser is None:
            parser = self._parsers[language] = new_parser(language)
        return parser

    def _skip_reason(self, doc: Document) -> str | None:
        if doc.language is None:
            return "unsupported language"
        if len(doc.data) > self.max_file_bytes:
            return f"file too large ({len(doc.data)} bytes > max_file_bytes={self.max_file_bytes})"
        if is_binary(doc.data):
            return "binary content (NUL bytes)"
        return None

    def _full_parse(self, doc: Document) -> None:
        doc.pending_edits = None
        doc.pending_ranges = []
        reason = self._skip_reason(doc)
        doc.skip_reason = reason
        if reason is not None:
            doc.tree = None
            key = (doc.uri, reason.split(" (", 1)[0])
            if key not in self._logged:
                self._logged.add(key)
                level = logging.DEBUG if doc.language is None else logging.INFO
                log.log(level, "not parsing %s: %s; using line windows", doc.uri, reason)
            return
        doc.tree = self._parser(doc.language).parse(doc.data)
