"""Escalation: try the tiers of a chain in order until an answer passes verification.

Per attempt, in order: skip the tier if it is cooling down (:class:`HealthTracker`) or its endpoint
was already found unreachable in this request; stream the answer under a timeout of
``min(tier.timeout_s or routing.attempt_timeout_s, time left of routing.request_timeout_s)``;
classify the outcome:

- ``error``: unreachable endpoint, timeout, missing model (404), bad request, error mid-stream, a
  malformed response (not JSON, not UTF-8, oversized, cut off), or any unexpected exception
  (``internal``): nothing a model server sends makes a request raise;
- ``rejected``: answered, but a verification check failed (:mod:`coding_director.routing.verify`).
  The checks that can decide early (:class:`~coding_director.routing.verify.StreamMonitor`) run on
  the stream as it arrives (``checks.stream``); when one fails the model stream is closed at once,
  the attempt is ``stopped_early`` and its text is discarded (never returned as the best answer);
- ``accepted``: passed every check; escalation stops.

A tier on another machine (``Settings.is_local`` false, e.g. the frontier tier) goes through the
guard first (:class:`~coding_director.routing.frontier.Frontier`): its prompt is the filtered one
(files withheld, secrets redacted; local tiers get the request unchanged), an attempt that could
pass the daily budget is skipped with a reason starting "budget", its cost is recorded, and a 429
cools it down for the ``Retry-After`` the server gave (else ``health.cooldown_s``).

The next tier's prompt carries every earlier failure (:func:`prompts.failure_evidence`). At most
``routing.max_attempts`` tiers are asked. When all fail, the best rejected answer is returned with
``accepted = False``: answers that failed only a code check rank above refusals, which rank above
partial answers cut by an error; among equals the later (stronger) tier wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from coding_director.backends import (
    BackendError,
    BackendPool,
    Chunk,
    EndpointUnreachable,
    GenerateOptions,
    HealthTracker,
    Message,
    RateLimited,
)
from coding_director.foreground import Foreground
from coding_director.results import Assistance, Attempt, ErrorKind, Outcome, RouteDecision, Withheld
from coding_director.routing.frontier import Frontier, Outbound, OutboundSources
from coding_director.routing.history import fit_history, window_for
from coding_director.routing.prompts import Failure, build_messages
from coding_director.routing.verify import StreamMonitor, Target, verify
from coding_director.settings import Settings

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """Tier ``tier`` (serving ``model``) starts answering; text streamed before is superseded."""

    tier: str
    model: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of ``tier``'s answer."""

    tier: str
    text: str


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """An attempt ended (or was skipped) with ``attempt.outcome``."""

    attempt: Attempt


@dataclass(frozen=True, slots=True)
class Finished:
    """The request is done; ``assistance`` is the final result."""

    assistance: Assistance


Event = AttemptStarted | TextDelta | AttemptFinished | Finished


@dataclass(frozen=True, slots=True)
class Sampling:
    """A caller's overrides of every tier's sampling options (the OpenAI API's ``max_tokens``,
    ``temperature``, ``stop``). ``None`` / empty keeps the tier's setting; ``max_tokens`` replaces
    the tier's ``num_predict`` (tokens)."""

    max_tokens: int | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()


@dataclass
class Request:
    """One request as escalation sees it. ``context_text`` is the rendered code context;
    ``target`` says what the answer is verified against. ``chain`` replaces the route's chain
    (one pinned tier, or a task role's tiers), ``system`` the intent's system prompt (task roles
    set it) and ``sampling`` the tiers' sampling options; ``None`` keeps the defaults. ``sources``:
    what ``context_text`` was rendered from, so that a non-local tier's copy is filtered file by file
    (``None``: the rendered text is redacted as a whole)."""

    prompt: str
    route: RouteDecision
    target: Target
    context_text: str | None = None
    history: list[Message] = field(default_factory=list)
    chain: list[str] | None = None
    sampling: Sampling | None = None
    system: str | None = None
    sources: OutboundSources | None = None


@dataclass
class _Candidate:
    rank: int
    order: int
    tier: str
    text: str


_END = object()


def chain_for(settings: Settings, route: RouteDecision) -> list[str]:
    """The tier names to try for ``route``: ``routing.math_chain`` or ``routing.general_chain``."""
    return list(settings.routing.math_chain if route.domain == "math" else settings.routing.general_chain)


