"""File facts (outline-level definitions, imports, a name index) maintained across edits.

Facts are kept per *chunk*: a top-level node, or, for a definition (or its wrapper, or its body)
larger than ``SPLIT_BYTES`` (a file wrapped in one namespace or class), its children, recursively;
the big node itself becomes a *header* chunk holding only its own definition. A big node that is no
definition (a 50 KB dict literal) stays one chunk. After an edit, only the chunks overlapping the
edited bytes are dropped and recomputed from the new tree; the others stay as they are and their
coordinates are shifted lazily through a shift log (each chunk records how much of the log it has
applied), so a keystroke costs a few small queries plus O(log n) work, independent of the number of
top-level definitions. The name index (name -> chunks) is updated by difference.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from coding_director.context.documents import Document
from coding_director.context.languages import spec_for
from coding_director.context.symbols import SPLIT_BYTES, Chunk, Definition, compute_chunk, text_start_in

__all__ = ["ChunkTable", "FileFacts", "file_facts", "rebuild"]

log = logging.getLogger(__name__)

_FACTS_KEY = "chunks.facts"
_TABLE_KEY = "chunks.table"
_MAX_LOG = 64


@dataclass(slots=True)
class ChunkTable:
    """The chunks of one document, kept on ``Document.chunk_table`` across versions.

    ``leaves``: non-overlapping chunks sorted by start; ``headers``: chunks of split nodes.
    ``log``: shifts ``(from_byte, byte_delta, row_delta)`` not yet applied to every chunk; entry
    ``i`` has absolute number ``log_base + i``.
    """

    leaves: list[Chunk] = field(default_factory=list)
    headers: list[Chunk] = field(default_factory=list)
    log: list[tuple[int, int, int]] = field(default_factory=list)
    log_base: int = 0
    index: dict[str, list[Chunk]] = field(default_factory=dict)
    top_count: int = 0

    @property
    def now(self) -> int:
        """Absolute number of the next log entry (a chunk with this stamp is up to date)."""
        return self.log_base + len(self.log)

    def sync(self, chunk: Chunk) -> Chunk:
        """Apply the pending shifts to ``chunk``'s coordinates; returns it."""
        now = self.log_base + len(self.log)
        if chunk.stamp != now:
            start, end, row = chunk.start_byte, chunk.end_byte, chunk.start_row
            for at, delta, rows in self.log[chunk.stamp - self.log_base :]:
                if start >= at:
                    start += delta
                    end += delta
                    row += rows
            chunk.start_byte, chunk.end_byte, chunk.start_row, chunk.stamp = start, end, row, now
        return chunk

    def start_of(self, chunk: Chunk) -> int:
        return self.sync(chunk).start_byte

    def end_of(self, chunk: Chunk) -> int:
        return self.sync(chunk).end_byte

    # -- membership -------------------------------------------------------------------------------

    def add(self, chunk: Chunk) -> None:
        chunk.stamp = self.now
        for name in chunk.by_name:
            self.index.setdefault(name, []).append(chunk)
        self.top_count += chunk.top_count

    def forget(self, chunk: Chunk) -> None:
        for name in chunk.by_name:
            holders = self.index.get(name)
            if holders is not None:
                with contextlib.suppress(ValueError):
                    holders.remove(chunk)
                if not holders:
                    del self.index[name]
        self.top_count -= chunk.top_count

    def remove_leaves(self, low: int, high: int) -> tuple[int, int, int] | None:
        """Drop leaves overlapping ``[low, high]`` (inclusive). Returns ``(index, first start, last end)``
        of the removed run, or ``None``."""
        first = bisect_left(self.leaves, low, key=self.end_of)
        last = bisect_right(self.leaves, high, key=self.start_of)
        if first >= last:
            return None
        removed = self.leaves[first:last]
        span = (first, self.sync(removed[0]).start_byte, self.sync(removed[-1]).end_byte)
        del self.leaves[first:last]
        for chunk in removed:
            self.forget(chunk)
        return span

    def remove_headers(self, low: int, high: int) -> tuple[int, int] | None:
        kept: list[Chunk] = []
        span: tuple[int, int] | None = None
        for header in self.headers:
            self.sync(header)
            if header.end_byte >= low and header.start_byte <= high:
                self.forget(header)
                span = (min(header.start_byte, span[0]) if span else header.start_byte,
                        max(header.end_byte, span[1]) if span else header.end_byte)
            else:
                kept.append(header)
        self.headers = kept
        return span

    def compact(self) -> None:
        """Apply the whole log to every chunk once it gets long (amortised O(1) per edit)."""
        if len(self.log) <= _MAX_LOG:
            return
        for chunk in self.leaves:
            self.sync(chunk)
        for chunk in self.headers:
            self.sync(chunk)
        self.log_base += len(self.log)
        self.log.clear()


