"""A raw JSON-RPC test client: ``coding-director serve`` as a subprocess, messages framed by hand.

Deliberately not pygls/pytest-lsp: it sends exactly the bytes a test gives (malformed params,
missing ``params``, unknown fields, broken JSON) and sees exactly what the server answers. Only
LSP's base protocol framing (``Content-Length: N\\r\\n\\r\\n`` + N bytes of UTF-8 JSON) is
implemented; server-to-client requests get minimal answers (see :data:`CLIENT_ANSWERS`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

#: Answers to requests the server sends to the client (method -> result).
CLIENT_ANSWERS: dict[str, Any] = {
    "workspace/configuration": [None],
    "window/workDoneProgress/create": None,
    "client/registerCapability": None,
    "window/showDocument": {"success": True},
    "window/showMessageRequest": None,
}


def frame(body: bytes) -> bytes:
    """``body`` with LSP's ``Content-Length`` header."""
    return b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    """One framed message from ``stream``; ``None`` at end of stream."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is not None:
                break
            continue
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = stream.read(length)
    result: dict[str, Any] = json.loads(body)
    return result


class RawClient:
    """``coding-director serve --config CONFIG`` driven over its pipes.

    ``request`` sends and waits for the response with the same id; ``notifications`` collects
    every notification (method, params) the server sent; ``server_requests`` every request the
    server sent to the client (answered from :data:`CLIENT_ANSWERS` and ``answers``).
    """

    def __init__(
        self,
        config: Path,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        answers: dict[str, Any] | None = None,
    ) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "coding_director", "serve", "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env={**base, **(env or {})},
        )
        self.answers = {**CLIENT_ANSWERS, **(answers or {})}
        self._ids = itertools.count(1)
        self._responses: dict[Any, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.notifications: list[tuple[str, Any]] = []
        self.server_requests: list[tuple[str, Any]] = []
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # -- sending ----------------------------------------------------------------------------------
    def send_bytes(self, data: bytes) -> None:
        """Write ``data`` to the server's stdin as is (framing included by the caller)."""
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        """Frame and send one JSON message."""
        self.send_bytes(frame(json.dumps(message).encode()))

    def _queue(self, msg_id: Any) -> queue.Queue[dict[str, Any]]:
        key = json.dumps(msg_id)
        with self._lock:
            return self._responses.setdefault(key, queue.Queue())

    def request(self, method: str, params: Any = None, *, omit_params: bool = False, timeout: float = 30) -> Any:
        """Send a request and return the whole response message (``result`` or ``error``)."""
        msg_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if not omit_params:
            message["params"] = params
        waiting = self._queue(msg_id)
        self.send(message)
        return self.wait_response(msg_id, timeout, waiting)

    def wait_response(
        self, msg_id: Any, timeout: float = 30, waiting: queue.Queue[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The response to ``msg_id``; raises ``TimeoutError`` (with the server's stderr tail)."""
        try:
            return (waiting or self._queue(msg_id)).get(timeout=timeout)
        except queue.Empty:
            tail = "".join(self.stderr_lines[-20:])
            raise TimeoutError(f"no response to id {msg_id!r} within {timeout} s; stderr:\n{tail}") from None

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def initialize(self, root: Path, capabilities: dict[str, Any] | None = None, options: Any = None) -> Any:
        """``initialize`` + ``initialized``; returns the InitializeResult."""
        response = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "capabilities": capabilities if capabilities is not None else default_capabilities(),
                "initializationOptions": options,
            },
        )
        self.notify("initialized", {})
        return response["result"]

    def open(self, path: Path, text: str, language: str = "python", version: int = 1) -> str:
        uri = path.as_uri()
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language, "version": version, "text": text}},
        )
        return uri

    # -- receiving --------------------------------------------------------------------------------
    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                message = read_message(self.proc.stdout)
            except (ValueError, OSError):
                return
            if message is None:
                return
            if "method" in message and "id" in message:
                self.server_requests.append((message["method"], message.get("params")))
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": self.answers.get(message["method"])})
            elif "method" in message:
                self.notifications.append((message["method"], message.get("params")))
            else:
                self._queue(message.get("id")).put(message)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace"))

    def received(self, method: str) -> list[Any]:
        """Params of every notification ``method`` received so far."""
        return [params for m, params in list(self.notifications) if m == method]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """``shutdown`` + ``exit`` (when alive), then wait; kills after 5 s."""
        if self.alive():
            with contextlib.suppress(Exception):
                self.request("shutdown", None, timeout=5)
                self.notify("exit", None)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                pipe.close()  # type: ignore[union-attr]


def default_capabilities() -> dict[str, Any]:
    """A modest client: configuration, work done progress and showDocument, UTF-16 positions."""
    return {
        "workspace": {"configuration": True},
        "window": {"workDoneProgress": True, "showDocument": {"support": True}},
        "general": {"positionEncodings": ["utf-16"]},
    }


@contextlib.contextmanager
def raw_server(
    config: Path, root: Path, *, cwd: Path | None = None, capabilities: dict[str, Any] | None = None
) -> Iterator[RawClient]:
    """A started and initialized :class:`RawClient`, closed afterwards."""
    client = RawClient(config, cwd=cwd)
    try:
        client.initialize(root, capabilities)
        yield client
    finally:
        client.close()
