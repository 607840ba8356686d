"""Streaming a chat to the client without flooding it: consecutive ``text`` events of one chat are
merged into at most one notification per interval.

A local model streams a token every few milliseconds; one ``codingDirector/chatEvent`` per token
means one JSON-RPC message written to stdout per token, and with twenty chats at once that writing
alone delays the inline completions typed meanwhile (``bench/load_bench.py``). People read at a
few words per second, so the panel loses nothing when the text arrives in pieces of
:data:`TEXT_INTERVAL_S`: the first piece of every burst is sent at once (the time to first token
stays the model's), later pieces within the interval are merged and sent when it ends. Any other
event (an attempt starting or finishing) first sends the merged text, so the order is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from coding_director.messages import ChatEvent

#: Longest time merged text waits before it is sent, in seconds.
TEXT_INTERVAL_S = 0.03


class TextCoalescer:
    """Sends :class:`ChatEvent` values through ``send``, merging ``text`` events of the same tier that
    come within ``interval_s`` of the last one sent. Call it with each event in order; call
    :meth:`flush` when the chat ends (also on error or cancellation) so no text is left behind.
    Needs a running event loop (the interval is a ``loop.call_later`` timer)."""

    def __init__(self, send: Callable[[ChatEvent], None], interval_s: float = TEXT_INTERVAL_S) -> None:
        self._send = send
        self._interval_s = interval_s
        self._pending: ChatEvent | None = None
        self._timer: asyncio.TimerHandle | None = None

    def __call__(self, event: ChatEvent) -> None:
        """Send ``event`` now, or merge it into the pending text when the interval is running."""
        if event.kind != "text":
            self.flush()
            self._send(event)
            return
        if self._timer is None:  # a burst starts: this piece goes out at once
            self._send(event)
            self._timer = asyncio.get_running_loop().call_later(self._interval_s, self._tick)
            return
        pending = self._pending
        if pending is not None and pending.tier == event.tier:
            pending.text = (pending.text or "") + (event.text or "")
            return
        if pending is not None:
            self._send(pending)
        self._pending = event.model_copy()

    def _tick(self) -> None:
        """The interval ended: send the merged text, if any, and start the next interval only then."""
        self._timer = None
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._send(pending)
            self._timer = asyncio.get_running_loop().call_later(self._interval_s, self._tick)

    def flush(self) -> None:
        """Send the merged text now and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._send(pending)
