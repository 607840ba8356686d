"""The index store: one SQLite file per workspace folder (apsw), FTS5 for BM25, sqlite-vec for vectors.

apsw, not the standard ``sqlite3``: the interpreter's module cannot load extensions (STACK.md).
Tables (schema version :data:`SCHEMA_VERSION`; a file with another version, embedder or dimension
is dropped and rebuilt):

- ``meta(key, value)``: ``schema``, ``embedder``, ``dim``, ``root``;
- ``files(path, hash, size, mtime_ns)``: what each indexed file was (content hash: BLAKE2b-128);
- ``chunks(id, path, start_line, end_line, name, kind, text)``: lines 1-based inclusive;
- ``symbols(name, chunk_id)``: short names of the definitions starting in each chunk;
- ``chunks_fts``: contentless FTS5 (``name``, ``body``; porter stemmer over unicode61, so
  ``snake_case`` splits at ``_``; camelCase parts are added by :func:`~coding_director.knowledge.terms.code_terms`);
- ``chunks_vec``: ``vec0`` table of float32 vectors, cosine distance.

WAL journal, ``synchronous=NORMAL``, a 5 s busy timeout. One :class:`IndexStore` owns a writer and
a reader connection, each behind its own lock, so searches run while a batch is being written.
Callers run every method in a worker thread (never on the event loop).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import apsw
import numpy as np
import numpy.typing as npt
import sqlite_vec

from coding_director.knowledge.chunker import ChunkRecord
from coding_director.knowledge.terms import code_terms

__all__ = ["SCHEMA_VERSION", "IndexStore", "StoredChunk"]

SCHEMA_VERSION = "1"


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as stored: ``id``, relative ``path``, 1-based inclusive lines, name, kind, text."""

    id: int
    path: str
    start_line: int
    end_line: int
    name: str
    kind: str
    text: str


