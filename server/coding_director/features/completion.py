"""Inline (ghost-text) completions: debounce, newest-request-wins, cache, FIM, deadline, cleanup.

The language server's handler builds a :class:`CompletionRequest` from the document and cursor and
returns ``await completer.complete(request)``. Nothing here imports pygls.

Path of a request through :meth:`Completer.complete`:

1. The request becomes the newest of its document (``uri``). A model call still running for an
   older request of that document is cancelled unless it was for the very same text (then the new
   request waits for it instead of starting another).
2. Cache (:class:`~coding_director.features.completion_cache.CompletionCache`): an exact or
   typing-through hit is answered at once, without debounce.
3. Debounce: wait ``completion.debounce_ms``; if a newer request for the same ``uri`` arrived
   meanwhile, return ``None`` without calling the model.
4. Model call, bounded as a whole (``/api/show`` included) by ``completion.timeout_ms``:
   - the completion tier's model has the ``insert`` capability -> fill-in-the-middle:
     ``generate_stream(model, GeneratePrompt(prefix, suffix=suffix), options)``. An empty suffix is sent as
     ``"\\n"``, because Ollama applies a model's FIM template only when ``suffix`` is non-empty (and
     would otherwise wrap the prefix in the chat template of an instruct model);
   - otherwise the prefix alone as a raw continuation prompt (``raw=True``, no suffix, no system):
     no chat template is applied, so an instruct model continues the code instead of chatting.
     Model-family FIM tokens are deliberately not guessed: a wrong guess produces garbage, and
     Ollama reports ``insert`` for every model whose template supports FIM.
   In both cases the prompt's prefix loses the blanks that end it after text on the cursor's line
   (:func:`~coding_director.features.completion_post.heal_prompt`; they are taken off the
   completion again). The stream is read until done, until the block holding the cursor visibly
   ended, or until the deadline; leaving early closes the HTTP stream.
5. Postprocessing (:func:`~coding_director.features.completion_post.postprocess`), caching.

Failures never reach the caller: a timeout, a transport or model error gives ``None`` (errors are
logged once per distinct message at warning level on this module's logger). Cancellation of the
caller's task (``$/cancelRequest``) propagates as ``asyncio.CancelledError`` and closes the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

from coding_director.backends import Backend, BackendError, BackendPool, Chunk, GenerateOptions, GeneratePrompt
from coding_director.backends.errors import BackendTimeout, EndpointUnreachable, ModelNotFound
from coding_director.context import DocumentStore, fim_window
from coding_director.context.render import path_of_uri
from coding_director.context.secrets import OutboundFilter, redact_secrets
from coding_director.features.completion_cache import CompletionCache
from coding_director.features.completion_post import (
    block_end,
    heal_prompt,
    postprocess,
    unheal_completion,
    wants_single_line,
)
from coding_director.foreground import Foreground
from coding_director.messages import CompletionStats
from coding_director.settings import Settings

__all__ = [
    "FIM_PREFIX_TOKENS",
    "FIM_SUFFIX_TOKENS",
    "Completer",
    "CompletionRequest",
    "CompletionResult",
    "CompletionStats",
    "complete_at",
    "completion_stops",
]

logger = logging.getLogger(__name__)

#: Sampling temperature for completions: near-deterministic, so retyping reproduces a completion.
TEMPERATURE = 0.1
#: How long a failed ``/api/show`` counts as "no FIM" before it is asked again (seconds).
SHOW_FAILURE_TTL_S = 60.0
#: Distinct error messages remembered for log-once (older ones may then be logged again).
_MAX_LOGGED = 256


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One inline completion request.

    ``uri``: the document (debounce and cancellation are per ``uri``). ``version``: the document
    version the texts were taken from (informational). ``language``: a language name
    (``"python"``, as :func:`coding_director.context.detect_language` returns) or an LSP language
    id, ``None`` when unknown. ``prefix``: text before the cursor, ``suffix``: text after it, both
    already cut to a window by the caller (characters; see :class:`Completer` for sizes).
    """

    uri: str
    version: int
    language: str | None
    prefix: str
    suffix: str


@dataclass(frozen=True, slots=True)
class CompletionResult:
    """A completion to show. ``text`` is inserted at the cursor (never empty); ``model`` produced
    it; ``from_cache`` is true when no model was called for this request."""

    text: str
    model: str
    from_cache: bool = False


def completion_stops(*, single_line: bool, language: str | None) -> list[str]:
    """Stop sequences for a completion request.

    ``"\\n\\n\\n"`` (two blank lines: the model moved on to the next top-level item) and
    ``"\\n```"`` (the end of a markdown fence an instruct model opened) always; ``"\\n"`` in
    single-line mode. Nothing that would cut a multi-line body (no ``"\\n\\n"``, no ``"}"``).
    ``language`` is a grammar name or ``None`` (the store has no grammar for markdown or plain
    text, so no language gets other stops).
    """
    stops = ["\n\n\n", "\n```"]
    if single_line:
        stops.append("\n")
    return stops


