"""The OpenAI-compatible API as plain typed functions: request and response shapes, and the
translation between OpenAI's wire format and the engine. Nothing here imports the ASGI stack;
:mod:`coding_director.api` parses HTTP, calls these, and writes the answers.

Wire format (OpenAI API reference, "Chat Completions" and "Completions (legacy)"): snake_case JSON;
``chat.completion`` objects, ``chat.completion.chunk`` objects streamed as SSE ``data:`` lines
ending with ``data: [DONE]``; ``text_completion`` objects; ``{"object": "list", "data": [...]}``
for models; errors as ``{"error": {"message", "type", "param", "code"}}``.

Models: ``coding-director`` routes and escalates like the CLI; ``coding-director/<tier>`` pins one
configured tier (a one-tier chain, still verified). Every chat answer carries the extra top-level
field ``coding_director`` (:class:`CodingDirectorInfo`, camelCase inside like every shape of ours):
the route, every attempt, the final tier, whether an answer was accepted, and whether it came from
a cache.

Streaming and rejected attempts (:class:`ChatStreamTranslator`): an OpenAI client cannot "unsay"
text. It concatenates every delta into the assistant message, which then enters the conversation
history, and tools act on it (aider applies the edit blocks it finds, Continue inserts code).
Verification (parse check, refusal, loop, echo) needs the whole answer of an attempt, so text is
**buffered per attempt** and sent only once the engine has decided: the accepted answer, or when
every tier failed the best one (with ``accepted: false``). A rejected answer never reaches the
client. The price is time to first token: the text arrives when its attempt is complete. The
stream itself starts as soon as a tier produces text (a role chunk, then keep-alive comments), and
the decided answer is sent as one content chunk. "Stream and mark" (send text live, then a note
that it was rejected) was not chosen: the client would keep the rejected text in the message.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coding_director.backends import Message
from coding_director.results import Assistance, Attempt, RouteDecision
from coding_director.routing.escalation import Event, Finished, Sampling, TextDelta
from coding_director.settings import Settings
from coding_director.wire import WireModel

#: The model name that routes and escalates; ``MODEL_PREFIX + tier`` pins a tier.
TEAM_MODEL = "coding-director"
MODEL_PREFIX = TEAM_MODEL + "/"

ErrorType = Literal[
    "invalid_request_error", "authentication_error", "rate_limit_error", "server_error", "not_found_error"
]


class ApiError(Exception):
    """An error answered in OpenAI's error shape with HTTP ``status``.

    ``type`` and ``code`` follow OpenAI's values (``invalid_request_error``/``model_not_found``,
    ``authentication_error``/``invalid_api_key``, ``rate_limit_error``/``rate_limit_exceeded``,
    ``server_error``/``service_unavailable``). ``param`` names the offending request field.
    ``retry_after_s`` adds a ``Retry-After`` header (429, 503).
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: ErrorType = "invalid_request_error",
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retry_after_s = retry_after_s

    def response(self) -> ErrorResponse:
        """The JSON body of this error."""
        return ErrorResponse(error=ErrorBody(message=self.message, type=self.type, param=self.param, code=self.code))


# -- shapes ---------------------------------------------------------------------------------------
class _In(BaseModel):
    """A request shape: unknown fields are ignored (clients send many we do not use)."""

    model_config = ConfigDict(extra="ignore")


class _Out(BaseModel):
    """A response shape (snake_case, as OpenAI sends it)."""

    model_config = ConfigDict(extra="forbid")


class ContentPart(_In):
    """One part of a message ``content`` array; only ``{"type": "text", "text": ...}`` is used."""

    type: str
    text: str | None = None


