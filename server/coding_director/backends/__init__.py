"""Model servers: one protocol (:class:`Backend`, :mod:`~coding_director.backends.base`) and its errors
(:mod:`~coding_director.backends.errors`), three providers (Ollama, OpenAI-compatible, the built-in
runtime of :mod:`~coding_director.backends.embedded`), health tracking.

:class:`BackendPool` hands out one backend per endpoint so tiers on the same server share a
connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from coding_director.backends import base, errors
from coding_director.backends.base import *  # noqa: F403 - the protocol and its shapes, listed in base.__all__
from coding_director.backends.errors import *  # noqa: F403 - the errors, listed in errors.__all__
from coding_director.backends.health import HealthTracker
from coding_director.backends.residency import Residency, residency_config
from coding_director.backends.transport import shared_ssl_context
from coding_director.settings import Settings


class BackendPool:
    """Creates and caches the backend serving each tier of ``settings``.

    Backends are keyed by ``(provider, endpoint, api_key_env)``. ``read_timeout_s`` is the longest
    silence tolerated inside a stream (the engine also bounds whole attempts).

    Requests hold a :meth:`lease` while they run; :meth:`aclose` waits until every lease is
    returned, so a pool being replaced (``resetEngine``, a settings change) lets the requests
    running on it finish before its connections are closed (reference counting).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._backends: dict[tuple[str, str, str | None], base.Backend] = {}
        self._leases = 0
        self._idle: asyncio.Event | None = None
        shared_ssl_context()  # built once per process, here rather than inside a timed attempt

    @property
    def leases(self) -> int:
        """Number of requests currently holding this pool open."""
        return self._leases

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[BackendPool]:
        """Hold the pool open for the duration of one request (``async with pool.lease():``)."""
        self._leases += 1
        try:
            yield self
        finally:
            self._leases -= 1
            if self._leases == 0 and self._idle is not None:
                self._idle.set()

    def for_tier(self, tier: str) -> base.Backend:
        """The backend of tier ``tier``. Raises ``KeyError`` for an unknown tier."""
        spec = self.settings.tier(tier)
        endpoint = self.settings.endpoint_of(tier)
        key = (spec.provider, endpoint, spec.api_key_env)
        backend = self._backends.get(key)
        if backend is None:
            backend = self._create(spec.provider, endpoint, spec.api_key_env)
            self._backends[key] = backend
        return backend

    def _create(self, provider: str, endpoint: str, api_key_env: str | None) -> base.Backend:
        read_timeout = self.settings.routing.attempt_timeout_s
        connect = self.settings.ollama.connect_timeout_s
        if provider == "embedded":
            from coding_director.backends.embedded import EmbeddedBackend

            return EmbeddedBackend(self.settings.embedded, connect_timeout_s=connect, read_timeout_s=read_timeout)
        if provider == "openai":
            from coding_director.backends.openai_compat import OpenAICompatBackend

            return OpenAICompatBackend(
                endpoint, api_key_env=api_key_env, connect_timeout_s=connect, read_timeout_s=read_timeout
            )
        from coding_director.backends.ollama import OllamaBackend

        return OllamaBackend(
            endpoint,
            keep_alive=self.settings.ollama.keep_alive,
            residency=residency_config(self.settings, endpoint),
            connect_timeout_s=connect,
            read_timeout_s=read_timeout,
        )

    def residency_for(self, tier: str) -> Residency | None:
        """The residency state of the Ollama server serving ``tier`` (``None`` for other providers).
        Raises ``KeyError`` for an unknown tier."""
        backend = self.for_tier(tier)
        residency = getattr(backend, "residency", None)
        return residency if isinstance(residency, Residency) else None

    async def aclose(self) -> None:
        """Close every backend created so far, once no :meth:`lease` is held (it waits for the
        requests running on this pool; each is bounded by ``routing.request_timeout_s``)."""
        while self._leases:
            if self._idle is None:
                self._idle = asyncio.Event()
            idle = self._idle
            await idle.wait()
            if self._idle is idle:
                self._idle = None
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()


__all__ = [  # the protocol and its shapes (base.__all__), the errors (errors.__all__), then the pool
    *base.__all__,
    *errors.__all__,
    "BackendPool",
    "HealthTracker",
    "Residency",
]
