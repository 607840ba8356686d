"""Foreground work first: background model streams (chats, tasks) pause while an inline completion
is in flight.

One language server serves the user's typing and every chat on one event loop. A chat streams a
token every few milliseconds, and each token costs the loop its HTTP read, the checks on the stream
and a notification; with twenty chats at once the loop is busy about half the time, and a
completion request waits behind that work at every ``await`` (``bench/load_bench.py``). A
completion is worth something only if it arrives before the next keystroke; a chat token that
arrives a few milliseconds later is not noticed (the panel already merges text for 30 ms,
:mod:`coding_director.features.chat_stream`). So while a completion calls its model, each chat
stream stops asking for its next chunk: the model server's tokens wait in the socket's buffer, and
the chat reads them all at once when the completion is done (or after :data:`MAX_PAUSE_S`, so a
slow completion model never stalls a chat for long). The one chunk whose read was in flight waits
too before it is checked and sent on, and so does the merged text the chat panel is due
(:class:`~coding_director.features.chat_stream.TextCoalescer`): profiled under the load of
``bench/load_bench.py``, the notifications written inside a completion went from about 20 to none,
and the main thread's CPU time inside one from about 11.5 to 10.3 ms p50 (5 ms idle; back-to-back
runs on a noisy machine). What is left is the HTTP reads of the chunks whose reads were in flight
(250-400 us of CPU per chunk in the httpx/httpcore/anyio stack under the ``ollama`` client).

This is the editor's policy, for one user: the language server's session shares one
:class:`Foreground` between its completer and its engine. The HTTP API serves many clients and does
not use it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

#: Longest a background stream waits for the foreground at one time, in seconds: a completion
#: model slower than this (the built-in CPU model) delays a chat by at most this much per chunk.
MAX_PAUSE_S = 0.05


class Foreground:
    """Counts the latency-critical calls in flight (:meth:`running`) and lets background streams
    wait for them (:meth:`wait`). Single event loop; not thread-safe. ``pauses`` counts the
    waits that paused a stream."""

    def __init__(self, max_pause_s: float = MAX_PAUSE_S) -> None:
        self.max_pause_s = max_pause_s
        self.pauses = 0
        self._active = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def active(self) -> bool:
        """Whether a foreground call is in flight (one attribute read: cheap on every chunk)."""
        return self._active > 0

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Mark a foreground call for the duration of the ``with`` block (also when it raises or
        is cancelled). When the last one ends, the waiting streams are woken one event-loop
        iteration later: a request handler that returns right after the block has its response
        written first (the task's done callback is scheduled before the streams' wake-ups)."""
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0 and self._waiters:
                asyncio.get_running_loop().call_soon(self._wake)

    def _wake(self) -> None:
        """Wake every waiting stream unless a new foreground call began meanwhile."""
        if self._active:
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self) -> None:
        """Return at once when no foreground call is in flight; else when the last one ends or
        after ``max_pause_s`` seconds, whichever comes first. Raises only
        ``asyncio.CancelledError`` (the caller was cancelled)."""
        if self._active == 0:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self.pauses += 1
        try:
            async with asyncio.timeout(self.max_pause_s):
                await waiter
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def call_when_idle(self, callback: Callable[[], None]) -> asyncio.Task[None]:
        """Run ``callback`` once no foreground call is in flight, as :meth:`wait` returns (at the
        wake-up after the last one ends, at most ``max_pause_s`` seconds from now; on the next loop
        iteration when none is in flight). Cancel the returned task to drop the call."""

        async def when_idle() -> None:
            await self.wait()
            callback()

        return asyncio.get_running_loop().create_task(when_idle())
