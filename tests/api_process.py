"""Start ``coding-director api`` as a subprocess on a free loopback port (tests and benchmarks).

The server is started with ``--port 0``; the address it prints on stderr
(``Coding Director API listening on http://127.0.0.1:PORT/v1``) is read by a thread that keeps
collecting stderr, so a test can check afterwards that no traceback was printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"listening on (http://\S+)/v1")


class ApiProcess:
    """A running ``coding-director api``: ``url`` is ``http://127.0.0.1:PORT`` (no ``/v1``)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.url = ""
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            match = _LISTENING.search(line)
            if match and not self.url:
                self.url = match.group(1)
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float) -> None:
        """Wait until the server listens. Raises ``RuntimeError`` with its stderr otherwise."""
        if not self._ready.wait(timeout) or not self.url:
            raise RuntimeError("coding-director api did not start:\n" + self.stderr)

    @property
    def stderr(self) -> str:
        """Everything the server wrote to stderr so far (all of it once it has exited)."""
        return "".join(self.lines)

    def finish(self, timeout: float = 30.0) -> int:
        """Wait for the exit (after a signal) and the end of stderr; returns the exit status."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without our own and Ollama's variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    env.update(extra or {})
    return env


@contextmanager
def api_process(
    config: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> Iterator[ApiProcess]:
    """Run ``coding-director api --config CONFIG --port 0 [args]``; yields it once it listens and
    terminates it on exit (SIGTERM, then SIGKILL after 10 s)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "coding_director", "api", "--config", str(config), "--port", "0", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(env),
    )
    server = ApiProcess(proc)
    try:
        server.wait_ready(timeout)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
