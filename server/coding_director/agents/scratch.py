"""The scratch copy of a workspace in which a task's edits are applied and its tests run.

A git repository with at least one commit gets a temporary ``git worktree`` (detached at ``HEAD``)
with the user's uncommitted changes and untracked, not ignored files laid over it, so the scratch
copy is the working tree as the user sees it; any other folder is copied file by file, honouring its
``.gitignore`` (pathspec's gitwildmatch rules). The user's files are never written: the only trace
in the repository is the worktree's entry under ``.git/worktrees``, removed by :meth:`Scratch.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
import shutil
import tempfile
from pathlib import Path

import pathspec

#: Folders never copied or listed, whatever ``.gitignore`` says.
ALWAYS_SKIPPED = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache"})
GIT_TIMEOUT_S = 60.0


class ScratchError(RuntimeError):
    """The scratch copy could not be made, or a change could not be applied to the workspace."""


async def _git(cwd: Path, *args: str) -> str:
    """Run ``git args`` in ``cwd``; return stdout. Raises :class:`ScratchError` on failure or after
    :data:`GIT_TIMEOUT_S` seconds."""
    process = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(GIT_TIMEOUT_S):
            out, err = await process.communicate()
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        raise ScratchError(f"git {' '.join(args[:2])} failed: {err.decode(errors='replace').strip()[:300]}")
    return out.decode("utf-8", errors="surrogateescape")


async def _is_git_with_head(workspace: Path) -> bool:
    try:
        top = (await _git(workspace, "rev-parse", "--show-toplevel")).strip()
        await _git(workspace, "rev-parse", "--verify", "--quiet", "HEAD")
    except (ScratchError, FileNotFoundError):
        return False
    return _real(Path(top)) == _real(workspace)


def _real(path: Path) -> Path:
    """``path`` with symbolic links resolved (a quick, local file-system call)."""
    return Path(os.path.realpath(path))


def walk_files(root: Path) -> list[str]:
    """Relative POSIX paths of the files below ``root``, skipping :data:`ALWAYS_SKIPPED` folders,
    symbolic links and whatever ``root/.gitignore`` ignores. Sorted."""
    ignore_file = root / ".gitignore"
    lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines() if ignore_file.is_file() else []
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    found: list[str] = []
    for directory, dirs, files in os.walk(root):
        base = Path(directory)
        rel_dir = base.relative_to(root).as_posix()
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in ALWAYS_SKIPPED
            and not (base / d).is_symlink()
            and not spec.match_file(f"{d}/" if rel_dir == "." else f"{rel_dir}/{d}/")
        )
        for name in files:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not (base / name).is_symlink() and not spec.match_file(rel):
                found.append(rel)
    return sorted(found)


def read_text(path: Path) -> str | None:
    """``path``'s UTF-8 text with line endings kept as they are, or ``None`` when it does not exist,
    is a directory, or is not UTF-8 text."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, UnicodeDecodeError):
        return None


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8 without translating line endings, creating parents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _overlay(workspace: Path, root: Path, listing: str, changed: str) -> list[str]:
    """Lay the working tree's changes (``git ls-files -z`` output ``changed``) over the worktree at
    ``root``; return the files of ``listing`` that exist there."""
    for rel in {f for f in changed.split("\0") if f}:
        source = workspace / rel
        if source.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / rel)
        else:
            (root / rel).unlink(missing_ok=True)
    return sorted(f for f in {f for f in listing.split("\0") if f} if (root / f).is_file())


def _copy_tree(workspace: Path, root: Path) -> list[str]:
    """Copy :func:`walk_files` of ``workspace`` to ``root``; return them."""
    files = walk_files(workspace)
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(workspace / rel, root / rel)
    root.mkdir(parents=True, exist_ok=True)
    return files


