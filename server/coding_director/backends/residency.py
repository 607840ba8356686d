"""Model residency: which of the team's models an Ollama server keeps loaded, and what goes first.

A machine rarely holds the whole team at once (the seed team is about 32 GB; a laptop has 16-24 GB),
and Ollama, when a new model does not fit, unloads the idle model with the shortest ``keep_alive``
(``server/sched.go``, ``findRunnerToUnload``; ties by model path), which knows nothing of which
model the editor needs at every keystroke. So, per Ollama server:

- every request carries the ``keep_alive`` of its model (:func:`tier_keep_alive`: the completion
  model ``completion.keep_alive``, chat tiers ``ollama.keep_alive``, or the tier's own), the longest
  of the tiers sharing the model, so a chat on the completion tier never shortens its stay;
- before a request for a model that is not loaded, ``/api/ps`` says what is, and when the model
  would not fit beside them (memory or ``max_loaded_models``), the least recently used **chat** tier
  is unloaded first (``keep_alive: 0``), never the completion model (:func:`plan_room`);
- the completion model is loaded when the language server starts (:meth:`Residency.warm_up`).

This lives in ``backends/`` because it is a property of one model server (its loaded set, its
memory), needs only that server's calls (``/api/ps``, ``/api/tags``, an empty ``/api/generate``)
and sits under every caller (router, escalation, completions, task roles) without any of them
knowing; routing decides *which* tier answers, not what stays in memory.

Units: memory in **bytes**; durations in **seconds** (a monotonic clock; ``math.inf`` = forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from coding_director.backends.base import ModelInfo
from coding_director.backends.errors import BackendError, EndpointUnreachable
from coding_director.durations import keep_alive_seconds, longest
from coding_director.settings import ResidencySettings, Settings

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
#: After ``/api/ps`` or an unload failed, requests skip the residency check for this long (seconds).
RETRY_AFTER_S = 60.0


def full_name(model: str) -> str:
    """The name Ollama reports for ``model``: a name without a tag means ``:latest``."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


@dataclass(frozen=True)
class Resident:
    """A model loaded on an Ollama server, as ``/api/ps`` reports it: ``size_bytes`` in memory
    (weights and context cache, RAM and VRAM together), ``vram_bytes`` of it on the GPU,
    ``expires_in_s`` until Ollama unloads it (``math.inf``: never), ``context_length`` in tokens."""

    model: str
    size_bytes: int
    vram_bytes: int = 0
    expires_in_s: float = math.inf
    context_length: int | None = None


@dataclass(frozen=True)
class Capacity:
    """Memory for models on one server, in bytes: ``ram_bytes`` (``None``: unknown, e.g. a remote
    Ollama without ``residency.ram_bytes``) plus ``vram_bytes``; ``source`` says where they came from."""

    ram_bytes: int | None
    vram_bytes: int
    source: str

    @property
    def total_bytes(self) -> int | None:
        """RAM plus VRAM (Ollama splits a model between them), ``None`` when RAM is unknown."""
        return None if self.ram_bytes is None else self.ram_bytes + self.vram_bytes


@dataclass(frozen=True)
class RoomPlan:
    """What to unload before loading a model of ``needed_bytes``: ``unload`` (model names, in
    order), whether the model then ``fits``, the ``free_bytes`` before unloading, and a ``reason``."""

    unload: tuple[str, ...]
    fits: bool
    needed_bytes: int
    free_bytes: int | None
    reason: str