def _collect_region(doc: Document, root: Node, low: int, high: int,
                    table: ChunkTable) -> tuple[list[Chunk], list[Chunk]]:
    """Chunks (leaves, headers) of the current tree's nodes overlapping ``[low, high]``."""
    assert doc.language is not None
    spec = spec_for(doc.language)
    outline_depth, wrappers = spec.outline_depth, spec.wrappers
    leaves: list[Chunk] = []
    headers: list[Chunk] = []

    def visit(parent: Node, tree_depth: int, base_depth: int, parent_kind: str | None,
              parent_is_definition: bool) -> None:
        # TreeCursor.goto_first_child_for_byte, not Node.first_child_for_byte: the latter returns a
        # dangling node (segfault on access) when no child qualifies (py-tree-sitter 0.26.1).
        cursor = parent.walk()
        if cursor.goto_first_child_for_byte(max(0, low - 1)) is None:
            return
        while True:
            child = cursor.node
            if child is None or child.start_byte > high:
                return
            header = None
            if (child.end_byte - child.start_byte > SPLIT_BYTES and child.child_count
                    and tree_depth < outline_depth):
                header = compute_chunk(doc, child, tree_depth, base_depth, parent_kind, header=True)
                # Split definitions, their wrappers and their bodies; a big literal stays one chunk.
                if not (header.definitions or child.type in wrappers or parent_is_definition):
                    header = None
            if header is not None:
                headers.append(header)
                inner_base, inner_kind = base_depth, parent_kind
                if header.definitions:
                    inner_base, inner_kind = base_depth + 1, header.definitions[0].kind
                visit(child, tree_depth + 1, inner_base, inner_kind, bool(header.definitions))
            else:
                leaves.append(compute_chunk(doc, child, tree_depth, base_depth, parent_kind, header=False))
            if not cursor.goto_next_sibling():
                return

    visit(root, 1, 0, None, False)
    return leaves, headers


def rebuild(doc: Document, table: ChunkTable) -> None:
    """Recompute every chunk of ``doc`` into ``table`` from its current tree (no reuse)."""
    assert doc.tree is not None
    table.leaves.clear()
    table.headers.clear()
    table.index.clear()
    table.log.clear()
    table.top_count = 0
    leaves, headers = _collect_region(doc, doc.tree.root_node, 0, len(doc.data), table)
    for chunk in leaves:
        table.add(chunk)
    for chunk in headers:
        table.add(chunk)
    table.leaves = leaves
    table.headers = headers


def _update(doc: Document, table: ChunkTable, edits: list[tuple[int, int, int, int, int]],
            changed: list[tuple[int, int]]) -> bool:
    """Drop the chunks touched by ``edits`` or inside the re-parse's ``changed`` ranges (current
    coordinates) and recompute that region from the new tree. Returns False when the result is
    inconsistent (then the caller rebuilds everything)."""
    assert doc.tree is not None
    low = high = -1
    for start, old_end, new_end, old_end_row, new_end_row in edits:
        table.remove_headers(start, old_end)
        removed = table.remove_leaves(start, old_end)
        delta = new_end - old_end
        table.log.append((old_end, delta, new_end_row - old_end_row))
        if low >= 0:  # map the region of the previous edits through this one
            low = low + delta if low > old_end else min(low, start)
            high = high + delta if high >= old_end else (new_end if high > start else high)
        region_low, region_high = start, new_end
        if removed is not None:
            _index, first_start, last_end = removed
            region_low = min(region_low, first_start)
            region_high = max(region_high, last_end + delta if last_end > old_end else new_end)
        low = region_low if low < 0 else min(low, region_low)
        high = max(high, region_high)
    for changed_low, changed_high in changed:
        table.remove_headers(changed_low, changed_high)
        removed = table.remove_leaves(changed_low, changed_high)
        if removed is not None:
            changed_low, changed_high = min(changed_low, removed[1]), max(changed_high, removed[2])
        low = changed_low if low < 0 else min(low, changed_low)
        high = max(high, changed_high)
    if low < 0:
        return True
    root = doc.tree.root_node
    for _round in range(8):
        leaves, headers = _collect_region(doc, root, low, high, table)
        new_low = min([low, *(c.start_byte for c in leaves)])
        new_high = max([high, *(c.end_byte for c in leaves)])
        more = table.remove_leaves(new_low, new_high)
        if more is not None:
            new_low, new_high = min(new_low, more[1]), max(new_high, more[2])
        table.remove_headers(new_low, new_high)  # recomputed from the new tree by the collection
        if (new_low, new_high) == (low, high):
            break
        low, high = new_low, new_high
    position = bisect_left(table.leaves, low, key=table.start_of)
    for chunk in leaves:
        table.add(chunk)
    table.leaves[position:position] = leaves
    for chunk in headers:
        table.add(chunk)
    table.headers.extend(headers)
    table.headers.sort(key=table.start_of)
    table.compact()
    # Safety net: the new run must sit in order between its neighbours.
    run = table.leaves[max(0, position - 1) : position + len(leaves) + 1]
    return all(table.end_of(a) <= table.start_of(b) for a, b in itertools.pairwise(run))


