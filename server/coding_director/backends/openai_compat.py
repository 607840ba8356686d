"""Any OpenAI-compatible server through the official ``openai`` package.

This is how a tier points at a shared serving engine (vLLM, llama.cpp's ``llama-server``,
LM Studio, OpenRouter, or Ollama's own ``/v1``). ``base_url`` includes the ``/v1`` prefix.
Such servers have no pull and no capability listing: every listed model is taken to support
``completion`` only (fill-in-the-middle is not assumed).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, cast

import httpx2
import openai
from openai import AsyncStream
from openai.types import Completion
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from coding_director.backends import errors
from coding_director.backends.base import Chunk, GenerateOptions, GeneratePrompt, Message, ModelInfo, PullProgress
from coding_director.backends.transport import line_limited_transport

#: The longest wait a ``Retry-After`` is believed for (a day); longer or malformed values count as unknown.
MAX_RETRY_AFTER_S = 86400.0


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a 429 response asks the client to wait, or ``None`` when it does not say.

    ``Retry-After`` is either delay-seconds or an HTTP-date (RFC 9110, section 10.2.3); OpenAI and
    OpenRouter may also send ``retry-after-ms`` (milliseconds), which wins when present. ``now`` is
    the Unix time an HTTP-date is measured from (default: the clock). Values that are negative,
    not finite or above :data:`MAX_RETRY_AFTER_S` are ``None``.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    seconds: float | None = None
    if "retry-after-ms" in lowered:
        with contextlib.suppress(ValueError):
            seconds = float(lowered["retry-after-ms"]) / 1000
    if seconds is None and "retry-after" in lowered:
        value = lowered["retry-after"].strip()
        try:
            seconds = float(value)
        except ValueError:
            with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
                seconds = parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now)
    if seconds is None or not math.isfinite(seconds) or seconds > MAX_RETRY_AFTER_S:
        return None
    return max(0.0, seconds)


class OpenAICompatBackend:
    """An OpenAI-compatible server at ``endpoint`` (e.g. ``http://127.0.0.1:8080/v1``).

    The API key is read from the environment variable ``api_key_env`` (servers on a local machine
    usually need none; a placeholder is sent then). Retries are disabled: escalation is the retry.
    """

    provider = "openai"

    def __init__(
        self,
        endpoint: str,
        *,
        api_key_env: str | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 120.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_key_env = api_key_env
        key = os.environ.get(api_key_env, "") if api_key_env else ""
        self._client = openai.AsyncOpenAI(
            base_url=self.endpoint,
            api_key=key or "not-needed",
            timeout=openai.Timeout(read_timeout_s, connect=connect_timeout_s),
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(transport=line_limited_transport(httpx2, self.endpoint)),
        )

    def _translate(self, model: str | None = None) -> contextlib.AbstractContextManager[None]:
        """Map the ``openai`` package's exceptions to :class:`errors.BackendError` subclasses (:meth:`_error`)."""
        return errors.translated(self.endpoint, httpx2.TransportError, lambda exc: self._error(exc, model))

    def _error(self, exc: Exception, model: str | None) -> errors.BackendError | None:
        """The error for an exception of the ``openai`` package (``None``: not one of its own)."""
        match exc:
            case openai.APITimeoutError():
                return errors.BackendTimeout(f"{self.endpoint} stopped answering (timeout)")
            case openai.APIConnectionError():
                return errors.EndpointUnreachable(
                    f"cannot reach the OpenAI-compatible server at {self.endpoint}",
                    fix=f"start the server or fix base_url of this tier (now {self.endpoint})",
                )
            case openai.RateLimitError():
                wait = retry_after_seconds(exc.response.headers)
                said = f", Retry-After {wait:g} s" if wait is not None else ""
                reason = f"rate limited (429) by {self.endpoint}{said}: {exc.message}"
                return errors.RateLimited(reason, retry_after_s=wait)
            case openai.AuthenticationError():
                where = self.api_key_env
                return errors.BadRequest(
                    f"rejected (401) by {self.endpoint}: {exc.message}",
                    fix=f"export {where}=<your API key> before starting Coding Director"
                    if where
                    else "set api_key_env of this tier to the name of the variable holding the API key",
                )
            case openai.NotFoundError():
                name = model or "model"
                return errors.ModelNotFound(
                    f"model '{name}' not found (404) at {self.endpoint}",
                    fix=f"load '{name}' on the server at {self.endpoint} or change the tier's model",
                )
            case openai.APIStatusError() if 400 <= exc.status_code < 500:
                return errors.BadRequest(f"rejected ({exc.status_code}): {exc.message}")
            case openai.APIStatusError():
                return errors.BackendError(f"server error ({exc.status_code}): {exc.message}")
            case openai.APIError():
                return errors.StreamInterrupted(f"error mid-stream: {exc.message}")
        return None

    @errors.checked
    async def chat_stream(self, model: str, messages: list[Message], options: GenerateOptions) -> AsyncIterator[Chunk]:
        """Stream ``/chat/completions``. The answer is complete once a choice has a
        ``finish_reason``; a stream that ends before (no ``[DONE]`` either), or is malformed,
        raises :class:`errors.MalformedResponse` (see :func:`errors.checked_stream`). With
        ``options.include_usage`` the server is asked for the token counts (a last chunk with
        ``prompt_tokens``/``completion_tokens``). A 429 raises :class:`errors.RateLimited`."""
        finished = False
        extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if options.include_usage else {}
        with self._translate(model):
            stream: AsyncStream[ChatCompletionChunk] = await self._client.chat.completions.create(
                model=model,
                messages=cast(
                    "list[ChatCompletionMessageParam]", [{"role": m.role, "content": m.content} for m in messages]
                ),
                stream=True,
                max_tokens=options.num_predict,
                temperature=options.temperature,
                stop=options.stop[:4] or None,  # the OpenAI API accepts at most 4 stop sequences
                **extra,
            )
            async with stream:
                async for part in stream:
                    for choice in part.choices:
                        finished = finished or choice.finish_reason is not None
                        yield Chunk(text=choice.delta.content or "", done_reason=choice.finish_reason)
                    if part.usage is not None:
                        yield Chunk(
                            prompt_tokens=part.usage.prompt_tokens,
                            completion_tokens=part.usage.completion_tokens,
                        )
        yield Chunk(done=finished)

    @errors.checked
    async def generate_stream(
        self, model: str, request: GeneratePrompt, options: GenerateOptions
    ) -> AsyncIterator[Chunk]:
        """Stream ``/completions`` (the legacy text endpoint; ``suffix`` where the server supports it).
        ``system`` is prepended to the prompt since the endpoint has no system role. Complete and
        malformed streams as for :meth:`chat_stream`."""
        text = f"{request.system}\n\n{request.prompt}" if request.system else request.prompt
        finished = False
        with self._translate(model):
            stream: AsyncStream[Completion] = await self._client.completions.create(
                model=model,
                prompt=text,
                stream=True,
                max_tokens=options.num_predict,
                temperature=options.temperature,
                stop=options.stop[:4] or None,
                suffix=request.suffix,
            )
            async with stream:
                async for part in stream:
                    for choice in part.choices:
                        finished = finished or choice.finish_reason is not None
                        yield Chunk(text=choice.text or "", done_reason=choice.finish_reason)
        yield Chunk(done=finished)

    async def list_models(self) -> list[ModelInfo]:
        """``GET /models``."""
        with self._translate():
            page = await self._client.models.list()
        return [ModelInfo(name=m.id, capabilities=["completion"]) async for m in page]

    async def show(self, model: str) -> ModelInfo:
        """The listed model called ``model``. Raises :class:`errors.ModelNotFound` when it is not listed."""
        for info in await self.list_models():
            if info.name == model:
                return info
        raise errors.ModelNotFound(
            f"model '{model}' not served at {self.endpoint}",
            fix=f"load '{model}' on the server at {self.endpoint} or change the tier's model",
        )

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Not available: OpenAI-compatible servers load models themselves. Always raises
        :class:`errors.NotSupported`."""
        raise errors.NotSupported(
            f"{self.endpoint} is an OpenAI-compatible server: it cannot pull '{model}'",
            fix=f"load '{model}' on that server (e.g. `vllm serve {model}` or llama-server --model FILE)",
        )
        yield PullProgress(status="")  # pragma: no cover - makes this an async generator

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        """``POST /embeddings``."""
        with self._translate(model):
            result = await self._client.embeddings.create(model=model, input=inputs)
        return [list(item.embedding) for item in result.data]

    async def health(self) -> str:
        """Lists the models to prove the server answers. Raises :class:`errors.EndpointUnreachable`."""
        models = await self.list_models()
        return f"OpenAI-compatible server, {len(models)} model(s)"

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()