@dataclass(eq=False)
class _Call:
    """A model call in flight for one document: its cache key, task, deadline and waiters."""

    key: tuple[str, str, str]
    task: asyncio.Task[str | None]
    deadline: float
    waiters: int = 0


@dataclass
class _Document:
    generation: int = 0
    call: _Call | None = None


@dataclass
class _FimSupport:
    insert: bool
    expires: float | None = None  # monotonic seconds; None = forever


class Completer:
    """Inline completion use case for one server; see the module docstring for the request path.

    ``settings.completion`` is read on every request (``enabled``, ``tier``, ``debounce_ms``,
    ``timeout_ms``, ``max_tokens``), so replacing ``completer.settings`` takes effect at once.
    ``pool`` provides the backend of the completion tier.

    Window sizes the caller should pass: a prefix of at least :attr:`CompletionCache.prefix_chars`
    (600) characters when the document has them, so that cache keys are stable while the user types
    (about 1500-3000 tokens of prefix and 500-1000 of suffix suit FIM models), cut at line or
    syntax boundaries; the suffix may be empty. ``cache`` may be given to share or size the cache.
    ``foreground`` (default: one of its own, which nothing waits for) is marked from the end of the
    debounce until :meth:`complete` returns, so that the chats sharing it pause meanwhile and
    resume only after the answer has been sent (:mod:`coding_director.foreground`); the debounce
    does not count.
    """

    def __init__(
        self,
        settings: Settings,
        pool: BackendPool,
        *,
        cache: CompletionCache | None = None,
        foreground: Foreground | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.foreground = foreground if foreground is not None else Foreground()
        self.cache = cache if cache is not None else CompletionCache()
        self.stats = CompletionStats()
        self._documents: dict[str, _Document] = {}
        self._fim: dict[tuple[str, str], _FimSupport] = {}
        self._logged: set[str] = set()

    # -- public -------------------------------------------------------------------------------
    async def complete(self, request: CompletionRequest) -> CompletionResult | None:
        """The completion for ``request``, or ``None`` (disabled, superseded, nothing usable,
        timeout, error). Raises only ``asyncio.CancelledError`` when the caller's task is cancelled
        (the model stream is then closed)."""
        self.stats.requests += 1
        config = self.settings.completion
        if not config.enabled:
            return None
        model = self.settings.tier(config.tier).model
        document = self._documents.setdefault(request.uri, _Document())
        document.generation += 1
        generation = document.generation
        key = self.cache.key(model, request.prefix, request.suffix)
        if document.call is not None and document.call.key != key:
            document.call.task.cancel()  # newest request wins
        cached = self.cache.get(model, request.prefix, request.suffix)
        if cached is not None:
            self.stats.cache_hits += 1
            return CompletionResult(cached, model, from_cache=True) if cached else None
        if config.debounce_ms > 0:
            await asyncio.sleep(config.debounce_ms / 1000)
        if document.generation != generation:
            self.stats.debounced += 1
            return None
        with self.foreground.running():
            return await self._call(request, document, model, key)

    async def _call(
        self, request: CompletionRequest, document: _Document, model: str, key: tuple[str, str, str]
    ) -> CompletionResult | None:
        """The model call of :meth:`complete` after the debounce: joined, started or served from
        a call that finished meanwhile."""
        config = self.settings.completion
        call = document.call
        if call is None or call.key != key or call.task.done():
            cached = self.cache.get(model, request.prefix, request.suffix)
            if cached is not None:  # an identical call finished during the debounce
                self.stats.cache_hits += 1
                return CompletionResult(cached, model, from_cache=True) if cached else None
            call = self._start(request, model, key, config.timeout_ms / 1000)
            document.call = call
        try:
            text = await self._wait(call)
        finally:
            if document.call is call and call.task.done():
                document.call = None
        return CompletionResult(text, model) if text else None

    async def complete_now(
        self,
        request: CompletionRequest,
        *,
        tier: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] = (),
    ) -> CompletionResult | None:
        """One completion for an independent caller (the HTTP API): no debounce, no cache, no
        newest-request-wins; the same FIM choice, prompt healing and postprocessing as
        :meth:`complete`. ``tier`` defaults to ``completion.tier``; ``max_tokens`` (tokens),
        ``temperature`` and extra ``stop`` sequences override the completion defaults.

        Returns ``None`` when postprocessing leaves nothing. Raises :class:`TimeoutError` after
        ``completion.timeout_ms``, :class:`BackendError` for a model or transport failure, and
        ``asyncio.CancelledError`` when the caller is cancelled (the stream is then closed).
        """
        self.stats.requests += 1
        self.stats.model_calls += 1
        name = tier or self.settings.completion.tier
        model = self.settings.tier(name).model
        backend = self.pool.for_tier(name)
        try:
            async with asyncio.timeout(self.settings.completion.timeout_ms / 1000):
                text = await self._produce(
                    backend,
                    model,
                    request,
                    tier=name,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=stop,
                    cache=False,
                )
        except TimeoutError:
            self.stats.timeouts += 1
            raise
        except BackendError:
            self.stats.errors += 1
            raise
        if text is None:
            self.stats.rejected += 1
            return None
        return CompletionResult(text, model)

    def forget(self, uri: str) -> None:
        """Drop the per-document state of ``uri`` (on ``didClose``); cancels its model call."""
        document = self._documents.pop(uri, None)
        if document is not None and document.call is not None:
            document.call.task.cancel()

    async def aclose(self) -> None:
        """Cancel every model call in flight and wait until their streams are closed."""
        tasks = [d.call.task for d in self._documents.values() if d.call is not None]
        self._documents.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- model call ---------------------------------------------------------------------------
    def _start(self, request: CompletionRequest, model: str, key: tuple[str, str, str], timeout_s: float) -> _Call:
        self.stats.model_calls += 1
        backend = self.pool.for_tier(self.settings.completion.tier)
        task = asyncio.create_task(self._produce(backend, model, request), name=f"completion {request.uri}")
        task.add_done_callback(_retrieve)
        return _Call(key, task, asyncio.get_running_loop().time() + timeout_s)

    async def _wait(self, call: _Call) -> str | None:
        """Wait for ``call`` until its deadline; translate its outcome (see :meth:`complete`)."""
        loop = asyncio.get_running_loop()
        call.waiters += 1
        try:
            done, _ = await asyncio.wait({call.task}, timeout=max(0.0, call.deadline - loop.time()))
        except asyncio.CancelledError:
            call.waiters -= 1
            if call.waiters == 0:
                await _cancel_and_wait(call.task)
            raise
        call.waiters -= 1
        if not done:
            self.stats.timeouts += 1
            await _cancel_and_wait(call.task)
            return None
        if call.task.cancelled():
            self.stats.cancelled += 1
            return None
        error = call.task.exception()
        if error is None:
            text = call.task.result()
            if text is None:
                self.stats.rejected += 1
            return text
        self.stats.errors += 1
        if isinstance(error, BackendError):
            self._log_once(f"inline completion failed: {error.reason}")
        else:
            self._log_once(f"inline completion crashed: {error!r}", error)
        return None

    async def _produce(
        self,
        backend: Backend,
        model: str,
        request: CompletionRequest,
        *,
        tier: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] = (),
        cache: bool = True,
    ) -> str | None:
        """Call the model for ``request``; the postprocessed completion, cached unless ``cache`` is
        false (``None`` = nothing). ``tier`` defaults to ``completion.tier``; ``max_tokens``,
        ``temperature`` and ``stop`` (added to :func:`completion_stops`) override the defaults.
        A tier on another machine gets the prefix and suffix with their secrets redacted, and
        nothing at all from a withheld file (``.env*``, key files, git-ignored files): see
        :mod:`coding_director.context.secrets`."""
        config = self.settings.completion
        if not self.settings.is_local(tier or config.tier):
            outbound = await asyncio.to_thread(_outbound, self.settings, request)
            if outbound is None:
                return None  # the file must not leave the machine: no completion from this tier
            request = outbound
        insert = await self._supports_fim(backend, model)
        single_line = wants_single_line(request.suffix)
        options = GenerateOptions(
            num_predict=max_tokens or config.max_tokens,
            temperature=TEMPERATURE if temperature is None else temperature,
            stop=[*completion_stops(single_line=single_line, language=request.language), *stop],
            max_ctx=self.settings.tier(tier or config.tier).max_ctx,
        )
        prompt, removed = heal_prompt(request.prefix)
        if insert:
            stream = backend.generate_stream(model, GeneratePrompt(prompt, suffix=request.suffix or "\n"), options)
        else:
            stream = backend.generate_stream(model, GeneratePrompt(prompt, raw=True), options)
        raw = unheal_completion(await _read(stream, request, single_line=single_line), removed)
        text = postprocess(
            raw,
            prefix=request.prefix,
            suffix=request.suffix,
            language=request.language,
            single_line=single_line,
        )
        if cache:
            self.cache.put(model, request.prefix, request.suffix, text or "")
        return text

    async def _supports_fim(self, backend: Backend, model: str) -> bool:
        """Whether ``model`` has the ``insert`` capability; cached per (endpoint, model).

        An unreachable endpoint, a timeout or a missing model raise (the generate call would fail
        the same way); any other failure of ``show`` (e.g. a server without it) means "no FIM"
        for :data:`SHOW_FAILURE_TTL_S` seconds.
        """
        key = (backend.endpoint, model)
        known = self._fim.get(key)
        now = time.monotonic()
        if known is not None and (known.expires is None or known.expires > now):
            return known.insert
        try:
            info = await backend.show(model)
        except (EndpointUnreachable, BackendTimeout, ModelNotFound):
            raise
        except BackendError as exc:
            logger.debug("show %s failed (%s); completing without FIM", model, exc.reason)
            self._fim[key] = _FimSupport(False, now + SHOW_FAILURE_TTL_S)
            return False
        insert = "insert" in info.capabilities
        self._fim[key] = _FimSupport(insert)
        return insert

    def _log_once(self, message: str, error: BaseException | None = None) -> None:
        if message in self._logged:
            logger.debug("%s (repeated)", message)
            return
        if len(self._logged) >= _MAX_LOGGED:
            self._logged.clear()
        self._logged.add(message)
        logger.warning("%s", message, exc_info=error)


