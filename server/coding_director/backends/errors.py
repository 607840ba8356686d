"""The errors a model server's request ends with, and the helpers that turn a server's
misbehaviour into them.

Every :class:`~coding_director.backends.base.Backend` method raises a :class:`BackendError`
subclass, never a transport library's exception: each backend's ``_translate`` is :func:`translated`
with the backend's mapping of its client's exceptions (broken connections and parsing failures are
mapped alike for every client), and :func:`checked` guards its streams. Backends use this module
qualified (``errors.ModelNotFound``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import ClassVar, ParamSpec

from coding_director.backends.base import Chunk, GenerateOptions
from coding_director.results import ErrorKind

__all__ = [
    "BackendError",
    "BackendTimeout",
    "BadRequest",
    "EndpointUnreachable",
    "MalformedResponse",
    "ModelNotFound",
    "NotSupported",
    "RateLimited",
    "StreamInterrupted",
]


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


#: A streamed answer longer than ``num_predict * MAX_CHARS_PER_TOKEN + 4096`` characters is
#: malformed: BPE tokens of code models are a few characters long (the longest merges are about
#: 16-20 characters), so this bounds a runaway or garbage stream (a 10 MB line) with a wide margin.
MAX_CHARS_PER_TOKEN = 64

#: What :func:`translated` maps to :class:`MalformedResponse`: ``json.JSONDecodeError``,
#: ``UnicodeDecodeError`` and pydantic's ``ValidationError`` are ``ValueError`` s; a JSON line of
#: the wrong type (a list, a number) makes the clients raise ``TypeError`` / ``AttributeError``.
MALFORMED_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, AttributeError, KeyError)


def malformed(endpoint: str, exc: Exception) -> MalformedResponse:
    """The :class:`MalformedResponse` for a parsing failure ``exc`` of a response from ``endpoint``."""
    detail = " ".join(str(exc).split())[:160]
    return MalformedResponse(f"malformed response from {endpoint}: {type(exc).__name__}: {detail}")


@contextlib.contextmanager
def translated(
    endpoint: str, transport_error: type[Exception], client_error: Callable[[Exception], BackendError | None]
) -> Iterator[None]:
    """Raise a :class:`BackendError` for what the block raises: ``client_error(exc)`` first (a
    backend's mapping of its client library's exceptions; ``None`` for an exception it does not
    map), then what every backend maps alike: ``transport_error`` (the HTTP library's base transport
    exception: a connection to ``endpoint`` that broke after the request began) becomes
    :class:`StreamInterrupted`, a parsing failure (:data:`MALFORMED_ERRORS`) a
    :class:`MalformedResponse` (:func:`malformed`). A :class:`BackendError` passes unchanged, and so
    does any other exception. The new error's ``__cause__`` is the original exception."""
    try:
        try:
            yield
        except Exception as exc:
            error = client_error(exc)
            if error is None:
                raise
            raise error from exc
    except transport_error as exc:
        raise StreamInterrupted(f"connection to {endpoint} broke: {exc or type(exc).__name__}") from exc
    except MALFORMED_ERRORS as exc:
        raise malformed(endpoint, exc) from exc


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
            raise MalformedResponse(f"{endpoint} sent more than {limit} characters for {options.num_predict} tokens")
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
