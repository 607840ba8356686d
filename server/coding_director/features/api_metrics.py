"""Prometheus metrics of the HTTP API (``GET /metrics``), with prometheus-client.

Every figure is updated through **one function**, :meth:`ApiMetrics.record_request`, from what a
finished request produced (the HTTP status, its duration, and the engine's attempts). The team
memory's ``stats`` records the same facts per request; feeding :meth:`record_request` from that
stream instead of from the API's handlers changes no metric. The in-flight gauge is the one live
value (:meth:`ApiMetrics.in_flight`).

Metric names follow Prometheus' conventions (``_total`` counters, ``_seconds`` histograms,
base units; prometheus.io/docs/practices/naming):

- ``coding_director_api_requests_total{endpoint, status}``: HTTP requests answered;
- ``coding_director_api_request_duration_seconds{endpoint}``: time to the last byte;
- ``coding_director_attempts_total{tier, outcome}``: attempts by tier and outcome
  (``accepted``, ``rejected``, ``error``, ``skipped``);
- ``coding_director_attempt_duration_seconds{tier}``: model time of attempts that ran;
- ``coding_director_api_requests_in_flight``: model requests being served now.

Those count what this API process served since it started. Beside them, :func:`render_stats`
exposes the team memory's figures, **the same numbers as** ``coding-director stats --json
--since 7d`` (one :class:`~coding_director.memory.models.StatsReport`, every source: editor, CLI,
API, tasks), as gauges over that period (``GET /metrics?since=30d`` picks another): names
``coding_director_stats_*``, durations in seconds (the report's milliseconds / 1000), rates as
ratios (0-1), percentiles in a ``quantile`` label (``0.5``, ``0.95``; nearest-rank, as ``stats``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from coding_director.memory.models import Percentiles, StatsReport
from coding_director.results import Attempt

#: Histogram buckets in seconds: from a cached answer (ms) to a slow escalation (minutes).
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

__all__ = ["BUCKETS_S", "CONTENT_TYPE_LATEST", "ApiMetrics", "render_stats", "stats_families"]


class ApiMetrics:
    """The API's metrics in their own :class:`CollectorRegistry` (one per app, so several apps in
    one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        counter = partial(Counter, registry=self.registry)
        histogram = partial(Histogram, buckets=BUCKETS_S, registry=self.registry)
        self.requests = counter(
            "coding_director_api_requests",
            "HTTP requests answered by the API, by endpoint and status code.",
            ["endpoint", "status"],
        )
        self.request_duration = histogram(
            "coding_director_api_request_duration_seconds",
            "Time from a request's arrival to its last byte, by endpoint.",
            ["endpoint"],
        )
        self.attempts = counter(
            "coding_director_attempts",
            "Attempts of the team's tiers, by tier and outcome (accepted, rejected, error, skipped).",
            ["tier", "outcome"],
        )
        self.attempt_duration = histogram(
            "coding_director_attempt_duration_seconds", "Wall time of attempts that called a model, by tier.", ["tier"]
        )
        self.in_flight = Gauge(
            "coding_director_api_requests_in_flight",
            "Model requests (chat and completions) being served now.",
            registry=self.registry,
        )

    def record_request(self, endpoint: str, status: int, seconds: float, attempts: Sequence[Attempt] = ()) -> None:
        """Count one finished request: ``endpoint`` (a route path such as ``/v1/chat/completions``),
        the HTTP ``status`` it was answered with, its duration in seconds, and the engine's
        ``attempts`` (each attempt's ``latency_ms`` is in milliseconds; skipped ones have none)."""
        self.requests.labels(endpoint, str(status)).inc()
        self.request_duration.labels(endpoint).observe(seconds)
        for attempt in attempts:
            self.attempts.labels(attempt.tier, attempt.outcome).inc()
            if attempt.outcome != "skipped":
                self.attempt_duration.labels(attempt.tier).observe(attempt.latency_ms / 1000)

    def render(self) -> bytes:
        """The Prometheus text exposition format (version 0.0.4; ``CONTENT_TYPE_LATEST``)."""
        return generate_latest(self.registry)