def _outbound(settings: Settings, request: CompletionRequest) -> CompletionRequest | None:
    """``request`` as a non-local tier may see it: ``None`` for a withheld file, else with the
    secrets of the prefix and suffix redacted (the name of the file picks detect-secrets' rules)."""
    filt = OutboundFilter(settings.placement.withhold)
    path = path_of_uri(request.uri)
    if path is not None and filt.file_verdict(path) is not None:
        return None
    name = path.name if path is not None else "completion.txt"
    prefix, _ = redact_secrets(request.prefix, name)
    suffix, _ = redact_secrets(request.suffix, name)
    return replace(request, prefix=prefix, suffix=suffix)


async def _read(stream: AsyncIterator[Chunk], request: CompletionRequest, *, single_line: bool) -> str:
    """Concatenate the streamed text; stop early once the block holding the cursor has ended (a
    complete line follows the cut :func:`block_end` finds) or, in single-line mode, at the first
    newline. The stream is always closed before returning or raising. After the ``done`` chunk the
    stream is read to its end rather than closed: a body read to its end leaves the HTTP connection
    to the next completion (closing it early costs a new TCP connection per keystroke)."""
    text = ""
    done = False
    try:
        async for chunk in stream:
            if done:
                continue  # the server said done: only the end of the body is left
            piece = chunk.text
            if piece:
                text += piece
                if single_line and "\n" in text:
                    break
                if "\n" in piece:
                    cut = block_end(text, request.prefix, request.language)
                    if cut < len(text) and text.find("\n", cut + 1) >= 0:
                        break
            done = chunk.done
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    return text