class ChatMessageIn(_In):
    """One message of a chat request. ``developer`` is OpenAI's newer name for ``system``."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


class StreamOptions(_In):
    """``stream_options``: ``include_usage`` adds a last chunk with ``usage`` and empty ``choices``."""

    include_usage: bool = False


class ChatCompletionRequest(_In):
    """``POST /v1/chat/completions``. ``max_tokens`` (or ``max_completion_tokens``): tokens per
    attempt; ``temperature`` in [0, 2]; ``stop``: one or up to 4 stop sequences; ``n`` must be 1."""

    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=1)


class CompletionRequestIn(_In):
    """``POST /v1/completions``: ``prompt`` (text before the cursor; a list must hold one string),
    ``suffix`` (text after it: fill-in-the-middle when the model has it)."""

    model: str
    prompt: str | list[str]
    suffix: str | None = None
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=1)


class CodingDirectorInfo(WireModel):
    """The extra top-level field ``coding_director`` of a chat answer (camelCase inside).

    ``route``: how the request was classified; ``attempts``: every tier tried or skipped, in order,
    with outcome, reason and latency; ``finalTier``: the tier whose text is the answer (``None``
    when there is none); ``accepted``: the answer passed every check; ``cached``: it was served from
    the team's cache without a model call.
    """

    route: RouteDecision
    attempts: list[Attempt]
    final_tier: str | None
    accepted: bool
    cached: bool = False


class Usage(_Out):
    """Token counts as reported by the model servers, summed over **every attempt** (what the
    team spent on the request, not only the final answer)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class AssistantMessage(_Out):
    """The answer's message."""

    role: Literal["assistant"] = "assistant"
    content: str


FinishReason = Literal["stop", "length"]


class ChatChoice(_Out):
    """The one choice of a ``chat.completion``."""

    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason = "stop"
    logprobs: None = None


ChoiceT = TypeVar("ChoiceT", bound=_Out)


class _Completion(_Out, Generic[ChoiceT]):
    """What every completion object of the API carries: its ``id``, the ``object`` type (each
    subclass fixes it), ``created`` (Unix seconds), the ``model`` named in the request and the
    ``choices`` (of the subclass's choice type)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[ChoiceT]


class ChatCompletion(_Completion[ChatChoice]):
    """A non-streamed chat answer (``object: "chat.completion"``) with ``coding_director``."""

    object: Literal["chat.completion"] = "chat.completion"
    usage: Usage
    coding_director: CodingDirectorInfo


class ChunkDelta(_Out):
    """The increment of a streamed choice."""

    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(_Out):
    """The one choice of a ``chat.completion.chunk``."""

    index: int = 0
    delta: ChunkDelta
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(_Completion[ChunkChoice]):
    """One SSE event of a streamed chat answer. The last chunk carries ``coding_director`` (and,
    with ``stream_options.include_usage``, ``usage`` and no choices)."""

    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    usage: Usage | None = None
    coding_director: CodingDirectorInfo | None = None


class TextChoice(_Out):
    """The one choice of a ``text_completion``: the text to insert at the cursor."""

    text: str
    index: int = 0
    logprobs: None = None
    finish_reason: FinishReason | None = "stop"


class TextCompletion(_Completion[TextChoice]):
    """``object: "text_completion"`` (also each streamed event of ``/v1/completions``). ``usage``
    is not reported: the completion pipeline does not collect token counts."""

    object: Literal["text_completion"] = "text_completion"
    usage: Usage | None = None


class ModelCard(_Out):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "coding-director"


class ModelList(_Out):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(_Out):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(_Out):
    """``{"error": {...}}``, the body of every error answer (and of an error event in a stream)."""

    error: ErrorBody


# -- requests -------------------------------------------------------------------------------------
def validation_error(exc: ValidationError) -> ApiError:
    """A 400 naming the first invalid field (``messages.0.role: Input should be ...``)."""
    first = exc.errors()[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"]
    if first["type"] == "missing":
        message = "a required field is missing"
    return ApiError(400, f"{param}: {message}" if param else message, param=param, code="invalid_value")


def resolve_model(settings: Settings, model: str) -> str | None:
    """The pinned tier of ``model`` (``None`` for ``coding-director``: route and escalate).

    Raises :class:`ApiError` 404 ``model_not_found`` for any other name or an unknown tier.
    """
    if model == TEAM_MODEL:
        return None
    tier = model.removeprefix(MODEL_PREFIX)
    if model.startswith(MODEL_PREFIX) and tier in settings.tiers:
        return tier
    known = ", ".join(model_ids(settings))
    raise ApiError(
        404,
        f"The model '{model}' does not exist. Models served here: {known}",
        param="model",
        code="model_not_found",
    )


def model_ids(settings: Settings) -> list[str]:
    """``coding-director`` and ``coding-director/<tier>`` for every configured tier."""
    return [TEAM_MODEL, *(MODEL_PREFIX + tier for tier in settings.tiers)]


def model_list(settings: Settings, created: int) -> ModelList:
    """The answer of ``GET /v1/models``; ``created`` is a Unix time in seconds."""
    return ModelList(data=[ModelCard(id=name, created=created) for name in model_ids(settings)])


def _text(message: ChatMessageIn, index: int) -> str:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for number, part in enumerate(content):
        if part.type != "text" or part.text is None:
            raise ApiError(
                400,
                f"messages.{index}.content.{number}: only text content parts are supported (got {part.type!r})",
                param=f"messages.{index}.content",
                code="invalid_value",
            )
        parts.append(part.text)
    return "".join(parts)


def _stops(stop: str | list[str] | None, param: str = "stop") -> tuple[str, ...]:
    values = [stop] if isinstance(stop, str) else list(stop or [])
    if len(values) > 4:
        raise ApiError(
            400, f"{param}: at most 4 stop sequences are allowed (got {len(values)})", param=param, code="invalid_value"
        )
    return tuple(s for s in values if s)


@dataclass(frozen=True, slots=True)
class ChatCall:
    """What :meth:`CodingDirector.stream_assistance` is called with for one chat request:
    ``prompt`` (the last user message), ``history`` (the earlier messages), ``chain`` (one pinned
    tier, or ``None`` to route) and ``sampling`` (max tokens, temperature, stop)."""

    prompt: str
    history: list[Message]
    chain: list[str] | None
    sampling: Sampling


def chat_call(settings: Settings, request: ChatCompletionRequest) -> ChatCall:
    """Translate a chat request. Raises :class:`ApiError` 404 for an unknown model and 400 when the
    last message is not the user's or a content part is not text."""
    tier = resolve_model(settings, request.model)
    last = request.messages[-1]
    if last.role != "user":
        index = len(request.messages) - 1
        raise ApiError(
            400,
            f"messages.{index}.role: the last message must be the user's (got {last.role!r})",
            param="messages",
            code="invalid_value",
        )
    history = [
        Message(role="system" if m.role == "developer" else m.role, content=_text(m, i))
        for i, m in enumerate(request.messages[:-1])
    ]
    sampling = Sampling(
        max_tokens=request.max_completion_tokens or request.max_tokens,
        temperature=request.temperature,
        stop=_stops(request.stop),
    )
    return ChatCall(
        prompt=_text(last, len(request.messages) - 1),
        history=history,
        chain=[tier] if tier else None,
        sampling=sampling,
    )


