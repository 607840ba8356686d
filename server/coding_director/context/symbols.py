"""Definitions and the enclosing chain, from the ``definitions``/``imports`` queries.

The enclosing chain runs the definitions query restricted to one byte
(``QueryCursor.set_byte_range``): microseconds even on a 14k-line file. File-level facts are
computed per top-level node ("chunk", :func:`compute_chunk`) and maintained across edits by
``chunks.ChunkTable``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node, QueryCursor

from coding_director.context.documents import Document
from coding_director.context.languages import spec_for
from coding_director.context.queries import get_query

__all__ = [
    "CLASS_LIKE",
    "SCOPE_KINDS",
    "SPLIT_BYTES",
    "Chunk",
    "Definition",
    "compute_chunk",
    "enclosing_chain",
    "short_name",
    "signature_of",
    "text_start_in",
]

#: Kinds that open a scope and may appear in the enclosing chain.
SCOPE_KINDS = frozenset(
    {"class", "function", "method", "interface", "struct", "enum", "trait", "impl", "module", "namespace"}
)
#: Kinds whose function members are methods.
CLASS_LIKE = frozenset({"class", "interface", "struct", "trait", "impl", "enum"})
_FUNCTION_LIKE = frozenset({"function", "method"})
_SIGNATURE_CHARS = 200


@dataclass(slots=True)
class Definition:
    """A definition. Byte offsets are UTF-8, rows 0-based (tree-sitter).

    ``text_start``: where its text starts once wrappers (decorators, ``export``) are included. A
    wrapper may lie outside the chunk that caches the definition (a split class's decorated
    method), so cached definitions do not keep it: ``FileFacts`` recomputes it from the current
    tree on access (:func:`text_start_in`).
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
    the chunk start so that the chunk can be reused, unchanged, after edits elsewhere (their
    ``text_start`` is not kept: it equals ``start_byte`` here, see :func:`text_start_in`)."""

    kind_id: int
    start_byte: int
    end_byte: int
    start_row: int
    definitions: list[Definition]
    imports: list[str]
    base_depth: int = 0
    #: Name (and last segment of a qualified name) -> this chunk's definitions of it.
    by_name: dict[str, list[Definition]] = field(default_factory=dict)
    top_count: int = 0
    #: Position in the owner's shift log up to which the coordinates are current.
    stamp: int = 0

    def __post_init__(self) -> None:
        for definition in self.definitions:
            self.by_name.setdefault(definition.name, []).append(definition)
            short = short_name(definition.name)
            if short != definition.name:
                self.by_name.setdefault(short, []).append(definition)
        self.top_count = sum(1 for d in self.definitions if d.depth == 0)

    def absolute(self, definition: Definition) -> Definition:
        """A copy of one of this chunk's definitions with absolute offsets and rows."""
        return Definition(
            definition.kind, definition.name, definition.start_byte + self.start_byte,
            definition.end_byte + self.start_byte, definition.start_row + self.start_row,
            definition.end_row + self.start_row, definition.text_start + self.start_byte, None,
            definition.parent, definition.depth, definition.signature,
        )


def short_name(name: str) -> str:
    """Last segment of a qualified name (``geo::Circle::area`` -> ``area``, ``a.b`` -> ``b``)."""
    return name.rsplit("::", 1)[-1].rsplit(".", 1)[-1]


def _name_of(node: Node) -> str:
    return " ".join((node.text or b"").decode("utf-8", "replace").split())


def _text_start(node: Node, wrappers: tuple[str, ...]) -> int:
    parent = node.parent
    while parent is not None and parent.type in wrappers:
        node, parent = parent, parent.parent
    return node.start_byte


def text_start_in(root: Node, start_byte: int, end_byte: int, wrappers: tuple[str, ...]) -> int:
    """Where the text of the definition spanning bytes ``[start_byte, end_byte)`` of the tree
    under ``root`` starts once its wrappers (decorators, ``export``) are included: the outermost
    node with exactly that span, then its wrapper ancestors. ``start_byte`` when no node has that
    span (the tree changed). O(tree depth)."""
    node = root.descendant_for_byte_range(start_byte, end_byte)
    if node is None or (node.start_byte, node.end_byte) != (start_byte, end_byte):
        return start_byte
    while node.parent is not None and (node.parent.start_byte, node.parent.end_byte) == (start_byte, end_byte):
        node = node.parent
    return _text_start(node, wrappers)


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


def _nest(definitions: list[Definition], base_depth: int = 0,
          parent_kind: str | None = None) -> list[Definition]:
    """Set ``parent``/``depth``, turn functions inside class-like definitions into methods, and drop
    variable-like definitions local to functions. Input sorted by (start, -end). ``base_depth`` and
    ``parent_kind`` describe the definition enclosing all of them (from an outer chunk)."""
    kept: list[Definition] = []
    stack: list[int] = []
    for definition in definitions:
        while stack and kept[stack[-1]].end_byte <= definition.start_byte:
            stack.pop()
        parent = kept[stack[-1]] if stack else None
        kind = parent.kind if parent is not None else parent_kind
        if kind is not None:
            if definition.kind not in SCOPE_KINDS and kind in _FUNCTION_LIKE:
                continue
            if definition.kind == "function" and kind in CLASS_LIKE:
                definition.kind = "method"
        definition.parent = stack[-1] if stack else -1
        definition.depth = parent.depth + 1 if parent is not None else base_depth
        kept.append(definition)
        stack.append(len(kept) - 1)
    return kept


#: Top-level nodes larger than this (bytes) are split into their children (recursively), so that
#: a file wrapped in one namespace/class does not re-query everything on each keystroke.
SPLIT_BYTES = 16_384


def compute_chunk(doc: Document, node: Node, tree_depth: int, base_depth: int, parent_kind: str | None,
                   header: bool) -> Chunk:
    """Facts of ``node`` at ``tree_depth`` (root = 0). A *header* chunk holds only the definitions
    starting at ``node`` itself (its children become chunks of their own)."""
    assert doc.language is not None
    spec = spec_for(doc.language)
    start, row = node.start_byte, node.start_point.row
    definitions: list[Definition] = []
    max_depth = 0 if header else spec.outline_depth - tree_depth
    if max_depth >= 0:
        cursor = QueryCursor(get_query(doc.language, "definitions"))
        cursor.set_max_start_depth(max_depth)
        found = _collect(cursor, node, spec.wrappers)
        if header:
            found = [d for d in found if d.start_byte == start][:1]
        definitions = _nest(found, base_depth, parent_kind)
    for definition in definitions:
        assert definition.node is not None
        definition.signature = _signature(doc.data, definition.node)
        definition.node = None
        definition.start_byte -= start
        definition.end_byte -= start
        definition.text_start = definition.start_byte  # not cached: see Definition
        definition.start_row -= row
        definition.end_row -= row
    imports: list[str] = []
    import_depth = spec.import_depth - tree_depth
    if not header and import_depth >= 0:
        import_cursor = QueryCursor(get_query(doc.language, "imports"))
        import_cursor.set_max_start_depth(import_depth)
        seen: set[tuple[int, int]] = set()
        for found_node in sorted(import_cursor.captures(node).get("import", []), key=lambda n: n.start_byte):
            if (found_node.start_byte, found_node.end_byte) not in seen:
                seen.add((found_node.start_byte, found_node.end_byte))
                imports.append((found_node.text or b"").decode("utf-8", "replace").strip())
    return Chunk(node.kind_id, start, node.end_byte, row, definitions, imports, base_depth)


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
