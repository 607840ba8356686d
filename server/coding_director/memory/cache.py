"""The response cache store: answers that passed every check, keyed exactly and by embedding.

- **exact**: ``key`` = SHA-256 of (normalised prompt, scope, caller overrides); see :mod:`.keys`.
- **semantic**: among entries of the same ``scope`` (equal context digest, tier chains, model
  settings and prompt literals, :func:`.keys.semantic_scope`), the nearest prompt embedding with
  cosine similarity >= the threshold. The nearest neighbours are found by sqlite-vec over 256-bit
  binary quantised vectors (Hamming distance, ``vec_quantize_binary``), then re-ranked by exact
  cosine on the float32 vectors kept in ``cache.embedding``: measured here, a binary KNN over 10,000
  rows takes about 0.5 ms where the float32 ``vec0`` scan takes about 9 ms (see
  ``bench/memory_bench.py``).

Entries expire after ``memory.cache_ttl_s``; beyond ``memory.cache_max_entries`` the least
recently used are dropped. Entries of a request marked unhelpful or undone are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apsw
import numpy as np

#: Dimensions of the stored embeddings (WordLlama ``l2_supercat``, see :mod:`.embed`).
DIM = 256
#: Binary neighbours re-ranked by exact cosine.
RERANK = 16

MIGRATIONS: list[str] = [
    f"""
    CREATE TABLE cache (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,        -- exact key
        scope TEXT NOT NULL,             -- context digest + settings digest
        request_id TEXT NOT NULL,        -- the request whose accepted answer this is
        workspace TEXT,
        created_at REAL NOT NULL, expires_at REAL NOT NULL, last_hit_at REAL,
        hits INTEGER NOT NULL DEFAULT 0,
        intent TEXT NOT NULL, domain TEXT NOT NULL, route TEXT NOT NULL,   -- route: RouteDecision JSON
        final_tier TEXT NOT NULL, answer TEXT NOT NULL,
        semantic INTEGER NOT NULL DEFAULT 0,  -- may serve semantic hits
        embedding BLOB                   -- float32[{DIM}], L2-normalised
    );
    CREATE INDEX cache_request ON cache(request_id);
    CREATE INDEX cache_lru ON cache(coalesce(last_hit_at, created_at));
    CREATE VIRTUAL TABLE cache_vec USING vec0(
        entry_id INTEGER PRIMARY KEY, scope TEXT PARTITION KEY, embedding BIT[{DIM}]
    );
    """,
]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached answer. ``route`` is the :class:`~coding_director.results.RouteDecision` JSON."""

    id: int
    request_id: str
    intent: str
    domain: str
    route: str
    final_tier: str
    answer: str
    created_at: float
    similarity: float = 1.0


_COLUMNS = "id, request_id, intent, domain, route, final_tier, answer, created_at"


def _entry(row: Any, similarity: float = 1.0) -> CacheEntry:
    return CacheEntry(
        int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]), str(row[6]), float(row[7]),
        similarity,
    )  # fmt: skip


