"""Which paths of a workspace folder git ignores: every ``.gitignore`` on the way down plus
``.git/info/exclude``, with pathspec's gitwildmatch rules (patterns relative to the file's folder,
the deepest file with a matching pattern decides, ``!`` re-includes, as git does).

Used by the workspace index (:mod:`coding_director.knowledge.walker`, with its own defaults added)
and by the outbound filter (:mod:`coding_director.context.secrets`: ignored files never leave the
machine). The user's global excludes file (``core.excludesFile``) is not read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pathspec

__all__ = ["IgnoreRules"]


class IgnoreRules:
    """The ignore rules of one workspace folder ``root``, loaded lazily per directory and cached.

    ``defaults``: gitignore patterns that always apply besides the repository's own (the index
    passes its :data:`~coding_director.knowledge.walker.DEFAULT_EXCLUDES`). :meth:`ignored` answers
    for a path relative to the root (``/`` separators; directories with a trailing ``/``).
    :meth:`reset` forgets cached ``.gitignore`` files (after one changed).
    """

    def __init__(self, root: Path, defaults: Sequence[str] = ()) -> None:
        self.root = root
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        lines = list(defaults)
        exclude = root / ".git" / "info" / "exclude"
        if exclude.is_file():
            lines += exclude.read_text(encoding="utf-8", errors="replace").splitlines()
        self._base = pathspec.GitIgnoreSpec.from_lines(lines)

    def reset(self) -> None:
        """Forget the cached ``.gitignore`` rules (they are re-read on the next question)."""
        self._specs.clear()

    def _spec(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        if folder not in self._specs:
            file = self.root / folder / ".gitignore" if folder else self.root / ".gitignore"
            spec = None
            if file.is_file():
                try:
                    spec = pathspec.GitIgnoreSpec.from_lines(
                        file.read_text(encoding="utf-8", errors="replace").splitlines())
                except (OSError, ValueError):
                    spec = None
            self._specs[folder] = spec
        return self._specs[folder]

    def ignored(self, rel: str) -> bool:
        """True when ``rel`` (relative path; a directory ends with ``/``) is excluded."""
        if self._base.match_file(rel):
            return True
        parts = rel.rstrip("/").split("/")
        # Ancestors' rules first, the deepest decides: walk from the file's folder upwards.
        for depth in range(len(parts) - 1, -1, -1):
            folder = "/".join(parts[:depth])
            spec = self._spec(folder)
            if spec is None:
                continue
            sub = rel[len(folder) + 1:] if folder else rel
            result = spec.check_file(sub)
            if result.include is not None:
                return bool(result.include)
        return False

    def ignored_path(self, rel: str) -> bool:
        """True when the file ``rel`` or any folder above it is excluded (git never looks inside
        an ignored folder, so its files are ignored whatever their own patterns say)."""
        parts = rel.split("/")
        return any(self.ignored("/".join(parts[: i + 1]) + "/") for i in range(len(parts) - 1)) or self.ignored(rel)
