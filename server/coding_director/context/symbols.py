"""Definitions, imports and the enclosing chain, from the ``definitions``/``imports`` queries.

Request-path costs on a 14k-line Python file (lsprotocol/types.py):

- the enclosing chain runs the definitions query restricted to one byte
  (``QueryCursor.set_byte_range``): microseconds;
- file facts (outline-level definitions, imports, a name index) are kept per *top-level node*
  ("chunk"). After an edit only the chunks that overlap the edited bytes are queried again; the
  others are matched to the new tree's top-level nodes by their shifted byte range and reused, so a
  keystroke costs one small query plus O(number of top-level nodes) bookkeeping instead of a
  whole-file query (tens of milliseconds).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node, QueryCursor

from coding_director.context.documents import Document
from coding_director.context.languages import spec_for
from coding_director.context.queries import get_query

__all__ = [
    "CLASS_LIKE",
    "SCOPE_KINDS",
    "Chunk",
    "Definition",
    "FileFacts",
    "enclosing_chain",
    "file_facts",
    "signature_of",
]

#: Kinds that open a scope and may appear in the enclosing chain.
SCOPE_KINDS = frozenset(
    {"class", "function", "method", "interface", "struct", "enum", "trait", "impl", "module", "namespace"}
)
#: Kinds whose function members are methods.
CLASS_LIKE = frozenset({"class", "interface", "struct", "trait", "impl", "enum"})
_FUNCTION_LIKE = frozenset({"function", "method"})
_SIGNATURE_CHARS = 200
_FACTS_KEY = "symbols.facts"


@dataclass(slots=True)
class Definition:
    """A definition. Byte offsets are UTF-8, rows 0-based (tree-sitter).

    ``text_start``: where its text starts once wrappers (decorators, ``export``) are included.
    ``depth``: nesting level among definitions (0 = top level); ``parent``: index of the enclosing
    definition in the same list, or -1. ``node`` is set for definitions of the enclosing chain
    (fresh from the current tree) and ``None`` for cached file facts. ``signature``: see
    :func:`signature_of` (empty until computed).
    """

    kind: str
    name: str
    start_byte: int
    end_byte: int
    start_row: int
    end_row: int
    text_start: int
    node: Node | None = None
    parent: int = -1
    depth: int = 0
    signature: str = ""


@dataclass(slots=True, eq=False)
class Chunk:
    """Facts of one top-level node. ``definitions``/``imports`` hold offsets and rows *relative* to
    the chunk start so that the chunk can be reused, unchanged, after edits elsewhere."""

    kind_id: int
    start_byte: int
    end_byte: int
    start_row: int
    definitions: list[Definition]
    imports: list[str]

    def absolute(self, definition: Definition) -> Definition:
        """A copy of one of this chunk's definitions with absolute offsets and rows."""
        return Definition(
            definition.kind, definition.name, definition.start_byte + self.start_byte,
            definition.end_byte + self.start_byte, definition.start_row + self.start_row,
            definition.end_row + self.start_row, definition.text_start + self.start_byte, None,
            definition.parent, definition.depth, definition.signature,
        )


@dataclass(slots=True)
class FileFacts:
    """Per-document-version facts, as chunks in file order (see module docstring)."""

    chunks: list[Chunk]
    by_name: dict[str, list[tuple[Chunk, Definition]]] = field(default_factory=dict)
    _starts: list[int] | None = None

    def starts(self) -> list[int]:
        """Start bytes of the chunks (for bisection)."""
        if self._starts is None:
            self._starts = [c.start_byte for c in self.chunks]
        return self._starts

    def chunk_index(self, offset: int) -> int:
        """Index of the last chunk starting at or before ``offset`` (-1 when none)."""
        return bisect_right(self.starts(), offset) - 1

    def imports(self) -> list[str]:
        """Import statements' text, in file order."""
        return [text for chunk in self.chunks for text in chunk.imports]

    def top_level(self, chunk_index: int) -> list[Definition]:
        """Absolute top-level (depth 0) definitions of one chunk."""
        chunk = self.chunks[chunk_index]
        return [chunk.absolute(d) for d in chunk.definitions if d.depth == 0]

    def members(self, chunk_index: int, outer: Definition) -> list[Definition]:
        """Absolute depth-1 definitions of chunk ``chunk_index`` inside ``outer`` (absolute)."""
        chunk = self.chunks[chunk_index]
        low, high = outer.start_byte - chunk.start_byte, outer.end_byte - chunk.start_byte
        return [chunk.absolute(d) for d in chunk.definitions
                if d.depth == 1 and low <= d.start_byte and d.end_byte <= high]

    def index(self) -> dict[str, list[tuple[Chunk, Definition]]]:
        """Definitions by name (built on first use per version). Qualified names
        (``geo::Circle::area``, ``a.b``) are also indexed under their last segment."""
        if not self.by_name:
            for chunk in self.chunks:
                for definition in chunk.definitions:
                    name = definition.name
                    self.by_name.setdefault(name, []).append((chunk, definition))
                    short = name.rsplit("::", 1)[-1].rsplit(".", 1)[-1]
                    if short != name:
                        self.by_name.setdefault(short, []).append((chunk, definition))
        return self.by_name