# -- answers --------------------------------------------------------------------------------------
def new_id(prefix: str) -> str:
    """A fresh object id such as ``chatcmpl-3f2a...`` (uuid4 hex)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    """The current Unix time in seconds (``created`` fields)."""
    return int(time.time())


def director_info(result: Assistance) -> CodingDirectorInfo:
    """The ``coding_director`` field of ``result``. ``cached`` is read from the result when the
    engine reports it (a cache of the team's memory), else false."""
    return CodingDirectorInfo(
        route=result.route,
        attempts=result.attempts,
        final_tier=result.final_tier,
        accepted=result.accepted,
        cached=bool(getattr(result, "cached", False)),
    )


def usage_of(attempts: Sequence[Attempt]) -> Usage:
    """Token counts summed over ``attempts`` (unknown counts count 0)."""
    prompt = sum(a.prompt_tokens or 0 for a in attempts)
    completion = sum(a.completion_tokens or 0 for a in attempts)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def unavailable(result: Assistance) -> ApiError | None:
    """A 503 when no tier produced anything: every attempt is an error or a skip (endpoint down,
    model missing, timeout, cooling down) and the answer is empty. ``None`` otherwise."""
    if result.answer or any(a.outcome in ("accepted", "rejected") for a in result.attempts):
        return None
    first = next((a for a in result.attempts if a.reason), None)
    detail = f"{first.tier}: {first.reason}" if first else "no tier was tried"
    fix = f" Fix: {first.fix}" if first and first.fix else ""
    return ApiError(
        503,
        f"Every tier of the team is down or unreachable ({detail}).{fix}",
        "server_error",
        code="service_unavailable",
        retry_after_s=5,
    )


def chat_completion(result: Assistance, *, completion_id: str, model: str, created: int) -> ChatCompletion:
    """The non-streamed answer for ``result``."""
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=model,
        choices=[ChatChoice(message=AssistantMessage(content=result.answer))],
        usage=usage_of(result.attempts),
        coding_director=director_info(result),
    )


