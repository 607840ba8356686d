"""Shapes of the memory that cross a boundary: feedback messages, ``stats --json``, export lines.

All are pydantic models exported to ``shared-schemas/`` (``coding-director schemas``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from coding_director.results import PlacementReport
from coding_director.wire import WireModel

#: Where a request came from.
Source = Literal["chat", "code_action", "completion", "cli", "api", "task"]

#: Feedback on a request: ``helpful``/``unhelpful`` (chat buttons, ``coding-director feedback``);
#: inline completions ``shown``, ``accepted`` or ``dismissed`` (not accepted before the next
#: request); a Fix ``applied``, then ``kept`` or ``undone`` (the document went back to its earlier
#: text); a chat code block ``inserted`` or ``applied`` into a document.
FeedbackKind = Literal[
    "helpful", "unhelpful", "shown", "accepted", "dismissed", "applied", "kept", "undone", "inserted"
]

#: Kinds after which an answer is never served from the cache again.
NEGATIVE_FEEDBACK: frozenset[str] = frozenset({"unhelpful", "undone", "dismissed"})

FEEDBACK_METHOD = "codingDirector/feedback"
#: Request (client -> server) of the in-editor dashboard: :class:`StatsParams` -> :class:`StatsReport`.
STATS_METHOD = "codingDirector/stats"
#: The period of ``coding-director stats`` without ``--since``; also the dashboard's and ``GET /metrics``'.
DEFAULT_SINCE = "7d"


class FeedbackParams(WireModel):
    """Params of the ``codingDirector/feedback`` notification (client -> server) and of
    ``coding-director feedback``. ``request_id`` is ``Assistance.requestId`` of the answer."""

    request_id: str = Field(min_length=1)
    kind: FeedbackKind
    detail: str | None = None


class StatsParams(WireModel):
    """Params of ``codingDirector/stats``: ``since`` is a duration back from now, as ``stats --since``
    takes it (``90s``, ``30m``, ``12h``, ``7d``, ``2w``)."""

    since: str = Field(default=DEFAULT_SINCE, max_length=32)


class Percentiles(WireModel):
    """p50 and p95 in milliseconds (``None`` without samples); nearest-rank percentiles."""

    p50: float | None = None
    p95: float | None = None


class TierStats(WireModel):
    """Per tier: attempts by outcome, acceptance rate (accepted / attempts that were not skipped),
    error and rejection reasons with counts, latency and time to first token, and decode speed
    (completion tokens / (latency - time to first token), tokens per second, median)."""

    tier: str
    attempts: int
    outcomes: dict[str, int]
    acceptance_rate: float | None
    reasons: dict[str, int]
    latency_ms: Percentiles
    first_token_ms: Percentiles
    tokens_per_s: float | None


class RouteStats(WireModel):
    """Per route (``domain/intent``): requests, how many escalated past their first tier, the rate."""

    route: str
    requests: int
    escalated: int
    escalation_rate: float


class TimelinePoint(WireModel):
    """Requests per day (``day`` is ``YYYY-MM-DD`` in UTC)."""

    day: str
    requests: int
    accepted: int
    cached: int


class StatsReport(WireModel):
    """Output of ``coding-director stats --json`` (and the dashboard's data). ``since`` is a Unix time;
    ``placement``: where the local/frontier threshold stands, learned from these requests
    (``None`` where it was not asked for)."""

    since: float
    requests: int
    by_source: dict[str, int]
    tiers: list[TierStats]
    routes: list[RouteStats]
    router_decisions: dict[str, dict[str, int]]
    cache_hits: int
    cache_hit_rate: float | None
    completions_shown: int
    completions_accepted: int
    completion_acceptance_rate: float | None
    feedback: dict[str, int]
    timeline: list[TimelinePoint]
    placement: PlacementReport | None = None


class _Line(BaseModel):
    """Export lines use the field names of the formats they follow (not camelCase)."""

    model_config = ConfigDict(extra="forbid")


class SftMessage(_Line):
    """One chat message of an SFT line (OpenAI chat fine-tuning format)."""

    role: Literal["system", "user", "assistant"]
    content: str


class SftLine(_Line):
    """One line of ``export --format sft``: OpenAI's chat fine-tuning shape ``{"messages": [...]}``."""

    messages: list[SftMessage]


class DpoLine(_Line):
    """One line of ``export --format dpo``: TRL's preference shape (``DPOTrainer``, standard format)."""

    prompt: str
    chosen: str
    rejected: str
