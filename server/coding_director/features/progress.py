"""How a long use case reports its progress, independent of the transport.

The language server implements :class:`Progress` with LSP's work done progress
(``window/workDoneProgress/create`` + ``$/progress`` begin/report/end); the CLI and tests pass
:data:`NO_PROGRESS`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from coding_director.routing.escalation import AttemptFinished, AttemptStarted, Event


class Progress(Protocol):
    """A progress report the user sees while a use case runs. Reporting never raises."""

    async def begin(self, title: str) -> None:
        """Start showing ``title`` (may do nothing when the client cannot show progress)."""

    def report(self, message: str, percentage: int | None = None) -> None:
        """Update the message; ``percentage`` is 0-100 when known."""

    def end(self, message: str | None = None) -> None:
        """Stop showing progress."""


class _NoProgress:
    async def begin(self, title: str) -> None:
        return None

    def report(self, message: str, percentage: int | None = None) -> None:
        return None

    def end(self, message: str | None = None) -> None:
        return None


#: A :class:`Progress` that shows nothing.
NO_PROGRESS: Progress = _NoProgress()


def report_event(progress: Progress, event: Event) -> None:
    """Report the team's work: ``"<tier> is working..."`` when an attempt starts, and
    ``"<tier> <outcome>: <reason>"`` when one fails."""
    if isinstance(event, AttemptStarted):
        progress.report(f"{event.tier} is working...")
    elif isinstance(event, AttemptFinished) and event.attempt.outcome != "accepted":
        a = event.attempt
        progress.report(f"{a.tier} {a.outcome}: {a.reason}")


@contextlib.asynccontextmanager
async def shown(
    progress: Progress, title: str, on_event: Callable[[Event], None]
) -> AsyncIterator[Callable[[Event], None]]:
    """Show ``title`` on ``progress`` while the block runs (ended however the block ends); yields the
    observer to give every engine event: it passes the event to ``on_event`` (e.g. the status bar),
    then reports it (:func:`report_event`)."""

    def observe(event: Event) -> None:
        on_event(event)
        report_event(progress, event)

    await progress.begin(title)
    try:
        yield observe
    finally:
        progress.end()
