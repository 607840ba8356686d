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
    "unreachable", "timeout", "not_found", "bad_request", "mid_stream", "malformed", "server", "unsupported", "internal"
]

#: Intents whose answer must contain code that parses in the target language.
CODE_INTENTS: frozenset[str] = frozenset({"fix", "generate", "test", "refactor", "docs"})


class RouteDecision(WireModel):
    """How a request was classified.

    ``confidence`` is in [0, 1]. ``decided_by`` is ``offline`` (the learned offline classifier),
    ``model`` (the router model agreed or overrode it) or ``caller`` (an explicit intent/domain).
    ``reason`` says why the router model was or was not consulted, or why its answer was ignored.
    """

    domain: Domain
    intent: Intent
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    decided_by: DecidedBy
    reason: str | None = None


class Attempt(WireModel):
    """One tier's try at a request.

    ``outcome``: ``accepted`` (passed every check), ``rejected`` (answered but failed a check),
    ``error`` (transport error, timeout, missing model, error mid-stream) or ``skipped`` (tier
    cooling down or its endpoint already found dead in this request). ``error_kind`` classifies an
    error (``unreachable``, ``timeout``, ``not_found``, ``malformed``: a 200 answer not in the
    protocol, ``internal``: an unexpected exception of ours or of a library; tier ``engine`` when it
    happened outside any attempt, ...) and is also set on a skip caused by an
    unreachable endpoint, so callers never parse ``reason``. ``fix`` is the exact action
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
    cached: bool = False
    request_id: str | None = None
