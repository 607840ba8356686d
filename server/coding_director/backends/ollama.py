"""Ollama through the official ``ollama`` AsyncClient.

Wire details relied on (ollama docs/api.md): streamed NDJSON; 404 ``model 'x' not found``; an error
after streaming began arrives as a final ``{"error"}`` line (the client raises ``ResponseError``
with ``status_code == -1``); ``suffix`` on a model without the ``insert`` capability is a 400.
The client's default timeout is infinite, so one is always set here.

Everything goes through the client's public API except ``GET /api/version`` (the client has no
call for it): :meth:`OllamaBackend.health` sends that on an ``httpx.AsyncClient`` of our own,
created on first use with the same timeouts and closed with the backend.

Model residency (:mod:`coding_director.backends.residency`): with a ``residency`` config, every
generation request carries its model's ``keep_alive`` and first makes room for the model (``/api/ps``,
unloading the least recently used chat tier); :meth:`OllamaBackend.load` and :meth:`~OllamaBackend.unload`
are Ollama's documented empty ``/api/generate`` requests (``done_reason`` ``load`` / ``unload``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import ollama

from coding_director.backends import errors
from coding_director.backends.base import (
    Chunk,
    GenerateOptions,
    GeneratePrompt,
    Message,
    ModelInfo,
    PullProgress,
    num_ctx_for,
)
from coding_director.backends.residency import Residency, ResidencyConfig, Resident, full_name
from coding_director.backends.transport import line_limited_transport, shared_ssl_context

#: An ``expires_at`` further away than this (seconds) is Ollama's "forever" (a negative keep_alive).
FOREVER_S = 10 * 365 * 24 * 3600


class OllamaBackend:
    """An Ollama server at ``endpoint`` (``http://host:port``).

    ``connect_timeout_s`` bounds connecting; ``read_timeout_s`` bounds the silence between two
    chunks (the engine bounds whole attempts separately). ``keep_alive`` is passed on every
    request (Ollama duration string such as ``"5m"``, or seconds) unless ``residency`` gives the
    model its own; ``residency`` also makes room before a model loads (see the module docstring).
    """

    provider = "ollama"

    def __init__(
        self,
        endpoint: str,
        *,
        keep_alive: str | float = "5m",
        residency: ResidencyConfig | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 120.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.keep_alive = keep_alive
        self.residency = Residency(self, residency) if residency is not None else None
        self._timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self._client = ollama.AsyncClient(
            host=self.endpoint, timeout=self._timeout, transport=line_limited_transport(httpx, self.endpoint)
        )
        self._http: httpx.AsyncClient | None = None  # for GET /api/version only

    # -- errors -------------------------------------------------------------------------------
    def _translate(self, model: str | None = None) -> contextlib.AbstractContextManager[None]:
        """Map the client's exceptions to :class:`errors.BackendError` subclasses (:meth:`_error`)."""
        return errors.translated(self.endpoint, httpx.TransportError, lambda exc: self._error(exc, model))

    def _error(self, exc: Exception, model: str | None) -> errors.BackendError | None:
        """The error for an exception of the ``ollama`` client or of httpx (``None``: not theirs)."""
        match exc:
            case ollama.ResponseError():
                return self._response_error(exc, model)
            case ConnectionError() | httpx.ConnectError() | httpx.ConnectTimeout():
                where = self.endpoint
                return errors.EndpointUnreachable(
                    f"cannot reach Ollama at {where} (connection refused)",
                    fix=f"start Ollama (`ollama serve`) or point OLLAMA_HOST / [ollama] host at it (now {where})",
                )
            case httpx.HTTPStatusError():
                status = exc.response.status_code
                return errors.BackendError(f"{self.endpoint} answered {status}; is it an Ollama server?")
            case httpx.TimeoutException():
                why = type(exc).__name__
                return errors.BackendTimeout(f"Ollama at {self.endpoint} stopped answering ({why})")
        return None

    def _response_error(self, exc: ollama.ResponseError, model: str | None) -> errors.BackendError:
        if exc.status_code == 404:
            name = model or "model"
            return errors.ModelNotFound(f"model '{name}' not found (404)", fix=f"ollama pull {name}")
        if exc.status_code == -1:
            return errors.StreamInterrupted(f"error mid-stream: {exc.error}")
        if 400 <= exc.status_code < 500:
            return errors.BadRequest(f"rejected by Ollama ({exc.status_code}): {exc.error}")
        return errors.BackendError(f"Ollama error ({exc.status_code}): {exc.error}")

    def _options(self, options: GenerateOptions, prompt_chars: int) -> dict[str, Any]:
        num_ctx = options.num_ctx or num_ctx_for(prompt_chars, options.num_predict, options.max_ctx)
        result: dict[str, Any] = {
            "num_predict": options.num_predict,
            "temperature": options.temperature,
            "num_ctx": num_ctx,
        }
        if options.stop:
            result["stop"] = options.stop
        return result

    @contextlib.asynccontextmanager
    async def _resident(self, model: str) -> AsyncIterator[str | float]:
        """Make room for ``model`` and hold it busy (when residency is on); yields its keep_alive."""
        if self.residency is None:
            yield self.keep_alive
            return
        async with self.residency.use(model) as keep_alive:
            yield keep_alive

    # -- generation ---------------------------------------------------------------------------
    @errors.checked
    async def chat_stream(self, model: str, messages: list[Message], options: GenerateOptions) -> AsyncIterator[Chunk]:
        """Stream ``/api/chat``. ``num_ctx`` is sized from the messages (:func:`num_ctx_for`).
        A malformed stream raises :class:`errors.MalformedResponse` (see :func:`errors.checked_stream`)."""
        size = sum(len(m.content) for m in messages)
        async with self._resident(model) as keep_alive:
            with self._translate(model):
                stream = await self._client.chat(
                    model=model,
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    stream=True,
                    options=self._options(options, size),
                    keep_alive=keep_alive,
                )
                async for part in stream:
                    yield Chunk(
                        text=part.message.content or "",
                        done=bool(part.done),
                        done_reason=part.done_reason,
                        prompt_tokens=part.prompt_eval_count,
                        completion_tokens=part.eval_count,
                    )

    @errors.checked
    async def generate_stream(
        self, model: str, request: GeneratePrompt, options: GenerateOptions
    ) -> AsyncIterator[Chunk]:
        """Stream ``/api/generate``; ``suffix`` asks for fill-in-the-middle (needs ``insert``).
        A malformed stream raises :class:`errors.MalformedResponse` (see :func:`errors.checked_stream`)."""
        size = len(request.prompt) + len(request.suffix or "") + len(request.system or "")
        async with self._resident(model) as keep_alive:
            with self._translate(model):
                stream = await self._client.generate(
                    model=model,
                    prompt=request.prompt,
                    suffix=request.suffix or "",
                    system=request.system or "",
                    raw=request.raw,
                    stream=True,
                    options=self._options(options, size),
                    keep_alive=keep_alive,
                )
                async for part in stream:
                    yield Chunk(
                        text=part.response or "",
                        done=bool(part.done),
                        done_reason=part.done_reason,
                        prompt_tokens=part.prompt_eval_count,
                        completion_tokens=part.eval_count,
                    )

    # -- models -------------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        """``GET /api/tags``: the models present (capabilities are not listed there; see :meth:`show`)."""
        with self._translate():
            listing = await self._client.list()
        return [
            ModelInfo(
                name=m.model or "",
                family=m.details.family if m.details else None,
                parameter_size=m.details.parameter_size if m.details else None,
                size_bytes=int(m.size) if m.size is not None else None,
            )
            for m in listing.models
        ]

    async def show(self, model: str) -> ModelInfo:
        """``POST /api/show``: capabilities such as ``insert`` (FIM). Raises :class:`errors.ModelNotFound`."""
        with self._translate(model):
            shown = await self._client.show(model)
        return ModelInfo(
            name=model,
            capabilities=list(shown.capabilities or []),
            family=shown.details.family if shown.details else None,
            parameter_size=shown.details.parameter_size if shown.details else None,
        )

    async def ps(self) -> list[Resident]:
        """``GET /api/ps``: the models loaded now, with their memory (bytes) and expiry."""
        with self._translate():
            listing = await self._client.ps()
        now = datetime.now(UTC)
        loaded = []
        for m in listing.models:
            expires = (m.expires_at - now).total_seconds() if m.expires_at is not None else math.inf
            loaded.append(
                Resident(
                    model=full_name(m.model or m.name or ""),
                    size_bytes=int(m.size or 0),
                    vram_bytes=int(m.size_vram or 0),
                    expires_in_s=math.inf if expires > FOREVER_S else max(0.0, expires),
                    context_length=m.context_length,
                )
            )
        return loaded

    async def load(self, model: str, keep_alive: str | float, num_ctx: int | None = None) -> None:
        """Load ``model`` with context window ``num_ctx`` (tokens; Ollama's default when ``None``)
        and keep it for ``keep_alive``: an empty ``/api/generate`` (Ollama's documented preload).
        Raises :class:`errors.ModelNotFound` and the other :class:`errors.BackendError` s."""
        options = {"num_ctx": num_ctx} if num_ctx else None
        with self._translate(model):
            await self._client.generate(model=model, prompt="", keep_alive=keep_alive, options=options, stream=False)

    async def unload(self, model: str) -> None:
        """Unload ``model`` now: an empty ``/api/generate`` with ``keep_alive: 0`` (Ollama answers
        ``done_reason: "unload"``; a model that is not loaded stays so)."""
        with self._translate(model):
            await self._client.generate(model=model, prompt="", keep_alive=0, stream=False)

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """``POST /api/pull`` streamed. Raises :class:`errors.BackendError` when the registry refuses."""
        with self._translate(model):
            stream = await self._client.pull(model, stream=True)
            async for part in stream:
                yield PullProgress(
                    status=part.status or "", digest=part.digest, completed=part.completed, total=part.total
                )

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        """``POST /api/embed``: one vector per input."""
        with self._translate(model):
            result = await self._client.embed(model=model, input=inputs, keep_alive=self.keep_alive)
        return [list(vector) for vector in result.embeddings]

    async def health(self) -> str:
        """``GET /api/version``. Raises :class:`errors.EndpointUnreachable` when nothing answers."""
        if self._http is None:
            # the process's one TLS context: building one blocks the event loop for 50-60 ms
            self._http = httpx.AsyncClient(base_url=self.endpoint, timeout=self._timeout, verify=shared_ssl_context())
        with self._translate():
            response = await self._http.get("/api/version")  # the ollama client has no version call
            response.raise_for_status()
            version = response.json().get("version", "?")
        return f"Ollama {version}"

    async def aclose(self) -> None:
        """Close the HTTP connection pools (the client's and the one of :meth:`health`)."""
        await self._client.close()  # type: ignore[no-untyped-call]  # untyped in ollama 0.6.3
        if self._http is not None:
            await self._http.aclose()
            self._http = None
