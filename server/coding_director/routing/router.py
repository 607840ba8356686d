"""The two-stage router: the offline classifier, then the router model when it is unsure.

Modes (``routing.router``): ``offline`` never asks the model; ``model`` always asks it; ``auto``
asks it only when the offline confidence (a calibrated probability) is below
``routing.confidence_threshold``, whose default is the threshold ``scripts/train_router.py`` chose on
the training data's cross-validation so that about 12% of requests fall in that uncertain band. The model is
asked for the *domain* only (intent stays offline: small models are poor at it). Its answer is
parsed strictly (:func:`parse_router_answer`); when the model is down, slow or answers anything
else, the offline decision stands and ``reason`` records why.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

from coding_director.backends import BackendError, BackendPool, GenerateOptions, Message
from coding_director.results import DecidedBy, Domain, Intent, RouteDecision
from coding_director.routing.offline import classify
from coding_director.settings import Settings

log = logging.getLogger(__name__)

#: The router model's instructions: the boundary of ``routing/README.md`` in a few lines.
ROUTER_SYSTEM = (
    "You route programming requests to specialists. Reply with exactly one word.\n"
    "math: mathematical, statistical or algorithmic work: formulas and derivations, numerical "
    "methods, statistics and probability (odds, games of chance), counting and combinatorics, "
    "geometry, number theory, linear algebra, optimisation, finance and physics formulas, and "
    "algorithm design and analysis (graph algorithms such as Dijkstra, dynamic programming such as "
    "0/1 knapsack, search, complexity such as O(n log n), data-structure invariants), also numpy/scipy "
    "code whose question is about the computation.\n"
    "general: everything else: web, APIs, SQL, shell and DevOps, build and configuration, UI, "
    "refactoring, debugging errors and stack traces, tests, docs, even when the text holds numbers "
    'or math-sounding words ("add a regression test", "CSS linear-gradient", "which Linux '
    'distribution", "SUM() returns NULL", "round to 2 decimals in the template", "Math.max", '
    '"proof of concept").\n'
    "Reply `math` or `general` and nothing else."
)
#: Characters of the focus code shown to the router model beside the request.
ROUTER_CODE_CHARS = 800

_WORD_RE = re.compile(r"^[\s`'\"*]*(math|general)[\s`'\".!*]*$", re.IGNORECASE)


class RouterAnswerError(ValueError):
    """The router model's answer is not one of the accepted forms."""


def parse_router_answer(text: str) -> Domain:
    """Parse the router model's reply strictly.

    Accepted: the single word ``math`` or ``general`` (any case, optionally quoted, backticked or
    followed by a full stop), or a JSON object ``{"domain": "math" | "general"}``.
    Raises :class:`RouterAnswerError` for anything else (an explanation, both words, nothing).
    """
    stripped = text.strip()
    match = _WORD_RE.match(stripped)
    if match:
        return "math" if match.group(1).lower() == "math" else "general"
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped).get("domain")
        except (json.JSONDecodeError, AttributeError):
            value = None
        if value in ("math", "general"):
            return "math" if value == "math" else "general"
    shown = stripped[:60] + ("..." if len(stripped) > 60 else "")
    raise RouterAnswerError(f"router model answered {shown!r}, not 'math' or 'general'")


async def ask_router_model(settings: Settings, pool: BackendPool, prompt: str, code: str | None = None) -> Domain:
    """Ask the router tier for the domain of ``prompt`` (first 2000 characters), with the first
    :data:`ROUTER_CODE_CHARS` characters of the focus ``code`` when there is one.

    Raises :class:`BackendError` (transport, missing model), :class:`TimeoutError` after
    ``routing.router_timeout_s`` seconds, or :class:`RouterAnswerError`.
    """
    tier = settings.tier(settings.routing.router_tier)
    backend = pool.for_tier(settings.routing.router_tier)
    options = GenerateOptions(
        num_predict=min(tier.num_predict, 16), temperature=0.0, stop=["\n\n"], max_ctx=tier.max_ctx
    )
    content = prompt[:2000]
    if code and code.strip():
        content += f"\n\nSelected code:\n```\n{code[:ROUTER_CODE_CHARS]}\n```"
    messages = [Message(role="system", content=ROUTER_SYSTEM), Message(role="user", content=content)]
    parts: list[str] = []
    async with asyncio.timeout(settings.routing.router_timeout_s):
        async for chunk in backend.chat_stream(tier.model, messages, options):
            parts.append(chunk.text)
    return parse_router_answer("".join(parts))


async def route(
    settings: Settings,
    pool: BackendPool,
    prompt: str,
    code: str | None = None,
    *,
    imports: list[str] | None = None,
    intent: Intent | None = None,
    domain: Domain | None = None,
) -> RouteDecision:
    """Decide domain and intent of ``prompt``, with the focus ``code`` and the file's ``imports``
    (import lines) as features: Explain / Fix on numerical code goes to the math chain.

    ``intent``/``domain`` given by the caller (e.g. a code action) are taken as they are
    (``decided_by = "caller"`` when both are given). Never raises: every router-model failure
    leaves the offline decision with the cause in ``reason``.
    """
    if domain is not None and intent is not None:
        return RouteDecision(domain=domain, intent=intent, confidence=1.0, decided_by="caller")
    offline = classify(prompt, code, imports)
    chosen_intent: Intent = intent or offline.intent
    if domain is not None:
        by: DecidedBy = "caller" if intent is not None else "offline"
        return RouteDecision(domain=domain, intent=chosen_intent, confidence=1.0, decided_by=by)
    mode = settings.routing.router
    threshold = settings.routing.confidence_threshold
    decision = RouteDecision(
        domain=offline.domain,
        intent=chosen_intent,
        confidence=offline.confidence,
        decided_by="offline",
        reason=offline.evidence,
    )
    if mode == "offline" or (mode == "auto" and offline.confidence >= threshold):
        return decision
    try:
        answer = await ask_router_model(settings, pool, prompt, code)
    except Exception as exc:  # BackendError, TimeoutError, RouterAnswerError, or anything unexpected
        cause = exc.reason if isinstance(exc, BackendError) else str(exc) or "router model timed out"
        if not isinstance(exc, BackendError | TimeoutError | RouterAnswerError):
            cause = f"unexpected error: {type(exc).__name__}: {exc}"
        if isinstance(exc, TimeoutError):
            cause = f"router model gave no answer within {settings.routing.router_timeout_s:g} s"
        log.warning("router model not used: %s", cause)
        return decision.model_copy(update={"reason": f"offline decision kept: {cause}"})
    agrees = answer == offline.domain
    return RouteDecision(
        domain=answer,
        intent=chosen_intent,
        confidence=round(max(offline.confidence, 0.8) if agrees else 0.75, 3),
        decided_by="model",
        reason=f"router model said {answer!r} ({'agrees with' if agrees else 'overrides'} offline {offline.domain!r})",
    )
