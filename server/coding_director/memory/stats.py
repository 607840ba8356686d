"""``coding-director stats``: what the memory says about the team since a point in time.

Percentiles are nearest-rank (the smallest sample with at least p% of the samples at or below
it). Decode speed is ``completion_tokens / (latency - time to first token)`` per attempt, median.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from typing import Any

import apsw

from coding_director.memory.models import DEFAULT_SINCE, Percentiles, RouteStats, StatsReport, TierStats, TimelinePoint
from coding_director.results import PlacementReport

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
__all__ = ["DEFAULT_SINCE", "compute_stats", "parse_since", "percentile", "render_text"]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(value: str, now: float | None = None) -> float:
    """``7d``, ``12h``, ``30m``, ``2w`` or ``90s`` before ``now`` as a Unix time.

    Raises :class:`ValueError` naming the expected form."""
    match = _SINCE.match(value)
    if not match:
        raise ValueError(f"--since: expected a duration such as 7d, 12h, 30m (got {value!r})")
    return (now if now is not None else time.time()) - float(match.group(1)) * _UNITS[match.group(2)]


def percentile(samples: list[float], p: float) -> float | None:
    """Nearest-rank percentile ``p`` (0-100) of ``samples``; ``None`` when empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 3)


def _pcts(samples: list[float]) -> Percentiles:
    return Percentiles(p50=percentile(samples, 50), p95=percentile(samples, 95))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compute_stats(conn: apsw.Connection, since: float) -> StatsReport:
    """The :class:`StatsReport` of the requests created at or after ``since`` (Unix seconds)."""
    requests: list[Any] = conn.execute(
        "SELECT id, source, domain, intent, decided_by, cached, created_at, accepted FROM requests"
        " WHERE created_at >= ?",
        (since,),
    ).fetchall()
    by_source = Counter(str(r[1]) for r in requests)
    decisions: dict[str, Counter[str]] = defaultdict(Counter)
    timeline: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for _id, source, _domain, _intent, decided_by, cached, created, accepted in requests:
        if decided_by and not cached and source != "completion":
            decisions[str(source)][str(decided_by)] += 1
        day = time.strftime("%Y-%m-%d", time.gmtime(float(created)))
        timeline[day][0] += 1
        timeline[day][1] += int(accepted)
        timeline[day][2] += int(cached)

    attempts: list[Any] = conn.execute(
        "SELECT a.request_id, a.seq, a.tier, a.outcome, a.reason, a.latency_ms, a.first_token_ms,"
        " a.completion_tokens, r.domain, r.intent FROM attempts a JOIN requests r ON r.id = a.request_id"
        " WHERE r.created_at >= ? ORDER BY a.request_id, a.seq",
        (since,),
    ).fetchall()
    tiers: dict[str, dict[str, Any]] = {}
    tried: dict[str, int] = Counter()
    route_of: dict[str, str] = {}
    for request_id, _seq, tier, outcome, reason, latency, ttft, tokens, domain, intent in attempts:
        slot = tiers.setdefault(
            str(tier), {"outcomes": Counter(), "reasons": Counter(), "latency": [], "ttft": [], "speed": []}
        )
        slot["outcomes"][str(outcome)] += 1
        if reason and outcome in ("rejected", "error"):
            slot["reasons"][f"{outcome}: {reason}"[:160]] += 1
        if outcome in ("accepted", "rejected"):
            slot["latency"].append(float(latency or 0))
            if ttft is not None:
                slot["ttft"].append(float(ttft))
                decode_ms = float(latency or 0) - float(ttft)
                if tokens and decode_ms > 0:
                    slot["speed"].append(float(tokens) * 1000 / decode_ms)
        if outcome != "skipped":
            tried[str(request_id)] += 1
        route_of[str(request_id)] = f"{domain}/{intent}"

    tier_stats = []
    for name, slot in tiers.items():
        outcomes: Counter[str] = slot["outcomes"]
        asked = sum(n for k, n in outcomes.items() if k != "skipped")
        speed: list[float] = slot["speed"]
        tier_stats.append(
            TierStats(
                tier=name,
                attempts=sum(outcomes.values()),
                outcomes=dict(outcomes),
                acceptance_rate=_rate(outcomes.get("accepted", 0), asked),
                reasons=dict(slot["reasons"].most_common(10)),
                latency_ms=_pcts(slot["latency"]),
                first_token_ms=_pcts(slot["ttft"]),
                tokens_per_s=percentile(speed, 50),
            )
        )
    tier_stats.sort(key=lambda t: t.tier)

    routes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for request_id, route in route_of.items():
        routes[route][0] += 1
        routes[route][1] += int(tried[request_id] > 1)
    route_stats = [
        RouteStats(route=r, requests=n, escalated=e, escalation_rate=round(e / n, 4))
        for r, (n, e) in sorted(routes.items())
    ]

    feedback = Counter(
        str(kind)
        for (kind,) in conn.execute(
            "SELECT f.kind FROM feedback f JOIN requests r ON r.id = f.request_id WHERE r.created_at >= ?", (since,)
        )
    )
    completion_accepted: Any = conn.execute(
        "SELECT count(DISTINCT f.request_id) FROM feedback f JOIN requests r ON r.id = f.request_id"
        " WHERE r.created_at >= ? AND r.source = 'completion' AND f.kind = 'accepted'",
        (since,),
    ).fetchone()
    shown = by_source.get("completion", 0)
    accepted_completions = int(completion_accepted[0]) if completion_accepted else 0
    # Inline completions (from the editor, or /v1/completions of the API) have their own cache.
    answered_rows = [r for r in requests if r[1] != "completion" and r[3] != "complete"]
    answered = len(answered_rows)
    hits = sum(1 for r in answered_rows if r[5])
    return StatsReport(
        since=since,
        requests=len(requests),
        by_source=dict(by_source),
        tiers=tier_stats,
        routes=route_stats,
        router_decisions={s: dict(c) for s, c in sorted(decisions.items())},
        cache_hits=hits,
        cache_hit_rate=_rate(hits, answered),
        completions_shown=shown,
        completions_accepted=accepted_completions,
        completion_acceptance_rate=_rate(accepted_completions, shown),
        feedback=dict(feedback),
        timeline=[TimelinePoint(day=d, requests=v[0], accepted=v[1], cached=v[2]) for d, v in sorted(timeline.items())],
    )


