"""The Starlette application of the OpenAI-compatible API.

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models``,
``GET /health``, ``GET /metrics``. Shapes and translation live in
:mod:`coding_director.features.openai_api`; metrics in :mod:`coding_director.features.api_metrics`.

Around the routes (outermost first): Starlette's error middleware; CORS when
``api.cors_origins`` is set; :class:`Guard` (bearer token: 401; body limit: 413; concurrency limit
on model requests: 429; metrics of every request). The body limit is Guard's and not Starlette's
``max_body_size`` because Starlette's replaces any answer to an oversized request with a plain-text
413, and every error here must be in OpenAI's JSON shape.

Cancellation: the engine runs in a task per request (:class:`EngineRun`). Until the response
starts, a watcher waits for the client's ``http.disconnect`` and cancels that task; once an SSE
stream runs, sse-starlette cancels the stream on disconnect and the stream cancels the task. A
cancelled task closes the model's HTTP stream at once. On shutdown (:meth:`ApiState.begin_drain`,
called on SIGTERM) every run is stopped: a non-streamed request gets 503, a stream ends with an
error event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coding_director.backends import BackendError
from coding_director.engine import CodingDirector
from coding_director.features.api_health import health_report
from coding_director.features.api_metrics import CONTENT_TYPE_LATEST, ApiMetrics, render_stats
from coding_director.features.completion import Completer, CompletionRequest, CompletionResult
from coding_director.features.feedback import record_completion
from coding_director.features.openai_api import (
    ApiError,
    ChatCompletionRequest,
    ChatStreamTranslator,
    CompletionRequestIn,
    ErrorResponse,
    TextChoice,
    TextCompletion,
    chat_call,
    chat_completion,
    completion_call,
    decisive_events,
    model_list,
    new_id,
    now,
    stream_error,
    text_completion,
    unavailable,
    validation_error,
)
from coding_director.features.stats import StatsUnavailable, memory_stats
from coding_director.memory import Memory, open_memory
from coding_director.memory.models import DEFAULT_SINCE
from coding_director.results import Attempt
from coding_director.routing.escalation import Finished, TextDelta
from coding_director.settings import Settings

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
#: Requests that call models: counted against ``api.max_concurrency``.
MODEL_PATHS = frozenset({CHAT_PATH, COMPLETIONS_PATH})
KNOWN_PATHS = frozenset({CHAT_PATH, COMPLETIONS_PATH, "/v1/models", "/health", "/metrics"})
#: Scope key under which a handler leaves the engine's attempts for :class:`Guard`'s metrics.
ATTEMPTS_KEY = "coding_director.attempts"
#: Seconds a stream may take after SIGTERM to send its error event before it is cut.
SHUTDOWN_GRACE_S = 3.0
#: Keep-alive comment interval of SSE streams while an attempt's text is buffered (seconds).
PING_S = 10.0

M = TypeVar("M", bound=BaseModel)


# -- state ----------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Stop:
    """Why an :class:`EngineRun` ended without its last item: ``disconnected`` (the client left),
    ``shutdown`` (SIGTERM), or ``error`` (``error`` holds the exception)."""

    why: Literal["disconnected", "shutdown", "error"]
    error: BaseException | None = None


class EngineRun:
    """Iterates ``items`` (engine events, or one completion) in its own task into a queue.

    :meth:`stop` cancels the task (closing the model stream) and wakes the consumer with a
    :class:`_Stop`; an exception of the iterator arrives as ``_Stop("error", exc)``.
    """

    def __init__(self, items: AsyncIterator[Any], runs: set[EngineRun]) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self._runs = runs
        runs.add(self)
        self.task = asyncio.create_task(self._pump(items))

    async def _pump(self, items: AsyncIterator[Any]) -> None:
        try:
            async for item in items:
                self.queue.put_nowait(item)
        except Exception as exc:
            self.queue.put_nowait(_Stop("error", exc))
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()
            self._runs.discard(self)

    async def next(self) -> Any:
        """The next item, or a :class:`_Stop`."""
        return await self.queue.get()

    def stop(self, why: Literal["disconnected", "shutdown"]) -> None:
        """Cancel the work and hand ``_Stop(why)`` to the consumer."""
        self.cancel()
        self.queue.put_nowait(_Stop(why))

    def cancel(self) -> None:
        """Cancel the work (idempotent; no-op once it has finished)."""
        self._runs.discard(self)
        if not self.task.done():
            self.task.cancel()


@dataclass(eq=False)
class ApiState:
    """Everything the handlers share: settings, the engine, the completer, metrics, the token,
    the runs in flight, and whether the server is draining (shutting down). ``memory`` is the team
    memory the engine records into (``None`` when off); ``owns_memory``: this state closes it."""

    settings: Settings
    director: CodingDirector
    completer: Completer
    metrics: ApiMetrics
    token: str | None
    memory: Memory | None = None
    owns_memory: bool = False
    started: int = field(default_factory=now)
    in_flight: int = 0
    draining: bool = False
    runs: set[EngineRun] = field(default_factory=set)

    def begin_drain(self) -> None:
        """Stop every run in flight (called once on SIGTERM, on the event loop)."""
        self.draining = True
        for run in list(self.runs):
            run.stop("shutdown")

    async def aclose(self) -> None:
        """Cancel what still runs and close the backends."""
        tasks = [run.task for run in self.runs]
        for run in list(self.runs):
            run.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await self.completer.aclose()
        await self.director.aclose()
        if self.owns_memory and self.memory is not None:
            await asyncio.to_thread(self.memory.close)  # commits what is queued; off the event loop


# -- helpers --------------------------------------------------------------------------------------
def _dump(model: BaseModel) -> str:
    return model.model_dump_json(exclude_none=True)


def error_response(error: ApiError) -> Response:
    """``error`` as a JSON response in OpenAI's shape (with ``Retry-After`` when it has one)."""
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s else {}
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = error.response().model_dump_json()
    return Response(body, status_code=error.status, media_type="application/json", headers=headers)