@dataclass(slots=True)
class FileFacts:
    """A read-only view of the document's chunks for one version (see module docstring).

    ``doc`` is the document the table describes: definitions handed out get their ``text_start``
    from its current tree (it is not cached in chunks); without it ``text_start`` is the
    definition's ``start_byte``.
    """

    table: ChunkTable
    doc: Document | None = None

    def _absolute(self, chunk: Chunk, definition: Definition) -> Definition:
        found = self.table.sync(chunk).absolute(definition)
        doc = self.doc
        if doc is not None and doc.tree is not None and doc.language is not None:
            found.text_start = text_start_in(doc.tree.root_node, found.start_byte, found.end_byte,
                                             spec_for(doc.language).wrappers)
        return found

    @property
    def chunks(self) -> list[Chunk]:
        """Leaf chunks in file order (coordinates synced on access through the methods below)."""
        return self.table.leaves

    def chunk_index(self, offset: int) -> int:
        """Index of the last leaf starting at or before ``offset`` (-1 when none)."""
        return bisect_right(self.table.leaves, offset, key=self.table.start_of) - 1

    def imports(self) -> list[str]:
        """Import statements' text, in file order."""
        return [text for chunk in self.table.leaves for text in chunk.imports]

    def top_count(self) -> int:
        """Number of top-level (depth 0) definitions."""
        return self.table.top_count

    def definitions(self) -> list[Definition]:
        """Every outline-level definition with absolute coordinates, in file order (O(n))."""
        table = self.table
        found = [self._absolute(c, d) for c in (*table.headers, *table.leaves) for d in c.definitions]
        found.sort(key=lambda d: (d.start_byte, -d.end_byte))
        return found

    def count(self, name: str) -> int:
        """How many definitions are named ``name`` (or have a qualified name ending with it)."""
        return sum(len(chunk.by_name[name]) for chunk in self.table.index.get(name, ()))

    def lookup(self, name: str) -> list[Definition]:
        """Absolute definitions named ``name`` (or whose qualified name ends with it)."""
        return [self._absolute(chunk, d) for chunk in self.table.index.get(name, ()) for d in chunk.by_name[name]]

    def near(self, offset: int, depth: int, low: int = 0, high: int | None = None) -> Iterator[Definition]:
        """Absolute definitions of nesting ``depth`` inside bytes ``[low, high)``, nearest to
        ``offset`` first (byte distance to the definition's span). Lazy: a caller that stops early
        only pays for the chunks it looked at. Header chunks (big containers) come first."""
        table = self.table
        leaves = table.leaves
        limit = high if high is not None else 1 << 62
        containers = [self._absolute(h, d) for h in table.headers for d in h.definitions if d.depth == depth]
        containers = [d for d in containers if low <= d.start_byte and d.end_byte <= limit]
        containers.sort(key=lambda d: (max(d.start_byte - offset, offset - d.end_byte, 0), d.start_byte))
        yield from containers
        right = max(0, self.chunk_index(offset))
        left = right - 1

        def pick(index: int, reverse: bool) -> list[Definition]:
            chunk = table.sync(leaves[index])
            found = [self._absolute(chunk, d) for d in chunk.definitions if d.depth == depth]
            found = [d for d in found if low <= d.start_byte and d.end_byte <= limit]
            return found[::-1] if reverse else found

        pending_left: list[Definition] = []
        pending_right: list[Definition] = []
        while True:
            if not pending_left and left >= 0 and table.end_of(leaves[left]) > low:
                pending_left = pick(left, True)
                left -= 1
                continue
            if not pending_right and right < len(leaves) and table.start_of(leaves[right]) < limit:
                pending_right = pick(right, False)
                right += 1
                continue
            if not pending_left and not pending_right:
                if (left < 0 or table.end_of(leaves[left]) <= low) and (
                    right >= len(leaves) or table.start_of(leaves[right]) >= limit
                ):
                    return
                continue
            if pending_right and (not pending_left or pending_right[0].start_byte - offset
                                  <= offset - pending_left[0].end_byte):
                yield pending_right.pop(0)
            else:
                yield pending_left.pop(0)


def file_facts(doc: Document) -> FileFacts:
    """The file facts of ``doc``'s current version (cached until the next change).

    The first call after opening builds every chunk; later calls only recompute the chunks touched
    by ``doc.pending_edits``. A document without a syntax tree has no chunks.
    """
    cached = doc.cache.get(_FACTS_KEY)
    if isinstance(cached, FileFacts):
        return cached
    table = doc.cache_table.get(_TABLE_KEY)
    if not isinstance(table, ChunkTable):
        table = ChunkTable()
        doc.cache_table[_TABLE_KEY] = table
    if doc.tree is None or doc.language is None:
        table.leaves, table.headers, table.index, table.top_count = [], [], {}, 0
    elif doc.pending_edits is None or not doc.chunks_built:
        rebuild(doc, table)
    elif (doc.pending_edits or doc.pending_ranges) and not _update(
        doc, table, doc.pending_edits, doc.pending_ranges
    ):
        log.debug("chunk table of %s inconsistent after an update; rebuilding", doc.uri)
        rebuild(doc, table)
    doc.chunks_built = doc.tree is not None
    doc.pending_edits = []
    doc.pending_ranges = []
    facts = FileFacts(table, doc)
    doc.cache[_FACTS_KEY] = facts
    return facts
