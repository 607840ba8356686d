"""Shared helpers for the context-engine tests: fixtures with cursor markers ``⟨N⟩``.

A uniquely named module (not ``conftest``) so that ``from context_helpers import ...`` cannot collide
with other test folders' conftest modules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from coding_director.context.positions import utf16_len

FIXTURES = Path(__file__).parent / "fixtures"
MARKER = re.compile("⟨(\\d+)⟩")


@dataclass
class Marked:
    """A fixture with its markers removed: text and marker name -> LSP (line, UTF-16 column)."""

    path: Path
    text: str
    markers: dict[str, tuple[int, int]]


def lsp_position(text: str, index: int) -> tuple[int, int]:
    """Reference conversion (independent of the code under test): code-point index -> LSP position."""
    before = text[:index]
    line = before.count("\n")
    return line, utf16_len(before[before.rfind("\n") + 1 :])


def load_marked(path: Path) -> Marked:
    raw = path.read_text(encoding="utf-8")
    pieces: list[str] = []
    markers: dict[str, int] = {}
    position = 0
    length = 0
    for match in MARKER.finditer(raw):
        piece = raw[position : match.start()]
        pieces.append(piece)
        length += len(piece)
        markers[match.group(1)] = length
        position = match.end()
    pieces.append(raw[position:])
    text = "".join(pieces)
    return Marked(path, text, {name: lsp_position(text, index) for name, index in markers.items()})


def fixture_language(path: Path) -> str | None:
    """Language of a fixture (a ``.in`` suffix keeps linters away from Python fixtures)."""
    from coding_director.context import detect_language

    return detect_language(None, str(path).removesuffix(".in"))


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*/*") if not p.name.endswith(".golden.json"))
