"""The load benchmark runs to completion with a small n (its figures are printed at the end of the
run, not checked: no wall-clock threshold in a test; the README's come from full-size runs)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_load_bench_completes_with_every_chat_accepted(suite_figures: Callable[[str, str], None]) -> None:
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
    for line in proc.stdout.splitlines():
        if line.startswith(("inline completion", "completion latency")):
            suite_figures("load (CI size: 6 completions a phase, 4 chats)", " ".join(line.split()))
