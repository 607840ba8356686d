"""Running the API with uvicorn: bind checks, the bearer token, and a clean shutdown.

Safety: the default bind is loopback (``127.0.0.1``). Any other address is refused unless a bearer
token is configured (``[api] token_env`` names the environment variable holding it): a team server
on a shared GPU host is never open by accident.

Shutdown on SIGTERM or SIGINT: uvicorn stops accepting connections; :meth:`ApiState.begin_drain`
stops every request in flight at once (a non-streamed request gets 503, a stream ends with an
error event, model streams are closed); uvicorn waits for the responses to finish (at most
``GRACEFUL_S`` seconds) and the process exits with status 0 after SIGTERM (130 after SIGINT),
without a traceback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
from types import FrameType

import uvicorn

from coding_director.api.app import ApiState, create_app
from coding_director.settings import Settings

log = logging.getLogger(__name__)

#: Longest wait for responses in flight after SIGTERM before uvicorn cancels them (seconds).
GRACEFUL_S = 10.0

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130


class BindRefused(ValueError):
    """The bind address is not loopback and no bearer token is configured."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address or ``localhost``) only accepts local connections.
    Host names other than ``localhost`` count as not loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_token(settings: Settings) -> str | None:
    """The bearer token: the value of the variable named by ``api.token_env`` (``None`` when no
    variable is named, or it is unset or empty)."""
    name = settings.api.token_env
    value = os.environ.get(name, "").strip() if name else ""
    return value or None


def check_bind(host: str, token: str | None, token_env: str | None) -> None:
    """Raise :class:`BindRefused` with the fix when ``host`` is not loopback and ``token`` is ``None``."""
    if token is not None or is_loopback(host):
        return
    if token_env:
        fix = f"put a token in ${token_env} (e.g. export {token_env}=$(openssl rand -hex 32))"
    else:
        fix = 'set [api] token_env = "DIRECTOR_API_TOKEN" in the config file and put a token in $DIRECTOR_API_TOKEN'
    raise BindRefused(f"refusing to listen on {host} (not loopback) without a bearer token: {fix}")


class _Server(uvicorn.Server):
    """uvicorn's server, which also drains the app on the exit signal and reports where it listens."""

    def __init__(self, config: uvicorn.Config, state: ApiState) -> None:
        super().__init__(config)
        self.state = state
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                shown = f"[{host}]" if ":" in host else host
                sys.stderr.write(f"Coding Director API listening on http://{shown}:{port}/v1\n")
                sys.stderr.flush()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: hand the drain to the event loop (call_soon_threadsafe is signal-safe).
        if self.loop is not None and not self.state.draining:
            self.loop.call_soon_threadsafe(self.state.begin_drain)
        super().handle_exit(sig, frame)


def run_api(settings: Settings, host: str | None = None, port: int | None = None, *, verbose: bool = False) -> int:
    """Serve the API until SIGTERM/SIGINT; returns the exit code (0 after SIGTERM, 130 after
    SIGINT, 2 when the bind is refused). ``host``/``port`` default to ``api.host``/``api.port``;
    port 0 picks a free one (the address is printed on stderr)."""
    host = host or settings.api.host
    port = settings.api.port if port is None else port
    token = api_token(settings)
    try:
        check_bind(host, token, settings.api.token_env)
    except BindRefused as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    app = create_app(settings, token=token)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info" if verbose else "warning",
        access_log=verbose,
        lifespan="on",
        timeout_graceful_shutdown=int(GRACEFUL_S),
        server_header=False,
        ws="none",
    )
    server = _Server(config, app.state.api)
    received: list[int] = []

    def remember(sig: int, _frame: FrameType | None) -> None:
        received.append(sig)

    # uvicorn restores these handlers after its shutdown and then re-raises the signal it got:
    # they turn that into an exit status instead of a kill.
    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_INTERRUPTED if signal.SIGINT in received else EXIT_OK
