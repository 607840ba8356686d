"""The :class:`Memory` facade: one database, one writer thread, one reader thread.

Writes (records, feedback, cache entries) go through :class:`~.writer.Writer`; reads that a request
waits for (cache lookups) run on a single reader thread (``await memory.read(fn)``) so the event
loop never blocks on SQLite. A database that cannot be used gives one :class:`MemoryUnavailable`
message (to ``on_problem``) and the assistant goes on without memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import apsw

from coding_director.memory import cache, records
from coding_director.memory.db import MemoryUnavailable, connect, default_path
from coding_director.memory.models import NEGATIVE_FEEDBACK
from coding_director.memory.redact import redact_optional
from coding_director.settings import MemorySettings, Settings

if TYPE_CHECKING:
    from coding_director.routing.placement import HistoryRow

log = logging.getLogger(__name__)
T = TypeVar("T")


def _stderr(message: str) -> None:
    sys.stderr.write(f"coding-director: {message}\n")
    sys.stderr.flush()


class Memory:
    """The team's memory. Build it with :func:`open_memory`; close it with :meth:`close`.

    ``on_problem(message)`` receives one line when the database fails later (the language server
    shows it once with ``window/showMessage``; the default writes it to stderr).
    """

    def __init__(self, settings: MemorySettings, path: Path, on_problem: Callable[[str], None] = _stderr) -> None:
        self.settings = settings
        self.path = path
        self.on_problem = on_problem
        self.available = True
        self._write_conn = connect(path, busy_timeout_ms=settings.busy_timeout_ms)
        self._read_conn = connect(path, busy_timeout_ms=settings.busy_timeout_ms, migrate=False)
        self._reader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="coding-director-memory-reader")
        from coding_director.memory.writer import Writer

        self.writer = Writer(self._write_conn, self._fatal)
        self.writer.submit(lambda conn: records.prune(conn, settings.retention_days))
        # detect-secrets' plugins load in about a second: do it now, not in the middle of a request.
        self.writer.submit(lambda _conn: redact_optional("warm up"))

    # -- plumbing ----------------------------------------------------------------------------------
    def _fatal(self, exc: BaseException) -> None:
        from coding_director.memory.db import _describe

        self.available = False
        self.on_problem(_describe(self.path, exc))

    def submit(self, job: Callable[[apsw.Connection], object]) -> None:
        """Queue a write (returns at once)."""
        if self.available:
            self.writer.submit(job)

    async def read(self, query: Callable[[apsw.Connection], T]) -> T:
        """Run ``query`` on the reader thread; raises :class:`MemoryUnavailable` when the database fails."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reader, query, self._read_conn)
        except apsw.Error as exc:
            self._fatal(exc)
            raise MemoryUnavailable(str(exc)) from exc

    def read_sync(self, query: Callable[[apsw.Connection], T]) -> T:
        """Run ``query`` on the reader connection in this thread (CLI commands, tests)."""
        return self._reader.submit(query, self._read_conn).result()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued write is committed."""
        return self.writer.flush(timeout_s)

    def close(self) -> None:
        """Commit queued writes, stop the threads, close the connections."""
        self.writer.close()
        self._reader.shutdown(wait=True)
        self._write_conn.close()
        self._read_conn.close()

    # -- use cases ---------------------------------------------------------------------------------
    @property
    def cache_enabled(self) -> bool:
        """Whether answers are cached at all (``memory.cache`` and ``memory.store_text``)."""
        return self.available and self.settings.cache and self.settings.store_text

    def text(self, value: str | None) -> str | None:
        """``value`` as stored: redacted, or ``None`` with ``store_text = false`` (call on the writer thread)."""
        return redact_optional(value) if self.settings.store_text else None

    def record(self, record: records.RequestRecord) -> None:
        """Queue ``record`` (texts are redacted on the writer thread)."""

        def write(conn: apsw.Connection) -> None:
            done: dict[str | None, str | None] = {}  # the accepted attempt's text is the answer: redact once

            def text(value: str | None) -> str | None:
                if value not in done:
                    done[value] = self.text(value)
                return done[value]

            record.prompt, record.answer = text(record.prompt), text(record.answer)
            for attempt in record.attempts:
                attempt.answer = text(attempt.answer)
            records.insert_request(conn, record)

        self.submit(write)

    def feedback(self, request_id: str, kind: str, detail: str | None = None) -> None:
        """Queue feedback on ``request_id``; negative kinds also evict its cached answer (and the
        answer a cache hit served)."""
        at = time.time()

        def write(conn: apsw.Connection) -> None:
            if not records.insert_feedback(conn, request_id, kind, detail, at):
                log.info("memory: feedback for unknown request %s ignored", request_id)
                return
            if kind in NEGATIVE_FEEDBACK:
                row = conn.execute("SELECT cached_from FROM requests WHERE id = ?", (request_id,)).fetchone()
                ids = [request_id] + ([str(row[0])] if row and row[0] else [])
                cache.evict_requests(conn, ids)

        self.submit(write)

    def placement_history(self, is_local: Callable[[str], bool]) -> MemoryPlacementHistory:
        """The recorded requests as placement learns from them (``is_local(tier)``: whether a tier
        runs on this machine, ``Settings.is_local``)."""
        return MemoryPlacementHistory(self, is_local)

    def forget(self, workspace: str | None) -> int:
        """Delete the records (and cache entries) of ``workspace``, or everything; returns how many
        requests were deleted. Blocks until done."""
        result: list[int] = []

        def write(conn: apsw.Connection) -> None:
            cache.forget(conn, workspace)
            result.append(records.forget(conn, workspace))

        self.submit(write)
        self.flush()
        return result[0] if result else 0


class MemoryPlacementHistory:
    """:class:`~coding_director.routing.placement.PlacementHistory` over the team memory: every
    recorded request with a complexity becomes one
    :class:`~coding_director.routing.placement.HistoryRow` (its first tier asked, local or not, and
    whether that answer was accepted), so the threshold learns from the same requests ``stats``
    counts. Blocking (SQLite on the reader thread); raises :class:`MemoryUnavailable` when the
    database fails."""

    def __init__(self, memory: Memory, is_local: Callable[[str], bool]) -> None:
        self.memory = memory
        self.is_local = is_local

    def placement_rows(self, since: float, limit: int) -> list[HistoryRow]:
        """Rows of the latest ``limit`` requests made at or after ``since`` (Unix seconds), oldest first."""
        from coding_director.routing.placement import history_row

        if not self.memory.available:
            raise MemoryUnavailable(f"the team memory database {self.memory.path} is unusable")
        try:
            found = self.memory.read_sync(lambda conn: records.placement_rows(conn, since, limit))
        except apsw.Error as exc:
            raise MemoryUnavailable(str(exc)) from exc
        rows = [history_row(c, domain, intent, [(tier, outcome)], self.is_local, at)
                for c, domain, intent, at, tier, outcome in found]  # fmt: skip
        return [row for row in rows if row is not None]


def open_memory(settings: Settings, on_problem: Callable[[str], None] = _stderr) -> Memory | None:
    """The memory of ``settings.memory``, or ``None`` when it is disabled or cannot be opened (then
    ``on_problem`` gets one line saying why, and the caller goes on without memory)."""
    config = settings.memory
    if not config.enabled:
        return None
    path = Path(config.path).expanduser() if config.path else default_path()
    try:
        return Memory(config, path, on_problem)
    except MemoryUnavailable as exc:
        on_problem(str(exc))
        return None
