"""``GET /health`` of the HTTP API: the endpoints and tiers, checked as ``coding-director doctor``
checks them (:func:`coding_director.doctor.diagnose`), plus each tier's cooldown."""

from __future__ import annotations

from typing import Literal

from coding_director.doctor import Check, diagnose
from coding_director.engine import CodingDirector
from coding_director.wire import WireModel

HealthStatus = Literal["ok", "degraded", "down"]


class TierHealth(WireModel):
    """One tier: its model, provider, endpoint, and why it is cooling down (``None`` when not)."""

    name: str
    model: str
    provider: str
    endpoint: str
    cooling: str | None = None


class HealthReport(WireModel):
    """The health of the team. ``status`` is ``ok`` (every doctor check passed), ``degraded``
    (some failed: a model missing, no FIM) or ``down`` (no endpoint answered; the API answers 503).
    ``checks`` are ``coding-director doctor``'s; ``unreachable`` lists the endpoints that did not
    answer."""

    status: HealthStatus
    tiers: list[TierHealth]
    checks: list[Check]
    unreachable: list[str]


async def health_report(director: CodingDirector, timeout_s: float = 5.0) -> HealthReport:
    """Check every endpoint and tier of ``director.settings`` (each endpoint within ``timeout_s``
    seconds). Never raises for server problems."""
    settings = director.settings
    report = await diagnose(settings, director.pool, timeout_s=timeout_s)
    endpoints = {settings.endpoint_of(t) for t in settings.tiers}
    status: HealthStatus = "ok" if report.ok else "degraded"
    if report.unreachable and set(report.unreachable) >= endpoints:
        status = "down"
    tiers = [
        TierHealth(
            name=name,
            model=spec.model,
            provider=spec.provider,
            endpoint=settings.endpoint_of(name),
            cooling=director.health.cooling(name),
        )
        for name, spec in settings.tiers.items()
    ]
    return HealthReport(status=status, tiers=tiers, checks=report.checks, unreachable=report.unreachable)
