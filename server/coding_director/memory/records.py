"""The records store: one row per request, per attempt and per piece of feedback.

Times are Unix seconds (``REAL``); durations milliseconds. Texts (prompt, answers) are already
redacted when they reach :func:`insert_request`, and are ``NULL`` with ``memory.store_text = false``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import apsw

MIGRATIONS: list[str] = [
    """
    CREATE TABLE requests (
        id TEXT PRIMARY KEY,            -- uuid4 hex, the requestId clients see
        created_at REAL NOT NULL,       -- Unix seconds
        workspace TEXT,
        source TEXT NOT NULL,           -- chat | code_action | completion | cli | api
        domain TEXT, intent TEXT, confidence REAL, decided_by TEXT, route_reason TEXT,
        files TEXT NOT NULL DEFAULT '[]',       -- JSON list of file URIs in the context
        languages TEXT NOT NULL DEFAULT '[]',   -- JSON list of language names
        context_tokens INTEGER NOT NULL DEFAULT 0,
        prompt TEXT, answer TEXT, final_tier TEXT,
        accepted INTEGER NOT NULL DEFAULT 0,
        cached INTEGER NOT NULL DEFAULT 0,
        cached_from TEXT,               -- the request whose answer a cache hit served
        cancelled INTEGER NOT NULL DEFAULT 0,
        place TEXT,                     -- completions: digest of (document, text before the cursor)
        latency_ms REAL
    );
    CREATE INDEX requests_created ON requests(created_at);
    CREATE INDEX requests_workspace ON requests(workspace);
    CREATE INDEX requests_place ON requests(place) WHERE place IS NOT NULL;
    CREATE TABLE attempts (
        request_id TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        tier TEXT NOT NULL, model TEXT NOT NULL, provider TEXT,
        outcome TEXT NOT NULL, reason TEXT, error_kind TEXT,
        latency_ms REAL, first_token_ms REAL, prompt_tokens INTEGER, completion_tokens INTEGER,
        answer TEXT,
        PRIMARY KEY (request_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        kind TEXT NOT NULL,             -- see FeedbackKind in memory/models.py
        detail TEXT
    );
    CREATE INDEX feedback_request ON feedback(request_id);
    """,
    # 2: the request's complexity estimate (0-1, routing/complexity.py), which placement learns from
    """
    ALTER TABLE requests ADD COLUMN complexity REAL;
    """,
]


@dataclass(slots=True)
class AttemptRecord:
    """One attempt as stored (mirrors :class:`~coding_director.results.Attempt` plus provider and text)."""

    tier: str
    model: str
    provider: str | None
    outcome: str
    reason: str | None
    error_kind: str | None
    latency_ms: float
    first_token_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    answer: str | None


@dataclass(slots=True)
class RequestRecord:
    """One request as stored. ``files``/``languages`` summarise the code context; ``context_tokens``
    is its estimated size in tokens."""

    id: str
    created_at: float
    source: str
    workspace: str | None = None
    domain: str | None = None
    intent: str | None = None
    confidence: float | None = None
    decided_by: str | None = None
    route_reason: str | None = None
    files: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    context_tokens: int = 0
    prompt: str | None = None
    answer: str | None = None
    final_tier: str | None = None
    accepted: bool = False
    cached: bool = False
    cached_from: str | None = None
    cancelled: bool = False
    place: str | None = None
    latency_ms: float | None = None
    complexity: float | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)


def insert_request(conn: apsw.Connection, record: RequestRecord) -> None:
    """Insert ``record`` and its attempts (inside the caller's transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO requests (id, created_at, workspace, source, domain, intent, confidence, decided_by,"
        " route_reason, files, languages, context_tokens, prompt, answer, final_tier, accepted, cached, cached_from,"
        " cancelled, place, latency_ms, complexity) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            record.id, record.created_at, record.workspace, record.source, record.domain, record.intent,
            record.confidence, record.decided_by, record.route_reason, json.dumps(record.files),
            json.dumps(record.languages), record.context_tokens, record.prompt, record.answer, record.final_tier,
            int(record.accepted), int(record.cached), record.cached_from, int(record.cancelled), record.place,
            record.latency_ms, record.complexity,
        ),
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO attempts (request_id, seq, tier, model, provider, outcome, reason, error_kind, latency_ms,"
        " first_token_ms, prompt_tokens, completion_tokens, answer) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                record.id, seq, a.tier, a.model, a.provider, a.outcome, a.reason, a.error_kind, a.latency_ms,
                a.first_token_ms, a.prompt_tokens, a.completion_tokens, a.answer,
            )
            for seq, a in enumerate(record.attempts)
        ],
    )  # fmt: skip


#: One request as placement reads it: (complexity, domain, intent, created_at, first tier asked, its outcome).
PlacementRow = tuple[float, str, str, float, str, str]


def placement_rows(conn: apsw.Connection, since: float, limit: int) -> list[PlacementRow]:
    """The latest ``limit`` requests made at or after ``since`` (Unix seconds) that a tier was asked
    for (a complexity recorded; not served from the cache, not cancelled, not completions), oldest
    first, each with its first attempt that was not ``skipped``. One query (the attempts' primary
    key finds each request's first attempt)."""
    rows: list[Any] = conn.execute(
        "SELECT r.complexity, r.domain, r.intent, r.created_at, a.tier, a.outcome FROM"
        " (SELECT id, complexity, domain, intent, created_at FROM requests WHERE created_at >= ?"
        "  AND complexity IS NOT NULL AND cached = 0 AND cancelled = 0 AND source != 'completion'"
        "  AND domain IS NOT NULL AND intent IS NOT NULL ORDER BY created_at DESC LIMIT ?) AS r"
        " JOIN attempts AS a ON a.request_id = r.id AND a.seq = (SELECT min(seq) FROM attempts"
        "  WHERE request_id = r.id AND outcome != 'skipped')"
        " ORDER BY r.created_at",
        (since, limit),
    ).fetchall()
    return [(float(c), str(d), str(i), float(at), str(t), str(o)) for c, d, i, at, t, o in rows]


def insert_feedback(conn: apsw.Connection, request_id: str, kind: str, detail: str | None, at: float) -> bool:
    """Add one feedback row; returns ``False`` (nothing written) when ``request_id`` is unknown."""
    if conn.execute("SELECT 1 FROM requests WHERE id = ?", (request_id,)).fetchone() is None:
        return False
    conn.execute(
        "INSERT INTO feedback (request_id, created_at, kind, detail) VALUES (?,?,?,?)", (request_id, at, kind, detail)
    )
    return True


def prune(conn: apsw.Connection, retention_days: int, now: float | None = None) -> int:
    """Delete requests (with their attempts and feedback) older than ``retention_days``; returns how many."""
    cutoff = (now if now is not None else time.time()) - retention_days * 86400.0
    conn.execute("DELETE FROM requests WHERE created_at < ?", (cutoff,))
    return int(conn.changes())


def forget(conn: apsw.Connection, workspace: str | None) -> int:
    """Delete every request of ``workspace`` (every request when ``None``); returns how many."""
    if workspace is None:
        conn.execute("DELETE FROM requests")
    else:
        conn.execute("DELETE FROM requests WHERE workspace = ?", (workspace,))
    return int(conn.changes())
