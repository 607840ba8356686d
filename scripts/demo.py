"""The main job of ``./scripts/demo`` (see that script). Prints to stdout; exits non-zero on failure.

Which team answers: the Ollama at ``$OLLAMA_HOST`` when one answers; else the built-in team
(SmolLM2-135M-Instruct on the llama.cpp runtime that ``./scripts/setup`` installs into
``.venv-runtime``, started and stopped by each ``coding-director`` command); the scripted stand-in
team (the test emulator, canned answers) only with ``--stand-in``, and announced as such.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))

from coding_director.backends.embedded import RuntimeNotInstalled, resolve_spec, runtime_version  # noqa: E402
from coding_director.settings import load_settings, normalise_ollama_host  # noqa: E402

from tests.emulator.process import emulator_subprocess  # noqa: E402

PROMPTS = [
    "Provide a Python implementation of the Black-Scholes formula.",
    "Create a Flask hello-world endpoint.",
]

BLACK_SCHOLES = """Here is the Black-Scholes price of a European call and put:

```python
from math import erf, exp, log, sqrt


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + erf(x / sqrt(2.0)))


def black_scholes(s: float, k: float, t: float, r: float, sigma: float, call: bool = True) -> float:
    d1 = (log(s / k) + (r + sigma**2 / 2) * t) / (sigma * sqrt(t))
    d2 = d1 - sigma * sqrt(t)
    if call:
        return s * norm_cdf(d1) - k * exp(-r * t) * norm_cdf(d2)
    return k * exp(-r * t) * norm_cdf(-d2) - s * norm_cdf(-d1)
```
"""
FLASK_BROKEN = "```python\nfrom flask import Flask\napp = Flask(__name__\n\n@app.route('/')\ndef hello(:\n    return 'Hello'\n```\n"
FLASK_GOOD = """```python
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "Hello, World!"
```
Run it with `flask --app hello run`.
"""
STAND_IN_TEAM = [
    {"name": "openhermes:7b", "reply": "general"},
    {"name": "mathstral:7b", "reply": BLACK_SCHOLES, "tokens_per_chunk": 4},
    {"name": "deepseek-coder-v2:16b-lite-instruct-q4_0", "reply": FLASK_BROKEN, "tokens_per_chunk": 4},
    {"name": "codellama:13b", "reply": FLASK_GOOD, "tokens_per_chunk": 4},
    {"name": "wizardcoder:13b-python", "reply": FLASK_GOOD},
]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv/bin/coding-director"), *args], env=env, text=True, capture_output=True, timeout=900
    )


def print_assistance(result: dict[str, Any], answer_lines: int | None = None) -> None:
    """Print an ``Assistance`` (wire shape, as ``ask --json`` prints it): route, one line per
    attempt (tier, model, outcome, latency, reason), final tier, then the answer (its first
    ``answer_lines`` lines when given)."""
    route = result["route"]
    print(
        f"route: {route['domain']}/{route['intent']} (decided by {route['decidedBy']}, "
        f"confidence {route['confidence']:.2f})"
    )
    for attempt in result["attempts"]:
        print(
            f"  {attempt['tier']:<10} {attempt['model']:<42} {attempt['outcome']:<9} "
            f"{attempt['latencyMs']:>9.1f} ms  {attempt.get('reason') or ''}"
        )
    print(f"final tier: {result['finalTier']}  accepted: {result['accepted']}")
    lines = result["answer"].rstrip().splitlines()
    if answer_lines is not None and len(lines) > answer_lines:
        lines = [*lines[:answer_lines], f"[... {len(lines) - answer_lines} more lines]"]
    print("\n".join(lines))


def ollama_up(host: str) -> bool:
    try:
        httpx.get(host + "/api/version", timeout=2).raise_for_status()
        return True
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    host = normalise_ollama_host(os.environ.get("OLLAMA_HOST", ""))
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        return run(host, env, stack, stand_in="--stand-in" in args)


def run(host: str, env: dict[str, str], stack: contextlib.ExitStack, *, stand_in: bool = False) -> int:
    """Print doctor, the two answers and a context: against the scripted stand-in team when
    ``stand_in``, else the Ollama at ``host`` when it answers, else the built-in team."""
    if stand_in:
        print("== --stand-in: running against a SCRIPTED STAND-IN TEAM (tests/emulator): the answers below")
        print("   are canned; routing, escalation and verification are real. Without --stand-in the demo uses")
        print("   Ollama when it answers, else the built-in model.")
        env["OLLAMA_HOST"] = stack.enter_context(emulator_subprocess(STAND_IN_TEAM))
        env["CODING_DIRECTOR_EMBEDDED__ENABLED"] = "off"
    elif ollama_up(host):
        print(f"== Using the Ollama server at {host}")
    else:
        try:
            spec = resolve_spec(load_settings().embedded)
        except RuntimeNotInstalled as exc:
            print(f"== No Ollama answers at {host}, and {exc.reason}.\nfix: {exc.fix}")
            return 1
        env["CODING_DIRECTOR_EMBEDDED__ENABLED"] = "on"
        print(f"== No Ollama answers at {host}: the BUILT-IN TEAM answers, a real model on this CPU:")
        print(f"   {spec.model.name} on llama.cpp ({runtime_version(spec.python)}, {spec.threads} thread(s)),")
        print(f"   from {spec.python.parent.parent}; every coding-director command starts and stops it.")
        print("   Every tier is this 135M model (they differ by temperature): expect fluent answers that are")
        print("   often wrong, rejections and escalations. Start Ollama (`ollama serve`) for a real team.")
    print("\n== coding-director doctor")
    doctor = cli("doctor", env=env)
    print(doctor.stdout.rstrip())
    failures = 0
    for prompt in PROMPTS:
        print(f"\n== coding-director ask --json {prompt!r}")
        proc = cli("ask", "--json", prompt, env=env)
        if proc.returncode not in (0, 1):
            print(proc.stderr.rstrip())
            failures += 1
            continue
        print_assistance(json.loads(proc.stdout), answer_lines=30)
    types_py = Path(__import__("lsprotocol.types").types.__file__)
    print(f"\n== coding-director context --file {types_py.name} --line 2000 --json (a real 14k-line file)")
    ctx = cli("context", "--file", str(types_py), "--line", "2000", "--json", env=env)
    if ctx.returncode == 0:
        data = json.loads(ctx.stdout)
        print("enclosing:", " > ".join(f"{e['kind']} {e['name']}" for e in data.get("enclosing", [])))
    else:
        print(ctx.stderr.rstrip())
        failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
