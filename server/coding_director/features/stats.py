"""Use case: the team memory's figures for a period, as ``coding-director stats --json`` prints them.

:func:`memory_stats` is what the dashboard's ``codingDirector/stats`` request (``lsp/server.py``) and
the API's ``GET /metrics`` (``api/app.py``) call, so both show the very figures of ``stats``: one
:func:`~coding_director.memory.stats.compute_stats` over the same rows. The query runs on the
memory's reader thread, never on the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coding_director.memory import Memory, MemoryUnavailable
from coding_director.memory.models import DEFAULT_SINCE, StatsReport
from coding_director.results import PlacementReport
from coding_director.settings import Settings

if TYPE_CHECKING:
    from coding_director.routing.frontier import Frontier


class StatsUnavailable(Exception):
    """There are no figures: the memory is off or unusable. ``str()`` is one line for the user."""


async def memory_stats(
    memory: Memory | None, since: str = DEFAULT_SINCE, now: float | None = None, frontier: Frontier | None = None
) -> StatsReport:
    """The :class:`StatsReport` of the requests recorded in the last ``since`` (``7d``, ``12h``, ...)
    before ``now`` (Unix seconds; default: the current time); with ``frontier``, its
    :meth:`~coding_director.routing.frontier.Frontier.report` as ``placement``.

    Raises :class:`ValueError` naming the expected form when ``since`` is not a duration, and
    :class:`StatsUnavailable` when there is no usable memory (``[memory] enabled = false``, or the
    database failed: locked, corrupt).
    """
    from coding_director.memory.stats import compute_stats, parse_since

    start = parse_since(since, now)
    if memory is None:
        raise StatsUnavailable("the team memory is off ([memory] enabled = false): nothing is recorded")
    if not memory.available:
        raise StatsUnavailable(f"the team memory database {memory.path} is unusable (see the log); no figures")
    try:
        report = await memory.read(lambda conn: compute_stats(conn, start))
    except MemoryUnavailable as exc:
        raise StatsUnavailable(f"the team memory database failed: {exc}") from exc
    if frontier is not None:
        report = report.model_copy(update={"placement": await frontier.report()})
    return report


async def placement_report(settings: Settings, memory: Memory | None) -> PlacementReport:
    """Where placement stands for ``settings``, the threshold learned from ``memory`` (the placement
    ledger without a usable one); for the CLI's ``stats`` and ``route``."""
    from coding_director.routing.frontier import Frontier

    frontier = Frontier(settings, memory=memory)
    try:
        return await frontier.report()
    finally:
        frontier.close()
