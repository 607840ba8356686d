"""The one small protocol every model server is reached through, and the errors it raises.

Two implementations exist: :mod:`coding_director.backends.ollama` (official ``ollama`` client) and
:mod:`coding_director.backends.openai_compat` (official ``openai`` client, for llama.cpp server,
vLLM, LM Studio, OpenRouter, or Ollama's own ``/v1``). The engine only sees this module.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import ClassVar, Literal, ParamSpec, Protocol

from pydantic import BaseModel, ConfigDict, Field

from coding_director.results import ErrorKind
from coding_director.tokens import estimate_tokens_of_chars
from coding_director.wire import WireModel


class BackendError(Exception):
    """A model server could not serve a request.

    ``reason`` is a short, user-readable cause recorded in the attempt (``"model 'x' not found
    (404)"``); ``fix`` is the exact action that would remove the cause, when one is known.
    """

    kind: ClassVar[ErrorKind] = "server"

    def __init__(self, reason: str, *, fix: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


class EndpointUnreachable(BackendError):
    """Connection refused, DNS failure or connect timeout: nothing answered at the endpoint."""

    kind = "unreachable"


class ModelNotFound(BackendError):
    """The server answered 404 for the model (Ollama: ``model 'x' not found``)."""

    kind = "not_found"


class BackendTimeout(BackendError):
    """The server accepted the request but stopped sending within the read timeout."""

    kind = "timeout"


class StreamInterrupted(BackendError):
    """The server reported an error after the response had started (an ``{"error"}`` NDJSON line)."""

    kind = "mid_stream"


class BadRequest(BackendError):
    """The server rejected the request (4xx other than 404), e.g. ``suffix`` on a non-FIM model."""

    kind = "bad_request"


class RateLimited(BackendError):
    """The server answered 429 Too Many Requests. ``retry_after_s``: how long it asked us to wait
    (from ``Retry-After``, :func:`coding_director.backends.openai_compat.retry_after_seconds`), or
    ``None`` when it did not say."""

    kind = "rate_limited"

    def __init__(self, reason: str, *, retry_after_s: float | None = None, fix: str | None = None) -> None:
        super().__init__(reason, fix=fix)
        self.retry_after_s = retry_after_s


class NotSupported(BackendError):
    """The operation does not exist for this kind of server (e.g. pull on an OpenAI-compatible one)."""

    kind = "unsupported"


class MalformedResponse(BackendError):
    """The server answered 200 but not in its protocol: a line that is not JSON (truncated,
    garbage), text that is not valid UTF-8, a message of the wrong shape, a stream far longer than
    the tokens asked for, or a stream that ends before its final message."""

    kind = "malformed"


class Message(WireModel):
    """A chat message as sent to a model."""

    role: Literal["system", "user", "assistant"]
    content: str


class GenerateOptions(BaseModel):
    """Sampling options common to both providers.

    ``num_predict``: maximum tokens to generate. ``stop``: stop sequences. ``num_ctx`` (Ollama only):
    the context window in tokens; when ``None`` the backend computes it with :func:`num_ctx_for`.
    ``include_usage`` (OpenAI-compatible only): ask for the token counts at the end of a stream
    (``stream_options.include_usage``), which a priced tier's cost is computed from.
    """

    model_config = ConfigDict(extra="forbid")

    num_predict: int = Field(default=1024, ge=1)
    temperature: float = Field(default=0.2, ge=0.0)
    stop: list[str] = Field(default_factory=list)
    num_ctx: int | None = Field(default=None, ge=256)
    max_ctx: int = Field(default=32768, ge=512)
    include_usage: bool = False


@dataclass(frozen=True, slots=True)
class GeneratePrompt:
    """What ``generate_stream`` completes: ``prompt``; ``suffix`` asks for fill-in-the-middle (the
    text after the cursor; Ollama needs the model's ``insert`` capability); ``system`` the system
    prompt; ``raw`` sends ``prompt`` as is, without the model's template (Ollama's ``raw``)."""

    prompt: str
    suffix: str | None = None
    system: str | None = None
    raw: bool = False


class Chunk(WireModel):
    """One piece of a streamed answer. The final chunk has ``done=True`` and, when the server
    reports them, token counts (``prompt_tokens``, ``completion_tokens``)."""

    text: str = ""
    done: bool = False
    done_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ModelInfo(WireModel):
    """A model present on a server. ``capabilities`` uses Ollama's names (``completion``,
    ``insert`` = fill-in-the-middle with ``suffix``, ``tools``, ``embedding``, ``vision``)."""

    name: str
    capabilities: list[str] = Field(default_factory=list)
    family: str | None = None
    parameter_size: str | None = None
    size_bytes: int | None = None


class PullProgress(WireModel):
    """One status line of a model pull; ``completed``/``total`` are bytes of the current layer."""

    status: str
    digest: str | None = None
    completed: int | None = None
    total: int | None = None


class Backend(Protocol):
    """What the engine needs from a model server.

    Streaming methods are async generators: nothing is sent until the first iteration, and closing
    the generator (or cancelling the task iterating it) closes the HTTP stream. Every method raises
    a :class:`BackendError` subclass, never a transport library's exception.
    """

    provider: str
    endpoint: str

    def chat_stream(self, model: str, messages: list[Message], options: GenerateOptions) -> AsyncIterator[Chunk]:
        """Stream a chat answer."""
        ...

    def generate_stream(self, model: str, request: GeneratePrompt, options: GenerateOptions) -> AsyncIterator[Chunk]:
        """Stream a completion of ``prompt``; with ``suffix``, fill in the middle."""
        ...

    async def list_models(self) -> list[ModelInfo]:
        """Models present on the server."""
        ...

    async def show(self, model: str) -> ModelInfo:
        """Details and capabilities of ``model``. Raises :class:`ModelNotFound`."""
        ...

    def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Download ``model`` onto the server, yielding progress."""
        ...

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        """One embedding vector per input string."""
        ...

    async def health(self) -> str:
        """A short description of the live server (its version). Raises :class:`EndpointUnreachable`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


#: Headroom on the token estimate when sizing ``num_ctx``: the estimate is an average (see
#: :mod:`coding_director.tokens`) and a prompt over the window is truncated silently.
NUM_CTX_HEADROOM = 1.15


def num_ctx_for(prompt_chars: int, num_predict: int, max_ctx: int) -> int:
    """The Ollama ``num_ctx`` (tokens) for a prompt of ``prompt_chars`` characters.

    Ollama's default context is 2048 tokens and longer prompts are truncated silently
    (ollama docs/faq.md, "How can I specify the context window size?"). The window must hold the
    prompt plus the answer: ``estimate * NUM_CTX_HEADROOM + num_predict + 64`` tokens (the estimate
    of :func:`coding_director.tokens.estimate_tokens`), rounded **up to a power of two** between
    2048 and ``max_ctx``. Powers of two because Ollama reloads a model whenever ``num_ctx``
    changes; a few coarse sizes keep reloads rare.
    """
    needed = math.ceil(estimate_tokens_of_chars(prompt_chars) * NUM_CTX_HEADROOM) + num_predict + 64
    size = 2048
    while size < needed and size < max_ctx:
        size *= 2
    return min(size, max_ctx)


#: A streamed answer longer than ``num_predict * MAX_CHARS_PER_TOKEN + 4096`` characters is
#: malformed: BPE tokens of code models are a few characters long (the longest merges are about
#: 16-20 characters), so this bounds a runaway or garbage stream (a 10 MB line) with a wide margin.
MAX_CHARS_PER_TOKEN = 64

#: What ``_translate`` of a backend maps to :class:`MalformedResponse`: ``json.JSONDecodeError``,
#: ``UnicodeDecodeError`` and pydantic's ``ValidationError`` are ``ValueError`` s; a JSON line of
#: the wrong type (a list, a number) makes the clients raise ``TypeError`` / ``AttributeError``.
MALFORMED_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, AttributeError, KeyError)


def malformed(endpoint: str, exc: Exception) -> MalformedResponse:
    """The :class:`MalformedResponse` for a parsing failure ``exc`` of a response from ``endpoint``."""
    detail = " ".join(str(exc).split())[:160]
    return MalformedResponse(f"malformed response from {endpoint}: {type(exc).__name__}: {detail}")


async def checked_stream(stream: AsyncIterator[Chunk], endpoint: str, options: GenerateOptions) -> AsyncIterator[Chunk]:
    """Pass ``stream`` on, raising :class:`MalformedResponse` for text with U+FFFD (the clients
    decode invalid UTF-8 to the replacement character), for more than
    ``options.num_predict * MAX_CHARS_PER_TOKEN + 4096`` characters, and when the stream is
    exhausted without a chunk with ``done`` (cut off). A consumer that stops early is not affected."""
    limit = options.num_predict * MAX_CHARS_PER_TOKEN + 4096
    total = 0
    finished = False
    async for chunk in stream:
        if "\ufffd" in chunk.text:
            raise MalformedResponse(f"{endpoint} sent text that is not valid UTF-8")
        total += len(chunk.text)
        if total > limit:
            raise MalformedResponse(
                f"{endpoint} sent more than {limit} characters for {options.num_predict} tokens"
            )
        finished = finished or chunk.done
        yield chunk
    if not finished:
        raise MalformedResponse(f"the stream from {endpoint} ended before its final message")


P = ParamSpec("P")


def checked(method: Callable[P, AsyncIterator[Chunk]]) -> Callable[P, AsyncIterator[Chunk]]:
    """Decorate a backend's streaming method ``(self, model, messages_or_prompt, options, ...)``
    so that its chunks pass through :func:`checked_stream` (``self.endpoint`` names the server)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Chunk]:
        options = kwargs.get("options", args[3] if len(args) > 3 else None)
        assert isinstance(options, GenerateOptions), "a streaming method takes options third"
        return checked_stream(method(*args, **kwargs), str(getattr(args[0], "endpoint", "?")), options)

    return wrapper
