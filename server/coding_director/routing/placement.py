"""Where a request runs: on the local chain, or on the frontier tier first, and the threshold that learns.

Policy (``routing.frontier``):

- ``off`` (default): the routed chain as it is; nothing leaves this machine unless a chain names a
  non-local tier itself;
- ``fallback``: the frontier tier is appended after the local chain: it answers when every local
  tier failed;
- ``complex``: a request whose complexity (:mod:`coding_director.routing.complexity`) is at or above
  the threshold goes to the frontier tier first (the local chain after it); any other request is
  placed as with ``fallback``.

The threshold learns (seed 004) from the team memory: per complexity band (``placement.bands``
equal bands of [0, 1]), the local chain's first-try acceptance rate over the requests that went to
a local tier first (:class:`HistoryRow`). A band with at least ``placement.min_samples`` of them is
*informative*; it belongs to the frontier when its rate is below ``placement.target_acceptance``,
else to the local chain. Among the band edges clamped into ``[threshold_min, threshold_max]`` (and
the configured threshold), the learned threshold is the one that misplaces the fewest informative
requests (a band's requests taken as spread evenly over it, so a threshold inside a band misplaces
part of it); ties go to the candidate nearest the configured threshold, then to the higher one. It
is a pure function of the rows (:func:`learn_threshold`): the same history gives the same threshold.

One threshold cannot put a low band on the frontier and a higher band locally; the cost then
decides by the number of requests. Bands on the frontier side collect no new local outcomes, so
their old ones age out after ``placement.history_days`` and the threshold drifts back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from coding_director.results import BandReport, Placement
from coding_director.settings import FRONTIER_TIER, FrontierMode, PlacementSettings

__all__ = [
    "HistoryRow",
    "PlacementHistory",
    "ThresholdState",
    "band_of",
    "band_stats",
    "history_row",
    "learn_threshold",
    "place_chain",
    "similar_outcomes",
]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One earlier request as placement needs it: its ``complexity`` (0-1), route (``domain``,
    ``intent``), whether a local tier was asked first (``local_first``) and whether that first
    answer was accepted (``accepted_first``). ``at``: Unix seconds."""

    complexity: float
    domain: str
    intent: str
    local_first: bool
    accepted_first: bool
    at: float = 0.0


class PlacementHistory(Protocol):
    """Where recorded requests come from (the team memory, or the placement ledger until it lands)."""

    def placement_rows(self, since: float, limit: int) -> Sequence[HistoryRow]:
        """Rows of the latest ``limit`` requests made at or after ``since`` (Unix seconds), oldest first."""
        ...


def history_row(complexity: float, domain: str, intent: str, attempts: Sequence[tuple[str, str]],
                is_local: Callable[[str], bool], at: float) -> HistoryRow | None:
    """The :class:`HistoryRow` of a recorded request from its route and its attempts as
    ``(tier, outcome)`` in order (the shape the team memory stores them in): the first attempt not
    ``skipped`` decides; ``is_local(tier)`` says whether it ran here (``Settings.is_local``; an
    unknown tier counts as not local). ``None`` when no tier was asked."""
    for tier, outcome in attempts:
        if outcome != "skipped":
            try:
                local = is_local(tier)
            except KeyError:
                local = False
            return HistoryRow(complexity, domain, intent, local, outcome == "accepted", at)
    return None


@dataclass(frozen=True, slots=True)
class ThresholdState:
    """The learned threshold, the configured one it started from, the bands it was learned from, and
    why it is where it is (one line)."""

    threshold: float
    configured: float
    bands: list[BandReport] = field(default_factory=list)
    reason: str = ""


def band_of(complexity: float, bands: int) -> int:
    """The 0-based band of ``complexity`` among ``bands`` equal bands of [0, 1]."""
    return min(bands - 1, max(0, int(complexity * bands)))


