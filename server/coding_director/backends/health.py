"""Per-tier health: after repeated errors a tier cools down and is skipped, then tried again.

The policy follows LiteLLM's router (``allowed_fails`` then ``cooldown_time``; litellm docs,
"Router - Load Balancing, Fallbacks, Cooldowns"): more than ``allowed_fails`` consecutive errors
put the tier in cooldown for ``cooldown_s`` seconds. Only errors count (transport, timeout,
missing model, error mid-stream); a rejected answer says nothing about the tier's health.
After the cooldown the next request tries the tier again; one more error cools it down again.
A server that answers 429 with ``Retry-After`` cools its tier for exactly that long at once
(:meth:`HealthTracker.cool_down`), whatever ``allowed_fails`` says.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    consecutive_errors: int = 0
    cooldown_until: float = 0.0
    last_reason: str = ""
    #: Set by :meth:`HealthTracker.cool_down`: the cooldown was asked for (a rate limit), not earned by errors.
    asked: bool = False


class HealthTracker:
    """Tracks consecutive errors per key (a tier name). ``clock`` returns seconds (monotonic)."""

    def __init__(self, allowed_fails: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed_fails = allowed_fails
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._states: dict[str, _State] = {}

    def cooling(self, key: str) -> str | None:
        """Why ``key`` is cooling down (``"cooling down for 12 s after: <reason>"``), or ``None``."""
        state = self._states.get(key)
        if state is None:
            return None
        left = state.cooldown_until - self._clock()
        if left <= 0:
            return None
        if state.asked:
            return f"cooling down for {left:.0f} s more: {state.last_reason}"
        return f"cooling down for {left:.0f} s after {state.consecutive_errors} errors: {state.last_reason}"

    def cool_down(self, key: str, seconds: float, reason: str) -> None:
        """Skip ``key`` for ``seconds`` from now (a 429's ``Retry-After``), recording ``reason``.
        A longer cooldown already running is kept."""
        state = self._states.setdefault(key, _State())
        state.consecutive_errors += 1
        state.last_reason = reason
        state.asked = True
        state.cooldown_until = max(state.cooldown_until, self._clock() + seconds)

    def record_error(self, key: str, reason: str) -> None:
        """Count an error; past ``allowed_fails`` consecutive ones, start (or restart) the cooldown."""
        state = self._states.setdefault(key, _State())
        state.consecutive_errors += 1
        state.last_reason = reason
        state.asked = False
        if state.consecutive_errors > self.allowed_fails:
            state.cooldown_until = self._clock() + self.cooldown_s

    def record_success(self, key: str) -> None:
        """The tier answered: forget its errors."""
        self._states.pop(key, None)

    def snapshot(self) -> dict[str, str]:
        """Key -> cooldown reason, for every key cooling down now (for status and stats)."""
        return {key: reason for key in self._states if (reason := self.cooling(key))}
