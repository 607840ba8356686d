"""The emulator's model scheduler: which models are loaded, for how long, and what Ollama unloads.

Reproduces ollama/ollama ``server/sched.go`` and ``api/types.go`` as far as a client can observe:

- ``keep_alive`` (``Duration.UnmarshalJSON``): a JSON number is seconds truncated to whole seconds,
  a string is Go's ``time.ParseDuration`` (``"10m"``, ``"1h30m"``; ``"300"`` is an error), a
  negative value means forever; absent means the server default (``OLLAMA_KEEP_ALIVE``, 5 minutes)
  for a model being loaded and "unchanged" for a loaded one (``useLoadedRunner``);
- a runner serving requests never expires; when the last request ends it expires after its
  session duration (``0``: unloaded at once); ``expires_at`` is set then;
- a model that does not fit (``OLLAMA_MAX_LOADED_MODELS``, default 3, or memory) makes the scheduler
  unload first the idle runner with the shortest session duration, ties by model path
  (``findRunnerToUnload`` with ``ByDurationAndName``), waiting for a busy one when none is idle;
  a model larger than all memory fails with "model requires more system memory ...";
- a loaded model asked with another ``num_ctx`` is reloaded (``needsReload``);
- ``/api/ps`` lists the loaded runners, ``expires_at`` descending (``PsHandler``).

Memory is in bytes; the clock is UTC wall time (``expires_at`` is an RFC3339 timestamp).
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .models import ScriptedModel

__all__ = ["DEFAULT_KEEP_ALIVE_S", "DEFAULT_NUM_CTX", "KeepAliveError", "Runner", "Scheduler", "parse_keep_alive"]

DEFAULT_KEEP_ALIVE_S = 300.0
DEFAULT_NUM_CTX = 2048
#: Go's ``time.Duration(math.MaxInt64)`` in seconds: the session duration of "forever".
FOREVER_S = (2**63 - 1) / 1e9

_GO_UNIT_NS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
               "h": 3600 * 10**9}
_GO_NUMBER = re.compile(r"(\d*)(?:\.(\d*))?")
_GO_UNIT = re.compile(r"[^0-9.]*")


class KeepAliveError(ValueError):
    """A ``keep_alive`` Ollama rejects; ``str()`` is Go's error text (answered with HTTP 400)."""


def _go_parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds (same accepted syntax and error messages)."""
    quoted = '"' + text + '"'
    s = text
    negative = False
    if s[:1] in ("-", "+"):
        negative, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise KeepAliveError(f"time: invalid duration {quoted}")
    total = 0
    while s:
        number = _GO_NUMBER.match(s)
        assert number is not None
        whole, frac = number.group(1), number.group(2)
        if not whole and not frac:
            raise KeepAliveError(f"time: invalid duration {quoted}")
        s = s[number.end():]
        unit_match = _GO_UNIT.match(s)
        unit = unit_match.group(0) if unit_match else ""
        if not unit:
            raise KeepAliveError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_UNIT_NS:
            raise KeepAliveError(f'time: unknown unit "{unit}" in duration {quoted}')
        s = s[len(unit):]
        scale = _GO_UNIT_NS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // 10 ** len(frac)
        total += value
    return -total if negative else total


def parse_keep_alive(value: Any) -> float | None:
    """Seconds of a request's ``keep_alive`` (``math.inf``: forever; ``None``: absent).
    Raises :class:`KeepAliveError` with Ollama's message for what Ollama rejects."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        kind = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}.get(type(value), "?")
        raise KeepAliveError(f"Unsupported type: '{kind}'")
    if isinstance(value, int | float):
        return math.inf if value < 0 else float(math.trunc(value))
    ns = _go_parse_duration(value)
    return math.inf if ns < 0 else ns / 1e9