@dataclass
class ChatStreamTranslator:
    """Turns the engine's decision into ``chat.completion.chunk`` objects (see the module
    docstring for why nothing is sent before it). :meth:`head` is the first chunk (the assistant
    role, sent when a tier starts producing text); :meth:`finish` gives the rest."""

    completion_id: str
    model: str
    created: int
    include_usage: bool = False
    result: Assistance | None = None

    def _chunk(self, delta: ChunkDelta, finish: FinishReason | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.completion_id,
            created=self.created,
            model=self.model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
        )

    def head(self) -> ChatCompletionChunk:
        """The first chunk: ``delta: {"role": "assistant", "content": ""}``."""
        return self._chunk(ChunkDelta(role="assistant", content=""))

    def on_event(self, event: Event) -> list[ChatCompletionChunk]:
        """The chunks to send after ``event``: none until :class:`Finished`."""
        return self.finish(event.assistance) if isinstance(event, Finished) else []

    def finish(self, result: Assistance) -> list[ChatCompletionChunk]:
        """The answer as **one** content chunk (it is complete when it is sent: cutting it into the
        model's pieces would only cost time on both sides), the finish chunk, and the usage chunk
        when asked for; ``coding_director`` rides on the last one."""
        self.result = result
        chunks = [self._chunk(ChunkDelta(content=result.answer))] if result.answer else []
        last = self._chunk(ChunkDelta(), "stop")
        chunks.append(last)
        if self.include_usage:
            last = ChatCompletionChunk(
                id=self.completion_id,
                created=self.created,
                model=self.model,
                choices=[],
                usage=usage_of(result.attempts),
            )
            chunks.append(last)
        last.coding_director = director_info(result)
        return chunks


async def decisive_events(events: AsyncGenerator[Event], *, stream: bool) -> AsyncGenerator[Event]:
    """The events an API answer depends on: :class:`Finished`, and for a stream also the first
    :class:`TextDelta` (a tier is producing text: time to start the SSE response). Dropping the
    rest keeps the per-token work out of the request's path. Closing this closes ``events``."""
    started = not stream
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, Finished):
                yield event
            elif not started and isinstance(event, TextDelta):
                started = True
                yield event


def stream_error(message: str, *, code: str = "server_error", type: ErrorType = "server_error") -> ErrorResponse:
    """The ``data: {"error": ...}`` event that ends a stream early (shutdown, engine failure)."""
    return ErrorResponse(error=ErrorBody(message=message, type=type, code=code))


# -- completions ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CompletionCall:
    """What :meth:`Completer.complete_now` is called with: the completion ``tier``, ``prefix``
    and ``suffix`` (characters), and the overrides."""

    tier: str
    prefix: str
    suffix: str
    max_tokens: int | None
    temperature: float | None
    stop: tuple[str, ...]


def completion_call(settings: Settings, request: CompletionRequestIn) -> CompletionCall:
    """Translate ``/v1/completions``: ``coding-director`` uses ``completion.tier``, a pinned model
    its tier. Raises :class:`ApiError` 404 for an unknown model, 400 for a prompt list that is not
    exactly one string."""
    tier = resolve_model(settings, request.model) or settings.completion.tier
    prompt = request.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise ApiError(
                400,
                f"prompt: exactly one prompt is supported (got {len(prompt)})",
                param="prompt",
                code="invalid_value",
            )
        prompt = prompt[0]
    return CompletionCall(
        tier=tier,
        prefix=prompt,
        suffix=request.suffix or "",
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        stop=_stops(request.stop),
    )


def text_completion(text: str, *, completion_id: str, model: str, created: int) -> TextCompletion:
    """The ``/v1/completions`` answer: ``text`` is inserted at the cursor (may be empty)."""
    return TextCompletion(id=completion_id, created=created, model=model, choices=[TextChoice(text=text)])