def _json_response(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


async def _parse(request: Request, shape: type[M]) -> M:
    """The body of ``request`` validated as ``shape``. Raises :class:`ApiError` 400 for an empty
    body, malformed JSON, a non-object, or an invalid field (413 comes from the body limit)."""
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "The request body is empty: send a JSON object.", code="invalid_json")
    try:
        return shape.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            detail = first.get("ctx", {}).get("error", "invalid JSON")
            raise ApiError(
                400, f"We could not parse the JSON body of your request: {detail}.", code="invalid_json"
            ) from None
        if first["type"] == "model_type" and not first["loc"]:
            raise ApiError(400, "The request body must be a JSON object.", code="invalid_json") from None
        raise validation_error(exc) from None


async def _watch_disconnect(receive: Receive, run: EngineRun) -> None:
    """Stop ``run`` when the client disconnects (before a response has started)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            run.stop("disconnected")
            return


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def _attempts_of(request: Request) -> list[Attempt]:
    attempts: list[Attempt] = request.scope.setdefault(ATTEMPTS_KEY, [])
    return attempts


def _stopped(stop: _Stop) -> ApiError | Response:
    """The answer to a run that stopped before its end."""
    if stop.why == "disconnected":
        return Response(status_code=499)  # the client is gone; nginx's "client closed request"
    if stop.why == "shutdown":
        return ApiError(503, "The server is shutting down.", "server_error", code="shutting_down", retry_after_s=5)
    if isinstance(stop.error, BackendError):
        reason = stop.error.reason + (f" Fix: {stop.error.fix}" if stop.error.fix else "")
        return ApiError(503, f"The model server failed: {reason}", "server_error", code="service_unavailable")
    if isinstance(stop.error, TimeoutError):
        return ApiError(503, "No answer within the configured timeout.", "server_error", code="timeout")
    log.error("request failed", exc_info=stop.error)
    return ApiError(500, f"Internal error: {stop.error!r}", "server_error", code="internal_error")


# -- handlers -------------------------------------------------------------------------------------
async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``: route and escalate (or one pinned tier); JSON or SSE."""
    state = _state(request)
    body = await _parse(request, ChatCompletionRequest)
    call = chat_call(state.settings, body)
    events = state.director.stream_assistance(
        call.prompt, history=call.history, chain=call.chain, sampling=call.sampling, source="api"
    )
    run = EngineRun(decisive_events(events, stream=body.stream), state.runs)
    watcher = asyncio.create_task(_watch_disconnect(request.receive, run))
    translator = ChatStreamTranslator(
        new_id("chatcmpl"),
        body.model,
        now(),
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
    )
    handed_over = False
    try:
        pending = []
        while True:  # non-streamed: until Finished; streamed: until a tier produces text
            item = await run.next()
            if isinstance(item, _Stop):
                stopped = _stopped(item)
                if isinstance(stopped, ApiError):
                    raise stopped
                return stopped
            pending += translator.on_event(item)
            if isinstance(item, Finished):
                _attempts_of(request).extend(item.assistance.attempts)
                error = unavailable(item.assistance)
                if error is not None:
                    raise error
                if not body.stream:
                    result = chat_completion(
                        item.assistance, completion_id=translator.completion_id, model=body.model,
                        created=translator.created,
                    )  # fmt: skip
                    return _json_response(result)
                break
            if body.stream and isinstance(item, TextDelta):
                break
        watcher.cancel()
        handed_over = True
        return EventSourceResponse(
            _chat_events(run, translator, pending, _attempts_of(request)),
            ping=PING_S,
            sep="\n",
            shutdown_grace_period=SHUTDOWN_GRACE_S,
        )
    finally:
        watcher.cancel()
        if not handed_over:
            run.cancel()


