"""Position arithmetic between LSP positions and tree-sitter offsets.

Three coordinate systems meet here:

- LSP positions: 0-based line, ``character`` counted in **UTF-16 code units** (the LSP default);
- tree-sitter: **UTF-8 byte** offsets, and points ``(row, byte column)``;
- Python ``str`` indices (code points), only when slicing decoded text.

Lines are split on ``\\n`` only (as tree-sitter counts rows); a ``\\r`` before it stays at the end of
its line. A lone ``\\r`` (classic Mac line ending) is therefore *not* a line break here, unlike in LSP;
such files are rare and get approximate positions, never an exception.
"""

from __future__ import annotations

import re
from bisect import bisect_right

__all__ = ["LineIndex", "byte_col_to_utf16", "utf16_len", "utf16_to_byte_col"]

_NEWLINE = re.compile(b"\n")
_ENCODING_ERRORS = "surrogatepass"


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (astral characters count 2)."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_to_byte_col(line: bytes, character: int) -> int:
    """UTF-8 byte offset within ``line`` of the UTF-16 column ``character``.

    ``line`` is the line's bytes without its newline. A column past the end clamps to the line
    length; a column in the middle of a surrogate pair rounds down to the character start.
    """
    if character <= 0:
        return 0
    if line.isascii():
        return min(character, len(line))
    text = line.decode("utf-8", _ENCODING_ERRORS)
    units = 0
    for index, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > character:
            return len(text[:index].encode("utf-8", _ENCODING_ERRORS))
        units += width
    return len(line)


def byte_col_to_utf16(line: bytes, byte_col: int) -> int:
    """UTF-16 column of the byte offset ``byte_col`` within ``line`` (a partial character rounds down)."""
    prefix = line[:byte_col]
    if prefix.isascii():
        return len(prefix)
    return utf16_len(prefix.decode("utf-8", "ignore"))


class LineIndex:
    """Byte offsets of line starts of a UTF-8 buffer, updated incrementally on edits.

    ``starts[i]`` is the byte offset where 0-based line ``i`` begins; ``starts[0] == 0``. Building
    costs about 1 ms per 500 KB; :meth:`apply_edit` costs O(lines after the edit) list work.
    """

    __slots__ = ("starts",)

    def __init__(self, data: bytes) -> None:
        self.starts: list[int] = [0, *(m.end() for m in _NEWLINE.finditer(data))]

    @property
    def line_count(self) -> int:
        """Number of lines (a trailing newline starts one more, empty, line)."""
        return len(self.starts)

    def line_of(self, offset: int) -> int:
        """0-based line containing byte ``offset``."""
        return bisect_right(self.starts, offset) - 1

    def line_span(self, data: bytes, line: int) -> tuple[int, int]:
        """``(start, end)`` byte offsets of ``line``'s content, excluding its ``\\n`` (and a ``\\r``)."""
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(data)
        if end > start and data[end - 1 : end] == b"\r":
            end -= 1
        return start, end

    def offset_at(self, data: bytes, line: int, character: int) -> int:
        """Byte offset of the LSP position ``(line, character)`` (UTF-16 column).

        Out-of-range positions clamp: a line past the end maps to ``len(data)``, a negative line to
        0, a column past the line's end to the end of the line (before its newline).
        """
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(data)
        start, end = self.line_span(data, line)
        return start + utf16_to_byte_col(data[start:end], character)

    def point_at(self, offset: int) -> tuple[int, int]:
        """tree-sitter point ``(row, byte column)`` of byte ``offset``."""
        line = self.line_of(offset)
        return line, offset - self.starts[line]

    def position_at(self, data: bytes, offset: int) -> tuple[int, int]:
        """LSP position ``(line, UTF-16 character)`` of byte ``offset``."""
        line = self.line_of(offset)
        start = self.starts[line]
        return line, byte_col_to_utf16(data[start:offset], offset - start)

    def apply_edit(self, start: int, old_end: int, new_text: bytes) -> None:
        """Update the index for ``data[start:old_end]`` replaced by ``new_text`` (byte offsets)."""
        first = bisect_right(self.starts, start)
        after = bisect_right(self.starts, old_end)
        delta = len(new_text) - (old_end - start)
        inserted = [start + m.end() for m in _NEWLINE.finditer(new_text)]
        tail = self.starts[after:]
        if delta:
            tail = [s + delta for s in tail]
        self.starts[first:] = inserted + tail
