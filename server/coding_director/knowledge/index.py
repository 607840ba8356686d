"""The index of one workspace folder: walk, chunk, embed, store; search it.

:class:`WorkspaceIndex` is synchronous and thread-safe; callers on an event loop run it through
``asyncio.to_thread`` (see ``features/knowledge.py``). Indexing is incremental: a file whose size
and mtime match the stored ones is not even read; one whose content hash (BLAKE2b-128) matches is
not re-chunked. Files whose text comes from the editor (unsaved buffers, :meth:`update_text`) are
left alone by the walk until they are saved or closed (:meth:`release`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from coding_director.context.documents import DocumentStore
from coding_director.knowledge.chunker import ChunkRecord, chunk_file
from coding_director.knowledge.embedder import Embedder, make_embedder
from coding_director.knowledge.models import IndexSummary, SearchHit
from coding_director.knowledge.retrieve import reciprocal_rank_fusion
from coding_director.knowledge.store import IndexStore, StoredChunk
from coding_director.knowledge.terms import fts_query
from coding_director.knowledge.walker import ignore_rules, is_binary, walk_workspace
from coding_director.settings import IndexSettings, Settings

__all__ = ["Progress", "WorkspaceIndex", "index_path"]

log = logging.getLogger(__name__)

#: ``progress(done, total, message)``: files looked at so far, files to look at.
Progress = Callable[[int, int, str], None]
#: Candidates taken from each ranking before fusion.
CANDIDATES = 50
_BATCH_CHUNKS = 2048
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")
_TEST_PATH = re.compile(r"(^|/)(tests?|__tests__|spec|testing)(/|$)|(^|/)test_[^/]*$|_test\.\w+$|\.(spec|test)\.\w+$")
_ASKS_FOR_TESTS = re.compile(r"\b(tests?|testing|spec|specs|pytest|unittest|fixtures?)\b", re.IGNORECASE)


def index_path(root: Path, settings: IndexSettings) -> Path:
    """Where the SQLite file of ``root`` lives: ``<cache>/index/<folder name>-<hash of the absolute
    path>.sqlite``, ``<cache>`` being ``index.cache_dir`` or platformdirs' user cache directory."""
    if settings.cache_dir is not None:
        base = settings.cache_dir
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("coding-director", appauthor=False)) / "index"
    resolved = str(root.resolve())
    digest = hashlib.blake2b(resolved.encode(), digest_size=8).hexdigest()
    return base / f"{_SLUG.sub('_', root.resolve().name) or 'root'}-{digest}.sqlite"


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class WorkspaceIndex:
    """The index of the folder ``root``.

    ``settings``: the whole :class:`Settings` (``index`` section and, for an Ollama embedder,
    ``ollama.host``). ``embedder`` overrides the one the settings choose (tests, benchmarks).
    Raises :class:`~coding_director.knowledge.embedder.EmbedderError` when the embedder cannot be
    loaded or reached, ``apsw.Error`` when the store cannot be opened.
    """

    def __init__(self, root: Path, settings: Settings, embedder: Embedder | None = None) -> None:
        self.root = root.resolve()
        self.settings = settings.index
        self.embedder = embedder if embedder is not None else make_embedder(settings)
        self.store = IndexStore(index_path(self.root, self.settings), self.embedder.identity, self.embedder.dim,
                                str(self.root))
        self.rules = ignore_rules(self.root)
        self._docs = DocumentStore(max_file_bytes=self.settings.max_file_bytes)
        self._chunk_lock = threading.Lock()
        self._overlay: set[str] = set()
        self._pending_rebuilt = self.store.rebuilt

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    # -- paths ------------------------------------------------------------------------------------
    def relative(self, path: Path | str) -> str | None:
        """``path`` relative to the root with ``/`` separators, or ``None`` when outside it."""
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        try:
            return candidate.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None

    def indexable(self, rel: str) -> bool:
        """True when ``rel`` is not excluded by the ignore rules (``.gitignore``, defaults)."""
        return not self.rules.ignored_path(rel)

    # -- writing ----------------------------------------------------------------------------------
    def _chunk(self, rel: str, data: bytes) -> list[ChunkRecord]:
        with self._chunk_lock:
            return chunk_file(rel, data, self._docs, self.settings.chunk_lines)

    def _write(self, batch: list[tuple[str, str, int, int, list[ChunkRecord]]], reuse: bool = False) -> None:
        """Embed and store ``batch``. With ``reuse``, chunks whose text is unchanged keep their
        stored vector (an edit re-embeds only the chunks it touched)."""
        chunks = [(path, chunk) for path, *_, file_chunks in batch for chunk in file_chunks]
        vectors = np.zeros((len(chunks), self.embedder.dim), dtype=np.float32)
        known: dict[str, np.ndarray] = {}
        if reuse:
            for path, *_ in batch:
                known.update(self.store.vectors_of(path))
        todo = [i for i, (_path, chunk) in enumerate(chunks) if chunk.text not in known]
        for i, (_path, chunk) in enumerate(chunks):
            if chunk.text in known:
                vectors[i] = known[chunk.text]
        if todo:
            vectors[todo] = self.embedder.embed([chunks[i][1].embed_text(chunks[i][0]) for i in todo])
        self.store.write_files(batch, vectors)

    def update(self, progress: Progress | None = None, cancel: threading.Event | None = None) -> IndexSummary:
        """Bring the whole folder up to date (walk, re-chunk what changed, drop what disappeared or
        is now ignored). Cancellable between files through ``cancel``; what was written stays."""
        started = time.perf_counter()
        self.rules.reset()
        stored = self.store.file_states()
        entries = list(walk_workspace(self.root, self.rules, self.settings.max_file_bytes, self.settings.max_files))
        seen = {entry.path for entry in entries}
        indexed = unchanged = 0
        batch: list[tuple[str, str, int, int, list[ChunkRecord]]] = []
        batch_chunks = 0
        cancelled = False
        total = len(entries)
        for done, entry in enumerate(entries, start=1):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            if progress is not None and (done % 50 == 0 or done == total):
                progress(done, total, entry.path)
            if entry.path in self._overlay:
                unchanged += 1
                continue
            previous = stored.get(entry.path)
            if previous is not None and previous[1] == entry.size and previous[2] == entry.mtime_ns:
                unchanged += 1
                continue
            try:
                data = (self.root / entry.path).read_bytes()
            except OSError:
                continue
            digest = _digest(data)
            if previous is not None and previous[0] == digest:
                self.store.touch(entry.path, entry.size, entry.mtime_ns)  # same content, new mtime
                unchanged += 1
                continue
            chunks = [] if is_binary(data) else self._chunk(entry.path, data)
            batch.append((entry.path, digest, entry.size, entry.mtime_ns, chunks))
            indexed += 1
            batch_chunks += len(chunks)
            if batch_chunks >= _BATCH_CHUNKS:
                self._write(batch)
                batch, batch_chunks = [], 0
        if batch:
            self._write(batch)
        removed = [] if cancelled else [path for path in stored if path not in seen and path not in self._overlay]
        if removed:
            self.store.remove_files(removed)
        file_count, chunk_count = self.store.counts()
        rebuilt, self._pending_rebuilt = self._pending_rebuilt, False
        return IndexSummary(
            root=str(self.root), files=file_count, chunks=chunk_count, indexed=indexed, unchanged=unchanged,
            removed=len(removed), seconds=round(time.perf_counter() - started, 4), embedder=self.embedder.identity,
            rebuilt=rebuilt, cancelled=cancelled)

    def update_text(self, path: Path | str, text: str) -> bool:
        """Index the editor's unsaved ``text`` of ``path`` (kept until :meth:`release`). Returns
        False when the path is outside the folder, ignored, or already indexed with this text."""
        rel = self.relative(path)
        if rel is None or not self.indexable(rel):
            return False
        data = text.encode("utf-8", "surrogatepass")
        if len(data) > self.settings.max_file_bytes:
            return False
        self._overlay.add(rel)
        return self._index_bytes(rel, data, -1)

    def update_file(self, path: Path | str) -> bool:
        """Re-index ``path`` from disk (after a save or a watched-file event); a deleted or now
        ignored file is removed. Returns True when the index changed."""
        rel = self.relative(path)
        if rel is None:
            return False
        self._overlay.discard(rel)
        if rel.endswith(".gitignore") or rel == ".git/info/exclude":
            self.update()
            return True
        file = self.root / rel
        if not self.indexable(rel) or not file.is_file():
            return self.remove(rel)
        stat = file.stat()
        if stat.st_size > self.settings.max_file_bytes:
            return self.remove(rel)
        return self._index_bytes(rel, file.read_bytes(), stat.st_mtime_ns)

    def release(self, path: Path | str) -> bool:
        """The editor closed ``path`` without saving: index the file on disk again."""
        return self.update_file(path)

    def remove(self, path: Path | str) -> bool:
        """Forget ``path`` (absolute, or relative to the root). Returns True when it was indexed."""
        rel = self.relative(path)
        if rel is None:
            return False
        known = rel in self.store.file_states()
        self.store.remove_files([rel])
        return known

    def _index_bytes(self, rel: str, data: bytes, mtime_ns: int) -> bool:
        digest = _digest(data)
        previous = self.store.file_states().get(rel)
        if previous is not None and previous[0] == digest:
            if previous[2] != mtime_ns:
                self.store.touch(rel, len(data), mtime_ns)
            return False
        chunks = [] if is_binary(data) else self._chunk(rel, data)
        self._write([(rel, digest, len(data), mtime_ns, chunks)], reuse=True)
        return True

    # -- searching --------------------------------------------------------------------------------
    def rankings(self, query: str, focus_names: dict[str, float] | None = None,
                 kinds: tuple[str, ...] = ("bm25", "vector")) -> dict[str, list[int]]:
        """The separate rankings (chunk ids, best first): ``bm25``, ``vector`` and, when
        ``focus_names`` (name -> reference weight) is given, ``symbols``.

        Unless the query mentions tests, chunks of test files (``tests/``, ``test_*.py``,
        ``*.spec.ts``, ...) move after the other candidates of each ranking: a question about the
        code is answered by the code first (on the evaluation, tests crowded out 3 of 24 answers
        in ``requests``)."""
        found: dict[str, list[int]] = {}
        if "bm25" in kinds:
            match = fts_query(query)
            found["bm25"] = [chunk_id for chunk_id, _ in self.store.bm25(match, CANDIDATES)] if match else []
        if "vector" in kinds:
            vector = self.embedder.embed([query])[0]
            found["vector"] = [chunk_id for chunk_id, _ in self.store.knn(vector, CANDIDATES)]
        if not _ASKS_FOR_TESTS.search(query):
            paths = self.store.paths({i for ranking in found.values() for i in ranking})
            for key, ranking in found.items():
                found[key] = ([i for i in ranking if not _TEST_PATH.search(paths.get(i, ""))]
                              + [i for i in ranking if _TEST_PATH.search(paths.get(i, ""))])
        if focus_names:
            order = sorted(focus_names, key=lambda n: (-focus_names[n], n))
            rows = self.store.by_names(order)
            rank = {name: i for i, name in enumerate(order)}
            found["symbols"] = [chunk_id for chunk_id, _ in sorted(rows, key=lambda r: (rank[r[1]], r[0]))]
        return found

    def search(self, query: str, top_k: int = 8, mode: str = "hybrid",
               focus_names: dict[str, float] | None = None) -> list[tuple[SearchHit, StoredChunk]]:
        """The ``top_k`` best chunks for ``query``, best first, with their stored text.

        ``mode``: ``hybrid`` (BM25 + vector [+ symbols] fused by RRF), ``bm25`` or ``vector``
        alone (score: RRF of that one ranking). Raises ``ValueError`` for another mode.
        """
        if mode == "hybrid":
            lists = list(self.rankings(query, focus_names).values())
        elif mode in ("bm25", "vector"):
            lists = [self.rankings(query, None, (mode,))[mode]]
        else:
            raise ValueError(f"mode must be 'hybrid', 'bm25' or 'vector', got {mode!r}")
        fused = reciprocal_rank_fusion(lists)[:top_k]
        stored = self.store.chunks([chunk_id for chunk_id, _ in fused])
        hits = []
        for chunk_id, score in fused:
            chunk = stored.get(chunk_id)
            if chunk is not None:
                hits.append((SearchHit(path=chunk.path, start_line=chunk.start_line, end_line=chunk.end_line,
                                       name=chunk.name, score=round(score, 6)), chunk))
        return hits

    def symbol(self, name: str, limit: int = 5) -> list[StoredChunk]:
        """Chunks defining ``name`` (a short or qualified name), at most ``limit``."""
        short = name.rsplit(".", 1)[-1].rsplit("::", 1)[-1]
        rows = self.store.by_names([short], limit=limit)
        return list(self.store.chunks([chunk_id for chunk_id, _ in rows]).values())
