"""Command line: serve the Ollama emulator until killed.

Usage::

    python -m tests.emulator [--port PORT] [--host 127.0.0.1] [--scenario FILE.json]

Prints the URL (``http://127.0.0.1:PORT``) alone on stdout, then a summary on stderr, and serves until
SIGINT/SIGTERM. Without ``--scenario`` a default set of models is served (see ``DEFAULT_SCENARIO``).

Scenario file: either a JSON list of model objects, or ``{"models": [...], "pullable": [...]}``. A model
object holds the static fields of ``ScriptedModel`` (``name`` required; ``reply`` must be a string; delays in
ms), plus the optional flag ``"pull_only": true`` to put it in the pull registry instead of installing it, and
``"reply_by_system": [[substring, reply], ...]`` to answer by the request's system message (the first
substring found in it wins; ``reply`` otherwise)::

    [
      {"name": "lead-bad:latest", "reply": "```python\\ndef f(:\\n```"},
      {"name": "coder:fim", "reply": "return a + b", "capabilities": ["completion", "insert"],
       "chunk_delay_ms": 20},
      {"name": "flaky", "reply": "partial answer here", "error_after_chunks": 2},
      {"name": "down", "status": 500, "http_error": "model runner crashed"},
      {"name": "looper", "reply": "Let me think about it again.\\n", "loop": true, "chunk_delay_ms": 20},
      {"name": "nomic-embed-text", "capabilities": ["embedding"], "embedding_dim": 768},
      {"name": "qwen2.5-coder:7b", "pull_only": true}
    ]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from .models import ScriptedModel
from .server import OllamaEmulator

DEFAULT_SCENARIO: list[dict[str, Any]] = [
    {"name": "emu-chat:latest", "reply": "Hello from the Ollama emulator.", "capabilities": ["completion"]},
    {
        "name": "emu-coder:latest",
        "reply": "def add(a, b):\n    return a + b\n",
        "capabilities": ["completion", "insert"],
    },
    {"name": "emu-embed:latest", "capabilities": ["embedding"], "embedding_dim": 64},
    {"name": "emu-pullable:latest", "pull_only": True},
]


def load_scenario(data: Any) -> tuple[list[ScriptedModel], list[ScriptedModel]]:
    """Parse a scenario (list, or ``{"models", "pullable"}``) into (installed, pull-only) models."""
    if isinstance(data, dict):
        entries = [dict(e) for e in data.get("models", [])]
        entries += [{**e, "pull_only": True} for e in data.get("pullable", [])]
    elif isinstance(data, list):
        entries = [dict(e) for e in data]
    else:
        raise ValueError("a scenario is a JSON list of models or an object with 'models'/'pullable'")
    installed: list[ScriptedModel] = []
    pullable: list[ScriptedModel] = []
    for entry in entries:
        pull_only = bool(entry.pop("pull_only", False))
        (pullable if pull_only else installed).append(ScriptedModel.from_dict(entry))
    return installed, pullable


async def _serve(emu: OllamaEmulator) -> None:
    await emu.start_async()
    print(emu.url, flush=True)
    names = ", ".join(emu.models) or "(none)"
    print(f"Ollama emulator listening on {emu.url}; models: {names}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emu.stop_async()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m tests.emulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.emulator", description="Serve the Ollama emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=11434, help="TCP port, 0 for ephemeral (default 11434)")
    parser.add_argument("--scenario", type=Path, help="JSON scenario file (default: built-in models)")
    args = parser.parse_args(argv)
    data = json.loads(args.scenario.read_text(encoding="utf-8")) if args.scenario else DEFAULT_SCENARIO
    installed, pullable = load_scenario(data)
    emu = OllamaEmulator(installed, pullable=pullable, host=args.host, port=args.port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(emu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
