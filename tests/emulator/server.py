"""An Ollama HTTP server emulator for tests, built on aiohttp's web server.

It speaks the Ollama wire format (``/api/*``, NDJSON streaming, durations in nanoseconds) and the OpenAI-
compatible endpoints Ollama serves (``/v1/*``, SSE streaming), answering from :class:`ScriptedModel` scripts,
and records every request it receives. Run it in a background thread (``with OllamaEmulator(...) as emu``),
on the caller's event loop (``await emu.start_async()``), or from the command line (``python -m
tests.emulator``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from .models import (
    LOOP_MAX_CHUNKS,
    RecordedRequest,
    ScriptedError,
    ScriptedModel,
    ScriptRequest,
    count_tokens,
    embed_text,
    embedding_base64,
    normalize_name,
    now_ns,
    token_ids,
)
from .scheduler import DEFAULT_KEEP_ALIVE_S, KeepAliveError, Runner, Scheduler, parse_keep_alive

__all__ = ["OllamaEmulator"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Endpoint = Literal["generate", "chat", "openai_chat", "openai_completion"]

_REC = web.RequestKey("emulator_record", RecordedRequest)
_RAW = web.RequestKey("emulator_raw_body", bytes)

PULL_UNKNOWN_ERROR = "pull model manifest: file does not exist"


#: Path of the emulator's own request-log endpoint (see ``OllamaEmulator._inspect_requests``).
INSPECT_PATH = "/_emulator/requests"


def _rfc3339(dt: datetime | None = None) -> str:
    """RFC3339 UTC timestamp with a ``Z`` suffix and sub-second precision, as Ollama writes it."""
    dt = dt or datetime.now(UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _ClientGone(Exception):
    """The client closed the connection while the emulator was writing."""


@dataclass
class _Plan:
    """What an inference request will produce."""

    model: ScriptedModel
    chunks: list[str]
    done_reason: str
    prompt_tokens: int
    stream: bool
    prompt_text: str


class OllamaEmulator:
    """An emulated Ollama server on 127.0.0.1 answering from scripted models.

    Args:
        models: installed models (listed by ``/api/tags``, usable by generate/chat/show/embed and ``/v1``).
        pullable: models present only in the emulated registry: ``/api/pull`` installs them. Installed
            models can be pulled again too; any other name fails with
            ``{"error": "pull model manifest: file does not exist"}``.
        host: bind address (keep ``127.0.0.1``).
        port: TCP port; ``0`` (default) picks an ephemeral port, see :attr:`url` after start.
        version: what ``/api/version`` reports.
        pull_steps: ``pulling <digest>`` progress lines per layer.
        memory_bytes: system RAM for loaded models, in bytes (``None``: unlimited).
        vram_bytes: GPU memory for loaded models, in bytes (``None``: room for every model, so
            ``/api/ps`` reports ``size_vram == size``; ``0``: CPU only).
        max_loaded_models: ``OLLAMA_MAX_LOADED_MODELS`` (Ollama's default 3; 0: no limit).
        keep_alive_s: ``OLLAMA_KEEP_ALIVE`` in seconds (default 5 minutes).

    Which models are loaded, for how long and what is unloaded to make room follow Ollama's
    scheduler (see :mod:`.scheduler`); :attr:`scheduler` holds that state (``scheduler.unloaded``
    lists every unload in order).

    Use ``with OllamaEmulator(models=[...]) as emu:`` (background thread with its own loop), or ``start()`` /
    ``stop()``; in async code on the running loop, ``await start_async()`` / ``await stop_async()``.
    There is no artificial latency unless a model sets ``first_token_delay_ms`` / ``chunk_delay_ms``.
    """

    def __init__(
        self,
        models: Iterable[ScriptedModel] = (),
        *,
        pullable: Iterable[ScriptedModel] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = "0.12.6",
        pull_steps: int = 4,
        memory_bytes: int | None = None,
        vram_bytes: int | None = None,
        max_loaded_models: int = 3,
        keep_alive_s: float = DEFAULT_KEEP_ALIVE_S,
    ) -> None:
        self.host = host
        self.port = port
        self.version = version
        self.pull_steps = max(1, pull_steps)
        self._models: dict[str, ScriptedModel] = {}
        self._registry: dict[str, ScriptedModel] = {}
        self._modified: dict[str, datetime] = {}
        self.scheduler = Scheduler(memory_bytes, vram_bytes, max_loaded_models, keep_alive_s)
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        for m in models:
            self.add_model(m)
        for m in pullable:
            self.add_pullable(m)

    # ------------------------------------------------------------------ model management
    def add_model(self, model: ScriptedModel) -> ScriptedModel:
        """Install ``model`` (replacing one of the same name); returns it."""
        self._models[model.name] = model
        self._modified[model.name] = datetime.now(UTC)
        return model

    def remove_model(self, name: str) -> None:
        """Uninstall a model (no error when absent)."""
        self._models.pop(normalize_name(name), None)
        self.scheduler.forget(normalize_name(name))

    def add_pullable(self, model: ScriptedModel) -> ScriptedModel:
        """Put ``model`` in the emulated registry (pullable, not installed); returns it."""
        self._registry[model.name] = model
        return model

    @property
    def loaded(self) -> list[str]:
        """Names of the models loaded now (what ``/api/ps`` lists), latest expiry first."""
        return [runner.model.name for runner, _ in self.scheduler.ps()]

    @property
    def models(self) -> dict[str, ScriptedModel]:
        """Installed models by full name (a copy)."""
        return dict(self._models)

    def get_model(self, name: str) -> ScriptedModel | None:
        """The installed model called ``name`` (``":latest"`` implied), or ``None``."""
        return self._models.get(normalize_name(name))

    # ------------------------------------------------------------------ recorded requests
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a snapshot list of live records)."""
        with self._lock:
            return list(self._requests)

    def calls(
        self, path: str | None = None, model: str | None = None, method: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by exact ``path``, ``model`` (``":latest"`` implied) and ``method``."""
        want = normalize_name(model) if model is not None else None
        out = []
        for r in self.requests:
            if path is not None and r.path != path:
                continue
            if method is not None and r.method != method.upper():
                continue
            if want is not None and (r.model is None or normalize_name(r.model) != want):
                continue
            out.append(r)
        return out

    def reset_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def wait_for(self, condition: Callable[[], bool], within: float = 5.0, interval: float = 0.01) -> bool:
        """Poll ``condition`` from a synchronous test until true or ``within`` seconds pass; returns it."""
        deadline = time.monotonic() + within
        while True:
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    async def wait_for_async(
        self, condition: Callable[[], bool], within: float = 5.0, interval: float = 0.01
    ) -> bool:
        """Like :meth:`wait_for`, for async tests (does not block the caller's loop)."""
        deadline = time.monotonic() + within
        while True:
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(interval)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (valid once started)."""
        if not self.port:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._runner is not None

    def build_app(self) -> web.Application:
        """The aiohttp application (routes + recording middleware)."""
        app = web.Application(middlewares=[self._record_middleware], client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_get("/", self._root)
        r.add_get("/api/version", self._version)
        r.add_get("/api/tags", self._tags)
        r.add_get("/api/ps", self._ps)
        r.add_post("/api/show", self._show)
        r.add_post("/api/generate", self._generate)
        r.add_post("/api/chat", self._chat)
        r.add_post("/api/embed", self._embed)
        r.add_post("/api/embeddings", self._embeddings_legacy)
        r.add_post("/api/pull", self._pull)
        r.add_delete("/api/delete", self._delete)
        r.add_get("/v1/models", self._v1_models)
        r.add_get("/v1/models/{model:.+}", self._v1_model)
        r.add_post("/v1/chat/completions", self._v1_chat)
        r.add_post("/v1/completions", self._v1_completions)
        r.add_post("/v1/embeddings", self._v1_embeddings)
        r.add_get(INSPECT_PATH, self._inspect_requests)
        return app

    async def start_async(self) -> OllamaEmulator:
        """Start serving on the running event loop; returns ``self``."""
        if self._runner is not None:
            return self
        runner = web.AppRunner(
            self.build_app(),
            handle_signals=False,
            shutdown_timeout=0.1,
            handler_cancellation=True,
            access_log=None,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1])
        return self

    async def stop_async(self) -> None:
        """Stop serving (in-flight streams are cut)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._stopping = True  # cut streams are not "closed early" by the client
            try:
                await runner.cleanup()
            finally:
                self._stopping = False

    def start(self, timeout: float = 10.0) -> OllamaEmulator:
        """Start in a background thread with its own event loop; returns ``self`` once listening."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(self.stop_async())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"ollama-emulator-{id(self):x}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the Ollama emulator did not start in time")
        if failure:
            self._thread.join()
            self._thread = None
            self._loop = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background server and join its thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self.stop_async(), loop)
        with contextlib.suppress(Exception):
            fut.result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        self._loop = None

    def __enter__(self) -> OllamaEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> OllamaEmulator:
        return await self.start_async()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_async()

    # ------------------------------------------------------------------ plumbing
    @web.middleware
    async def _record_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == INSPECT_PATH:  # the test's own look at the log is not part of it
            return await handler(request)
        raw = await request.read()
        body: Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            body=body,
            timestamp=time.time(),
            model=body.get("model") or body.get("name") if isinstance(body, dict) else None,
            peer=":".join(map(str, request.transport.get_extra_info("peername") or ())) if request.transport else "",
        )
        with self._lock:
            self._requests.append(rec)
        request[_REC] = rec
        request[_RAW] = raw
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            rec.status = exc.status
            rec.completed = True
            raise
        except asyncio.CancelledError:
            if not rec.completed and not self._stopping:
                rec.closed_early = True
            raise
        except _ClientGone:  # the client left before the response could even start
            rec.closed_early = not self._stopping
            return web.Response(status=499)
        if rec.status == 0:
            rec.status = resp.status
        if not rec.streamed:
            rec.completed = True
        return resp

    @staticmethod
    def _err(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"error": message}, status=status, dumps=_dumps, headers=headers)

    @staticmethod
    def _oai_err(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        etype = {400: "invalid_request_error", 404: "not_found_error", 429: "rate_limit_error"}.get(status, "api_error")
        body = {"error": {"message": message, "type": etype, "param": None, "code": None}}
        return web.json_response(body, status=status, dumps=_dumps, headers=headers)

    def _body(self, request: web.Request) -> dict[str, Any] | str:
        """The JSON object body, or an error message."""
        raw = request[_RAW]
        if not raw.strip():
            return "missing request body"
        body = request[_REC].body
        if body is None:
            return "invalid request body: not valid JSON"
        if not isinstance(body, dict):
            return f"invalid request body: expected a JSON object, got {type(body).__name__}"
        return body

    async def _acquire(self, m: ScriptedModel, body: dict[str, Any]) -> Runner | str:
        """Schedule ``m`` for a request with ``body`` (its ``keep_alive``, ``options.num_ctx``); the
        runner, or the error message of a model that can never fit."""
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        num_ctx = options.get("num_ctx") if isinstance(options.get("num_ctx"), int) else None
        try:
            return await self.scheduler.acquire(m, parse_keep_alive(body.get("keep_alive")), num_ctx)
        except MemoryError as exc:
            return str(exc)

    def _details(self, m: ScriptedModel) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": m.family,
            "families": [m.family],
            "parameter_size": m.parameter_size,
            "quantization_level": m.quantization_level,
        }

    def _tag_entry(self, m: ScriptedModel) -> dict[str, Any]:
        return {
            "name": m.name,
            "model": m.name,
            "modified_at": _rfc3339(self._modified.get(m.name)),
            "size": m.size,
            "digest": m.digest,
            "details": self._details(m),
        }

    # ------------------------------------------------------------------ simple endpoints
    async def _inspect_requests(self, request: web.Request) -> web.StreamResponse:
        """``GET /_emulator/requests``: the request log for tests in another process (the e2e tests):
        a JSON list of ``{method, path, model, status, streamed, chunks_sent, completed, closed_early}``,
        oldest first. Not an Ollama endpoint; not recorded itself."""
        fields = ("method", "path", "model", "status", "streamed", "chunks_sent", "completed", "closed_early")
        return web.json_response([{f: getattr(r, f) for f in fields} for r in self.requests])

    async def _root(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="Ollama is running")

    async def _version(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"version": self.version})

    async def _tags(self, request: web.Request) -> web.StreamResponse:
        models = [self._tag_entry(m) for m in self._models.values()]
        return web.json_response({"models": models}, dumps=_dumps)

    async def _ps(self, request: web.Request) -> web.StreamResponse:
        out = []
        for runner, expires in self.scheduler.ps():
            entry = self._tag_entry(runner.model)
            del entry["modified_at"]
            entry.update(size=runner.size, expires_at=_rfc3339(expires), size_vram=runner.vram)
            entry["context_length"] = runner.num_ctx
            out.append(entry)
        return web.json_response({"models": out}, dumps=_dumps)

    async def _show(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        if isinstance(body, str):
            return self._err(400, body)
        name = body.get("model") or body.get("name")
        if not name:
            return self._err(400, "model is required")
        m = self.get_model(str(name))
        if m is None:
            return self._err(404, f"model '{name}' not found")
        arch = m.family
        info: dict[str, Any] = {
            "general.architecture": arch,
            "general.basename": m.name.split(":")[0],
            "general.parameter_count": m.parameter_count,
            f"{arch}.context_length": m.context_length,
            f"{arch}.embedding_length": m.embedding_dim,
        }
        template = "{{ .Prompt }}"
        if m.supports("insert"):
            template = (
                "{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>"
                "{{- else }}{{ .Prompt }}{{- end }}"
            )
        return web.json_response(
            {
                "license": "",
                "modelfile": f"# Modelfile (Ollama emulator)\nFROM {m.name}\nTEMPLATE {template!r}\n",
                "parameters": 'stop                           "<|endoftext|>"',
                "template": template,
                "details": self._details(m),
                "model_info": info,
                "capabilities": list(m.capabilities),
                "modified_at": _rfc3339(self._modified.get(m.name)),
            },
            dumps=_dumps,
        )

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        if isinstance(body, str):
            return self._err(400, body)
        name = str(body.get("model") or body.get("name") or "")
        if self.get_model(name) is None:
            return self._err(404, f"model '{name}' not found")
        self.remove_model(name)
        return web.Response(status=200)

    # ------------------------------------------------------------------ embeddings
    def _embed_check(self, body: dict[str, Any]) -> tuple[ScriptedModel | None, web.Response | None]:
        name = str(body.get("model") or "")
        if not name:
            return None, self._err(400, "model is required")
        m = self.get_model(name)
        if m is None:
            return None, self._err(404, f"model '{name}' not found")
        if m.status != 200:
            return None, self._err(m.status, m.http_error)
        return m, None

    async def _embed(self, request: web.Request) -> web.StreamResponse:
        start = now_ns()
        body = self._body(request)
        if isinstance(body, str):
            return self._err(400, body)
        bad_keep_alive = _keep_alive_error(body)
        if bad_keep_alive:
            return self._err(400, bad_keep_alive)
        m, err = self._embed_check(body)
        if err is not None or m is None:
            return err or self._err(500, "unreachable")
        raw_input = body.get("input")
        inputs: list[str]
        if raw_input is None:
            inputs = []
        elif isinstance(raw_input, str):
            inputs = [raw_input]
        elif isinstance(raw_input, list) and all(isinstance(x, str) for x in raw_input):
            inputs = list(raw_input)
        else:
            return self._err(400, "invalid input type")
        dim = int(body.get("dimensions") or m.embedding_dim)
        runner = await self._acquire(m, body)
        if isinstance(runner, str):
            return self._err(500, runner)
        try:
            await self._delay(m.first_token_delay_ms)
            vectors = [embed_text(m.name, t, m.embedding_dim)[:dim] for t in inputs]
        finally:
            await self.scheduler.release(runner)
        total = max(1, now_ns() - start)
        return web.json_response(
            {
                "model": m.name,
                "embeddings": vectors,
                "total_duration": total,
                "load_duration": max(1, total // 10),
                "prompt_eval_count": sum(count_tokens(t) for t in inputs),
            },
            dumps=_dumps,
        )

    async def _embeddings_legacy(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        if isinstance(body, str):
            return self._err(400, body)
        m, err = self._embed_check(body)
        if err is not None or m is None:
            return err or self._err(500, "unreachable")
        prompt = str(body.get("prompt") or "")
        vec = embed_text(m.name, prompt, m.embedding_dim) if prompt else []
        return web.json_response({"embedding": vec}, dumps=_dumps)

    # ------------------------------------------------------------------ pull
    async def _pull(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        if isinstance(body, str):
            return self._err(400, body)
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            return self._err(400, "model is required")
        full = normalize_name(name)
        source = self._registry.get(full) or self._models.get(full)
        stream = body.get("stream", True) is not False
        rec = request[_REC]

        def lines() -> list[dict[str, Any]]:
            if source is None:
                return [{"status": "pulling manifest"}, {"error": PULL_UNKNOWN_ERROR}]
            out: list[dict[str, Any]] = [{"status": "pulling manifest"}]
            layers = [(source.digest, source.size), (source.digest[::-1], 1_480 + len(source.name))]
            for digest, total in layers:
                for step in range(1, self.pull_steps + 1):
                    out.append(
                        {
                            "status": f"pulling {digest[:12]}",
                            "digest": f"sha256:{digest}",
                            "total": total,
                            "completed": total * step // self.pull_steps,
                        }
                    )
            out += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}]
            out.append({"status": "success"})
            return out

        delay = source.chunk_delay_ms if source is not None else 0.0
        if not stream:
            for _ in lines()[:-1]:
                await self._delay(delay)
            if source is None:
                return self._err(500, PULL_UNKNOWN_ERROR)
            self._install_pulled(source)
            return web.json_response({"status": "success"})

        resp = await self._open_stream(request, "application/x-ndjson")
        try:
            for i, line in enumerate(lines()):
                if i:
                    await self._delay(delay)
                if line.get("status") == "success" and source is not None:
                    self._install_pulled(source)
                await self._send(request, resp, _dumps(line) + "\n")
                rec.chunks_sent += 1
            await resp.write_eof()
            rec.completed = True
        except _ClientGone:
            rec.closed_early = not self._stopping
        return resp

    def _install_pulled(self, source: ScriptedModel) -> None:
        if source.name not in self._models:
            self.add_model(source)

    # ------------------------------------------------------------------ inference
    async def _generate(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "generate")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "chat")

    async def _v1_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "openai_chat")

    async def _v1_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._inference(request, "openai_completion")

    @staticmethod
    def _script_request(endpoint: Endpoint, name: str, body: dict[str, Any]) -> ScriptRequest:
        options = dict(body.get("options") or {})
        messages = [dict(x) for x in body.get("messages") or [] if isinstance(x, dict)]
        if endpoint.startswith("openai"):
            for src, dst in (
                ("max_tokens", "num_predict"),
                ("max_completion_tokens", "num_predict"),
                ("temperature", "temperature"),
                ("top_p", "top_p"),
                ("seed", "seed"),
                ("frequency_penalty", "frequency_penalty"),
                ("presence_penalty", "presence_penalty"),
            ):
                if body.get(src) is not None:
                    options[dst] = body[src]
            stop = body.get("stop")
            if stop is not None:
                options["stop"] = [stop] if isinstance(stop, str) else list(stop)
        prompt = body.get("prompt") or ""
        if isinstance(prompt, list):
            prompt = "".join(str(p) for p in prompt)
        system = str(body.get("system") or "")
        if messages:
            users = [m for m in messages if m.get("role") == "user"]
            prompt = _content_text(users[-1].get("content")) if users else ""
            systems = [m for m in messages if m.get("role") == "system"]
            if systems and not system:
                system = _content_text(systems[0].get("content"))
        return ScriptRequest(
            endpoint=endpoint,
            model=name,
            prompt=str(prompt),
            suffix=str(body.get("suffix") or ""),
            system=system,
            messages=messages,
            options=options,
            body=body,
        )

    async def _inference(self, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        start = now_ns()
        rec = request[_REC]
        oai = endpoint.startswith("openai")
        err = self._oai_err if oai else self._err
        body = self._body(request)
        if isinstance(body, str):
            return err(400, body)
        bad_keep_alive = None if oai else _keep_alive_error(body)
        if bad_keep_alive:
            return err(400, bad_keep_alive)
        name = str(body.get("model") or "")
        if not name:
            return err(400, "model is required")
        m = self.get_model(name)
        if m is None:
            return err(404, f"model '{name}' not found")
        req = self._script_request(endpoint, m.name, body)
        is_chat = endpoint in ("chat", "openai_chat")
        # Ollama's "load" / "unload" requests: no prompt (generate) or no messages (chat).
        load_only = (endpoint == "generate" and not req.prompt) or (endpoint == "chat" and not req.messages)
        if load_only and parse_keep_alive(body.get("keep_alive")) == 0:
            self.scheduler.expire_runner(m.name)  # before any capability check, as Ollama does
            return web.json_response(_load_answer(endpoint, name, "unload"), dumps=_dumps)
        if not m.supports("completion"):
            return err(400, f'"{m.name}" does not support {"chat" if is_chat else "generate"}')
        if req.suffix and not m.supports("insert"):
            return err(400, f"{m.name} does not support insert")
        if body.get("tools") and not m.supports("tools"):
            return err(400, f"{m.name} does not support tools")
        if endpoint == "openai_chat" and not req.messages:
            return err(400, "[] is too short - 'messages'")
        # Ollama streams unless told not to; the OpenAI endpoints stream only when asked.
        stream = body.get("stream") is True if oai else body.get("stream", True) is not False
        if load_only and m.status == 200:  # the model loads; one JSON object even when streaming
            runner = await self._acquire(m, body)
            if isinstance(runner, str):
                return err(500, runner)
            await self.scheduler.release(runner)
            return web.json_response(_load_answer(endpoint, name, "load"), dumps=_dumps)
        if m.status != 200:
            return err(m.status, m.http_error, m.error_headers)
        try:
            chunks = m.render_chunks(req)
        except ScriptedError as exc:
            return err(exc.status, exc.message, exc.headers)
        if m.loop and chunks:
            limit = req.options.get("num_predict")
            capped = isinstance(limit, int) and limit > 0 and not m.ignore_num_predict
            total = limit + 1 if capped else LOOP_MAX_CHUNKS  # one more, so the cut says "length"
            chunks = [chunks[i % len(chunks)] for i in range(total)]
        options = {k: v for k, v in req.options.items() if k != "num_predict"} if m.ignore_num_predict else req.options
        chunks, done_reason = _apply_limits(chunks, options, m.done_reason)
        prompt_text = (
            req.system
            + req.prompt
            + req.suffix
            + "".join(_content_text(x.get("content")) for x in req.messages)
        )
        plan = _Plan(m, chunks, done_reason, max(1, count_tokens(prompt_text)), stream, prompt_text)
        runner = await self._acquire(m, {} if oai else body)
        if isinstance(runner, str):
            return err(500, runner)
        fmt = _Formatter(endpoint, m.name, next(self._ids), body)
        try:
            if not stream:
                return await self._answer_whole(rec, plan, fmt, start, err)
            return await self._answer_stream(request, rec, plan, fmt, start)
        finally:
            await self.scheduler.release(runner)

    async def _answer_whole(
        self,
        rec: RecordedRequest,
        plan: _Plan,
        fmt: _Formatter,
        start: int,
        err: Callable[[int, str], web.Response],
    ) -> web.StreamResponse:
        m = plan.model
        await self._delay(m.first_token_delay_ms)
        first = now_ns()
        limit = m.error_after_chunks
        for i in range(len(plan.chunks)):
            if limit is not None and i >= limit:
                break
            if i:
                await self._delay(m.chunk_delay_ms)
            rec.chunks_sent += 1
        if limit is not None:
            return err(500, m.error_message)
        metrics = _metrics(plan, start, first, now_ns())
        return web.json_response(fmt.whole("".join(plan.chunks), plan, metrics), dumps=_dumps)

    async def _answer_stream(
        self, request: web.Request, rec: RecordedRequest, plan: _Plan, fmt: _Formatter, start: int
    ) -> web.StreamResponse:
        m = plan.model
        rec.streamed = True
        resp = await self._open_stream(request, fmt.content_type)
        try:
            await self._delay(m.first_token_delay_ms)
            first = now_ns()
            limit = m.error_after_chunks
            if m.stream_fault is not None:
                limit = m.fault_after_chunks if limit is None else min(limit, m.fault_after_chunks)
            for i, chunk in enumerate(plan.chunks):
                if limit is not None and i >= limit:
                    break
                if i:
                    await self._delay(m.chunk_delay_ms)
                await self._send(request, resp, fmt.chunk(chunk, first=i == 0))
                rec.chunks_sent += 1
            if m.stream_fault is not None:
                if not await self._send_fault(request, resp, fmt, m):
                    return resp  # the body ends here, cut off
                metrics = _metrics(plan, start, first, now_ns())
                await self._send(request, resp, fmt.final(plan, metrics))
            elif limit is not None:
                await self._send(request, resp, fmt.stream_error(m.error_message))
            else:
                metrics = _metrics(plan, start, first, now_ns())
                await self._send(request, resp, fmt.final(plan, metrics))
            await resp.write_eof()
            rec.completed = True
        except _ClientGone:
            rec.closed_early = not self._stopping
        return resp

    async def _open_stream(self, request: web.Request, content_type: str) -> web.StreamResponse:
        rec = request[_REC]
        rec.streamed = True
        resp = web.StreamResponse(status=200)
        resp.content_type = content_type
        if content_type == "text/event-stream":
            resp.headers["Cache-Control"] = "no-cache"
        resp.enable_chunked_encoding()
        rec.status = 200
        try:
            await resp.prepare(request)
        except (ConnectionResetError, ConnectionError) as exc:
            raise _ClientGone from exc
        return resp

    @staticmethod
    async def _send(request: web.Request, resp: web.StreamResponse, data: str | bytes) -> None:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone
        try:
            await resp.write(data.encode() if isinstance(data, str) else data)
        except (ConnectionResetError, ConnectionError) as exc:
            raise _ClientGone from exc

    async def _send_fault(
        self, request: web.Request, resp: web.StreamResponse, fmt: _Formatter, m: ScriptedModel
    ) -> bool:
        """Write ``m.stream_fault`` (see :class:`ScriptedModel`); whether the normal end follows."""
        if m.stream_fault == "stall":
            await asyncio.sleep(3600)  # cancelled when the client goes away
            return False
        if m.stream_fault == "truncated":
            line = fmt.chunk("cut here", first=False).encode()
            await self._send(request, resp, line[: len(line) // 2])
            await resp.write_eof()
            return False
        if m.stream_fault == "invalid_utf8":
            marker = "@@INVALID@@"
            line = fmt.chunk(f"bad {marker} bytes", first=False).encode()
            await self._send(request, resp, line.replace(marker.encode(), b"\xff\xfe"))
        elif m.stream_fault == "huge_line":
            await self._send(request, resp, fmt.chunk("x" * m.huge_line_bytes, first=False))
        return True

    @staticmethod
    async def _delay(ms: float) -> None:
        if ms > 0:
            await asyncio.sleep(ms / 1000.0)

    # ------------------------------------------------------------------ OpenAI misc
    async def _v1_models(self, request: web.Request) -> web.StreamResponse:
        data = [self._v1_model_entry(m) for m in self._models.values()]
        return web.json_response({"object": "list", "data": data}, dumps=_dumps)

    async def _v1_model(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["model"]
        m = self.get_model(name)
        if m is None:
            return self._oai_err(404, f"model '{name}' not found")
        return web.json_response(self._v1_model_entry(m), dumps=_dumps)

    def _v1_model_entry(self, m: ScriptedModel) -> dict[str, Any]:
        modified = self._modified.get(m.name) or datetime.now(UTC)
        owner = m.name.split("/")[0] if "/" in m.name else "library"
        return {"id": m.name, "object": "model", "created": int(modified.timestamp()), "owned_by": owner}

    async def _v1_embeddings(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        if isinstance(body, str):
            return self._oai_err(400, body)
        name = str(body.get("model") or "")
        if not name:
            return self._oai_err(400, "model is required")
        m = self.get_model(name)
        if m is None:
            return self._oai_err(404, f"model '{name}' not found")
        if m.status != 200:
            return self._oai_err(m.status, m.http_error)
        raw_input = body.get("input")
        if isinstance(raw_input, str):
            inputs = [raw_input]
        elif isinstance(raw_input, list) and raw_input and all(isinstance(x, str) for x in raw_input):
            inputs = list(raw_input)
        else:
            return self._oai_err(400, "invalid input")
        dim = int(body.get("dimensions") or m.embedding_dim)
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vec = embed_text(m.name, text, m.embedding_dim)[:dim]
            data.append(
                {"object": "embedding", "embedding": embedding_base64(vec) if b64 else vec, "index": i}
            )
        tokens = sum(count_tokens(t) for t in inputs)
        runner = await self._acquire(m, {})
        if isinstance(runner, str):
            return self._oai_err(500, runner)
        await self.scheduler.release(runner)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": m.name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            dumps=_dumps,
        )


def _keep_alive_error(body: dict[str, Any]) -> str | None:
    """Ollama's 400 message for a ``keep_alive`` it cannot parse, else ``None``."""
    try:
        parse_keep_alive(body.get("keep_alive"))
    except KeepAliveError as exc:
        return str(exc)
    return None


def _load_answer(endpoint: Endpoint, model: str, reason: str) -> dict[str, Any]:
    """The answer to a load/unload request (``c.JSON`` in ``routes.go``: the model as requested)."""
    answer: dict[str, Any] = {"model": model, "created_at": _rfc3339()}
    if endpoint == "generate":
        answer["response"] = ""
    else:
        answer["message"] = {"role": "assistant", "content": ""}
    answer.update(done=True, done_reason=reason)
    return answer


def _content_text(content: Any) -> str:
    """Text of a chat message ``content`` (a string, or OpenAI content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _apply_limits(chunks: list[str], options: dict[str, Any], done_reason: str) -> tuple[list[str], str]:
    """Cut the reply at the first ``options.stop`` string and at ``options.num_predict`` chunks."""
    stops = options.get("stop")
    if isinstance(stops, str):
        stops = [stops]
    if stops:
        text = "".join(chunks)
        cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
        if cut >= 0:
            out: list[str] = []
            used = 0
            for c in chunks:
                if used + len(c) >= cut:
                    if cut - used > 0:
                        out.append(c[: cut - used])
                    break
                out.append(c)
                used += len(c)
            chunks, done_reason = out, "stop"
    limit = options.get("num_predict")
    if isinstance(limit, int) and limit >= 0 and len(chunks) > limit:
        chunks, done_reason = chunks[:limit], "length"
    return chunks, done_reason


def _metrics(plan: _Plan, start: int, first: int, end: int) -> dict[str, int]:
    """Ollama's final-chunk metrics; durations in nanoseconds, never zero."""
    load = max(1, min(first - start, 1_000_000) // 2)
    return {
        "total_duration": max(3, end - start),
        "load_duration": load,
        "prompt_eval_count": plan.prompt_tokens,
        "prompt_eval_duration": max(1, first - start - load),
        "eval_count": len(plan.chunks),
        "eval_duration": max(1, end - first),
    }


class _Formatter:
    """Wire shapes of one inference endpoint."""

    def __init__(self, endpoint: Endpoint, model: str, seq: int, body: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.model = model
        self.created = int(time.time())
        self.id = ("chatcmpl-" if endpoint == "openai_chat" else "cmpl-") + str(seq)
        opts = body.get("stream_options")
        self.include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
        self.content_type = "text/event-stream" if endpoint.startswith("openai") else "application/x-ndjson"

    @staticmethod
    def _sse(obj: Any) -> str:
        return f"data: {_dumps(obj)}\n\n"

    def _oai_head(self, chunk: bool) -> dict[str, Any]:
        obj = "chat.completion" if self.endpoint == "openai_chat" else "text_completion"
        if chunk and self.endpoint == "openai_chat":
            obj += ".chunk"
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
        }

    @staticmethod
    def _usage(plan: _Plan) -> dict[str, int]:
        return {
            "prompt_tokens": plan.prompt_tokens,
            "completion_tokens": len(plan.chunks),
            "total_tokens": plan.prompt_tokens + len(plan.chunks),
        }

    def chunk(self, text: str, first: bool) -> str:
        if self.endpoint == "generate":
            return (
                _dumps({"model": self.model, "created_at": _rfc3339(), "response": text, "done": False})
                + "\n"
            )
        if self.endpoint == "chat":
            msg = {"role": "assistant", "content": text}
            return (
                _dumps({"model": self.model, "created_at": _rfc3339(), "message": msg, "done": False}) + "\n"
            )
        head = self._oai_head(chunk=True)
        if self.endpoint == "openai_chat":
            choice: dict[str, Any] = {
                "index": 0,
                "delta": {"role": "assistant", "content": text},
                "finish_reason": None,
            }
        else:
            choice = {"text": text, "index": 0, "finish_reason": None}
        return self._sse({**head, "choices": [choice]})

    def final(self, plan: _Plan, metrics: dict[str, int]) -> str:
        if self.endpoint in ("generate", "chat"):
            obj: dict[str, Any] = {"model": self.model, "created_at": _rfc3339()}
            if self.endpoint == "generate":
                obj["response"] = ""
            else:
                obj["message"] = {"role": "assistant", "content": ""}
            obj.update(done=True, done_reason=plan.done_reason)
            if self.endpoint == "generate":
                obj["context"] = token_ids(plan.prompt_text, plan.prompt_tokens + len(plan.chunks))
            obj.update(metrics)
            return _dumps(obj) + "\n"
        head = self._oai_head(chunk=True)
        if self.endpoint == "openai_chat":
            choice: dict[str, Any] = {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "finish_reason": plan.done_reason,
            }
        else:
            choice = {"text": "", "index": 0, "finish_reason": plan.done_reason}
        out = self._sse({**head, "choices": [choice]})
        if self.include_usage:
            out += self._sse({**head, "choices": [], "usage": self._usage(plan)})
        return out + "data: [DONE]\n\n"

    def stream_error(self, message: str) -> str:
        if self.endpoint in ("generate", "chat"):
            return _dumps({"error": message}) + "\n"
        return self._sse({"error": {"message": message, "type": "api_error", "param": None, "code": None}})

    def whole(self, text: str, plan: _Plan, metrics: dict[str, int]) -> dict[str, Any]:
        if self.endpoint == "generate":
            return {
                "model": self.model,
                "created_at": _rfc3339(),
                "response": text,
                "done": True,
                "done_reason": plan.done_reason,
                "context": token_ids(plan.prompt_text, plan.prompt_tokens + len(plan.chunks)),
                **metrics,
            }
        if self.endpoint == "chat":
            return {
                "model": self.model,
                "created_at": _rfc3339(),
                "message": {"role": "assistant", "content": text},
                "done": True,
                "done_reason": plan.done_reason,
                **metrics,
            }
        head = self._oai_head(chunk=False)
        if self.endpoint == "openai_chat":
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": plan.done_reason,
            }
        else:
            choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": plan.done_reason}
        return {**head, "choices": [choice], "usage": self._usage(plan)}
