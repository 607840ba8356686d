"""Workspace knowledge for requests: the indexes of the workspace folders kept current, mentions in
chat prompts, automatic retrieval for Explain / Fix / Generate tests, and the sources of an answer.

:class:`KnowledgeService` owns one :class:`~coding_director.knowledge.index.WorkspaceIndex` per
workspace folder. Every index call runs in a worker thread (``asyncio.to_thread``) under a
timeout, so the event loop never waits on SQLite or the embedder. Edits of open documents are
indexed from memory after ``index.debounce_ms``; any retrieval first applies the edits still
waiting, so an answer always sees the text in the editor.

Mentions in a chat prompt (removed from the question used for retrieval):

- ``@codebase``: retrieve for the question (hybrid BM25 + vectors, RRF; ``knowledge.retrieve``);
- ``@file PATH``: that file (relative to a workspace folder, or absolute), cut to the budget;
- ``@symbol NAME``: the definitions of ``NAME`` in the index.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coding_director.context import DocumentStore
from coding_director.context.related import referenced_names
from coding_director.context.render import path_of_uri
from coding_director.context.secrets import ContextPart
from coding_director.knowledge.embedder import EmbedderError
from coding_director.knowledge.index import WorkspaceIndex
from coding_director.knowledge.models import IndexSummary, SearchHit
from coding_director.knowledge.retrieve import fit_snippets, render_snippet, render_snippets
from coding_director.knowledge.walker import is_binary
from coding_director.results import Source
from coding_director.settings import Settings

__all__ = ["Gathered", "KnowledgeService", "Mentions", "parse_mentions", "path_of_uri"]

log = logging.getLogger(__name__)

_MENTION = re.compile(r"(?<![\w.@])(?:@(codebase)\b(?!\.\w)|@(file)\s+(\"[^\"]+\"|\S+)|@(symbol)\s+([\w.:$]+))")
#: Intents that get retrieval without a mention: definitions of what the focus calls, its callers.
AUTO_INTENTS = frozenset({"explain", "fix", "test"})
_CALL_TIMEOUT_S = 30.0
_UPDATE_TIMEOUT_S = 600.0


@dataclass(slots=True)
class Mentions:
    """What a prompt asks for: ``codebase`` retrieval, ``files`` and ``symbols`` by name, and the
    ``question`` without the mentions."""

    question: str
    codebase: bool = False
    files: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)


def parse_mentions(prompt: str) -> Mentions:
    """Find ``@codebase``, ``@file PATH`` (quotes allowed) and ``@symbol NAME`` in ``prompt``."""
    mentions = Mentions(question="")
    for match in _MENTION.finditer(prompt):
        if match.group(1):
            mentions.codebase = True
        elif match.group(2):
            mentions.files.append(match.group(3).strip('"').rstrip("?,;:!)"))
        elif match.group(4):
            mentions.symbols.append(match.group(5))
    mentions.question = " ".join(_MENTION.sub(" ", prompt).split()) or prompt
    return mentions


@dataclass(slots=True)
class Gathered:
    """Retrieved context for a prompt: markdown ``text`` (empty when nothing was found), the same
    text as ``parts`` (a heading, then one part per snippet with its file's absolute path: what a
    non-local tier's copy is filtered by), the ``sources`` it came from, and ``notes`` for the user
    (an unknown ``@file``)."""

    text: str = ""
    sources: list[Source] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parts: list[ContextPart] = field(default_factory=list)


class KnowledgeService:
    """The indexes of the workspace folders (see the module docstring).

    ``settings.index.enabled = False`` turns every method into a no-op. An embedder that cannot be
    loaded or reached is reported once through ``on_error`` and the folder stays unindexed.
    """

    def __init__(self, settings: Settings, on_error: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.indexes: dict[Path, WorkspaceIndex] = {}
        self._on_error = on_error or (lambda message: log.warning("%s", message))
        self._pending: dict[str, tuple[asyncio.TimerHandle, str]] = {}
        self._lock = asyncio.Lock()

    # -- folders ----------------------------------------------------------------------------------
    async def open_folders(self, folders: Sequence[Path],
                           progress: Callable[[str, int], None] | None = None,
                           cancel: threading.Event | None = None) -> list[IndexSummary]:
        """Open (or reuse) and bring up to date the index of each folder, one after the other.

        ``progress(message, percentage)`` is called from the worker thread (thread-safe callers
        only); ``cancel`` stops between files. Returns the summaries of the folders indexed.
        """
        if not self.settings.index.enabled:
            return []
        summaries: list[IndexSummary] = []
        for number, folder in enumerate(folders):
            if cancel is not None and cancel.is_set():
                break
            index = await self._index_for_folder(folder)
            if index is None:
                continue

            def report(done: int, total: int, path: str, number: int = number) -> None:
                if progress is not None:
                    share = (number + done / max(total, 1)) / len(folders)
                    progress(f"{done}/{total} files: {path}", int(share * 100))

            async with self._lock:
                summary = await asyncio.wait_for(asyncio.to_thread(index.update, report, cancel),
                                                 _UPDATE_TIMEOUT_S)
            summaries.append(summary)
            log.info("indexed %s: %d files, %d chunks in %.2f s", folder, summary.files, summary.chunks,
                     summary.seconds)
        return summaries

    async def _index_for_folder(self, folder: Path) -> WorkspaceIndex | None:
        root = await asyncio.to_thread(folder.resolve)
        if root in self.indexes:
            return self.indexes[root]
        try:
            index = await asyncio.to_thread(WorkspaceIndex, root, self.settings)
        except (EmbedderError, OSError) as error:
            self._on_error(f"workspace index of {root} not available: {error}")
            return None
        self.indexes[root] = index
        return index

    def index_of(self, path: Path) -> WorkspaceIndex | None:
        """The index of the innermost workspace folder containing ``path``."""
        best: WorkspaceIndex | None = None
        for root, index in self.indexes.items():
            inside = path == root or root in path.parents
            if inside and (best is None or len(str(root)) > len(str(best.root))):
                best = index
        return best

    def close(self) -> None:
        """Cancel pending edits and close every index."""
        for handle, _text in self._pending.values():
            handle.cancel()
        self._pending.clear()
        for index in self.indexes.values():
            index.close()
        self.indexes.clear()

    # -- keeping current --------------------------------------------------------------------------
    def changed(self, uri: str, text: str) -> None:
        """An open document changed: index its text after ``index.debounce_ms`` (newest wins)."""
        path = path_of_uri(uri)
        if path is None or not self.settings.index.enabled or self.index_of(path) is None:
            return
        previous = self._pending.pop(uri, None)
        if previous is not None:
            previous[0].cancel()
        loop = asyncio.get_running_loop()
        handle = loop.call_later(self.settings.index.debounce_ms / 1000,
                                 lambda: loop.create_task(self._apply(uri)))
        self._pending[uri] = (handle, text)

    async def _apply(self, uri: str) -> None:
        pending = self._pending.pop(uri, None)
        path = path_of_uri(uri)
        if pending is None or path is None:
            return
        index = self.index_of(path)
        if index is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(index.update_text, path, pending[1]), _CALL_TIMEOUT_S)
            except (TimeoutError, EmbedderError, OSError) as error:
                log.warning("could not index the edit of %s: %s", path, error)

    async def flush(self) -> None:
        """Apply every edit still waiting for its debounce (before a retrieval)."""
        for uri in list(self._pending):
            handle, _text = self._pending[uri]
            handle.cancel()
            await self._apply(uri)

    async def saved(self, uri: str) -> None:
        """A document was saved (or a watched file created/changed/deleted): index it from disk."""
        path = path_of_uri(uri)
        if path is None:
            return
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending[0].cancel()
        index = self.index_of(path)
        if index is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(index.update_file, path), _UPDATE_TIMEOUT_S)
            except (TimeoutError, EmbedderError, OSError) as error:
                log.warning("could not re-index %s: %s", path, error)

    async def closed(self, uri: str) -> None:
        """A document was closed: what is on disk is the truth again."""
        await self.saved(uri)

    # -- retrieval --------------------------------------------------------------------------------
    async def search(self, query: str, top_k: int | None = None,
                     focus_names: dict[str, float] | None = None) -> list[tuple[WorkspaceIndex, SearchHit, str]]:
        """The best chunks over every folder, best first: ``(index, hit, chunk text)``."""
        await self.flush()
        k = top_k or self.settings.index.top_k
        found: list[tuple[WorkspaceIndex, SearchHit, str]] = []
        for index in list(self.indexes.values()):
            hits = await asyncio.wait_for(asyncio.to_thread(index.search, query, k, "hybrid", focus_names),
                                          _CALL_TIMEOUT_S)
            found += [(index, hit, chunk.text) for hit, chunk in hits]
        found.sort(key=lambda item: -item[1].score)
        return found[:k]

    async def gather(self, prompt: str, *, intent: str | None = None, store: DocumentStore | None = None,
                     uri: str | None = None, focus: tuple[int, int] | None = None,
                     token_budget: int | None = None) -> Gathered:
        """Context for ``prompt``: its mentions, plus automatic retrieval for Explain / Fix /
        Generate tests when the focus (``uri`` open in ``store``, 1-based lines ``focus``) is known.
        Code already in the prompt (the focus) is not repeated. Never raises for index trouble: it
        is logged and the request goes on without retrieval."""
        gathered = Gathered()
        if not self.settings.index.enabled or not self.indexes:
            return gathered
        budget = token_budget or self.settings.index.token_budget
        mentions = parse_mentions(prompt)
        exclude: list[tuple[str, int, int]] = []
        focus_path = path_of_uri(uri) if uri else None
        focus_index = self.index_of(focus_path) if focus_path else None
        focus_rel = focus_index.relative(focus_path) if focus_index and focus_path else None
        if focus_rel and focus:
            exclude.append((focus_rel, focus[0], focus[1]))
        candidates: list[tuple[WorkspaceIndex, SearchHit, str]] = []
        try:
            await self.flush()
            for name in mentions.symbols:
                candidates += await self._symbol(name)
            for file in mentions.files:
                found = self._file(file)
                if found is None:
                    gathered.notes.append(f"@file {file}: no such file in the workspace")
                else:
                    candidates.append(found)
            names: dict[str, float] = {}
            if store is not None and uri is not None and focus is not None:
                names = _focus_names(store, uri, focus)
            if mentions.codebase:
                candidates += await self.search(mentions.question, focus_names=names or None)
            elif intent in AUTO_INTENTS and names:
                for name in sorted(names, key=lambda n: -names[n])[:6]:
                    candidates += await self._symbol(name, limit=2)
                focus_name = _focus_definition_name(store, uri, focus) if store and uri and focus else None
                if focus_name:
                    candidates += [c for c in await self.search(focus_name, top_k=6)
                                   if focus_name in c[2] and c[1].name.rsplit(".", 1)[-1] != focus_name]
        except (TimeoutError, EmbedderError, OSError) as error:
            log.warning("retrieval failed: %s", error)
            return gathered
        snippets = fit_snippets([(hit, text) for _index, hit, text in candidates], budget, exclude)
        gathered.text = render_snippets(snippets)
        if snippets:
            gathered.parts.append(ContextPart(gathered.text.split("\n\n", 1)[0]))  # the heading
        for snippet in snippets:
            index = next((i for i, h, _t in candidates
                          if h.path == snippet.path and h.start_line == snippet.start_line), None)
            root = index.root if index is not None else next(iter(self.indexes))
            gathered.sources.append(Source(path=snippet.path, start_line=snippet.start_line, end_line=snippet.end_line,
                                           uri=(root / snippet.path).as_uri()))
            gathered.parts.append(ContextPart(render_snippet(snippet), root / snippet.path))
        return gathered

    async def _symbol(self, name: str, limit: int = 5) -> list[tuple[WorkspaceIndex, SearchHit, str]]:
        found: list[tuple[WorkspaceIndex, SearchHit, str]] = []
        for index in list(self.indexes.values()):
            chunks = await asyncio.wait_for(asyncio.to_thread(index.symbol, name, limit), _CALL_TIMEOUT_S)
            found += [(index, SearchHit(path=c.path, start_line=c.start_line, end_line=c.end_line, name=c.name,
                                        score=1.0), c.text) for c in chunks]
        return found

    def _file(self, name: str) -> tuple[WorkspaceIndex, SearchHit, str] | None:
        """A mentioned file of a workspace folder, cut to the budget. Named explicitly, it is read
        even when the index leaves it out (``.gitignore``, defaults); binary files never are."""
        for index in self.indexes.values():
            path = Path(name) if Path(name).is_absolute() else index.root / name
            rel = index.relative(path)
            if rel is not None and path.is_file():
                data = path.read_bytes()
                if is_binary(data):
                    continue
                text = data.decode("utf-8", errors="replace")
                limit = self.settings.index.token_budget * 3
                text = text[:limit]
                lines = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
                return index, SearchHit(path=rel, start_line=1, end_line=lines, name=rel, score=1.0), text.rstrip("\n")
        return None


def _focus_names(store: DocumentStore, uri: str, focus: tuple[int, int]) -> dict[str, float]:
    """Names used in lines ``focus`` (1-based, inclusive) of the open document ``uri``."""
    doc = store.get(uri)
    if doc is None or doc.tree is None:
        return {}
    start = doc.lines.starts[min(focus[0] - 1, len(doc.lines.starts) - 1)]
    end_line = min(focus[1], len(doc.lines.starts) - 1)
    end = doc.lines.starts[end_line] if end_line < len(doc.lines.starts) else len(doc.data)
    names = referenced_names(doc, start, end)
    return {name: weight for name, weight in names.items() if len(name) > 2}


def _focus_definition_name(store: DocumentStore, uri: str, focus: tuple[int, int]) -> str | None:
    """The name of the definition starting on the focus's first line, if any (for its callers)."""
    doc = store.get(uri)
    if doc is None:
        return None
    line = doc.text.split("\n")[focus[0] - 1] if focus[0] - 1 < doc.text.count("\n") + 1 else ""
    match = re.search(r"(?:def|function|fn|func|class)\s+([A-Za-z_$][\w$]*)", line)
    return match.group(1) if match else None
