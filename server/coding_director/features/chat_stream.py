"""Streaming a chat to the client without flooding it: consecutive ``text`` events of one chat are
merged into at most one notification per interval.

A local model streams a token every few milliseconds; one ``codingDirector/chatEvent`` per token
means one JSON-RPC message written to stdout per token, and with twenty chats at once that writing
alone delays the inline completions typed meanwhile (``bench/load_bench.py``). People read at a
few words per second, so the panel loses nothing when the text arrives in pieces of
:data:`TEXT_INTERVAL_S`: the first piece of every burst is sent at once (the time to first token
stays the model's), later pieces within the interval are merged and sent when it ends. Any other
event (an attempt starting or finishing) first sends the merged text, so the order is kept.
With the session's :class:`~coding_director.foreground.Foreground`, merged text due while an inline
completion is in flight waits until it is done (at most :data:`~coding_director.foreground.MAX_PAUSE_S`):
twenty chats' notifications would otherwise be encoded and written in the middle of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from coding_director.messages import ChatEvent

if TYPE_CHECKING:
    from coding_director.foreground import Foreground

#: Longest time merged text waits before it is sent, in seconds.
TEXT_INTERVAL_S = 0.03


class TextCoalescer:
    """Sends :class:`ChatEvent` values through ``send``, merging ``text`` events of the same tier that
    come within ``interval_s`` of the last one sent. Call it with each event in order; call
    :meth:`flush` when the chat ends (also on error or cancellation) so no text is left behind.
    Needs a running event loop (the interval is a ``loop.call_later`` timer). With ``foreground``,
    merged text that falls due while a foreground call is in flight is sent once it is done
    (:meth:`Foreground.call_when_idle <coding_director.foreground.Foreground.call_when_idle>`)."""

    def __init__(
        self,
        send: Callable[[ChatEvent], None],
        interval_s: float = TEXT_INTERVAL_S,
        foreground: Foreground | None = None,
    ) -> None:
        self._send = send
        self._interval_s = interval_s
        self._foreground = foreground
        self._pending: ChatEvent | None = None
        self._timer: asyncio.TimerHandle | asyncio.Task[None] | None = None

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
        """The interval ended: send the merged text, if any (once the foreground is idle), and start
        the next interval only then."""
        self._timer = None
        if self._pending is None:
            return
        if self._foreground is not None and self._foreground.active:
            self._timer = self._foreground.call_when_idle(self._send_due)
        else:
            self._send_due()

    def _send_due(self) -> None:
        """Send the merged text and start the next interval."""
        pending, self._pending = self._pending, None
        if pending is not None:
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
