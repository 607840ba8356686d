"""Which files of a workspace folder are indexed: ``.gitignore`` rules (pathspec), size and binary limits.

Rules come from every ``.gitignore`` on the way down and ``.git/info/exclude``
(:class:`~coding_director.context.ignore.IgnoreRules`), plus :data:`DEFAULT_EXCLUDES` (version-control
folders, virtual environments, dependency folders, lock files, minified bundles). A file is skipped
when it is larger than ``max_file_bytes`` or contains a NUL byte in its first 8 KiB (binary).
"""

from __future__ import annotations

import os
import stat as stat_kind
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from coding_director.context.ignore import IgnoreRules

__all__ = ["DEFAULT_EXCLUDES", "FileEntry", "IgnoreRules", "ignore_rules", "is_binary", "walk_workspace"]

#: Never indexed, whatever ``.gitignore`` says (gitignore syntax).
DEFAULT_EXCLUDES = (
    ".git/", ".hg/", ".svn/", ".venv/", "venv/", "node_modules/", "__pycache__/", ".mypy_cache/",
    ".ruff_cache/", ".pytest_cache/", ".tox/", ".e2e-cache/", "*.lock", "package-lock.json",
    "*.min.js", "*.min.css", "*.map", "*.pyc", "*.so", "*.dll", "*.dylib", "*.png", "*.jpg", "*.jpeg",
    "*.gif", "*.ico", "*.pdf", "*.zip", "*.gz", "*.whl", "*.tar", "*.sqlite", "*.db", "*.gguf",
    # SQLite databases and their WAL/shared-memory files: reading one in this process and closing it
    # drops the process's POSIX locks on it (SQLite's "posix advisory locks" caveat, sqlite.org/howtocorrupt.html
    # section 2.2), e.g. those of the team memory when its database lies inside the workspace.
    "*.sqlite3", "*.db3", "*-wal", "*-shm", "*-journal",
)
_BINARY_PROBE_BYTES = 8192


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A candidate file: ``path`` relative to the root with ``/`` separators, size in bytes,
    modification time in nanoseconds."""

    path: str
    size: int
    mtime_ns: int


def ignore_rules(root: Path) -> IgnoreRules:
    """The index's ignore rules of ``root``: the repository's (:class:`IgnoreRules`) plus
    :data:`DEFAULT_EXCLUDES`."""
    return IgnoreRules(root, DEFAULT_EXCLUDES)


def is_binary(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) contains a NUL byte."""
    return b"\x00" in head[:_BINARY_PROBE_BYTES]


def walk_workspace(root: Path, rules: IgnoreRules, max_file_bytes: int, max_files: int) -> Iterator[FileEntry]:
    """Yield the indexable files under ``root`` in a stable (sorted) order.

    Ignored directories are pruned without being entered; symbolic links are not followed. Files
    larger than ``max_file_bytes`` are skipped; at most ``max_files`` are yielded. Binary files are
    recognised later, when read (:func:`is_binary`). Unreadable directories are skipped silently.
    """
    count = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel_folder = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if rel_folder == "." else rel_folder + "/"
        dirs[:] = sorted(d for d in dirs if not rules.ignored(f"{prefix}{d}/"))
        for name in sorted(files):
            rel = prefix + name
            if rules.ignored(rel):
                continue
            try:
                stat = (Path(folder) / name).lstat()
            except OSError:
                continue
            if not stat_kind.S_ISREG(stat.st_mode) or stat.st_size > max_file_bytes:
                continue
            yield FileEntry(rel, stat.st_size, stat.st_mtime_ns)
            count += 1
            if count >= max_files:
                return