def _name_of(node: Node) -> str:
    return " ".join((node.text or b"").decode("utf-8", "replace").split())


def _text_start(node: Node, wrappers: tuple[str, ...]) -> int:
    parent = node.parent
    while parent is not None and parent.type in wrappers:
        node, parent = parent, parent.parent
    return node.start_byte


def _signature(data: bytes, node: Node) -> str:
    body = node.child_by_field_name("body")
    if body is not None and body.start_byte > node.start_byte:
        raw = data[node.start_byte : body.start_byte]
    else:
        end = data.find(b"\n", node.start_byte, node.end_byte)
        raw = data[node.start_byte : node.end_byte if end < 0 else end]
    text = " ".join(raw[: _SIGNATURE_CHARS * 4].decode("utf-8", "replace").split()).rstrip(" {")
    if len(text) > _SIGNATURE_CHARS:
        text = text[: _SIGNATURE_CHARS - 1] + "…"
    return text


def _collect(cursor: QueryCursor, root: Node, wrappers: tuple[str, ...]) -> list[Definition]:
    """Definitions from the matches of ``cursor``, deduplicated (earliest pattern wins), sorted
    outermost first (by start, then longest)."""
    best: dict[tuple[int, int, int], tuple[int, Definition]] = {}
    for pattern, captures in cursor.matches(root):
        kind = node = None
        for capture, nodes in captures.items():
            if capture.startswith("definition."):
                kind, node = capture[len("definition."):], nodes[0]
                break
        names = captures.get("name")
        if kind is None or node is None or not names:
            continue
        key = (node.start_byte, node.end_byte, node.kind_id)
        previous = best.get(key)
        if previous is not None and previous[0] <= pattern:
            continue
        best[key] = (pattern, Definition(kind, _name_of(names[0]), node.start_byte, node.end_byte,
                                         node.start_point.row, node.end_point.row,
                                         _text_start(node, wrappers), node))
    found = [definition for _pattern, definition in best.values()]
    found.sort(key=lambda d: (d.start_byte, -d.end_byte))
    return found


def _nest(definitions: list[Definition]) -> list[Definition]:
    """Set ``parent``/``depth``, turn functions inside class-like definitions into methods, and drop
    variable-like definitions local to functions. Input sorted by (start, -end)."""
    kept: list[Definition] = []
    stack: list[int] = []
    for definition in definitions:
        while stack and kept[stack[-1]].end_byte <= definition.start_byte:
            stack.pop()
        parent = kept[stack[-1]] if stack else None
        if parent is not None:
            if definition.kind not in SCOPE_KINDS and parent.kind in _FUNCTION_LIKE:
                continue
            if definition.kind == "function" and parent.kind in CLASS_LIKE:
                definition.kind = "method"
            definition.parent = stack[-1]
            definition.depth = parent.depth + 1
        kept.append(definition)
        stack.append(len(kept) - 1)
    return kept


def _compute_chunk(doc: Document, child: Node) -> Chunk:
    assert doc.language is not None
    spec = spec_for(doc.language)
    cursor = QueryCursor(get_query(doc.language, "definitions"))
    cursor.set_max_start_depth(max(0, spec.outline_depth - 1))
    start, row = child.start_byte, child.start_point.row
    definitions = _nest(_collect(cursor, child, spec.wrappers))
    for definition in definitions:
        assert definition.node is not None
        definition.signature = _signature(doc.data, definition.node)
        definition.node = None
        definition.start_byte -= start
        definition.end_byte -= start
        definition.text_start -= start
        definition.start_row -= row
        definition.end_row -= row
    imports: list[str] = []
    import_cursor = QueryCursor(get_query(doc.language, "imports"))
    import_cursor.set_max_start_depth(max(0, spec.import_depth - 1))
    seen: set[tuple[int, int]] = set()
    for node in sorted(import_cursor.captures(child).get("import", []), key=lambda n: n.start_byte):
        if (node.start_byte, node.end_byte) not in seen:
            seen.add((node.start_byte, node.end_byte))
            imports.append((node.text or b"").decode("utf-8", "replace").strip())
    return Chunk(child.kind_id, start, child.end_byte, row, definitions, imports)