def _human_bytes2(n: int) -> str:
    """Ollama's ``format.HumanBytes2`` (binary units, one decimal)."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


@dataclass
class Runner:
    """A loaded model: its memory (``size`` bytes, ``vram`` of it on the GPU), ``session_s`` (its
    keep_alive, ``math.inf`` = forever), ``expires_at`` (set when it goes idle), ``refs`` (requests
    being served) and ``num_ctx`` (tokens)."""

    model: ScriptedModel
    size: int
    vram: int
    session_s: float
    num_ctx: int
    refs: int = 0
    expires_at: datetime | None = None


class Scheduler:
    """Ollama's loaded set for one emulator.

    ``memory_bytes``: system RAM for models (``None``: unlimited); ``vram_bytes``: GPU memory
    (``None``: a GPU with room for every model, so ``size_vram == size``; ``0``: CPU only);
    ``max_loaded``: ``OLLAMA_MAX_LOADED_MODELS`` (0: no limit); ``default_keep_alive_s``:
    ``OLLAMA_KEEP_ALIVE``.
    """

    def __init__(
        self,
        memory_bytes: int | None = None,
        vram_bytes: int | None = None,
        max_loaded: int = 3,
        default_keep_alive_s: float = DEFAULT_KEEP_ALIVE_S,
    ) -> None:
        self.memory_bytes, self.vram_bytes = memory_bytes, vram_bytes
        self.max_loaded, self.default_keep_alive_s = max_loaded, default_keep_alive_s
        self.loaded: dict[str, Runner] = {}
        self.unloaded: list[str] = []  # every unload, in order (model names), for tests
        self._changed: asyncio.Condition | None = None

    # -- state --------------------------------------------------------------------------------
    def _expire(self, now: datetime) -> None:
        for name, runner in list(self.loaded.items()):
            if runner.refs == 0 and runner.expires_at is not None and runner.expires_at <= now:
                self._drop(name)

    def _drop(self, name: str) -> None:
        if self.loaded.pop(name, None) is not None:
            self.unloaded.append(name)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()

    def loaded_names(self) -> list[str]:
        """Names of the models loaded now (expired ones dropped)."""
        self._expire(datetime.now(UTC))
        return list(self.loaded)

    def forget(self, name: str) -> None:
        """Drop ``name`` at once (the model was deleted)."""
        self._drop(name)

    # -- placement ----------------------------------------------------------------------------
    def _free(self) -> tuple[float, float]:
        ram_used = sum(r.size - r.vram for r in self.loaded.values())
        vram_used = sum(r.vram for r in self.loaded.values())
        ram = math.inf if self.memory_bytes is None else self.memory_bytes - ram_used
        vram = math.inf if self.vram_bytes is None else self.vram_bytes - vram_used
        return ram, vram

    def _placement(self, size: int) -> tuple[int, int] | None:
        """``(size, vram)`` of a model of ``size`` bytes placed beside the loaded ones, or ``None``."""
        ram, vram = self._free()
        on_gpu = int(min(size, max(0.0, vram)))
        return (size, on_gpu) if size - on_gpu <= ram else None

    def _victim(self) -> Runner | None:
        """``findRunnerToUnload``: the idle runner with the shortest session, ties by model path;
        else the shortest busy one."""
        runners = sorted(self.loaded.values(), key=lambda r: (r.session_s, r.model.digest))
        return next((r for r in runners if r.refs == 0), runners[0] if runners else None)

    def _too_big(self, size: int) -> str | None:
        if self.memory_bytes is None or self.vram_bytes is None:
            return None
        available = self.memory_bytes + self.vram_bytes
        if size <= available:
            return None
        return (
            f"model requires more system memory ({_human_bytes2(size)}) than is available "
            f"({_human_bytes2(available)})"
        )

    async def acquire(self, model: ScriptedModel, keep_alive_s: float | None, num_ctx: int | None) -> Runner:
        """Schedule a request for ``model``: reuse its runner, or unload others and load it (after
        ``model.load_ms``). The caller must :meth:`release` the runner. Raises ``MemoryError``
        (Ollama's message) when the model can never fit."""
        self._expire(datetime.now(UTC))
        ctx = num_ctx or DEFAULT_NUM_CTX
        runner = self.loaded.get(model.name)
        if runner is not None and runner.num_ctx == ctx:
            runner.refs += 1
            if keep_alive_s is not None:
                runner.session_s = keep_alive_s
            return runner
        if runner is not None:  # needsReload: another num_ctx
            await self._unload_when_idle(runner)
        size = model.memory_size if model.memory_size is not None else model.size
        too_big = self._too_big(size)
        if too_big:
            raise MemoryError(too_big)
        while True:
            self._expire(datetime.now(UTC))
            placed = self._placement(size)
            full = self.max_loaded > 0 and len(self.loaded) >= self.max_loaded
            if placed is not None and not full:
                break
            victim = self._victim()
            if victim is None:
                placed = (size, 0)
                break
            await self._unload_when_idle(victim)
        session = self.default_keep_alive_s if keep_alive_s is None else keep_alive_s
        runner = Runner(model=model, size=placed[0], vram=placed[1], session_s=session, num_ctx=ctx, refs=1)
        self.loaded[model.name] = runner
        if model.load_ms > 0:
            await asyncio.sleep(model.load_ms / 1000.0)
        return runner

    async def _unload_when_idle(self, runner: Runner) -> None:
        """Expire ``runner`` now (session 0) and wait until it is unloaded."""
        runner.session_s = 0.0
        changed = self._condition()
        async with changed:
            while runner.refs > 0 and self.loaded.get(runner.model.name) is runner:
                await changed.wait()
        if self.loaded.get(runner.model.name) is runner:
            self._drop(runner.model.name)

    async def release(self, runner: Runner) -> None:
        """One request on ``runner`` ended: when idle it expires after its session (0: now)."""
        runner.refs -= 1
        if runner.refs <= 0:
            runner.refs = 0
            if runner.session_s <= 0:
                if self.loaded.get(runner.model.name) is runner:
                    self._drop(runner.model.name)
            else:
                runner.expires_at = datetime.now(UTC) + timedelta(seconds=min(runner.session_s, FOREVER_S))
        await self._notify()

    def expire_runner(self, name: str) -> None:
        """``expireRunner`` (an empty request with ``keep_alive: 0``): unload ``name`` once idle."""
        runner = self.loaded.get(name)
        if runner is None:
            return
        runner.session_s = 0.0
        if runner.refs == 0:
            self._drop(name)

    # -- /api/ps ------------------------------------------------------------------------------
    def ps(self) -> list[tuple[Runner, datetime]]:
        """Loaded runners with the ``expires_at`` ``/api/ps`` shows, latest first (a runner still
        loading shows ``now + session``)."""
        now = datetime.now(UTC)
        self._expire(now)
        shown = [
            (r, r.expires_at or now + timedelta(seconds=min(r.session_s, FOREVER_S))) for r in self.loaded.values()
        ]
        return sorted(shown, key=lambda item: -int(item[1].timestamp()))
