"""Search/replace edit blocks: the format in which task roles (coder, tester, debugger, documenter)
propose changes, and their exact application to a scratch copy of the workspace.

The format (after aider's "editblock" format, which models follow well): a file path on its own line,
then::

    <<<<<<< SEARCH
    lines copied exactly from the file (empty to create a new file or append to an empty one)
    =======
    the lines that replace them
    >>>>>>> REPLACE

Blocks may sit inside fenced code blocks; the fence lines are ignored. A SEARCH text must occur
**exactly once** in the file as it is after the earlier blocks of the same answer, so an edit never
lands in the wrong place; anything else is an :class:`EditError` whose message is written for the
model that has to try again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

SEARCH_MARK = "<<<<<<< SEARCH"
DIVIDER = "======="
REPLACE_MARK = ">>>>>>> REPLACE"
NO_CHANGES = "NO CHANGES"

_FENCE = re.compile(r"^\s*(```|~~~)")
_PATH_NOISE = re.compile(r"^[#*`\s]*(?:file:\s*)?|[`*:\s]*$", re.IGNORECASE)


class EditError(ValueError):
    """An answer's edits cannot be parsed or applied. ``str(error)`` is one line for the model."""


@dataclass(frozen=True, slots=True)
class EditBlock:
    """One search/replace block: ``path`` is relative to the workspace root (POSIX separators)."""

    path: str
    search: str
    replace: str


def _clean_path(line: str) -> str:
    return _PATH_NOISE.sub("", line.strip())


def safe_relative(path: str) -> str:
    """``path`` as a normalised relative POSIX path inside the workspace.

    Raises :class:`EditError` for absolute paths, ``..`` segments, or paths into ``.git``.
    """
    candidate = PurePosixPath(path.replace("\\", "/"))
    if (
        not path
        or candidate.is_absolute()
        or ".." in candidate.parts
        or (candidate.parts and candidate.parts[0] == ".git")
    ):
        raise EditError(f"path {path!r} must be relative to the workspace root, without '..' or .git")
    return str(candidate)


def parse_edits(answer: str) -> list[EditBlock]:
    """The edit blocks of ``answer``, in order. ``[]`` when the answer holds none.

    Raises :class:`EditError` for a block without a path line before it, or one that is not closed
    by ``=======`` and ``>>>>>>> REPLACE``.
    """
    lines = answer.splitlines()
    blocks: list[EditBlock] = []
    i = 0
    last_text_line = ""
    while i < len(lines):
        line = lines[i]
        if line.strip() != SEARCH_MARK:
            if line.strip() and not _FENCE.match(line):
                last_text_line = line
            i += 1
            continue
        path = _clean_path(last_text_line)
        if not path:
            raise EditError(f"edit block {len(blocks) + 1} has no file path on the line before '{SEARCH_MARK}'")
        where = f"edit block {len(blocks) + 1} ({path})"
        search, i = _lines_until(lines, i + 1, DIVIDER, where)
        replace, i = _lines_until(lines, i, REPLACE_MARK, where)
        blocks.append(EditBlock(safe_relative(path), _join(search), _join(replace)))
    return blocks


def _lines_until(lines: list[str], start: int, mark: str, where: str) -> tuple[list[str], int]:
    """``lines[start:]`` up to the line that is ``mark`` (stripped), and the index after that line.
    Raises :class:`EditError` naming ``where`` when no line is ``mark``."""
    for end in range(start, len(lines)):
        if lines[end].strip() == mark:
            return lines[start:end], end + 1
    raise EditError(f"{where} has no '{mark}' line")


def _join(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def apply_edits(blocks: list[EditBlock], read: Callable[[str], str | None]) -> dict[str, str]:
    """Apply ``blocks`` in memory and return ``{path: new text}`` for every file they change.

    ``read(path)`` gives a file's current text, or ``None`` when it does not exist. An empty SEARCH
    creates a file that does not exist (or fills an empty one); otherwise SEARCH must occur exactly
    once. Raises :class:`EditError` naming the block, the file and the number of matches.
    """
    texts: dict[str, str] = {}
    for number, block in enumerate(blocks, start=1):
        current = texts[block.path] if block.path in texts else read(block.path)
        if not block.search:
            if current:
                raise EditError(
                    f"edit block {number}: SEARCH is empty but {block.path} already has content; "
                    "copy the lines to replace into SEARCH"
                )
            texts[block.path] = block.replace
            continue
        if current is None:
            raise EditError(f"edit block {number}: {block.path} does not exist (use an empty SEARCH to create it)")
        count = current.count(block.search)
        if count != 1:
            what = "does not occur" if count == 0 else f"occurs {count} times"
            raise EditError(
                f"edit block {number}: the SEARCH text {what} in {block.path}; "
                "it must be copied exactly from the file and match one place"
            )
        texts[block.path] = current.replace(block.search, block.replace, 1)
    return texts
