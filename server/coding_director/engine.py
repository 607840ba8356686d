"""The public API: :class:`CodingDirector` routes a request and escalates it through the team.

The CLI, the language server and Python callers all go through this class::

    from coding_director import CodingDirector

    director = CodingDirector()                        # settings from file/env, see settings.py
    result = director.get_assistance("Provide a Python implementation of the Black-Scholes formula.")
    print(result.answer, result.final_tier, [a.outcome for a in result.attempts])
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

from coding_director.backends import BackendPool, HealthTracker, Message
from coding_director.backends.embedded import TeamChoice, choose_team
from coding_director.context.render import path_of_uri
from coding_director.context.secrets import ContextPart
from coding_director.foreground import Foreground
from coding_director.results import Assistance, Attempt, Domain, Intent, RouteDecision
from coding_director.routing.complexity import ComplexityInput, estimate_complexity
from coding_director.routing.escalation import Event, Finished, Request, Sampling, TextDelta, chain_for, escalate
from coding_director.routing.frontier import Frontier, OutboundSources
from coding_director.routing.prompts import build_messages
from coding_director.routing.pycheck import (
    PythonChecker,
    import_bindings,
    module_level_names,
    python_environment,
)
from coding_director.routing.router import route
from coding_director.routing.verify import AsyncCheck, Check, Target, language_mentioned
from coding_director.settings import Settings, load_settings
from coding_director.tokens import estimate_tokens

if TYPE_CHECKING:
    from coding_director.context import CodeContext
    from coding_director.memory import Memory, Source
    from coding_director.memory.recorder import Recording

log = logging.getLogger(__name__)

P = ParamSpec("P")


def _final_assistance(stream: Callable[P, AsyncIterator[Event]]) -> Callable[P, Coroutine[Any, Any, Assistance]]:
    """``stream`` run to its end: a coroutine function with the same parameters that returns the
    :class:`Assistance` of the :class:`Finished` event ``stream`` always ends with."""

    async def final(*args: P.args, **kwargs: P.kwargs) -> Assistance:
        result: Assistance | None = None
        async for event in stream(*args, **kwargs):
            if isinstance(event, Finished):
                result = event.assistance
        assert result is not None, "escalate() always ends with Finished"
        return result

    final.__doc__ = f"Like :meth:`{stream.__name__}` (same parameters) but returns only the final :class:`Assistance`."
    return final


class CodingDirector:
    """Routes requests to the team of models and escalates on checked failures.

    ``settings`` defaults to :func:`~coding_director.settings.load_settings` (TOML file named by
    ``CODING_DIRECTOR_CONFIG``, environment). One instance keeps the connection pools and the
    per-tier health (cooldowns) across requests; close it with :meth:`aclose` when done.
    ``workspace_root`` is the folder whose ``.venv`` resolves the imports of Python answers (the
    language server sets it from the client's workspace; ``None``: found from the document), and
    whose ``.gitignore`` says which files never go to a non-local tier. ``frontier`` places each
    request (local chain or frontier tier first, :mod:`coding_director.routing.placement`) and
    guards the non-local tiers (:mod:`coding_director.routing.frontier`).

    Before the first request the team is chosen once (:meth:`ensure_team`): with no Ollama and no
    endpoint configured, the built-in runtime serves the tiers (``[embedded]``); ``self.settings``
    then holds the built-in team's settings.
    ``memory`` (:func:`coding_director.memory.open_memory`) records every request and serves the
    response cache; without it nothing is remembered. ``foreground`` (the language server's: its
    inline completions) makes every model stream pause while a completion calls its model
    (:mod:`coding_director.foreground`); ``None``: streams never pause.
    """

    def __init__(
        self, settings: Settings | None = None, memory: Memory | None = None, foreground: Foreground | None = None
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.foreground = foreground
        self.workspace_root: Path | None = None
        self.pool = BackendPool(self.settings)
        self.health = HealthTracker(self.settings.health.allowed_fails, self.settings.health.cooldown_s)
        self.memory = memory
        self.frontier = self._new_frontier()
        self.team: TeamChoice | None = None

    def _new_frontier(self) -> Frontier:
        """A :class:`Frontier` for the current settings; with a usable memory the learned threshold
        reads the team memory's requests (else the placement ledger's)."""
        return Frontier(self.settings, lambda: [self.workspace_root] if self.workspace_root else [], memory=self.memory)

    async def ensure_team(self) -> TeamChoice:
        """Choose the team once (:func:`~coding_director.backends.embedded.choose_team`: at most one
        probe of Ollama, ``embedded.probe_timeout_s``) and switch ``settings`` and ``pool`` to it."""
        if self.team is None:
            choice = await choose_team(self.settings)
            if self.team is None:  # a concurrent first request may have chosen meanwhile
                if choice.settings is not self.settings:
                    old, self.settings = self.pool, choice.settings
                    self.pool = BackendPool(self.settings)
                    self.frontier.close()
                    self.frontier = self._new_frontier()
                    await old.aclose()
                self.team = choice
        return self.team

    async def stream_assistance(
        self,
        prompt: str,
        context: CodeContext | str | None = None,
        *,
        intent: Intent | None = None,
        domain: Domain | None = None,
        language: str | None = None,
        history: Sequence[Message] = (),
        extra_checks: Sequence[Check] = (),
        extra_context: str | Sequence[ContextPart] | None = None,
        chain: Sequence[str] | None = None,
        sampling: Sampling | None = None,
        source: Source = "api",
        workspace: str | None = None,
        use_cache: bool = True,
    ) -> AsyncGenerator[Event]:
        """Route ``prompt`` and run it through the chain, yielding events as they happen.

        ``context`` is a :class:`~coding_director.context.CodeContext` (rendered into the prompt) or
        a plain code snippet. ``intent``/``domain`` override the router. ``language`` is the
        language answers are checked in (default: the context's, else one named in the prompt).
        ``extra_checks`` are more verification checks (each returns a reason or ``None``).
        ``extra_context`` (markdown, e.g. retrieved workspace code; as :class:`ContextPart` s, each
        with the file it shows, so that a non-local tier's copy is filtered file by file) is appended
        to the context. ``chain`` replaces the routed chain of tiers (``["senior"]`` pins one tier;
        names must be configured tiers) and is not placed; otherwise ``routing.frontier`` decides
        whether the frontier tier comes first, last or not at all. ``sampling`` overrides every
        tier's max tokens, temperature and stop sequences. The last event is
        :class:`~coding_director.routing.escalation.Finished`.
        Cancellable at any point; nothing but cancellation raises: model failures (malformed
        bodies, timeouts, unexpected exceptions) are recorded as ``error`` attempts, and a failure
        outside any attempt ends the request with an ``internal`` error attempt of tier ``engine``.
        The pool is leased for the whole request (see :meth:`BackendPool.lease`).

        With memory, the request is recorded (``source``, ``workspace``) and may be answered from
        the response cache (``Assistance.cached``) unless ``use_cache`` is false; the overrides
        (intent, domain, language, chain, sampling) and ``extra_context`` are part of the cache key.
        """
        await self.ensure_team()
        decision: RouteDecision | None = None
        finished = False
        recording: Recording | None = None
        async with self.pool.lease():
            try:
                context_text, code, context_language = _context_parts(context)
                parts = [ContextPart(extra_context)] if isinstance(extra_context, str) else list(extra_context or ())
                extra_text = "\n\n".join(part.text for part in parts if part.text)
                if extra_text:
                    context_text = f"{context_text}\n\n{extra_text}" if context_text else extra_text
                overrides = f"{intent}|{domain}|{language}|{list(chain) if chain else None}|{sampling}"
                recording = self._recording(
                    prompt=prompt, context=context, context_text=context_text, history=history, overrides=overrides,
                    source=source, workspace=workspace, use_cache=use_cache, extra_checks=extra_checks,
                )  # fmt: skip
                hit = await recording.exact_hit() if recording else None
                if hit is None:
                    imports = list(context.imports) if context is not None and not isinstance(context, str) else None
                    decision = await route(
                        self.settings, self.pool, prompt, code, imports=imports, intent=intent, domain=domain
                    )
                    hit = await recording.semantic_hit(decision) if recording else None
                if hit is not None and recording is not None:
                    yield TextDelta(hit.final_tier or "cache", hit.answer)
                    recording.finish_cached(hit)
                    finished = True
                    yield Finished(hit)
                    return
                assert decision is not None
                shape = ComplexityInput(prompt=prompt, intent=decision.intent, code=code, language=context_language,
                                        context_tokens=estimate_tokens(context_text or ""),
                                        files=_file_count(context, parts))
                tiers = list(chain) if chain else None
                if tiers is None:
                    decision, tiers, complexity = await self.frontier.place(
                        decision, chain_for(self.settings, decision), shape)
                else:
                    complexity = estimate_complexity(shape)
                    first = "local" if self.settings.is_local(tiers[0]) else "frontier"
                    decision = decision.model_copy(update={"complexity": complexity.score, "placement": first,
                                                           "placement_reason": "the caller chose the tiers"})
                target_language = language or context_language or language_mentioned(prompt)
                target = Target(
                    intent=decision.intent,
                    language=target_language,
                    extra_checks=tuple(extra_checks),
                    async_checks=self._python_checks(context, target_language),
                    prompt_text="\n".join(
                        m.content
                        for m in build_messages(
                            prompt, intent=decision.intent, domain=decision.domain, context_text=context_text
                        )
                    ),
                )
                request = Request(
                    prompt=prompt,
                    route=decision,
                    target=target,
                    context_text=context_text,
                    history=list(history),
                    chain=tiers,
                    sampling=sampling,
                    sources=OutboundSources(context, tuple(parts)),
                )
                events = escalate(self.settings, self.pool, self.health, request, self.frontier, self.foreground)
                async for event in self._observed(events, recording):
                    if isinstance(event, Finished):
                        finished = True
                        await self.frontier.record(complexity.score, decision, event.assistance.attempts)
                    yield event
            except Exception as exc:  # last resort: a bug outside any attempt still ends in Finished
                log.exception("request failed unexpectedly")
                if not finished:
                    failed = Finished(_failed(exc, decision, intent, domain))
                    yield recording.observe(failed) if recording else failed
            finally:
                if recording is not None:
                    recording.close()

    def _recording(self, **fields: Any) -> Recording | None:
        """The memory's record of one request, built from ``fields`` (the keyword arguments of
        :class:`~coding_director.memory.recorder.Recording` after memory and settings), or ``None``
        without a usable memory."""
        if self.memory is None or not self.memory.available:
            return None
        from coding_director.memory.recorder import Recording

        return Recording(self.memory, self.settings, **fields)

    @staticmethod
    async def _observed(events: AsyncGenerator[Event], recording: Recording | None) -> AsyncGenerator[Event]:
        """``events`` (closed when the caller stops), each noted by ``recording`` when there is one
        (a :class:`Finished` then carries the request id)."""
        async with contextlib.aclosing(events):
            async for event in events:
                yield recording.observe(event) if recording else event

    def _python_checks(self, context: CodeContext | str | None, language: str | None) -> tuple[AsyncCheck, ...]:
        """The checks beyond parsing for Python answers (``checks.python``), see
        :mod:`coding_director.routing.pycheck`. Names the surrounding code binds at module level
        are known, so a fix of one function may use the file's imports and helpers."""
        checks = self.settings.checks
        if not checks.python:
            return ()
        document = None
        known: set[str] = set()
        if isinstance(context, str):
            known = module_level_names(context)
        elif context is not None:
            document = path_of_uri(context.uri)
            known = module_level_names(context.prefix + context.focus.text + context.suffix)
            known |= module_level_names(context.focus.text)
            for line in context.imports:
                known |= import_bindings(line)
            known |= {item.name for item in context.outline if item.depth == 0}
        checker = PythonChecker(
            python_environment(checks.python_interpreter, self.workspace_root, document),
            language=language,
            known_names=frozenset(known),
            reject_rules=tuple(checks.reject_rules),
            ruff_timeout_s=checks.ruff_timeout_s,
            import_timeout_s=checks.import_timeout_s,
        )
        return (checker,)

    async def stream_role(
        self,
        prompt: str,
        *,
        system: str,
        chain: Sequence[str],
        context_text: str | None = None,
        extra_checks: Sequence[Check] = (),
        workspace: str | None = None,
    ) -> AsyncGenerator[Event]:
        """Run one task role's request (see :mod:`coding_director.agents`) along ``chain``, with the
        role's ``system`` prompt instead of an intent's, no routing (``decided_by = "caller"``) and
        ``extra_checks`` as its verification (the generic checks for emptiness, refusal and loops
        still apply). The role's chain is placed like any request (``routing.frontier``: the
        frontier tier after it with ``fallback``, first when the role's request is complex with
        ``complex``; a chain naming the frontier tier keeps its order), and what goes to a
        non-local tier passes the outbound filter. Events and failure behaviour as
        :meth:`stream_assistance`. With memory, the request is recorded with source ``task`` (and
        ``workspace``); it is never served from or stored in the response cache (a role's answer
        depends on the task's state)."""
        await self.ensure_team()
        decision = RouteDecision(
            domain="general", intent="question", confidence=1.0, decided_by="caller", reason="task role"
        )
        shape = ComplexityInput(prompt=prompt, intent="question", context_tokens=estimate_tokens(context_text or ""))
        decision, tiers, complexity = await self.frontier.place(decision, list(chain), shape)
        request = Request(
            prompt=prompt,
            route=decision,
            target=Target(intent="question", extra_checks=tuple(extra_checks)),
            context_text=context_text,
            chain=tiers,
            system=system,
        )
        recording = self._recording(
            prompt=prompt, context=None, context_text=context_text, history=(), overrides=f"role|{system}|{chain}",
            source="task", workspace=workspace, use_cache=False, extra_checks=extra_checks,
        )  # fmt: skip
        try:
            async with self.pool.lease():
                events = escalate(self.settings, self.pool, self.health, request, self.frontier, self.foreground)
                async for event in self._observed(events, recording):
                    if isinstance(event, Finished):
                        await self.frontier.record(complexity.score, decision, event.assistance.attempts)
                    yield event
        finally:
            if recording is not None:
                recording.close()

    #: Like :meth:`stream_assistance` (same parameters) but returns only the final :class:`Assistance`.
    aget_assistance = _final_assistance(stream_assistance)

    def get_assistance(self, prompt: str, context: CodeContext | str | None = None) -> Assistance:
        """Blocking form of :meth:`aget_assistance` for scripts (runs its own event loop; do not call
        it from inside a running loop)."""

        async def run() -> Assistance:
            try:
                return await self.aget_assistance(prompt, context)
            finally:
                await self.aclose()

        return asyncio.run(run())

    async def aclose(self) -> None:
        """Close the backends' connection pools once the requests running on them have finished
        (they are re-created on the next request) and the placement ledger."""
        await self.pool.aclose()
        self.frontier.close()


def _failed(exc: Exception, decision: RouteDecision | None, intent: Intent | None,
            domain: Domain | None) -> Assistance:
    """The result of a request that failed outside any attempt (see :meth:`CodingDirector.stream_assistance`)."""
    route_taken = decision or RouteDecision(
        domain=domain or "general", intent=intent or "question", confidence=0.0, decided_by="offline",
        reason="the request failed before it was routed",
    )
    attempt = Attempt(tier="engine", model="", outcome="error", error_kind="internal",
                      reason=f"unexpected error: {type(exc).__name__}: {exc}"[:300])
    return Assistance(answer="", route=route_taken, attempts=[attempt], final_tier=None, accepted=False)


def _file_count(context: CodeContext | str | None, parts: Sequence[ContextPart]) -> int:
    """Distinct files in a request's context: the focus file, related definitions' files, and the
    files of retrieved or mentioned parts (a plain snippet counts as one)."""
    files: set[str] = {str(part.path) for part in parts if part.path is not None}
    if isinstance(context, str):
        files.add("<snippet>")
    elif context is not None:
        files |= {context.uri, *(r.uri for r in context.related)}
    return len(files)


def _context_parts(context: CodeContext | str | None) -> tuple[str | None, str | None, str | None]:
    """(rendered text for the prompt, focus code for the classifier, language) of a context (the
    classifier also gets ``CodeContext.imports``)."""
    if context is None:
        return None, None, None
    if isinstance(context, str):
        return f"```\n{context}\n```", context, None
    from coding_director.context import render_context

    return render_context(context), context.focus.text, context.language