def band_stats(rows: Sequence[HistoryRow], settings: PlacementSettings) -> list[BandReport]:
    """First-try local outcomes per band (rows whose first tier was not local are left out); a band
    with at least ``min_samples`` of them gets its ``side``."""
    count = settings.bands
    samples = [0] * count
    accepted = [0] * count
    for row in rows:
        if row.local_first:
            band = band_of(row.complexity, count)
            samples[band] += 1
            accepted[band] += row.accepted_first
    out = []
    for band in range(count):
        rate = accepted[band] / samples[band] if samples[band] else None
        side: Placement | None = None
        if rate is not None and samples[band] >= settings.min_samples:
            side = "frontier" if rate < settings.target_acceptance else "local"
        out.append(BandReport(lower=round(band / count, 4), upper=round((band + 1) / count, 4), samples=samples[band],
                              accepted=accepted[band], rate=round(rate, 4) if rate is not None else None, side=side))
    return out


def _cost(bands: Sequence[BandReport], threshold: float) -> float:
    """Informative requests on the wrong side of ``threshold``, taking a band's requests as spread
    evenly over it (a threshold inside a band puts the part above it on the frontier)."""
    wrong = 0.0
    for band in bands:
        if band.side is None:
            continue
        above = min(1.0, max(0.0, (band.upper - threshold) / (band.upper - band.lower)))
        wrong += band.samples * (1.0 - above if band.side == "frontier" else above)
    return round(wrong, 6)


def learn_threshold(rows: Sequence[HistoryRow], settings: PlacementSettings) -> ThresholdState:
    """The threshold for ``rows`` by the rule of the module docstring (pure, deterministic)."""
    configured = settings.threshold
    bands = band_stats(rows, settings)
    informative = [b for b in bands if b.side is not None]
    if not settings.learn:
        return ThresholdState(configured, configured, bands, "placement.learn is off: the configured threshold")
    if not informative:
        why = f"no band has {settings.min_samples} first-try local outcomes yet: the configured threshold"
        return ThresholdState(configured, configured, bands, why)
    low, high = settings.threshold_min, settings.threshold_max
    edges = {round(k / settings.bands, 4) for k in range(settings.bands + 1)}
    candidates = sorted({min(high, max(low, edge)) for edge in edges} | {configured})
    best = min(candidates, key=lambda t: (_cost(bands, t), abs(t - configured), -t))
    wrong = _cost(bands, best)
    sides = ", ".join(f"{b.lower:.1f}-{b.upper:.1f}: {b.accepted}/{b.samples} first try -> {b.side}"
                      for b in informative)
    why = f"learned from {sum(b.samples for b in informative)} requests ({sides}); {wrong:g} on the wrong side"
    return ThresholdState(best, configured, bands, why)


def similar_outcomes(rows: Sequence[HistoryRow], domain: str, intent: str) -> tuple[int, int] | None:
    """``(accepted first try, requests)`` of the local chain on earlier requests of the same route,
    ``None`` when there are none."""
    same = [r for r in rows if r.local_first and r.domain == domain and r.intent == intent]
    return (sum(r.accepted_first for r in same), len(same)) if same else None


def place_chain(
    mode: FrontierMode, complexity: float, threshold: float, chain: Sequence[str]
) -> tuple[Placement, list[str], str]:
    """Apply the policy: ``(placement, tiers to try, reason)`` for a routed ``chain``.

    ``complexity`` and ``threshold`` are in [0, 1]. The frontier tier is added once (a chain that
    already names it keeps its order)."""
    local = list(chain)
    has_frontier = FRONTIER_TIER in local
    if mode == "off":
        return "local", local, "routing.frontier is off: nothing leaves this machine"
    if has_frontier:
        where: Placement = "frontier" if local[0] == FRONTIER_TIER else "local"
        return where, local, f"the chain names the {FRONTIER_TIER} tier itself"
    if mode == "complex" and complexity >= threshold:
        return ("frontier", [FRONTIER_TIER, *local],
                f"complexity {complexity:.2f} >= threshold {threshold:.2f}: the frontier tier first")
    if mode == "complex":
        return ("local", [*local, FRONTIER_TIER],
                f"complexity {complexity:.2f} < threshold {threshold:.2f}: local first, the frontier tier after")
    return "local", [*local, FRONTIER_TIER], "fallback: the local chain first, the frontier tier after it fails"