def plan_room(
    model: str,
    needed_bytes: int,
    resident: Sequence[Resident],
    capacity_bytes: int | None,
    *,
    chat_models: Collection[str],
    protected: Collection[str] = (),
    last_used: Mapping[str, float] | None = None,
    busy: Collection[str] = (),
    max_loaded: int = 0,
) -> RoomPlan:
    """Decide which loaded models to unload so that ``model`` (``needed_bytes``) fits.

    ``resident``: what ``/api/ps`` reports; ``capacity_bytes``: memory for models (``None``:
    unknown, only ``max_loaded`` applies); ``max_loaded``: most models loaded at once (0: no limit).
    Only ``chat_models`` may be unloaded, never ``protected`` ones (the completion model) nor
    ``busy`` ones (a request is streaming from them), least recently used first (``last_used``:
    model -> monotonic seconds of its last request; a model never used here counts as oldest, then
    the one Ollama would unload soonest, then by name). Pure and deterministic.
    """
    names = {r.model for r in resident}
    free = None if capacity_bytes is None else capacity_bytes - sum(r.size_bytes for r in resident)
    if model in names:
        return RoomPlan((), True, needed_bytes, free, f"{model} is already loaded")
    used = last_used or {}
    candidates = sorted(
        (r for r in resident if r.model in chat_models and r.model not in protected and r.model not in busy),
        key=lambda r: (used.get(r.model, -math.inf), r.expires_in_s, r.model),
    )
    count = len(resident)
    room = free
    unload: list[str] = []

    def short() -> bool:
        return (room is not None and room < needed_bytes) or (max_loaded > 0 and count + 1 > max_loaded)

    while short() and candidates:
        victim = candidates.pop(0)
        unload.append(victim.model)
        count -= 1
        room = None if room is None else room + victim.size_bytes
    fits = not short()
    if not unload:
        reason = "it fits beside the loaded models" if fits else "nothing of ours can be unloaded"
    else:
        reason = f"unload {', '.join(unload)} (least recently used chat tier first)"
        if not fits:
            reason += "; it still does not fit: Ollama will unload more itself"
    return RoomPlan(tuple(unload), fits, needed_bytes, free, reason)


@dataclass(frozen=True)
class TeamFit:
    """Whether a team fits one server (see :func:`team_fit`); sizes in bytes.

    ``fits``: every model loaded at once; ``completion_fits``: the completion model alone;
    ``swapped``: chat models that take turns beside the completion model (the least recently used
    is unloaded when another loads); ``evicts_completion``: chat models too big to load beside it
    (Ollama unloads the completion model for them); ``unknown``: models without a known size."""

    total_bytes: int
    capacity_bytes: int | None
    fits: bool
    completion_fits: bool
    swapped: tuple[str, ...]
    evicts_completion: tuple[str, ...]
    unknown: tuple[str, ...]


def team_fit(
    footprints: Mapping[str, int | None], completion: str | None, capacity_bytes: int | None, max_loaded: int = 0
) -> TeamFit:
    """Fit of the models ``footprints`` (model -> bytes once loaded, ``None``: unknown) with the
    ``completion`` model kept loaded, in ``capacity_bytes`` (``None``: unknown, everything fits)
    and at most ``max_loaded`` models (0: no limit)."""
    known = {m: size for m, size in footprints.items() if size is not None}
    unknown = tuple(sorted(m for m, size in footprints.items() if size is None))
    total = sum(known.values())
    cap = math.inf if capacity_bytes is None else capacity_bytes
    fits = total <= cap and (max_loaded <= 0 or len(footprints) <= max_loaded)
    base = known.get(completion, 0) if completion else 0
    chat = sorted(m for m in known if m != completion)
    evicts = tuple(m for m in chat if base + known[m] > cap)
    swapped = () if fits else tuple(m for m in chat if m not in evicts)
    return TeamFit(total, capacity_bytes, fits, base <= cap, swapped, evicts, unknown)


def tier_keep_alive(settings: Settings, tier: str) -> str:
    """The ``keep_alive`` of ``tier``: its own, else ``completion.keep_alive`` for the completion
    tier, else ``ollama.keep_alive``."""
    spec = settings.tier(tier)
    if spec.keep_alive is not None:
        return spec.keep_alive
    if tier == settings.completion.tier and settings.completion.enabled:
        return settings.completion.keep_alive
    return settings.ollama.keep_alive


@dataclass(frozen=True)
class ResidencyConfig:
    """What one Ollama server's :class:`Residency` needs from the settings: ``keep_alive`` per model
    (full names), the default for other models, the ``completion_model`` (kept loaded) and the
    ``chat_models`` (may be unloaded), the ``[residency]`` section, and whether the server runs on
    this machine (``local``; psutil then measures its RAM) with unified memory (macOS: no separate VRAM)."""

    keep_alive: Mapping[str, str]
    default_keep_alive: str
    completion_model: str | None
    chat_models: frozenset[str]
    policy: ResidencySettings
    local: bool
    unified_memory: bool