async def _chat_events(
    run: EngineRun, translator: ChatStreamTranslator, pending: list[Any], attempts: list[Attempt]
) -> AsyncGenerator[str]:
    """The SSE ``data`` payloads of a streamed chat: the role chunk, the answer's chunks once
    decided, ``[DONE]``; an error event instead when the server shuts down meanwhile."""
    try:
        yield _dump(translator.head())
        for chunk in pending:
            yield _dump(chunk)
        while translator.result is None:
            item = await run.next()
            if isinstance(item, _Stop):
                stopped = _stopped(item)
                message = stopped.message if isinstance(stopped, ApiError) else "the request was cancelled"
                code = stopped.code if isinstance(stopped, ApiError) else "cancelled"
                yield stream_error(message, code=code or "server_error").model_dump_json()
                return
            for chunk in translator.on_event(item):
                yield _dump(chunk)
            if isinstance(item, Finished):
                attempts.extend(item.assistance.attempts)
        yield "[DONE]"
    finally:
        run.cancel()


async def _one(start: Callable[[], Awaitable[CompletionResult | None]]) -> AsyncGenerator[CompletionResult | None]:
    yield await start()


async def completions(request: Request) -> Response:
    """``POST /v1/completions``: the inline-completion pipeline (FIM when the model has it,
    postprocessing) on ``prompt`` + ``suffix``; JSON, or SSE with one text event."""
    state = _state(request)
    body = await _parse(request, CompletionRequestIn)
    call = completion_call(state.settings, body)
    request_in = CompletionRequest(uri="api:", version=0, language=None, prefix=call.prefix, suffix=call.suffix)

    started = time.perf_counter()

    async def job() -> CompletionResult | None:
        result = await state.completer.complete_now(
            request_in, tier=call.tier, max_tokens=call.max_tokens, temperature=call.temperature, stop=call.stop
        )
        if result is not None and state.memory is not None and state.memory.available:
            latency_ms = (time.perf_counter() - started) * 1000
            record_completion(state.memory, request_in, result, call.tier, latency_ms, source="api")
        return result

    run = EngineRun(_one(job), state.runs)
    watcher = asyncio.create_task(_watch_disconnect(request.receive, run))
    try:
        item = await run.next()
    finally:
        watcher.cancel()
        run.cancel()
    if isinstance(item, _Stop):
        stopped = _stopped(item)
        if isinstance(stopped, ApiError):
            raise stopped
        return stopped
    text = item.text if item is not None else ""
    answer = text_completion(text, completion_id=new_id("cmpl"), model=body.model, created=now())
    if not body.stream:
        return _json_response(answer)

    async def events() -> AsyncGenerator[str]:
        chunk = TextCompletion(
            id=answer.id, created=answer.created, model=answer.model, choices=[TextChoice(text=text)]
        )
        yield _dump(chunk)
        yield "[DONE]"

    return EventSourceResponse(events(), ping=0, sep="\n")


async def models(request: Request) -> Response:
    """``GET /v1/models``: ``coding-director`` and ``coding-director/<tier>``."""
    state = _state(request)
    return _json_response(model_list(state.settings, state.started))


async def health(request: Request) -> Response:
    """``GET /health``: endpoints and tiers as ``coding-director doctor`` checks them; 503 when down."""
    report = await health_report(_state(request).director)
    return _json_response(report, 503 if report.status == "down" else 200)


async def metrics(request: Request) -> Response:
    """``GET /metrics[?since=7d]``: Prometheus text format: this process's HTTP and attempt
    counters, then the team memory's figures over ``since`` (those of ``coding-director stats``;
    absent when the memory is off). 400 for a ``since`` that is not a duration."""
    state = _state(request)
    body = state.metrics.render()
    try:
        report = await memory_stats(state.memory, request.query_params.get("since", DEFAULT_SINCE))
    except ValueError as exc:
        raise ApiError(400, str(exc).replace("--since", "since"), code="invalid_since") from None
    except StatsUnavailable as exc:
        log.debug("/metrics without the memory's figures: %s", exc)
    else:
        body += render_stats(report)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# -- errors ---------------------------------------------------------------------------------------