def render_text(report: StatsReport) -> str:
    """A plain-text table of ``report`` for the terminal."""

    def ms(p: Percentiles) -> str:
        return "-" if p.p50 is None else f"{p.p50:.0f}/{p.p95:.0f}"

    def pct(rate: float | None) -> str:
        return "-" if rate is None else f"{rate * 100:.0f}%"

    lines = [
        f"{report.requests} requests since {time.strftime('%Y-%m-%d %H:%M', time.localtime(report.since))}"
        f" ({', '.join(f'{s}: {n}' for s, n in sorted(report.by_source.items())) or 'none'})",
        "",
        f"{'tier':<12}{'attempts':>9}{'accepted':>9}{'rate':>6}"
        f"{'latency p50/p95 ms':>20}{'TTFT p50/p95':>14}{'tok/s':>7}",
    ]
    for t in report.tiers:
        speed = "-" if t.tokens_per_s is None else f"{t.tokens_per_s:.0f}"
        lines.append(
            f"{t.tier:<12}{t.attempts:>9}{t.outcomes.get('accepted', 0):>9}{pct(t.acceptance_rate):>6}"
            f"{ms(t.latency_ms):>20}{ms(t.first_token_ms):>14}{speed:>7}"
        )
        lines.extend(f"    {n} x {reason}" for reason, n in t.reasons.items())
    lines.append("")
    lines.extend(f"route {r.route}: {r.requests} requests, escalated {pct(r.escalation_rate)}" for r in report.routes)
    for source, counts in report.router_decisions.items():
        lines.append(f"router decisions ({source}): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    lines.append(f"cache: {report.cache_hits} hits ({pct(report.cache_hit_rate)} of answered requests)")
    lines.append(
        f"completions: {report.completions_accepted} of {report.completions_shown} accepted"
        f" ({pct(report.completion_acceptance_rate)})"
    )
    if report.feedback:
        lines.append("feedback: " + ", ".join(f"{k} {v}" for k, v in sorted(report.feedback.items())))
    lines.extend(f"{p.day}: {p.requests} requests, {p.accepted} accepted, {p.cached} cached" for p in report.timeline)
    if report.placement is not None:
        lines.extend(["", *render_placement(report.placement)])
    return "\n".join(lines)


def render_placement(placement: PlacementReport) -> list[str]:
    """Lines for the terminal: the mode, the threshold and why, its bands and its latest moves."""
    lines = [
        f"placement: routing.frontier = {placement.mode}, threshold {placement.threshold:.2f}"
        f" (configured {placement.configured:.2f}, bounds {placement.threshold_min:.2f}-{placement.threshold_max:.2f})"
        f": {placement.reason}"
    ]
    for band in placement.bands:
        if band.samples:
            rate = "-" if band.rate is None else f"{band.rate * 100:.0f}%"
            lines.append(
                f"    complexity {band.lower:.1f}-{band.upper:.1f}: {band.accepted}/{band.samples} local first"
                f" try ({rate}){f' -> {band.side}' if band.side else ''}"
            )
    for move in placement.changes:
        at = time.strftime("%Y-%m-%d %H:%M", time.localtime(move.at))
        old = "-" if move.old is None else f"{move.old:.2f}"
        lines.append(f"    {at} threshold {old} -> {move.new:.2f}: {move.reason}")
    if placement.spent_today_usd is not None:
        lines.append(f"    frontier spend today ${placement.spent_today_usd:.4f} of ${placement.daily_budget_usd:.2f}")
    return lines
