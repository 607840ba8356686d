"""The load benchmark runs to completion with a small n (its figures are for bench/, not checked
here: no wall-clock threshold in a test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_load_bench_completes_with_every_chat_accepted() -> None:
    proc = subprocess.run(
        [sys.executable, "bench/load_bench.py", "--n", "6", "--chats", "4", "--chat-chunks", "150", "--chunk-ms", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "inline completion, idle" in proc.stdout and "4 chats streaming" in proc.stdout, proc.stdout
    assert "'chats_accepted': 4" in proc.stdout, proc.stdout