def _gauge(name: str, doc: str, labels: Sequence[str], rows: Iterable[tuple[Sequence[str], float | None]]) -> Metric:
    family = GaugeMetricFamily(f"coding_director_stats_{name}", doc, labels=list(labels))
    for values, value in rows:
        if value is not None:  # no samples: no series (a gap, not a zero)
            family.add_metric(list(values), value)
    return family


def _seconds(tier: str, p: Percentiles) -> list[tuple[Sequence[str], float | None]]:
    return [((tier, q), None if ms is None else ms / 1000) for q, ms in (("0.5", p.p50), ("0.95", p.p95))]


def stats_families(report: StatsReport) -> list[Metric]:
    """The team memory's ``report`` (see :func:`~coding_director.memory.stats.compute_stats`) as
    Prometheus gauge families, one per figure of ``stats``."""
    tiers = report.tiers
    return [
        _gauge("window_start_seconds", "Start of the period the figures cover (Unix time).", [], [((), report.since)]),
        _gauge("requests", "Requests recorded in the period, by source.", ["source"],
               (((s,), n) for s, n in sorted(report.by_source.items()))),
        _gauge("attempts", "Attempts in the period, by tier and outcome.", ["tier", "outcome"],
               (((t.tier, o), n) for t in tiers for o, n in sorted(t.outcomes.items()))),
        _gauge("acceptance_ratio", "Accepted / attempts that called a model, by tier.", ["tier"],
               (((t.tier,), t.acceptance_rate) for t in tiers)),
        _gauge("attempt_reasons", "Rejected and failed attempts by tier and reason (top 10).", ["tier", "reason"],
               (((t.tier, r), n) for t in tiers for r, n in t.reasons.items())),
        _gauge("attempt_latency_seconds", "Wall time of attempts, p50 and p95, by tier.", ["tier", "quantile"],
               (row for t in tiers for row in _seconds(t.tier, t.latency_ms))),
        _gauge("first_token_seconds", "Time to first token, p50 and p95, by tier.", ["tier", "quantile"],
               (row for t in tiers for row in _seconds(t.tier, t.first_token_ms))),
        _gauge("decode_tokens_per_second", "Decode speed (median), by tier.", ["tier"],
               (((t.tier,), t.tokens_per_s) for t in tiers)),
        _gauge("route_requests", "Requests by route (domain/intent).", ["route"],
               (((r.route,), r.requests) for r in report.routes)),
        _gauge("escalation_ratio", "Requests that went past their first tier, by route.", ["route"],
               (((r.route,), r.escalation_rate) for r in report.routes)),
        _gauge("router_decisions", "Who decided the route, by source.", ["source", "decided_by"],
               (((s, d), n) for s, counts in report.router_decisions.items() for d, n in sorted(counts.items()))),
        _gauge("cache_hits", "Answers served from the response cache.", [], [((), report.cache_hits)]),
        _gauge("cache_hit_ratio", "Cache hits / answered requests.", [], [((), report.cache_hit_rate)]),
        _gauge("completions_shown", "Inline completions shown in the editor.", [], [((), report.completions_shown)]),
        _gauge("completions_accepted", "Inline completions accepted.", [], [((), report.completions_accepted)]),
        _gauge("completion_acceptance_ratio", "Accepted / shown inline completions.", [],
               [((), report.completion_acceptance_rate)]),
        _gauge("feedback", "Feedback from the editor, by kind.", ["kind"],
               (((k,), n) for k, n in sorted(report.feedback.items()))),
    ]  # fmt: skip


class _Families:
    """A collector of fixed families (what :func:`generate_latest` takes)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def render_stats(report: StatsReport) -> bytes:
    """:func:`stats_families` of ``report`` in the Prometheus text format (appended to
    :meth:`ApiMetrics.render` by ``GET /metrics``; no name is shared with it)."""
    return generate_latest(_Families(stats_families(report)))