def _rows(conn: apsw.Connection, sql: str, bindings: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """All rows of ``sql`` (apsw types rows as SQLite value unions; callers know the columns)."""
    return cast("list[tuple[Any, ...]]", conn.execute(sql, bindings).fetchall())


def _connect(path: Path) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    conn.set_busy_timeout(5000)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class IndexStore:
    """The SQLite file at ``path`` for one workspace folder, built by embedder ``embedder_id``
    with ``dim``-dimensional vectors. ``rebuilt`` is True when an existing file did not match
    (schema, embedder or dimension) and was emptied. Raises ``apsw.Error`` when the file cannot be
    opened (a read-only cache directory)."""

    def __init__(self, path: Path, embedder_id: str, dim: int, root: str = "") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.dim = dim
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._writer = _connect(path)
        self.rebuilt = self._ensure_schema(embedder_id, dim, root)
        self._reader = _connect(path)

    def _ensure_schema(self, embedder_id: str, dim: int, root: str) -> bool:
        conn = self._writer
        conn.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        meta = dict(_rows(conn, "SELECT key, value FROM meta"))
        wanted = {"schema": SCHEMA_VERSION, "embedder": embedder_id, "dim": str(dim)}
        existed = bool(meta)
        if all(meta.get(k) == v for k, v in wanted.items()):
            return False
        with conn:
            for table in ("chunks_fts", "chunks_vec", "symbols", "chunks", "files"):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute("DELETE FROM meta")
            conn.execute("CREATE TABLE files(path TEXT PRIMARY KEY, hash TEXT NOT NULL, size INTEGER NOT NULL,"
                         " mtime_ns INTEGER NOT NULL)")
            conn.execute("CREATE TABLE chunks(id INTEGER PRIMARY KEY, path TEXT NOT NULL, start_line INTEGER"
                         " NOT NULL, end_line INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,"
                         " text TEXT NOT NULL)")
            conn.execute("CREATE INDEX chunks_path ON chunks(path)")
            conn.execute("CREATE TABLE symbols(name TEXT NOT NULL, chunk_id INTEGER NOT NULL)")
            conn.execute("CREATE INDEX symbols_name ON symbols(name)")
            conn.execute("CREATE INDEX symbols_chunk ON symbols(chunk_id)")
            conn.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(name, body, content='', "
                         "contentless_delete=1, tokenize='porter unicode61')")
            conn.execute(f"CREATE VIRTUAL TABLE chunks_vec USING vec0(embedding float[{dim}] "
                         "distance_metric=cosine)")
            conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [*wanted.items(), ("root", root)])
        return existed

    def close(self) -> None:
        """Close both connections (idempotent)."""
        with self._write_lock, self._read_lock:
            self._writer.close()
            self._reader.close()

    # -- writes -----------------------------------------------------------------------------------
    def file_states(self) -> dict[str, tuple[str, int, int]]:
        """Indexed path -> ``(hash, size, mtime_ns)``."""
        with self._read_lock:
            rows = _rows(self._reader, "SELECT path, hash, size, mtime_ns FROM files")
        return {path: (digest, size, mtime) for path, digest, size, mtime in rows}

    def _delete(self, paths: Iterable[str]) -> None:
        conn = self._writer
        for path in paths:
            ids = [row[0] for row in conn.execute("SELECT id FROM chunks WHERE path = ?", (path,))]
            for chunk_id in ids:
                conn.execute("DELETE FROM chunks_fts WHERE rowid = ?", (chunk_id,))
                conn.execute("DELETE FROM chunks_vec WHERE rowid = ?", (chunk_id,))
                conn.execute("DELETE FROM symbols WHERE chunk_id = ?", (chunk_id,))
            conn.execute("DELETE FROM chunks WHERE path = ?", (path,))
            conn.execute("DELETE FROM files WHERE path = ?", (path,))

    def write_files(self, files: Sequence[tuple[str, str, int, int, list[ChunkRecord]]],
                    vectors: npt.NDArray[np.float32]) -> None:
        """Replace the chunks of each ``(path, hash, size, mtime_ns, chunks)`` in one transaction.

        ``vectors`` holds one row per chunk, in the order of ``files`` then chunks.
        """
        with self._write_lock, self._writer:
            conn = self._writer
            self._delete(path for path, *_ in files)
            row = 0
            for path, digest, size, mtime_ns, chunks in files:
                conn.execute("INSERT INTO files(path, hash, size, mtime_ns) VALUES (?, ?, ?, ?)",
                             (path, digest, size, mtime_ns))
                for chunk in chunks:
                    cursor = conn.execute(
                        "INSERT INTO chunks(path, start_line, end_line, name, kind, text) VALUES (?, ?, ?, ?, ?, ?)",
                        (path, chunk.start_line, chunk.end_line, chunk.name, chunk.kind, chunk.text))
                    del cursor
                    chunk_id = conn.last_insert_rowid()
                    body = chunk.index_text()
                    names = " ".join([chunk.name, path, *chunk.names])
                    conn.execute("INSERT INTO chunks_fts(rowid, name, body) VALUES (?, ?, ?)",
                                 (chunk_id, f"{names} {code_terms(names)}", f"{body}\n{code_terms(body)}"))
                    conn.execute("INSERT INTO chunks_vec(rowid, embedding) VALUES (?, ?)",
                                 (chunk_id, vectors[row].tobytes()))
                    row += 1
                    conn.executemany("INSERT INTO symbols(name, chunk_id) VALUES (?, ?)",
                                     [(name, chunk_id) for name in chunk.names])

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """Record a new size/mtime for an indexed file whose content did not change."""
        with self._write_lock, self._writer:
            self._writer.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path))

    def remove_files(self, paths: Iterable[str]) -> None:
        """Forget every chunk of ``paths`` (missing paths are ignored)."""
        with self._write_lock, self._writer:
            self._delete(paths)

    # -- reads ------------------------------------------------------------------------------------
    def bm25(self, match: str, limit: int) -> list[tuple[int, float]]:
        """``(chunk id, score)`` best first for an FTS5 ``match`` expression; score is minus
        SQLite's ``bm25()`` (higher is better; names weigh 3x the body)."""
        with self._read_lock:
            rows = _rows(
                self._reader, "SELECT rowid, bm25(chunks_fts, 3.0, 1.0) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
                " ORDER BY s LIMIT ?", (match, limit))
        return [(int(rowid), -float(score)) for rowid, score in rows]

    def knn(self, vector: npt.NDArray[np.float32], limit: int) -> list[tuple[int, float]]:
        """``(chunk id, cosine similarity)`` of the ``limit`` nearest vectors, best first."""
        with self._read_lock:
            rows = _rows(
                self._reader,
                "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ? ORDER BY distance",
                (vector.astype(np.float32).tobytes(), limit))
        return [(int(rowid), 1.0 - float(distance)) for rowid, distance in rows]

    def by_names(self, names: Iterable[str], limit: int = 200) -> list[tuple[int, str]]:
        """``(chunk id, name)`` of chunks defining any of ``names`` (exact short names)."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        with self._read_lock:
            rows = _rows(
                self._reader, f"SELECT chunk_id, name FROM symbols WHERE name IN ({marks}) LIMIT ?", (*wanted, limit))
        return [(int(chunk_id), str(name)) for chunk_id, name in rows]

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        """The stored chunks with these ids (missing ids are absent from the result)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._read_lock:
            rows = _rows(
                self._reader,
                f"SELECT id, path, start_line, end_line, name, kind, text FROM chunks WHERE id IN ({marks})",
                tuple(ids))
        return {int(r[0]): StoredChunk(int(r[0]), r[1], int(r[2]), int(r[3]), r[4], r[5], r[6]) for r in rows}

    def vectors_of(self, path: str) -> dict[str, npt.NDArray[np.float32]]:
        """Chunk text -> stored vector for the chunks of ``path`` (reused when a file changes)."""
        with self._read_lock:
            ids = _rows(self._reader, "SELECT id, text FROM chunks WHERE path = ?", (path,))
            found: dict[str, npt.NDArray[np.float32]] = {}
            for chunk_id, text in ids:
                rows = _rows(self._reader, "SELECT embedding FROM chunks_vec WHERE rowid = ?", (chunk_id,))
                if rows:
                    found[str(text)] = np.frombuffer(rows[0][0], dtype=np.float32)
        return found

    def paths(self, ids: Iterable[int]) -> dict[int, str]:
        """Chunk id -> relative path, for these ids."""
        wanted = list(ids)
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        with self._read_lock:
            rows = _rows(self._reader, f"SELECT id, path FROM chunks WHERE id IN ({marks})", tuple(wanted))
        return {int(r[0]): str(r[1]) for r in rows}

    def counts(self) -> tuple[int, int]:
        """``(files, chunks)`` in the index."""
        with self._read_lock:
            files = _rows(self._reader, "SELECT count(*) FROM files")[0][0]
            chunks = _rows(self._reader, "SELECT count(*) FROM chunks")[0][0]
        return int(files), int(chunks)