def lookup_exact(conn: apsw.Connection, key: str, now: float) -> CacheEntry | None:
    """The unexpired entry with ``key``, or ``None``."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM cache WHERE key = ? AND expires_at > ?", (key, now)).fetchone()
    return _entry(row) if row else None


def lookup_semantic(
    conn: apsw.Connection, scope: str, vector: np.ndarray, threshold: float, now: float
) -> CacheEntry | None:
    """The most similar unexpired semantic entry of ``scope`` with cosine >= ``threshold``.

    ``vector`` is an L2-normalised float32 array of shape ``(DIM,)``. Entries stored without an
    embedding (exact-only, e.g. code-changing intents) are never returned.
    """
    blob = vector.astype(np.float32).tobytes()
    rows: list[Any] = conn.execute(
        "SELECT entry_id FROM cache_vec WHERE embedding MATCH vec_quantize_binary(?) AND k = ? AND scope = ?",
        (blob, RERANK, scope),
    ).fetchall()
    if not rows:
        return None
    ids = [int(r[0]) for r in rows]
    marks = ",".join("?" * len(ids))
    candidates: list[Any] = conn.execute(
        f"SELECT {_COLUMNS}, embedding FROM cache WHERE id IN ({marks}) AND semantic = 1 AND expires_at > ?",
        (*ids, now),
    ).fetchall()
    best: tuple[float, Any] | None = None
    for row in candidates:
        stored = np.frombuffer(row[8], dtype=np.float32)
        similarity = float(stored @ vector)
        if similarity >= threshold and (best is None or similarity > best[0]):
            best = (similarity, row)
    return _entry(best[1], best[0]) if best else None


@dataclass(frozen=True, slots=True)
class NewEntry:
    """What :func:`put` stores. ``embedding`` is ``None`` when the entry serves exact hits only."""

    key: str
    scope: str
    request_id: str
    workspace: str | None
    intent: str
    domain: str
    route: str
    final_tier: str
    answer: str
    embedding: np.ndarray | None


def put(conn: apsw.Connection, entry: NewEntry, now: float, ttl_s: float, max_entries: int) -> None:
    """Store ``entry`` (replacing one with the same key), then enforce TTL and size bounds.

    Nothing is stored when the request already has negative feedback (unhelpful, undone).
    """
    negative = conn.execute(
        "SELECT 1 FROM feedback WHERE request_id = ? AND kind IN ('unhelpful', 'undone', 'dismissed')",
        (entry.request_id,),
    ).fetchone()
    if negative:
        return
    old = conn.execute("SELECT id FROM cache WHERE key = ?", (entry.key,)).fetchone()
    if old:
        _delete(conn, [int(old[0])])
    blob = entry.embedding.astype(np.float32).tobytes() if entry.embedding is not None else None
    conn.execute(
        "INSERT INTO cache (key, scope, request_id, workspace, created_at, expires_at, intent, domain, route,"
        " final_tier, answer, semantic, embedding) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            entry.key, entry.scope, entry.request_id, entry.workspace, now, now + ttl_s, entry.intent, entry.domain,
            entry.route, entry.final_tier, entry.answer, int(blob is not None), blob,
        ),
    )  # fmt: skip
    if blob is not None:
        conn.execute(
            "INSERT INTO cache_vec (entry_id, scope, embedding) VALUES (?, ?, vec_quantize_binary(?))",
            (conn.last_insert_rowid(), entry.scope, blob),
        )
    expired = [int(r[0]) for r in conn.execute("SELECT id FROM cache WHERE expires_at <= ?", (now,))]
    count: Any = (conn.execute("SELECT count(*) FROM cache").fetchone() or (0,))[0]
    excess = int(count) - len(expired) - max_entries
    if excess > 0:
        expired += [
            int(r[0])
            for r in conn.execute(
                "SELECT id FROM cache WHERE expires_at > ? ORDER BY coalesce(last_hit_at, created_at) LIMIT ?",
                (now, excess),
            )
        ]
    _delete(conn, expired)


def record_hit(conn: apsw.Connection, entry_id: int, now: float) -> None:
    """Count one hit of ``entry_id`` (for LRU eviction)."""
    conn.execute("UPDATE cache SET hits = hits + 1, last_hit_at = ? WHERE id = ?", (now, entry_id))


def evict_requests(conn: apsw.Connection, request_ids: list[str]) -> int:
    """Delete the entries holding the answers of ``request_ids``; returns how many."""
    if not request_ids:
        return 0
    marks = ",".join("?" * len(request_ids))
    ids = [int(r[0]) for r in conn.execute(f"SELECT id FROM cache WHERE request_id IN ({marks})", request_ids)]
    _delete(conn, ids)
    return len(ids)


def forget(conn: apsw.Connection, workspace: str | None) -> None:
    """Delete the entries of ``workspace`` (all when ``None``)."""
    if workspace is None:
        ids = [int(r[0]) for r in conn.execute("SELECT id FROM cache")]
    else:
        ids = [int(r[0]) for r in conn.execute("SELECT id FROM cache WHERE workspace = ?", (workspace,))]
    _delete(conn, ids)


def _delete(conn: apsw.Connection, ids: list[int]) -> None:
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ",".join("?" * len(part))
        conn.execute(f"DELETE FROM cache WHERE id IN ({marks})", part)
        conn.execute(f"DELETE FROM cache_vec WHERE entry_id IN ({marks})", part)
