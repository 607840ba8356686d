"""A transport wrapper that bounds one line of a streamed response body.

Both clients split streamed bodies into lines themselves (``ollama``: ``httpx`` ``aiter_lines``;
``openai``: its SSE decoder over ``httpx2``) and only parse a line once it is complete. A server
that sends megabytes without a newline makes them buffer it all, and the ``openai`` SSE decoder
re-scans its buffer on every network chunk (a 10 MB line blocked the event loop for about 2 s
here). The wrapper counts the bytes since the last ``\\n`` as they arrive and raises
:class:`~coding_director.backends.errors.MalformedResponse` past :data:`MAX_LINE_BYTES`, before
either client sees the line. It is installed with each client's public ``transport`` argument.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

import certifi

from coding_director.backends.errors import MalformedResponse

__all__ = ["MAX_LINE_BYTES", "line_limited_transport", "shared_ssl_context"]

#: Longest line of a streamed body accepted (bytes). One NDJSON/SSE message of a model server
#: carries one token or a few; 1 MiB leaves room for a whole non-streamed answer on one line.
MAX_LINE_BYTES = 1 << 20


@cache
def _transport_class(module: Any) -> Any:
    """The wrapper classes for an ``httpx``-compatible ``module`` (``httpx`` or ``httpx2``)."""

    class LineLimitedStream(module.AsyncByteStream):  # type: ignore[misc]
        def __init__(self, inner: Any, endpoint: str, limit: int) -> None:
            self._inner, self._endpoint, self._limit = inner, endpoint, limit

        async def __aiter__(self) -> AsyncIterator[bytes]:
            run = 0  # bytes since the last newline
            async for chunk in self._inner:
                first = chunk.find(b"\n")
                if (run + len(chunk) if first < 0 else run + first) > self._limit:
                    raise MalformedResponse(
                        f"{self._endpoint} sent a line longer than {self._limit} bytes"
                    )
                run = run + len(chunk) if first < 0 else len(chunk) - chunk.rfind(b"\n") - 1
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    class LineLimitedTransport(module.AsyncBaseTransport):  # type: ignore[misc]
        def __init__(self, inner: Any, endpoint: str, limit: int) -> None:
            self._inner, self._endpoint, self._limit = inner, endpoint, limit

        async def handle_async_request(self, request: Any) -> Any:
            response = await self._inner.handle_async_request(request)
            response.stream = LineLimitedStream(response.stream, self._endpoint, self._limit)
            return response

        async def aclose(self) -> None:
            await self._inner.aclose()

    return LineLimitedTransport


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context (certifi's CA bundle, as httpx's default) for every transport of the
    process: building one costs 0.2-0.3 s here, which a per-backend context spent inside the first
    attempt's timeout."""
    return ssl.create_default_context(cafile=certifi.where())


def line_limited_transport(module: Any, endpoint: str, limit: int = MAX_LINE_BYTES) -> Any:
    """An ``AsyncBaseTransport`` of ``module`` (``httpx`` or ``httpx2``) over its
    ``AsyncHTTPTransport`` (with :func:`shared_ssl_context`) whose response bodies raise
    :class:`MalformedResponse` (while being read) at a line longer than ``limit`` bytes;
    ``endpoint`` names the server in the message."""
    inner = module.AsyncHTTPTransport(verify=shared_ssl_context())
    return _transport_class(module)(inner, endpoint, limit)
