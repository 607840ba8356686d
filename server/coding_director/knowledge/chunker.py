"""Chunk a file by definition with tree-sitter, reusing the context engine's queries.

Rules (lines are 0-based rows inside, 1-based inclusive in :class:`ChunkRecord`):

- every scope definition (class, function, method, ... from ``queries/<lang>/definitions.scm``,
  through ``context.chunks.file_facts``) of at most ``max_lines`` lines is one chunk, its
  decorators/``export`` wrapper and the comment block right above it (JSDoc, ``///``, ``#``)
  included; a docstring is inside the body, so it stays with it;
- a longer definition with nested definitions (a class) becomes a *header* chunk (signature,
  docstring, attributes up to the first member) plus one chunk per member, recursively; the lines
  between members are windows named after the container;
- a longer definition without members is split into windows of ``max_lines`` lines overlapping by
  :data:`OVERLAP_LINES`; each window's *indexed* text starts with the definition's signature;
- lines outside any scope definition (imports, constants, top-level statements) are grouped into
  windows of at most ``max_lines`` lines; blank-only windows are dropped;
- files without a grammar (or not parseable: too large, binary) are windows of ``max_lines``.

Each chunk lists the names defined in it (variables too), for symbol lookup.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from tree_sitter import QueryCursor

from coding_director.context.chunks import file_facts
from coding_director.context.documents import DocumentStore
from coding_director.context.languages import detect_language
from coding_director.context.queries import get_query
from coding_director.context.symbols import SCOPE_KINDS, Definition, short_name
from coding_director.knowledge.terms import embedding_words

__all__ = ["OVERLAP_LINES", "ChunkRecord", "chunk_file"]

#: Lines shared by consecutive windows of a split definition.
OVERLAP_LINES = 6
#: Characters of a chunk's code given to the embedder.
EMBED_CHARS = 2000


@dataclass(slots=True)
class ChunkRecord:
    """One retrievable piece of a file.

    ``start_line``/``end_line``: 1-based, inclusive. ``name``: qualified definition name
    (``Session.request``) or, for windows outside definitions, the file name. ``kind``: the
    definition kind, ``module`` for top-level windows, ``text`` for files without a grammar.
    ``text``: the exact lines. ``header``: text prepended when indexing (signature of a split
    definition). ``names``: short names of every definition starting in the chunk.
    """

    start_line: int
    end_line: int
    name: str
    kind: str
    text: str
    header: str = ""
    names: list[str] = field(default_factory=list)

    def index_text(self) -> str:
        """The text given to BM25: name, header, then the code."""
        return f"{self.name}\n{self.header}\n{self.text}" if self.header else f"{self.name}\n{self.text}"

    def embed_text(self, path: str) -> str:
        """The text given to the embedder: see :func:`embedding_words`."""
        return embedding_words(f"{self.name}\n{self.text[:EMBED_CHARS]}")


@dataclass(slots=True)
class _Node:
    definition: Definition
    first_row: int
    children: list[_Node] = field(default_factory=list)


class _FileChunker:
    def __init__(self, lines: list[str], max_lines: int, file_name: str) -> None:
        self.lines = lines
        self.max_lines = max_lines
        self.file_name = file_name
        self.out: list[ChunkRecord] = []

    def text(self, low: int, high: int) -> str:
        return "\n".join(self.lines[low : high + 1])

    def add(self, low: int, high: int, name: str, kind: str, header: str = "") -> None:
        if high < low:
            return
        self.out.append(ChunkRecord(low + 1, high + 1, name, kind, self.text(low, high), header))

    def windows(self, low: int, high: int, name: str, kind: str, header: str = "",
                overlap: int = 0) -> None:
        """Windows of ``max_lines`` over rows ``[low, high]``, blank-only windows dropped."""
        while low <= high and not self.lines[low].strip():
            low += 1
        while high >= low and not self.lines[high].strip():
            high -= 1
        step = max(1, self.max_lines - overlap)
        start = low
        while start <= high:
            end = min(high, start + self.max_lines - 1)
            if any(self.lines[row].strip() for row in range(start, end + 1)):
                self.add(start, end, name, kind, header if start > low else "")
            if end >= high:
                break
            start += step

    def emit(self, node: _Node, prefix: str) -> None:
        d = node.definition
        name = prefix + d.name
        low, high = node.first_row, d.end_row
        if high - low + 1 <= self.max_lines:
            self.add(low, high, name, d.kind)
            return
        if not node.children:
            self.windows(low, high, name, d.kind, header=d.signature, overlap=OVERLAP_LINES)
            return
        self.windows(low, node.children[0].first_row - 1, name, d.kind)
        cursor = node.children[0].first_row
        for child in node.children:
            self.windows(cursor, child.first_row - 1, name, d.kind, header=d.signature)
            self.emit(child, name + ".")
            cursor = max(cursor, child.definition.end_row + 1)
        self.windows(cursor, high, name, d.kind, header=d.signature)


def _comment_starts(store: DocumentStore, uri: str, lines: list[str]) -> dict[int, int]:
    """End row -> start row of each comment that begins its line (candidates for a doc block)."""
    doc = store.get(uri)
    if doc is None or doc.tree is None or doc.language is None:
        return {}
    found: dict[int, int] = {}
    captures = QueryCursor(get_query(doc.language, "comments")).captures(doc.tree.root_node)
    for node in captures.get("comment", []):
        row = node.start_point.row
        if lines[row][: node.start_point.column].strip():
            continue
        found[node.end_point.row] = min(row, found.get(node.end_point.row, row))
    return found


def chunk_file(path: str, data: bytes, store: DocumentStore, max_lines: int = 60) -> list[ChunkRecord]:
    """Chunks of the file ``path`` (relative, ``/`` separators) whose content is ``data``.

    ``store`` is a scratch :class:`DocumentStore` (the file is opened in it and closed again).
    Never raises for bad content: undecodable bytes are replaced, unparseable files become windows.
    """
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    file_name = PurePosixPath(path).name
    chunker = _FileChunker(lines, max_lines, file_name)
    language = detect_language(None, path)
    if language is None or not lines:
        chunker.windows(0, len(lines) - 1, file_name, "text")
        return chunker.out
    uri = "index:///" + path
    doc = store.open(uri, text)
    try:
        if doc.tree is None:
            chunker.windows(0, len(lines) - 1, file_name, "text")
            return chunker.out
        definitions = file_facts(doc).definitions()
        comments = _comment_starts(store, uri, lines)
        text_rows = [doc.lines.point_at(d.text_start)[0] for d in definitions]
    finally:
        store.close(uri)

    roots: list[_Node] = []
    stack: list[_Node] = []
    names_at: list[tuple[int, str]] = []
    for d, text_row in zip(definitions, text_rows, strict=True):
        names_at.append((d.start_row, short_name(d.name)))
        if d.kind not in SCOPE_KINDS:
            continue
        first = min(d.start_row, text_row)
        while first - 1 in comments and comments[first - 1] < first:
            first = comments[first - 1]
        node = _Node(d, first)
        while stack and stack[-1].definition.end_byte <= d.start_byte:
            stack.pop()
        if stack:
            parent = stack[-1]
            node.first_row = max(node.first_row, parent.first_row + 1)
            if parent.children and node.first_row <= parent.children[-1].definition.end_row:
                continue  # overlapping siblings (should not happen): keep the first
            parent.children.append(node)
        else:
            if roots and node.first_row <= roots[-1].definition.end_row:
                continue
            roots.append(node)
        stack.append(node)
    roots = _merge_overloads(roots)
    cursor = 0
    for node in roots:
        chunker.windows(cursor, node.first_row - 1, file_name, "module")
        chunker.emit(node, "")
        cursor = node.definition.end_row + 1
    chunker.windows(cursor, len(lines) - 1, file_name, "module")
    _attach_names(chunker.out, names_at)
    return chunker.out


def _merge_overloads(nodes: list[_Node]) -> list[_Node]:
    """Merge consecutive siblings of the same name (TypeScript overload signatures and their
    implementation, a property's getter and setter) into one node, recursively."""
    merged: list[_Node] = []
    for node in nodes:
        node.children = _merge_overloads(node.children)
        last = merged[-1] if merged else None
        if (last is not None and last.definition.name == node.definition.name
                and node.first_row - last.definition.end_row <= 2):
            last.definition = replace(last.definition, end_byte=node.definition.end_byte,
                                      end_row=node.definition.end_row,
                                      signature=last.definition.signature or node.definition.signature)
            last.children.extend(node.children)
        else:
            merged.append(node)
    return merged


def _attach_names(chunks: list[ChunkRecord], names_at: list[tuple[int, str]]) -> None:
    """Give each definition name (by its start row, 0-based) to the narrowest chunk holding it."""
    ordered = sorted(chunks, key=lambda c: c.start_line)
    starts = [c.start_line for c in ordered]
    for row, name in names_at:
        line = row + 1
        best: ChunkRecord | None = None
        last = bisect_right(starts, line)
        for chunk in ordered[max(0, last - 16) : last]:
            if chunk.start_line <= line <= chunk.end_line and (
                    best is None or chunk.end_line - chunk.start_line < best.end_line - best.start_line):
                best = chunk
        if best is not None and name not in best.names:
            best.names.append(name)
