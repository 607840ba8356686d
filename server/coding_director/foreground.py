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

So while the user types (a foreground call ended less than :data:`TYPING_S` ago), background
streams also read in batches (:meth:`Foreground.pace`): once a stream has read for
:data:`READ_WINDOW_S` it sleeps :data:`PACE_S` without asking for a chunk, its tokens gather in the
socket, and the next read takes them all at once (anyio's asyncio transport reads a socket only
while a read is waiting, and then takes all it holds: one ``recv`` of up to 256 KiB). Two
effects, measured against the emulator (20 streams, a chunk every 15 ms): a stream rarely has a
read in flight when a completion starts (the fraction is about half the gap between chunks over
``PACE_S``), and a chunk costs the loop about 95 us of CPU instead of about 235 (the per-read work
of httpcore, h11 and anyio is shared by the batch). In ``bench/load_bench.py`` the completion's
p95 under load went from about 2.5x idle to about 1.35x (median of 9 runs). The cost: while the
user types, a chat's text reaches the panel five times a second instead of token by token, and its
checks see each token up to ``PACE_S`` later. When typing stops the streams read as fast as the
model writes again.

This is the editor's policy, for one user: the language server's session shares one
:class:`Foreground` between its completer and its engine. The HTTP API serves many clients and does
not use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

#: Longest a background stream waits for the foreground at one time, in seconds: a completion
#: model slower than this (the built-in CPU model) delays a chat by at most this much per chunk.
MAX_PAUSE_S = 0.05
#: How long after the last foreground call the user still counts as typing, in seconds (inline
#: completions come at every pause in typing, a debounce apart).
TYPING_S = 1.0
#: While the user types: how long a background stream reads before it sleeps, and how long it
#: sleeps (seconds). A read that returns buffered lines takes microseconds; a read that waits for
#: the model's next token takes up to the gap between tokens, so a stream sleeps after its first
#: wait for the network.
READ_WINDOW_S = 0.002
PACE_S = 0.2


class Foreground:
    """Counts the latency-critical calls in flight (:meth:`running`) and lets background streams
    wait for them (:meth:`wait`) and, while the user types, read in batches (:meth:`pace`).
    Single event loop; not thread-safe. ``pauses`` counts the waits that paused a stream,
    ``paced`` the sleeps of :meth:`pace`. Durations in seconds."""

    def __init__(
        self,
        max_pause_s: float = MAX_PAUSE_S,
        pace_s: float = PACE_S,
        typing_s: float = TYPING_S,
        read_window_s: float = READ_WINDOW_S,
    ) -> None:
        self.max_pause_s = max_pause_s
        self.pace_s = pace_s
        self.typing_s = typing_s
        self.read_window_s = read_window_s
        self.pauses = 0
        self.paced = 0
        self._active = 0
        self._last_end = float("-inf")
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
            self._last_end = time.monotonic()
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

    @property
    def typing(self) -> bool:
        """Whether a foreground call is in flight or ended less than ``typing_s`` ago."""
        return self._active > 0 or time.monotonic() - self._last_end < self.typing_s

    async def pace(self, resumed: float) -> float:
        """Called by a background stream after each chunk it hands on, before it asks for the next;
        ``resumed`` is what the previous call returned (``0.0`` at the start of the stream). While
        the user types (:attr:`typing`) and the stream has read for ``read_window_s`` since it
        last resumed, sleep ``pace_s`` (then :meth:`wait` if a foreground call is in flight) and
        return the ``time.monotonic()`` of the new start; else return ``resumed`` at once. Raises
        only ``asyncio.CancelledError``."""
        if not self.typing or time.monotonic() - resumed < self.read_window_s:
            return resumed
        self.paced += 1
        await asyncio.sleep(self.pace_s)
        if self._active:
            await self.wait()
        return time.monotonic()

    def call_when_idle(self, callback: Callable[[], None]) -> asyncio.Task[None]:
        """Run ``callback`` once no foreground call is in flight, as :meth:`wait` returns (at the
        wake-up after the last one ends, at most ``max_pause_s`` seconds from now; on the next loop
        iteration when none is in flight). Cancel the returned task to drop the call."""

        async def when_idle() -> None:
            await self.wait()
            callback()

        return asyncio.get_running_loop().create_task(when_idle())
