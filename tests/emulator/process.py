"""Run the emulator's command line (``python -m tests.emulator``) in a separate process.

Benchmarks and the demo use this so that the emulator does not share the measured process's
event loop or GIL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def emulator_subprocess(models: list[dict[str, Any]]) -> Iterator[str]:
    """Serve ``models`` (scenario entries, see ``__main__``) on an ephemeral loopback port in a child
    process; yields its URL and terminates the process on exit. Raises ``RuntimeError`` if it does
    not start."""
    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / "scenario.json"
        scenario.write_text(json.dumps(models), encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulator", "--port", "0", "--scenario", str(scenario)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            if not url.startswith("http"):
                raise RuntimeError("the Ollama emulator did not start")
            yield url
        finally:
            proc.terminate()
            proc.wait(10)