class Scratch:
    """A scratch copy of ``workspace`` at :attr:`root`. Create with :meth:`create`, always
    :meth:`close` (``async with`` does both)."""

    def __init__(self, workspace: Path, root: Path, files: list[str], worktree: bool) -> None:
        self.workspace = workspace
        self.root = root
        self.files = files
        self.worktree = worktree
        self._originals: dict[str, str | None] = {}

    @classmethod
    async def create(cls, workspace: Path) -> Scratch:
        """Make the scratch copy of ``workspace`` (a directory). Raises :class:`ScratchError`.
        File copying runs in a worker thread, so the event loop stays responsive."""
        workspace = _real(workspace)
        if not await asyncio.to_thread(workspace.is_dir):
            raise ScratchError(f"workspace {workspace} is not a directory")
        holder = Path(tempfile.mkdtemp(prefix="coding-director-task-"))
        root = holder / "tree"
        try:
            if await _is_git_with_head(workspace):
                await _git(workspace, "worktree", "add", "--detach", "--quiet", str(root), "HEAD")
                listing = await _git(workspace, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
                changed = await _git(workspace, "ls-files", "-z", "--modified", "--others", "--exclude-standard")
                files = await asyncio.to_thread(_overlay, workspace, root, listing, changed)
                return cls(workspace, root, files, worktree=True)
            files = await asyncio.to_thread(_copy_tree, workspace, root)
            return cls(workspace, root, files, worktree=False)
        except BaseException:
            shutil.rmtree(holder, ignore_errors=True)
            raise

    async def close(self) -> None:
        """Remove the scratch copy (and its worktree entry). Never raises."""
        if self.worktree:
            with contextlib.suppress(ScratchError, OSError, TimeoutError):
                await _git(self.workspace, "worktree", "remove", "--force", str(self.root))
        shutil.rmtree(self.root.parent, ignore_errors=True)

    async def __aenter__(self) -> Scratch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def read(self, rel: str) -> str | None:
        """The scratch file's text, or ``None`` when it does not exist or is not UTF-8 text."""
        return read_text(self.root / rel)

    def write(self, rel: str, text: str) -> None:
        """Write ``text`` to the scratch file ``rel``, remembering its text before the first write."""
        if rel not in self._originals:
            self._originals[rel] = self.read(rel)
        write_text(self.root / rel, text)
        if rel not in self.files:
            self.files.append(rel)

    def original(self, rel: str) -> str | None:
        """``rel``'s text when the task started (``None``: it did not exist or is not text)."""
        return self._originals[rel] if rel in self._originals else self.read(rel)

    def restore(self, rel: str, text: str | None) -> None:
        """Put ``rel`` back to ``text``; ``None`` removes the file."""
        if text is None:
            (self.root / rel).unlink(missing_ok=True)
        else:
            self.write(rel, text)

    def changes(self) -> dict[str, str]:
        """``{path: new text}`` of every file whose text now differs from the start of the task."""
        result = {}
        for rel, before in self._originals.items():
            now = self.read(rel)
            if now is not None and now != before:
                result[rel] = now
        return result

    def diff(self) -> str:
        """The unified diff (``a/`` and ``b/`` prefixes, as ``git apply`` takes it) of :meth:`changes`."""
        parts: list[str] = []
        for rel, after in sorted(self.changes().items()):
            before = self._originals.get(rel)
            parts.extend(
                difflib.unified_diff(
                    (before or "").splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile="/dev/null" if before is None else f"a/{rel}",
                    tofile=f"b/{rel}",
                )
            )
            if parts and not parts[-1].endswith("\n"):
                parts[-1] += "\n\\ No newline at end of file\n"
        return "".join(parts)

    def apply_to_workspace(self) -> list[str]:
        """Write :meth:`changes` into the real workspace; return the paths written.

        Refuses (:class:`ScratchError`, nothing written) when any of those files changed in the
        workspace since the task started: an edit computed for old text is never applied to new text.
        """
        changes = self.changes()
        for rel in changes:
            current = read_text(self.workspace / rel)
            if current != self._originals.get(rel):
                raise ScratchError(f"{rel} changed in the workspace while the task ran; nothing was applied")
        for rel, text in changes.items():
            write_text(self.workspace / rel, text)
        return sorted(changes)