async def _stream_with_timeout(
    pool: BackendPool,
    tier: str,
    model: str,
    messages: list[Message],
    options: GenerateOptions,
    timeout_s: float,
    foreground: Foreground | None = None,
) -> AsyncGenerator[Chunk]:
    """Stream one attempt from a child task so that the timeout never spans a ``yield`` of ours.

    With ``foreground``, a chunk read while a foreground call is in flight is handed on (to the
    checks, the events and the client) only when it is done, or after its longest pause
    (:meth:`Foreground.wait`), and only then is the next chunk asked for: the model's tokens wait in
    the socket meanwhile; and while the user types, the stream reads in batches
    (:meth:`Foreground.pace`). Raises :class:`TimeoutError` after ``timeout_s`` seconds (pauses included)
    and :class:`BackendError` from the backend. Closing this generator cancels the child task,
    which closes the HTTP stream.
    """
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pump() -> None:
        try:
            async with asyncio.timeout(timeout_s):
                resumed = 0.0
                async for chunk in pool.for_tier(tier).chat_stream(model, messages, options):
                    if foreground is not None and foreground.active:
                        await foreground.wait()  # the chunk's checks and events wait too
                    queue.put_nowait(chunk)
                    if foreground is not None and not chunk.done:  # the last one ends the stream at once
                        resumed = await foreground.pace(resumed)
            queue.put_nowait(_END)
        except Exception as exc:  # handed to the consumer, which re-raises it
            queue.put_nowait(exc)

    task = asyncio.create_task(pump())
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, Chunk)
            yield item
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def escalate(
    settings: Settings,
    pool: BackendPool,
    health: HealthTracker,
    request: Request,
    frontier: Frontier | None = None,
    foreground: Foreground | None = None,
) -> AsyncGenerator[Event]:
    """Run ``request`` through its chain, yielding events; the last event is :class:`Finished`.

    ``frontier`` guards the non-local tiers (a default one for ``settings`` is made when a chain
    reaches such a tier without it). ``foreground``: each model stream pauses while a foreground
    call (an inline completion) is in flight, see :mod:`coding_director.foreground`.
    Cancellation (``CancelledError``, or closing the generator) stops the current stream at once.
    Never raises for model failures: they become attempts with outcome ``error``.
    """
    routing = settings.routing
    loop = asyncio.get_running_loop()
    deadline = loop.time() + routing.request_timeout_s
    attempts: list[Attempt] = []
    failures: list[Failure] = []
    candidates: list[_Candidate] = []
    dead_endpoints: dict[str, tuple[str, str | None]] = {}  # endpoint -> (reason, fix)
    asked = 0
    outbound: Outbound | None = None  # the filtered request, made when a non-local tier is first reached
    sent_outbound = False

    def skip(
        tier: str, model: str, reason: str, fix: str | None = None, kind: ErrorKind | None = None
    ) -> AttemptFinished:
        attempt = Attempt(tier=tier, model=model, outcome="skipped", reason=reason, fix=fix, error_kind=kind)
        attempts.append(attempt)
        return AttemptFinished(attempt)

    sampling = request.sampling or Sampling()
    for tier in request.chain or chain_for(settings, request.route):
        spec = settings.tier(tier)
        endpoint = settings.endpoint_of(tier)
        if asked >= routing.max_attempts:
            yield skip(tier, spec.model, f"maximum of {routing.max_attempts} attempts reached")
            continue
        remaining = deadline - loop.time()
        if remaining <= 0:
            yield skip(tier, spec.model, f"request deadline of {routing.request_timeout_s:g} s reached")
            continue
        if endpoint in dead_endpoints:
            yield skip(tier, spec.model, *dead_endpoints[endpoint], kind="unreachable")
            continue
        cooling = health.cooling(tier)
        if cooling:
            yield skip(tier, spec.model, cooling)
            continue

        local = settings.is_local(tier)
        prompt, context_text, history, evidence = request.prompt, request.context_text, request.history, failures
        if not local:
            frontier = frontier or Frontier(settings)
            if outbound is None:
                outbound = await frontier.outbound(request.prompt, request.context_text, request.history,
                                                   request.sources)
            prompt, context_text, history = outbound.prompt, outbound.context_text, outbound.history
            evidence = await frontier.failures(failures, outbound)
        fixed = build_messages(
            prompt,
            intent=request.route.intent,
            domain=request.route.domain,
            context_text=context_text,
            failures=evidence,
            system=request.system,
        )
        options = GenerateOptions(
            num_predict=sampling.max_tokens or spec.num_predict,
            temperature=spec.temperature if sampling.temperature is None else sampling.temperature,
            stop=list(sampling.stop),
            max_ctx=spec.max_ctx,
            include_usage=frontier is not None and not local and frontier.price_of(tier) is not None,
        )
        fitted = fit_history(history, fixed, window_for(spec.max_ctx, options.num_predict))
        messages = [fixed[0], *fitted.kept, *fixed[1:]]
        if frontier is not None and not local:
            over = await frontier.budget(tier, messages, options.num_predict)
            if over:
                yield skip(tier, spec.model, over, kind="budget")
                continue
            sent_outbound = True

        asked += 1
        yield AttemptStarted(tier, spec.model)
        timeout_s = min(spec.timeout_s or routing.attempt_timeout_s, remaining)
        started = time.perf_counter()
        first_token_ms: float | None = None
        parts: list[str] = []
        usage: Chunk | None = None
        error: str | None = None
        error_kind: ErrorKind | None = None
        fix: str | None = None
        monitor = StreamMonitor(request.target, options.num_predict) if settings.checks.stream else None
        early: str | None = None
        stream = _stream_with_timeout(pool, tier, spec.model, messages, options, timeout_s, foreground)
        try:
            async for chunk in stream:
                if chunk.text:
                    if first_token_ms is None:
                        first_token_ms = (time.perf_counter() - started) * 1000
                    parts.append(chunk.text)
                    yield TextDelta(tier, chunk.text)
                    if monitor is not None:
                        early = monitor.feed(chunk.text)
                        if early:
                            break  # the finally below closes the model stream
                if chunk.prompt_tokens is not None or chunk.completion_tokens is not None:
                    usage = chunk
        except TimeoutError:
            error, error_kind = f"timeout: no complete answer within {timeout_s:.3g} s", "timeout"
        except BackendError as exc:
            error, error_kind, fix = exc.reason, exc.kind, exc.fix
            if isinstance(exc, RateLimited):
                health.cool_down(tier, exc.retry_after_s or settings.health.cooldown_s, exc.reason)
            if isinstance(exc, EndpointUnreachable):
                dead_endpoints[endpoint] = (f"endpoint unreachable (found by tier {tier}): {exc.reason}", exc.fix)
        except Exception as exc:  # a bug or a library's unexpected exception: an error, never a crash
            log.exception("tier %s failed unexpectedly", tier)
            error, error_kind = f"unexpected error: {type(exc).__name__}: {exc}"[:300], "internal"
        finally:
            await stream.aclose()
        latency_ms = (time.perf_counter() - started) * 1000
        text = "".join(parts)

        outcome: Outcome
        reason: str | None
        if early is not None and monitor is not None:
            health.record_success(tier)
            outcome = "rejected"
            reason = f"{early} (stopped after {latency_ms / 1000:.1f} s, {monitor.chunks} tokens)"
            usage = Chunk(completion_tokens=monitor.chunks, prompt_tokens=usage.prompt_tokens if usage else None)
        elif error is not None:
            outcome, reason = "error", error
            if error_kind != "rate_limited":  # a 429 already set its own cooldown
                health.record_error(tier, error)
            if text.strip():
                candidates.append(_Candidate(0, len(attempts), tier, text))
        else:
            health.record_success(tier)
            try:
                reason = verify(text, request.target)
            except Exception as exc:  # a check that crashes rejects the answer instead of the request
                log.exception("a verification check failed on the answer of tier %s", tier)
                reason = f"a check failed: {type(exc).__name__}: {exc}"[:300]
            for deep_check in request.target.async_checks if reason is None else ():
                try:
                    reason = await deep_check(text)
                except Exception as exc:  # same as above: reject the answer, never fail the request
                    log.exception("an asynchronous check failed on the answer of tier %s", tier)
                    reason = f"a check failed: {type(exc).__name__}: {exc}"[:300]
                if reason:
                    break
            outcome = "rejected" if reason else "accepted"
            if reason and text.strip():
                rank = 1 if reason.startswith("refusal") else 2
                candidates.append(_Candidate(rank, len(attempts), tier, text))
        attempt = Attempt(
            tier=tier,
            model=spec.model,
            outcome=outcome,
            reason=reason,
            error_kind=error_kind,
            fix=fix,
            latency_ms=round(latency_ms, 3),
            first_token_ms=round(first_token_ms, 3) if first_token_ms is not None else None,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            stopped_early=early is not None,
            history_dropped=fitted.dropped,
            local=local,
        )
        if frontier is not None and not local:
            attempt.cost_usd = await frontier.charge(tier, attempt, messages, text)
        attempts.append(attempt)
        yield AttemptFinished(attempt)
        if outcome == "accepted":
            yield Finished(_result(request, attempts, text, tier, True, outbound if sent_outbound else None))
            return
        failures.append(Failure(tier, spec.model, reason or "", text))

    best = max(candidates, key=lambda c: (c.rank, c.order), default=None)
    yield Finished(_result(request, attempts, best.text if best else "", best.tier if best else None, False,
                           outbound if sent_outbound else None))


def _result(request: Request, attempts: list[Attempt], answer: str, tier: str | None, accepted: bool,
            outbound: Outbound | None) -> Assistance:
    """The :class:`Assistance` of a finished chain: what was withheld from the non-local tiers it
    reached and the total cost of the priced attempts."""
    costs = [a.cost_usd for a in attempts if a.cost_usd is not None]
    withheld: list[Withheld] = outbound.withheld if outbound is not None else []
    return Assistance(answer=answer, route=request.route, attempts=attempts, final_tier=tier, accepted=accepted,
                      withheld=withheld, cost_usd=round(sum(costs), 8) if costs else None)