async def _cancel_and_wait(task: asyncio.Task[str | None]) -> None:
    """Cancel ``task`` and wait until it has finished unwinding (its HTTP stream is then closed)."""
    task.cancel()
    await asyncio.wait({task})


def _retrieve(task: asyncio.Task[str | None]) -> None:
    """Mark the task's exception as retrieved (waiters may all be gone)."""
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()


#: Prefix/suffix windows handed to completions (tokens, estimated).
FIM_PREFIX_TOKENS, FIM_SUFFIX_TOKENS = 1500, 500


async def complete_at(
    store: DocumentStore,
    completer: Completer,
    settings: Settings,
    uri: str,
    line: int,
    character: int,
    on_shown: Callable[[CompletionRequest, CompletionResult, float], None] | None = None,
) -> CompletionResult | None:
    """Ghost text at ``(line, character)`` (LSP position, UTF-16 column) of ``uri``, or ``None``:
    completions disabled, document not open or binary, no completion in time, or the document changed
    while the model worked (the result would be for a version the user already edited).
    ``on_shown(request, result, latency_ms)`` sees each completion returned (the team memory)."""
    if not settings.completion.enabled:
        return None
    doc = store.get(uri)
    if doc is None or doc.binary:
        return None
    prefix, suffix = fim_window(store, uri, line, character, FIM_PREFIX_TOKENS, FIM_SUFFIX_TOKENS)
    request = CompletionRequest(uri=uri, version=doc.version, language=doc.language, prefix=prefix, suffix=suffix)
    started = time.perf_counter()
    result = await completer.complete(request)
    current = store.get(uri)
    if result is None or current is None or current.version != request.version:
        return None
    if on_shown is not None:
        on_shown(request, result, (time.perf_counter() - started) * 1000)
    return result
