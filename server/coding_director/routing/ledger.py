"""The placement ledger: what the priced tiers cost per day, and the outcomes the threshold learns from.

One SQLite file (apsw; ``placement.ledger_path``, default ``placement.sqlite3`` in the user data
directory from platformdirs), opened on first use, in WAL mode so the language server, the CLI and
the HTTP API can share it. Tables (schema version in ``PRAGMA user_version``, see :data:`MIGRATIONS`):

- ``spend``: one row per priced attempt: UTC ``day`` (``YYYY-MM-DD``), tier, model, token counts,
  ``usd``;
- ``placements``: one row per placed request (complexity, route, whether a local tier was asked
  first and accepted): the history :func:`~coding_director.routing.placement.learn_threshold` reads
  until the team memory feeds it (:class:`~coding_director.routing.placement.PlacementHistory`);
- ``threshold_changes``: every move of the learned threshold (old, new, why).

Only written when ``routing.frontier`` is not ``off`` or a priced tier is asked. Methods block
(SQLite); callers on an event loop use ``asyncio.to_thread``. Errors: ``apsw.Error`` / ``OSError``
(the caller reports them and goes on: a request never fails because of the ledger, but a budget
that cannot be read counts as spent).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import apsw

from coding_director.routing.placement import HistoryRow
from coding_director.settings import ModelPrice

__all__ = ["MIGRATIONS", "Ledger", "ThresholdChange", "cost_usd", "default_ledger_path", "utc_day"]

MIGRATIONS: list[str] = [
    """
    CREATE TABLE spend (
        at REAL NOT NULL,               -- Unix seconds
        day TEXT NOT NULL,              -- UTC YYYY-MM-DD
        tier TEXT NOT NULL, model TEXT NOT NULL,
        prompt_tokens INTEGER, completion_tokens INTEGER,
        usd REAL NOT NULL
    );
    CREATE INDEX spend_day ON spend(day);
    CREATE TABLE placements (
        at REAL NOT NULL,
        complexity REAL NOT NULL,
        domain TEXT NOT NULL, intent TEXT NOT NULL,
        local_first INTEGER NOT NULL, accepted_first INTEGER NOT NULL
    );
    CREATE INDEX placements_at ON placements(at);
    CREATE TABLE threshold_changes (
        at REAL NOT NULL, old REAL, new REAL NOT NULL, reason TEXT NOT NULL
    );
    """,
]


def default_ledger_path() -> Path:
    """``placement.sqlite3`` in the user data directory (``$XDG_DATA_HOME/coding-director`` on Linux)."""
    import platformdirs

    return platformdirs.user_data_path("coding-director", appauthor=False) / "placement.sqlite3"


def utc_day(at: float) -> str:
    """The UTC calendar day of Unix time ``at`` as ``YYYY-MM-DD`` (the budget's day)."""
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def cost_usd(price: ModelPrice, prompt_tokens: int, completion_tokens: int) -> float:
    """US dollars for the token counts at ``price`` (USD per million tokens each way)."""
    return (prompt_tokens * price.input_usd_per_mtok + completion_tokens * price.output_usd_per_mtok) / 1_000_000


def _num(value: object) -> float:
    """A number read from SQLite (REAL or INTEGER column)."""
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number in the ledger, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class ThresholdChange:
    """A logged move of the learned threshold (``old`` is ``None`` for the first one)."""

    at: float
    old: float | None
    new: float
    reason: str


class Ledger:
    """The ledger at ``path`` (created with its folder on first use). Thread-safe."""

    def __init__(self, path: Path, busy_timeout_ms: int = 2000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: apsw.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> apsw.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = apsw.Connection(str(self.path))
            conn.set_busy_timeout(self._busy_timeout_ms)
            conn.execute("PRAGMA journal_mode=WAL")
            row = conn.execute("PRAGMA user_version").fetchone()
            version = int(row[0]) if row else 0
            if version < len(MIGRATIONS):
                with conn:  # one transaction
                    for script in MIGRATIONS[version:]:
                        conn.execute(script)
                    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
            self._conn = conn
        return self._conn

    def spent(self, day: str) -> float:
        """US dollars recorded on UTC ``day``."""
        with self._lock:
            row = self._db().execute("SELECT COALESCE(SUM(usd), 0) FROM spend WHERE day = ?", (day,)).fetchone()
        return _num(row[0]) if row else 0.0

    def charge(self, tier: str, model: str, prompt_tokens: int | None, completion_tokens: int | None, usd: float,
               at: float | None = None) -> None:
        """Record an attempt's cost (``at``: Unix seconds, default now)."""
        when = time.time() if at is None else at
        with self._lock, self._db():
            self._db().execute(
                "INSERT INTO spend (at, day, tier, model, prompt_tokens, completion_tokens, usd)"
                " VALUES (?,?,?,?,?,?,?)",
                (when, utc_day(when), tier, model, prompt_tokens, completion_tokens, usd),
            )

    def record(self, row: HistoryRow) -> None:
        """Record one placed request's outcome."""
        with self._lock, self._db():
            self._db().execute(
                "INSERT INTO placements (at, complexity, domain, intent, local_first, accepted_first)"
                " VALUES (?,?,?,?,?,?)",
                (row.at or time.time(), row.complexity, row.domain, row.intent, int(row.local_first),
                 int(row.accepted_first)),
            )

    def placement_rows(self, since: float, limit: int) -> Sequence[HistoryRow]:
        """The latest ``limit`` recorded requests at or after ``since`` (Unix seconds), oldest first
        (:class:`~coding_director.routing.placement.PlacementHistory`); the limit is applied by
        SQLite, so a long history is not read whole on every request."""
        with self._lock:
            rows = self._db().execute(
                "SELECT complexity, domain, intent, local_first, accepted_first, at FROM placements"
                " WHERE at >= ? ORDER BY at DESC LIMIT ?", (since, limit),
            ).fetchall()
        return [HistoryRow(_num(c), str(d), str(i), bool(lf), bool(af), _num(at))
                for c, d, i, lf, af, at in reversed(rows)]

    def log_threshold(self, old: float | None, new: float, reason: str, at: float | None = None) -> None:
        """Record a move of the learned threshold."""
        with self._lock, self._db():
            self._db().execute("INSERT INTO threshold_changes (at, old, new, reason) VALUES (?,?,?,?)",
                               (time.time() if at is None else at, old, new, reason))

    def threshold_changes(self, limit: int = 20) -> list[ThresholdChange]:
        """The latest ``limit`` moves of the threshold, newest first."""
        with self._lock:
            rows = self._db().execute(
                "SELECT at, old, new, reason FROM threshold_changes ORDER BY at DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall()
        return [ThresholdChange(_num(a), None if o is None else _num(o), _num(n), str(r)) for a, o, n, r in rows]

    def close(self) -> None:
        """Close the connection (it is reopened on the next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
