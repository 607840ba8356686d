"""Fill-in-the-middle windows: text before and after the cursor, cut at syntactic boundaries.

The prefix starts at the earliest start of a *complete* named node that fits and begins its line:
the candidates are the starts of every named ancestor of the cursor and of their earlier named
siblings (statements, members, definitions) that have only indentation before them; the cut is
then the start of that line, so indentation is kept and the cut never falls inside a token or a
statement. The suffix is the mirror image (ends of ancestors and their later named siblings that
end their line; the cut is the end of that line). Without a tree, or when no such boundary fits,
cuts fall on the nearest line boundary inside the limit. Cost: O(tree depth + siblings inside
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


def _begins_line(data: bytes, offset: int) -> int:
    """Start of ``offset``'s line when only whitespace precedes ``offset`` on it, else -1."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return line_start if not data[line_start:offset].strip(_WHITESPACE) else -1


def _ends_line(data: bytes, offset: int) -> int:
    """End of ``offset``'s line (before its newline) when only whitespace follows, else -1."""
    line_end = data.find(b"\n", offset)
    line_end = len(data) if line_end < 0 else line_end
    return line_end if not data[offset:line_end].strip(_WHITESPACE) else -1


def _prefix_start(data: bytes, root: Node | None, cursor: int, limit: int) -> int:
    low = cursor - limit
    if low <= 0:
        return 0
    best = cursor
    if root is not None:
        # The code before the cursor decides (its last non-blank byte): a cursor after a statement
        # or on a blank line is outside that statement's node.
        window = max(0, cursor - 4096)
        probe = max(0, window + len(data[window:cursor].rstrip(_WHITESPACE)) - 1)
        node: Node | None = root.named_descendant_for_byte_range(probe, probe)
        while node is not None:
            sibling: Node | None = node
            while sibling is not None and sibling.start_byte >= low:
                if sibling.start_byte < best:
                    line_start = _begins_line(data, sibling.start_byte)
                    if line_start >= low:
                        best = line_start
                sibling = sibling.prev_named_sibling
            node = node.parent
    if best < cursor:
        return best
    newline = data.find(b"\n", low, cursor)
    return newline + 1 if newline >= 0 else _char_start(data, low)


def _suffix_end(data: bytes, root: Node | None, cursor: int, limit: int) -> int:
    high = cursor + limit
    if high >= len(data):
        return len(data)
    best = cursor
    if root is not None:
        node: Node | None = root.named_descendant_for_byte_range(cursor, cursor)
        while node is not None:
            sibling: Node | None = node
            while sibling is not None and sibling.end_byte <= high:
                if sibling.end_byte > best:
                    line_end = _ends_line(data, sibling.end_byte)
                    if 0 <= line_end <= high:
                        best = line_end
                sibling = sibling.next_named_sibling
            node = node.parent
    if best > cursor:
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
