"""What the engine returns: the route taken, every attempt made, and the answer.

These models are the wire format of ``codingDirector/chat`` and of ``coding-director ask --json``;
their JSON Schemas live in ``shared-schemas/`` (see :mod:`coding_director.schemas`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from coding_director.wire import WireModel

Domain = Literal["math", "general"]
#: ``generate`` is writing new code ("code" in seed 002), ``question`` any other question ("general");
#: ``debug`` diagnoses an error or misbehaviour, ``arch`` is design and architecture; ``complete`` is
#: inline completion (never classified). See ``routing/README.md``.
Intent = Literal[
    "explain", "fix", "debug", "generate", "test", "docs", "refactor", "review", "arch", "complete", "question"
]
DecidedBy = Literal["offline", "model", "caller"]
Outcome = Literal["accepted", "rejected", "error", "skipped"]
#: What kind of failure an ``error`` (or a skip caused by one) was.
ErrorKind = Literal[
    "unreachable", "timeout", "not_found", "bad_request", "mid_stream", "malformed", "server", "unsupported",
    "internal", "rate_limited", "budget",
]
#: Where a request runs first: on this machine's tiers, or on the frontier tier.
Placement = Literal["local", "frontier"]

#: Intents whose answer must contain code that parses in the target language.
CODE_INTENTS: frozenset[str] = frozenset({"fix", "generate", "test", "refactor", "docs"})


class RouteDecision(WireModel):
    """How a request was classified.

    ``confidence`` is in [0, 1]. ``decided_by`` is ``offline`` (the learned offline classifier),
    ``model`` (the router model agreed or overrode it) or ``caller`` (an explicit intent/domain).
    ``reason`` says why the router model was or was not consulted, or why its answer was ignored.
    ``complexity`` (0-1, :mod:`coding_director.routing.complexity`) and ``placement`` (where the
    request runs first, :mod:`coding_director.routing.placement`) with ``placement_reason`` are set
    once the request is placed (``None`` before).
    """

    domain: Domain
    intent: Intent
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    decided_by: DecidedBy
    reason: str | None = None
    complexity: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    placement: Placement | None = None
    placement_reason: str | None = None


class Attempt(WireModel):
    """One tier's try at a request.

    ``outcome``: ``accepted`` (passed every check), ``rejected`` (answered but failed a check),
    ``error`` (transport error, timeout, missing model, error mid-stream) or ``skipped`` (tier
    cooling down or its endpoint already found dead in this request). ``error_kind`` classifies an
    error (``unreachable``, ``timeout``, ``not_found``, ``malformed``: a 200 answer not in the
    protocol, ``internal``: an unexpected exception of ours or of a library; tier ``engine`` when it
    happened outside any attempt, ...) and is also set on a skip caused by an
    unreachable endpoint, a rate limit's cooldown (``rate_limited``) or the daily budget (``budget``),
    so callers never parse ``reason``. ``fix`` is the exact action
    that removes an error's cause, when known (``ollama pull codellama:13b``). ``latency_ms`` is wall time
    from the request to the last token, in milliseconds; token counts are as reported by the server
    (``None`` when unknown). ``stopped_early``: a check rejected the answer while it streamed and the
    model stream was closed; the streamed text is discarded (never the final answer), and
    ``completion_tokens`` is the number of stream chunks received (one token each on Ollama and
    OpenAI-compatible servers), since the server's count never arrives.
    """

    tier: str
    model: str
    outcome: Outcome
    reason: str | None = None
    error_kind: ErrorKind | None = None
    fix: str | None = None
    latency_ms: Annotated[float, Field(ge=0.0)] = 0.0
    first_token_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    stopped_early: bool = False
    #: 0-based indices of the earlier chat messages left out to fit this tier's context window
    #: (``routing.history``: oldest first, the first user message and the latest turns kept).
    history_dropped: list[int] = Field(default_factory=list)
    #: What this attempt cost in US dollars (``placement.prices`` times the token counts the server
    #: reported, or estimated ones when it reported none); ``None`` for a model without a price.
    cost_usd: Annotated[float, Field(ge=0.0)] | None = None
    #: False when the tier runs on another machine: its prompt was filtered (``Assistance.withheld``).
    local: bool = True


class Withheld(WireModel):
    """Something of a request's context kept from a non-local tier (:mod:`coding_director.context.secrets`).

    ``source``: the file (relative to its workspace folder when inside one), ``request`` or
    ``chat history``. ``action``: ``removed`` (the whole file was left out) or ``redacted`` (secrets in
    it were replaced by ``[REDACTED:<type>]``). ``reason``: why, in words (``"2 secrets: AWS Access
    Key, GitHub Token"``, ``"matches '.env*' (placement.withhold)"``, ``"ignored by git"``).
    """

    source: str
    action: Literal["removed", "redacted"]
    reason: str


class BandReport(WireModel):
    """One complexity band ``[lower, upper)`` of the placement learner: the local chain's first-try
    outcomes in it (``samples``, ``accepted``, ``rate``) and the side it belongs to (``None`` while
    it has fewer than ``placement.min_samples``)."""

    lower: float
    upper: float
    samples: int
    accepted: int
    rate: float | None = None
    side: Placement | None = None


class ThresholdMove(WireModel):
    """A logged move of the learned threshold: Unix time ``at``, ``old`` (``None`` at first) and
    ``new`` value, and why."""

    at: float
    old: float | None = None
    new: float
    reason: str


class PlacementReport(WireModel):
    """Where placement stands (``route --json`` key ``thresholds``; for ``stats``): the mode
    (``routing.frontier``), the threshold in force, the configured one and its bounds, why it is
    there, the bands it was learned from, the latest moves (newest first), and today's frontier
    spend against the cap (US dollars; ``None`` when not read)."""

    mode: Literal["off", "fallback", "complex"]
    threshold: float
    configured: float
    threshold_min: float
    threshold_max: float
    reason: str
    bands: list[BandReport] = Field(default_factory=list)
    changes: list[ThresholdMove] = Field(default_factory=list)
    spent_today_usd: float | None = None
    daily_budget_usd: float


class Source(WireModel):
    """Where a piece of retrieved context came from: ``path`` relative to its workspace folder,
    ``uri`` the file's absolute ``file:`` URI, lines 1-based inclusive."""

    path: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    uri: str | None = None


class Assistance(WireModel):
    """The result of one request.

    ``answer`` is the accepted answer, or when every tier failed the best rejected answer (with
    ``accepted = False``), or an empty string when no tier produced any text. ``final_tier`` is the
    tier whose text is in ``answer`` (``None`` when there is none). ``attempts`` lists every tier
    tried or skipped, in order. ``cached`` is true when the answer was served from the team's
    response cache (no model was called; ``attempts`` is then empty and ``final_tier`` is the tier
    that first gave it). ``request_id`` names the request in the memory (feedback refers to it);
    ``None`` when memory is off.
    """

    answer: str
    route: RouteDecision
    attempts: list[Attempt]
    final_tier: str | None
    accepted: bool
    #: The workspace code given to the team (``@codebase``, ``@file``, ``@symbol``, automatic
    #: retrieval), in prompt order.
    sources: list[Source] = Field(default_factory=list)
    #: What was kept from the non-local tiers this request went to (empty when none was asked).
    withheld: list[Withheld] = Field(default_factory=list)
    #: Sum of the attempts' ``cost_usd`` (``None`` when no priced model was asked).
    cost_usd: Annotated[float, Field(ge=0.0)] | None = None
    cached: bool = False
    request_id: str | None = None