def residency_config(settings: Settings, endpoint: str) -> ResidencyConfig:
    """The :class:`ResidencyConfig` of the Ollama server at ``endpoint`` under ``settings``."""
    tiers = [
        t for t, spec in settings.tiers.items() if spec.provider == "ollama" and settings.endpoint_of(t) == endpoint
    ]
    by_model: dict[str, list[str]] = {}
    for tier in tiers:
        by_model.setdefault(full_name(settings.tier(tier).model), []).append(tier_keep_alive(settings, tier))
    completion = settings.completion.tier
    completion_model = (
        full_name(settings.tier(completion).model) if settings.completion.enabled and completion in tiers else None
    )
    local = (urlsplit(endpoint).hostname or "") in LOOPBACK_HOSTS
    return ResidencyConfig(
        keep_alive={model: longest(values) for model, values in by_model.items()},
        default_keep_alive=settings.ollama.keep_alive,
        completion_model=completion_model,
        chat_models=frozenset(m for m in by_model if m != completion_model),
        policy=settings.residency,
        local=local,
        unified_memory=local and sys.platform == "darwin",
    )


def machine_ram_bytes() -> int:
    """Total RAM of this machine in bytes (psutil)."""
    import psutil

    return int(psutil.virtual_memory().total)


class ModelServer(Protocol):
    """The calls of an Ollama server residency needs (:class:`~coding_director.backends.ollama.OllamaBackend`)."""

    endpoint: str

    async def ps(self) -> list[Resident]:
        """``GET /api/ps``."""
        ...

    async def list_models(self) -> list[ModelInfo]:
        """``GET /api/tags`` (sizes on disk in bytes)."""
        ...

    async def load(self, model: str, keep_alive: str, num_ctx: int | None = None) -> None:
        """An empty ``/api/generate`` with ``keep_alive`` (and ``options.num_ctx``): loads ``model``."""
        ...

    async def unload(self, model: str) -> None:
        """An empty ``/api/generate`` with ``keep_alive: 0``: unloads ``model``."""
        ...