def _reusable(doc: Document) -> dict[tuple[int, int, int], Chunk]:
    """Old chunks not touched by the pending edits, keyed by their shifted (start, end, kind)."""
    edits = doc.pending_edits
    if edits is None or not doc.chunks:
        return {}
    reusable: dict[tuple[int, int, int], Chunk] = {}
    for chunk in doc.chunks:
        start, end = chunk.start_byte, chunk.end_byte
        for edit_start, old_end, new_end in edits:
            if end <= edit_start:
                continue
            if start >= old_end:
                start += new_end - old_end
                end += new_end - old_end
                continue
            break
        else:
            reusable[(start, end, chunk.kind_id)] = chunk
    return reusable


def file_facts(doc: Document) -> FileFacts:
    """Outline-level definitions and imports of ``doc`` for its current version (cached).

    Definitions are those starting at tree depth <= ``LanguageSpec.outline_depth``; imports those at
    depth <= ``import_depth``. Returns empty facts for a document without a syntax tree.
    """
    cached = doc.cache.get(_FACTS_KEY)
    if isinstance(cached, FileFacts):
        return cached
    chunks: list[Chunk] = []
    if doc.tree is not None and doc.language is not None:
        reusable = _reusable(doc)
        for child in doc.tree.root_node.children:
            chunk = reusable.pop((child.start_byte, child.end_byte, child.kind_id), None)
            if chunk is None:
                chunk = _compute_chunk(doc, child)
            else:
                chunk.start_row = child.start_point.row
            chunks.append(chunk)
            chunk.start_byte, chunk.end_byte = child.start_byte, child.end_byte
    doc.chunks = chunks
    doc.pending_edits = []
    facts = FileFacts(chunks)
    doc.cache[_FACTS_KEY] = facts
    return facts


def iter_top_level_near(facts: FileFacts, offset: int) -> Iterator[Definition]:
    """Top-level definitions ordered by distance (in bytes) from ``offset``, nearest first."""
    right = facts.chunk_index(offset)
    left = right - 1
    if right < 0:
        right, left = 0, -1
    pending_left: list[Definition] = []
    pending_right: list[Definition] = []
    while True:
        if not pending_left and left >= 0:
            pending_left = facts.top_level(left)[::-1]
            left -= 1
            continue
        if not pending_right and right < len(facts.chunks):
            pending_right = facts.top_level(right)
            right += 1
            continue
        if not pending_left and not pending_right:
            if left < 0 and right >= len(facts.chunks):
                return
            continue
        if pending_right and (not pending_left or pending_right[0].start_byte - offset
                              <= offset - pending_left[0].end_byte):
            yield pending_right.pop(0)
        else:
            yield pending_left.pop(0)


def enclosing_chain(doc: Document, probe: int, cursor: int | None = None,
                    cursor_column: int | None = None) -> list[Definition]:
    """Scope definitions containing byte ``probe``, outermost first (no module entry).

    ``probe`` must be a byte of real code (see ``extract.probe_offset``). When ``cursor`` and
    ``cursor_column`` (byte column) are given, the cursor sits on a blank line after ``probe``: a
    definition is kept only if it also contains ``cursor`` or starts at a smaller column than the
    cursor's (Python-style indentation decides; braces already decide by containment).
    """
    if doc.tree is None or doc.language is None:
        return []
    query_cursor = QueryCursor(get_query(doc.language, "definitions"))
    query_cursor.set_byte_range(probe, probe + 1)
    chain: list[Definition] = []
    wrappers = spec_for(doc.language).wrappers
    for definition in _collect(query_cursor, doc.tree.root_node, wrappers):
        if definition.kind not in SCOPE_KINDS or not definition.start_byte <= probe < definition.end_byte:
            continue
        if cursor is not None and cursor_column is not None and cursor >= definition.end_byte:
            assert definition.node is not None
            if cursor_column <= definition.node.start_point.column:
                continue
        if chain and definition.kind == "function" and chain[-1].kind in CLASS_LIKE:
            definition.kind = "method"
        definition.depth = len(chain)
        definition.parent = len(chain) - 1
        chain.append(definition)
    return chain


def signature_of(data: bytes, definition: Definition) -> str:
    """One-line signature: the definition's text up to its body (whitespace collapsed, trailing
    ``{`` dropped), or its first line when it has no ``body`` field; at most 200 characters."""
    if not definition.signature and definition.node is not None:
        definition.signature = _signature(data, definition.node)
    return definition.signature
