"""Fill-in-the-middle windows: text before and after the cursor, cut at syntactic boundaries.

The prefix starts at the earliest start of a *complete* node that fits: the candidates are the start
of every ancestor of the cursor and of their earlier siblings (statements, members, arguments), so
the cut never falls inside a token or in the middle of a statement when a boundary exists. When the
node begins a line, the cut moves to the start of that line to keep indentation. The suffix is the
mirror image (ends of ancestors and their later siblings, extended to the end of the line). Without
a tree, or when no boundary fits, cuts fall on line boundaries. Cost: O(tree depth + siblings inside
the window) node visits, independent of file size.
"""

from __future__ import annotations

from tree_sitter import Node

from coding_director.context.budget import chars_for_tokens
from coding_director.context.documents import Document, DocumentStore

__all__ = ["fim_cut", "fim_window"]

_WHITESPACE = b" \t\r\n\f\v"


def _char_start(data: bytes, offset: int) -> int:
    """Move ``offset`` forward to a UTF-8 character boundary."""
    while offset < len(data) and (data[offset] & 0xC0) == 0x80:
        offset += 1
    return offset


def _prefix_start(data: bytes, root: Node | None, cursor: int, limit: int) -> int:
    low = cursor - limit
    if low <= 0:
        return 0
    best = cursor
    if root is not None:
        node: Node | None = root.descendant_for_byte_range(cursor, cursor)
        while node is not None:
            sibling: Node | None = node
            while sibling is not None and sibling.start_byte >= low:
                if sibling.start_byte < best:
                    best = sibling.start_byte
                sibling = sibling.prev_sibling
            node = node.parent
    if best < cursor:
        line_start = data.rfind(b"\n", 0, best) + 1
        if line_start >= low and not data[line_start:best].strip(_WHITESPACE):
            return line_start
        return best
    newline = data.find(b"\n", low, cursor)
    return newline + 1 if newline >= 0 else _char_start(data, low)


def _suffix_end(data: bytes, root: Node | None, cursor: int, limit: int) -> int:
    high = cursor + limit
    if high >= len(data):
        return len(data)
    best = cursor
    if root is not None:
        node: Node | None = root.descendant_for_byte_range(cursor, cursor)
        while node is not None:
            sibling: Node | None = node
            while sibling is not None and sibling.end_byte <= high:
                if sibling.end_byte > best:
                    best = sibling.end_byte
                sibling = sibling.next_sibling
            node = node.parent
    if best > cursor:
        line_end = data.find(b"\n", best)
        line_end = len(data) if line_end < 0 else line_end
        if line_end <= high and not data[best:line_end].strip(_WHITESPACE):
            return line_end
        return best
    newline = data.rfind(b"\n", cursor, high)
    return newline if newline >= 0 else _char_start(data, high)


def fim_cut(doc: Document, cursor: int, prefix_tokens: int, suffix_tokens: int) -> tuple[int, int]:
    """Byte offsets ``(start, end)`` so that ``data[start:cursor]`` / ``data[cursor:end]`` are the
    prefix / suffix, each within its token limit (estimate of ``budget.estimate_tokens``)."""
    root = doc.tree.root_node if doc.tree is not None else None
    start = _prefix_start(doc.data, root, cursor, chars_for_tokens(prefix_tokens))
    end = _suffix_end(doc.data, root, cursor, chars_for_tokens(suffix_tokens))
    return start, end


def fim_window(store: DocumentStore, uri: str, line: int, character: int,
               max_prefix_tokens: int, max_suffix_tokens: int) -> tuple[str, str]:
    """``(prefix, suffix)`` around the LSP position ``(line, character)`` (0-based, UTF-16 column).

    Each part is cut at a syntactic boundary (module docstring) and stays within its token limit.
    Raises ``KeyError`` when ``uri`` is not open.
    """
    doc = store.get(uri)
    if doc is None:
        raise KeyError(uri)
    cursor = doc.lines.offset_at(doc.data, line, character)
    start, end = fim_cut(doc, cursor, max_prefix_tokens, max_suffix_tokens)
    data = doc.data
    return data[start:cursor].decode("utf-8", "replace"), data[cursor:end].decode("utf-8", "replace")