class Residency:
    """The residency state of one Ollama server: what is loaded, recent use, sizes.

    Wrap every generation request in :meth:`use`; call :meth:`warm_up` once at start. Neither ever
    fails a request for a residency problem: ``/api/ps`` or an unload that fails or exceeds
    ``residency.timeout_s`` is logged once and the request proceeds (Ollama then decides alone),
    except :class:`EndpointUnreachable`, which the request would meet anyway. ``total_ram`` (bytes)
    and ``clock`` (monotonic seconds) are injectable for tests.
    """

    def __init__(
        self,
        server: ModelServer,
        config: ResidencyConfig,
        *,
        total_ram: Callable[[], int] = machine_ram_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self.config = config
        self._total_ram = total_ram
        self._clock = clock
        self._lock: asyncio.Lock | None = None
        self._busy: Counter[str] = Counter()
        self._last_used: dict[str, float] = {}
        self._loaded_until: dict[str, float] = {}
        self._seen_bytes: dict[str, int] = {}
        self._disk_bytes: dict[str, int] = {}
        self._vram_seen = 0
        self._logged: set[str] = set()
        self._off_until = 0.0
        self.warmed = False

    @property
    def measured(self) -> frozenset[str]:
        """Models whose loaded size ``/api/ps`` has reported."""
        return frozenset(self._seen_bytes)

    def keep_alive_of(self, model: str) -> str:
        """The ``keep_alive`` sent with every request for ``model``."""
        return self.config.keep_alive.get(full_name(model), self.config.default_keep_alive)

    def capacity(self) -> Capacity:
        """Memory for models now (bytes), from ``[residency]``, psutil and what ``/api/ps`` showed."""
        policy = self.config.policy
        if policy.ram_bytes is not None:
            ram: int | None = policy.ram_bytes
            source = "residency.ram_bytes"
        elif self.config.local:
            total = self._total_ram()
            ram = max(0, total - policy.reserve_bytes)
            source = f"RAM {total / 1e9:.1f} GB (psutil) - {policy.reserve_bytes / 1e9:.1f} GB reserve"
        else:
            ram, source = None, "RAM of the remote Ollama unknown (set residency.ram_bytes)"
        if policy.vram_bytes is not None:
            vram, source = policy.vram_bytes, source + " + residency.vram_bytes"
        elif self.config.unified_memory:
            vram, source = 0, source + " (unified memory: VRAM is RAM)"
        else:
            vram = self._vram_seen
            source += f" + VRAM {vram / 1e9:.1f} GB in use (/api/ps)" if vram else " + no VRAM reported by /api/ps"
        return Capacity(ram, vram, source)

    async def snapshot(self) -> list[Resident]:
        """``/api/ps`` now; remembers loaded sizes and VRAM in use."""
        resident = await self.server.ps()
        now = self._clock()
        self._loaded_until = {r.model: now + r.expires_in_s for r in resident}
        for r in resident:
            self._seen_bytes[r.model] = r.size_bytes
        self._vram_seen = max(self._vram_seen, sum(r.vram_bytes for r in resident))
        return resident

    async def footprint(self, model: str) -> int | None:
        """Bytes ``model`` takes once loaded: as ``/api/ps`` last showed it, else its ``/api/tags``
        size times ``residency.load_factor``; ``None`` when the server does not list it."""
        name = full_name(model)
        if name in self._seen_bytes:
            return self._seen_bytes[name]
        if name not in self._disk_bytes:
            for info in await self.server.list_models():
                if info.size_bytes is not None:
                    self._disk_bytes[full_name(info.name)] = info.size_bytes
        disk = self._disk_bytes.get(name)
        return None if disk is None else math.ceil(disk * self.config.policy.load_factor)

    def _log_once(self, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            log.warning("%s", message)

    async def make_room(self, model: str) -> RoomPlan | None:
        """Unload what :func:`plan_room` says before ``model`` loads; ``None`` when it is loaded
        already or its size is unknown. Raises :class:`BackendError` from the server."""
        name = full_name(model)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            resident = await self.snapshot()
            if any(r.model == name for r in resident):
                return None
            needed = await self.footprint(name)
            if needed is None:
                return None
            plan = plan_room(
                name,
                needed,
                resident,
                self.capacity().total_bytes,
                chat_models=self.config.chat_models,
                protected={self.config.completion_model} if self.config.completion_model else set(),
                last_used=self._last_used,
                busy={m for m, n in self._busy.items() if n > 0},
                max_loaded=self.config.policy.max_loaded_models,
            )
            for victim in plan.unload:
                log.info("unloading %s from %s to make room for %s", victim, self.server.endpoint, name)
                await self.server.unload(victim)
                self._loaded_until.pop(victim, None)
            if not plan.fits:
                self._loaded_until.clear()  # Ollama unloads more on its own: what is loaded is unknown
                self._log_once(f"{name} does not fit beside the loaded models on {self.server.endpoint}: {plan.reason}")
            return plan

    async def _before(self, name: str) -> None:
        now = self._clock()
        if not self.config.policy.enabled or self._loaded_until.get(name, 0.0) > now or self._off_until > now:
            return
        try:
            async with asyncio.timeout(self.config.policy.timeout_s):
                await self.make_room(name)
        except EndpointUnreachable:
            raise
        except (BackendError, TimeoutError) as exc:
            limit = self.config.policy.timeout_s
            reason = exc.reason if isinstance(exc, BackendError) else f"no answer within {limit:g} s"
            self._off_until = self._clock() + RETRY_AFTER_S
            self._log_once(f"model residency on {self.server.endpoint} is off for now: {reason}")

    @contextlib.asynccontextmanager
    async def use(self, model: str) -> AsyncIterator[str]:
        """Hold ``model`` busy for one request, making room first; yields its ``keep_alive``."""
        name = full_name(model)
        await self._before(name)
        self._busy[name] += 1
        self._last_used[name] = self._clock()
        keep_alive = self.keep_alive_of(name)
        loaded = False
        try:
            yield keep_alive
            loaded = True
        except Exception:  # the request failed: whether the model loaded is unknown
            raise
        except BaseException:  # closed early or cancelled: Ollama has loaded the model or goes on loading it
            loaded = True
            raise
        finally:
            self._busy[name] -= 1
            now = self._clock()
            self._last_used[name] = now
            stay = keep_alive_seconds(keep_alive)
            if loaded and stay > 0:
                self._loaded_until[name] = now + stay
            else:
                self._loaded_until.pop(name, None)

    async def warm_up(self, num_ctx: int | None = None) -> str | None:
        """Load the completion model (making room first) with context window ``num_ctx`` (tokens;
        Ollama reloads a model whose ``num_ctx`` changes, so pass the one completions will use)
        within ``residency.warm_up_timeout_s``. Returns the model loaded, or ``None`` when there is
        none here, warm-up is off or was done. Raises :class:`BackendError` or ``TimeoutError``."""
        model = self.config.completion_model
        if model is None or self.warmed or not self.config.policy.warm_up:
            return None
        self.warmed = True  # a second caller meanwhile does not load it twice
        try:
            async with asyncio.timeout(self.config.policy.warm_up_timeout_s), self.use(model) as keep_alive:
                await self.server.load(model, keep_alive, num_ctx)
        except BaseException:
            self.warmed = False
            raise
        return model
