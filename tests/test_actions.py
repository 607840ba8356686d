"""Which lines a Fix replaces when no definition encloses the selection."""

from __future__ import annotations

import pytest
from coding_director.features.actions import block_end, reindent

PY = ["def add(a, b:", "    return a + b", "", "x = 1"]
JS = ["function f(a {", "  return a;", "}", "f(1);"]


@pytest.mark.parametrize(
    ("lines", "start", "end", "expected"),
    [
        (PY, 0, 1, 2),  # cursor on the def line: the indented body belongs to it
        (PY, 1, 2, 2),  # inside the body: nothing deeper follows
        (JS, 0, 1, 3),  # the closing brace at the same indentation ends the block
        (PY, 3, 4, 4),
        (PY, 0, 4, 4),  # a selection is never shrunk
    ],
)
def test_block_end(lines: list[str], start: int, end: int, expected: int) -> None:
    assert block_end(lines, start, end) == expected


def test_reindent() -> None:
    assert reindent("def f():\n    pass\n", "    ") == "    def f():\n        pass"
