"""The engine's side of the memory: one :class:`Recording` per request.

The engine calls, in order: :meth:`Recording.exact_hit` (before routing), :meth:`Recording.semantic_hit`
(after routing), :meth:`Recording.observe` on every event, and :meth:`Recording.close` in a
``finally``. On the request path it only gathers what it sees; redaction, embedding and every
write happen on the memory's writer thread. Cache lookups run on the reader thread.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from coding_director.memory import cache, keys
from coding_director.memory.db import MemoryUnavailable
from coding_director.memory.records import AttemptRecord, RequestRecord
from coding_director.results import CODE_INTENTS, Assistance, RouteDecision
from coding_director.routing.escalation import AttemptStarted, Event, Finished, TextDelta

if TYPE_CHECKING:
    import apsw

    from coding_director.backends import Message
    from coding_director.context import CodeContext
    from coding_director.memory.models import Source
    from coding_director.memory.store import Memory
    from coding_director.routing.verify import Check
    from coding_director.settings import Settings

log = logging.getLogger(__name__)

_digests: dict[int, tuple[object, str]] = {}


def _settings_digest(settings: Settings) -> str:
    """:func:`keys.settings_digest`, memoised per settings object (a few are alive at a time)."""
    held = _digests.get(id(settings))
    if held is not None and held[0] is settings:
        return held[1]
    digest = keys.settings_digest(settings)
    if len(_digests) > 16:
        _digests.clear()
    _digests[id(settings)] = (settings, digest)
    return digest


class Recording:
    """What the memory learns about one request. ``id`` is the request id clients see."""

    def __init__(
        self,
        memory: Memory,
        settings: Settings,
        *,
        prompt: str,
        context: CodeContext | str | None,
        context_text: str | None,
        history: Sequence[Message],
        overrides: str,
        source: Source,
        workspace: str | None,
        use_cache: bool,
        extra_checks: Sequence[Check],
    ) -> None:
        self.memory = memory
        self.id = uuid.uuid4().hex
        self._started = time.perf_counter()
        self._created = time.time()
        self.record = RequestRecord(id=self.id, created_at=self._created, source=source, workspace=workspace)
        self.record.prompt = prompt
        if context is not None and not isinstance(context, str):
            self.record.files = [context.uri, *sorted({r.uri for r in context.related} - {context.uri})]
            self.record.languages = [context.language] if context.language else []
            self.record.context_tokens = context.token_estimate
        elif isinstance(context, str):
            self.record.context_tokens = len(context) // 4
        self._settings = settings
        self._prompt = prompt
        self._use_cache = use_cache and memory.cache_enabled
        self._checks = tuple(extra_checks)
        self._scope = keys.scope_of(keys.context_digest(context_text, history), _settings_digest(settings))
        self._key = keys.exact_key(prompt, self._scope, overrides)
        self._semantic_scope = keys.semantic_scope(self._scope, prompt)
        self._texts: list[list[str]] = []
        self._tiers: list[str] = []
        self._finished = False

    # -- cache -------------------------------------------------------------------------------------
    def _serve(self, entry: cache.CacheEntry | None) -> Assistance | None:
        if entry is None or any(check(entry.answer) for check in self._checks):
            return None
        route = RouteDecision.model_validate_json(entry.route)
        self.record.cached, self.record.cached_from = True, entry.request_id
        now = time.time()
        self.memory.submit(lambda conn: cache.record_hit(conn, entry.id, now))
        return Assistance(
            answer=entry.answer, route=route, attempts=[], final_tier=entry.final_tier, accepted=True,
            cached=True, request_id=self.id,
        )  # fmt: skip

    async def exact_hit(self) -> Assistance | None:
        """The cached answer to exactly this request, or ``None`` (cache off, bypassed, miss)."""
        if not self._use_cache:
            return None
        key, now = self._key, time.time()
        try:
            entry = await self.memory.read(lambda conn: cache.lookup_exact(conn, key, now))
        except MemoryUnavailable:
            return None
        return self._serve(entry)

    def _semantic_allowed(self, intent: str) -> bool:
        config = self.memory.settings
        return config.semantic_cache and (config.semantic_for_code or intent not in CODE_INTENTS)

    async def semantic_hit(self, route: RouteDecision) -> Assistance | None:
        """The cached answer to a similar prompt with the same context and settings, or ``None``.
        Not tried for code-changing intents unless ``memory.semantic_for_code``."""
        if not self._use_cache or not self._semantic_allowed(route.intent):
            return None
        from coding_director.memory.embed import embed

        scope, now, threshold = self._semantic_scope, time.time(), self.memory.settings.semantic_threshold
        prompt = keys.normalise_prompt(self._prompt)

        def lookup(conn: apsw.Connection) -> cache.CacheEntry | None:
            return cache.lookup_semantic(conn, scope, embed(prompt), threshold, now)

        try:
            entry = await self.memory.read(lookup)
        except MemoryUnavailable:
            return None
        return self._serve(entry)

    # -- events ------------------------------------------------------------------------------------
    def observe(self, event: Event) -> Event:
        """Note ``event``; returns it (a :class:`Finished` gains the request id)."""
        if isinstance(event, TextDelta):
            if self._texts:
                self._texts[-1].append(event.text)
        elif isinstance(event, AttemptStarted):
            self._texts.append([])
            self._tiers.append(event.tier)
        elif isinstance(event, Finished):
            assistance = event.assistance.model_copy(update={"request_id": self.id})
            self._finish(assistance)
            return Finished(assistance)
        return event

    def finish_cached(self, assistance: Assistance) -> None:
        """Record a request answered from the cache."""
        self._finish(assistance)

    def _finish(self, result: Assistance) -> None:
        self._finished = True
        record = self.record
        route = result.route
        record.domain, record.intent, record.confidence = route.domain, route.intent, route.confidence
        record.decided_by, record.route_reason = route.decided_by, route.reason
        record.answer, record.final_tier, record.accepted = result.answer, result.final_tier, result.accepted
        record.latency_ms = round((time.perf_counter() - self._started) * 1000, 3)
        record.complexity = route.complexity
        texts = iter(self._texts)
        tiers = self._settings.tiers
        for attempt in result.attempts:
            text = "".join(next(texts, [])) if attempt.outcome != "skipped" else None
            spec = tiers.get(attempt.tier)
            record.attempts.append(
                AttemptRecord(
                    attempt.tier, attempt.model, spec.provider if spec else None, attempt.outcome, attempt.reason,
                    attempt.error_kind, attempt.latency_ms, attempt.first_token_ms, attempt.prompt_tokens,
                    attempt.completion_tokens, text,
                )
            )  # fmt: skip
        self.memory.record(record)
        if result.accepted and not result.cached and self._use_cache and result.final_tier:
            self._store_in_cache(result)

    def _store_in_cache(self, result: Assistance) -> None:
        memory, settings = self.memory, self.memory.settings
        semantic = self._semantic_allowed(result.route.intent)
        prompt = keys.normalise_prompt(self._prompt)
        entry_args = (self._key, self._semantic_scope, self.id, self.record.workspace, result.route.intent)
        route_json, tier, answer = result.route.model_dump_json(), result.final_tier or "", result.answer

        def write(conn: apsw.Connection) -> None:
            from coding_director.memory.embed import embed

            if memory.text(answer) != answer:
                return  # it held a secret: serving a redacted copy would be wrong, keeping it worse
            vector = embed(prompt) if semantic else None
            entry = cache.NewEntry(*entry_args, result.route.domain, route_json, tier, answer, vector)
            cache.put(conn, entry, time.time(), settings.cache_ttl_s, settings.cache_max_entries)

        memory.submit(write)

    def close(self) -> None:
        """End of the request: a request that never finished (cancelled) is recorded as such."""
        if self._finished:
            return
        self._finished = True
        self.record.cancelled = True
        self.record.latency_ms = round((time.perf_counter() - self._started) * 1000, 3)
        self.memory.record(self.record)
