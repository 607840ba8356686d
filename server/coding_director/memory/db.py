"""Opening the memory database: apsw (the stdlib ``sqlite3`` here cannot load extensions), WAL,
``busy_timeout``, sqlite-vec, and schema migrations tracked by ``PRAGMA user_version``.

Every store module (:mod:`.records`, :mod:`.cache`) lists its migrations as SQL scripts; they are
applied in the global order of :data:`MIGRATIONS` and ``user_version`` counts how many ran. A new
migration is appended at the end (never edited in place once released).

Errors: :class:`MemoryUnavailable` with a one-line message for a database that is locked by
another process, corrupt, not a database, or in an unwritable place.
"""

from __future__ import annotations

import logging
from pathlib import Path

import apsw
import sqlite_vec

from coding_director.memory import cache as cache_store
from coding_director.memory import records as records_store

log = logging.getLogger(__name__)

#: (store, SQL script) in the order they are applied; ``PRAGMA user_version`` = how many ran.
MIGRATIONS: list[tuple[str, str]] = [
    ("records", records_store.MIGRATIONS[0]),
    ("cache", cache_store.MIGRATIONS[0]),
    ("records", records_store.MIGRATIONS[1]),
]
SCHEMA_VERSION = len(MIGRATIONS)


class MemoryUnavailable(Exception):
    """The memory database cannot be used; ``str()`` is one line for the user, naming the file."""


def default_path() -> Path:
    """``memory.sqlite3`` in the user data directory (``$XDG_DATA_HOME/coding-director`` on Linux)."""
    import platformdirs

    return platformdirs.user_data_path("coding-director", appauthor=False) / "memory.sqlite3"


def _describe(path: Path, exc: BaseException) -> str:
    if isinstance(exc, apsw.BusyError | apsw.LockedError):
        why = "is locked by another process"
    elif isinstance(exc, apsw.CorruptError | apsw.NotADBError):
        why = "is corrupt or not a SQLite database (move it away to start a new one)"
    elif isinstance(exc, apsw.CantOpenError | OSError):
        why = f"cannot be opened ({exc})"
    elif isinstance(exc, apsw.ReadOnlyError):
        why = "is read-only"
    else:
        why = f"failed: {exc}"
    return f"memory database {path} {why}; continuing without memory"


def connect(path: Path, *, busy_timeout_ms: int = 2000, migrate: bool = True) -> apsw.Connection:
    """Open ``path`` (created with its directory when missing) in WAL mode with sqlite-vec loaded,
    migrated to :data:`SCHEMA_VERSION` when ``migrate``.

    Raises :class:`MemoryUnavailable` (locked after ``busy_timeout_ms`` ms, corrupt, unwritable,
    or written by a newer version of this program).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = apsw.Connection(str(path))
        conn.set_busy_timeout(busy_timeout_ms)
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if mode is None or str(mode[0]).lower() != "wal":
            raise apsw.BusyError("could not switch to WAL")
        if migrate:
            _migrate(conn, path)
        else:
            conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except MemoryUnavailable:
        raise
    except (apsw.Error, OSError) as exc:
        raise MemoryUnavailable(_describe(path, exc)) from exc
    return conn


def _migrate(conn: apsw.Connection, path: Path) -> None:
    row = conn.execute("PRAGMA user_version").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise MemoryUnavailable(
            f"memory database {path} has schema version {version}, newer than this program's "
            f"{SCHEMA_VERSION}; continuing without memory"
        )
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")  # one transaction: a crash mid-migration leaves the previous version
    try:
        row = conn.execute("PRAGMA user_version").fetchone()  # another process may have migrated meanwhile
        for index in range(int(row[0]) if row else 0, SCHEMA_VERSION):
            store, script = MIGRATIONS[index]
            log.info("memory: applying migration %d (%s)", index + 1, store)
            conn.execute(script)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def check_integrity(conn: apsw.Connection) -> str | None:
    """``None`` when ``PRAGMA quick_check`` passes, else its first message."""
    row = conn.execute("PRAGMA quick_check").fetchone()
    result = str(row[0]) if row else "no answer"
    return None if result == "ok" else result