async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = ApiError(404, "Unknown path. Routes: " + ", ".join(sorted(KNOWN_PATHS)), code="unknown_url")
    elif exc.status_code == 405:
        error = ApiError(405, f"Method not allowed: {exc.detail}", code="method_not_allowed")
    else:
        error = ApiError(exc.status_code, str(exc.detail))
    return error_response(error)


async def _internal_error(_request: Request, exc: Exception) -> Response:
    return error_response(ApiError(500, f"Internal error: {exc!r}", "server_error", code="internal_error"))


# -- guard ----------------------------------------------------------------------------------------
class Guard:
    """Pure ASGI middleware: bearer token (401), body limit (413), concurrency limit on model
    requests (429), and one :meth:`ApiMetrics.record_request` per HTTP request (status, duration,
    attempts)."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app = app
        self.state = state
        self.expected = f"Bearer {state.token}".encode() if state.token else None

    def _authorized(self, scope: Scope) -> bool:
        if self.expected is None:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, self.expected)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        endpoint = path if path in KNOWN_PATHS else "other"
        status = 500
        state = self.state

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        attempts: list[Attempt] = []
        scope[ATTEMPTS_KEY] = attempts
        limit = state.settings.api.max_body_bytes
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        try:
            if not self._authorized(scope):
                error = ApiError(
                    401,
                    "Missing or wrong bearer token: send 'Authorization: Bearer <token>'.",
                    "authentication_error",
                    code="invalid_api_key",
                )
                await error_response(error)(scope, receive, send_status)
            elif _content_length(scope) > limit:
                await error_response(_too_large(limit))(scope, receive, send_status)
            elif path in MODEL_PATHS and scope["method"] == "POST":
                if state.in_flight >= state.settings.api.max_concurrency:
                    limit = state.settings.api.max_concurrency
                    error = ApiError(
                        429,
                        f"Too many requests in flight (limit {limit}); retry shortly.",
                        "rate_limit_error",
                        code="rate_limit_exceeded",
                        retry_after_s=1,
                    )
                    await error_response(error)(scope, receive, send_status)
                    return
                state.in_flight += 1
                state.metrics.in_flight.inc()
                try:
                    await self.app(scope, receive_limited, send_status)
                finally:
                    state.in_flight -= 1
                    state.metrics.in_flight.dec()
            else:
                await self.app(scope, receive_limited, send_status)
        finally:
            state.metrics.record_request(endpoint, status, time.perf_counter() - started, attempts)


def _content_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, f"The request body is larger than {limit} bytes ([api] max_body_bytes).", code="request_too_large"
    )


# -- the app --------------------------------------------------------------------------------------
def create_app(settings: Settings, *, token: str | None = None, director: CodingDirector | None = None) -> Starlette:
    """The Starlette app serving ``settings`` (``api`` section: body limit, concurrency, CORS).

    ``token``: the bearer token every request must carry (``None``: no authentication).
    ``director``: the engine (default: a new :class:`CodingDirector` on ``settings`` with the team
    memory of ``settings``, opened here; a memory problem is logged once and the API goes on without
    it). The app's :class:`ApiState` is ``app.state.api``; the lifespan closes the engine (and the
    memory it opened) on shutdown.
    """
    owns_memory = director is None
    if director is None:
        director = CodingDirector(settings, open_memory(settings, lambda message: log.warning("%s", message)))
    engine = director
    state = ApiState(
        settings=settings,
        director=engine,
        completer=Completer(settings, engine.pool),
        metrics=ApiMetrics(),
        token=token or None,
        memory=engine.memory,
        owns_memory=owns_memory,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        for tier in settings.tiers:  # import and connect the clients now, not in the first request
            engine.pool.for_tier(tier)
        try:
            yield
        finally:
            await state.aclose()

    middleware = []
    if settings.api.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.api.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    middleware.append(Middleware(Guard, state=state))
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        Exception: _internal_error,
    }
    app = Starlette(
        routes=[
            Route(CHAT_PATH, chat_completions, methods=["POST"]),
            Route(COMPLETIONS_PATH, completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        middleware=middleware,
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.api = state
    return app


__all__ = ["ApiState", "EngineRun", "ErrorResponse", "Guard", "create_app", "error_response"]
