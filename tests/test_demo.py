"""``./scripts/demo --stand-in``: the scripted stand-in team runs only when asked for, and says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_stand_in_demo_announces_itself_and_answers_both_seed_prompts() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--stand-in"],
        env=env, capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--stand-in: running against a SCRIPTED STAND-IN TEAM" in proc.stdout
    assert "BUILT-IN TEAM" not in proc.stdout
    assert proc.stdout.count("== coding-director ask --json") == 2
    assert "route: math/generate" in proc.stdout and "route: general/generate" in proc.stdout
