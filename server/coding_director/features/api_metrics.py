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
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from coding_director.results import Attempt

#: Histogram buckets in seconds: from a cached answer (ms) to a slow escalation (minutes).
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

__all__ = ["BUCKETS_S", "CONTENT_TYPE_LATEST", "ApiMetrics"]


class ApiMetrics:
    """The API's metrics in their own :class:`CollectorRegistry` (one per app, so several apps in
    one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "coding_director_api_requests",
            "HTTP requests answered by the API, by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "coding_director_api_request_duration_seconds",
            "Time from a request's arrival to its last byte, by endpoint.",
            ["endpoint"],
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        self.attempts = Counter(
            "coding_director_attempts",
            "Attempts of the team's tiers, by tier and outcome (accepted, rejected, error, skipped).",
            ["tier", "outcome"],
            registry=self.registry,
        )
        self.attempt_duration = Histogram(
            "coding_director_attempt_duration_seconds",
            "Wall time of attempts that called a model, by tier.",
            ["tier"],
            buckets=BUCKETS_S,
            registry=self.registry,
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
