"""One writer thread per database: every write leaves the caller (and the event loop) through a queue.

Callers :meth:`Writer.submit` a function of the connection; the thread takes what is queued
(up to :data:`BATCH` items), runs it in one ``BEGIN IMMEDIATE`` transaction and commits. A
``kill -9`` loses at most what was still queued (the request in flight); committed rows are in
the WAL and the database opens cleanly afterwards (SQLite's atomic commit).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import apsw

log = logging.getLogger(__name__)

BATCH = 256
Job = Callable[[apsw.Connection], object]
_STOP = object()


class Writer:
    """Runs submitted jobs on ``conn`` in a daemon thread. ``on_fatal(message)`` is called once when
    the database stops accepting writes (locked for longer than the busy timeout, corrupt, disk
    full); later jobs are dropped."""

    def __init__(self, conn: apsw.Connection, on_fatal: Callable[[BaseException], None]) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._on_fatal = on_fatal
        self.failed = False
        self._thread = threading.Thread(target=self._run, name="coding-director-memory-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue ``job`` (about a microsecond; never blocks)."""
        if not self.failed:
            self._queue.put(job)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued so far is committed; returns ``False`` on timeout."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Commit what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            jobs: list[Job] = [job for job in batch if callable(job)]
            if jobs and not self.failed:
                self._commit(jobs)
            for marker in batch:
                if isinstance(marker, threading.Event):  # flush() waits for it
                    marker.set()
            if any(item is _STOP for item in batch):
                return

    def _commit(self, jobs: list[Job]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except apsw.Error as exc:
            self._fail(exc)
            return
        for job in jobs:
            conn.execute("SAVEPOINT job")
            try:
                job(conn)
                conn.execute("RELEASE job")
            except (apsw.CorruptError, apsw.FullError, apsw.IOError) as exc:
                self._fail(exc)
                break
            except Exception as exc:  # one bad job must not lose the others
                log.warning("memory: a write failed and was skipped: %s", exc)
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
        try:
            if self.failed:
                conn.execute("ROLLBACK")
            else:
                conn.execute("COMMIT")
        except apsw.Error as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if not self.failed:
            self.failed = True
            self._on_fatal(exc)
