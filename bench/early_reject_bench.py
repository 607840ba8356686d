"""A request on which every tier streams a generation loop: rejected while streaming vs read to the limit.

The emulator (own process) serves three tier models that loop for as long as they are read, at
``--chunk-ms`` per token (default 20 ms, about the 52 tokens/s of the real model here): the lead
repeats one line, the senior one phrase without newlines, the principal a four-line paragraph.
Measured in the same run: (a) the whole request with the stream checks on (``checks.stream``,
the default), on the Ollama path and on the OpenAI-compatible path (``/v1``), and (b) the same
request with them off, where each tier is read to its ``num_predict`` of 1,024 tokens and rejected
afterwards (the behaviour before issue 10). Target (issue 10): (a) under 15 s in total.

Run: ``.venv/bin/python bench/early_reject_bench.py [--json] [--n 3] [--chunk-ms 20]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

from _common import emulator_process, print_rows, row
from coding_director import CodingDirector
from coding_director.results import Assistance
from coding_director.settings import load_settings

PROMPT = "Explain what this recursion does"
LOOPS = {
    "lead": "The function returns the sum of the two numbers.\n",
    "senior": "and then the value of x is the value of x ",
    "principal": "First, we call the function.\nThen the function calls itself.\nThe result is returned.\n"
    "This is how recursion works.\n",
}
NUM_PREDICT = 1024


def arg(name: str, default: float) -> float:
    return float(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


async def request(url: str, provider: str, stream_checks: bool) -> tuple[float, Assistance]:
    spec: dict[str, Any] = {"num_predict": NUM_PREDICT}
    if provider == "openai":
        spec |= {"provider": "openai", "base_url": url + "/v1"}
    settings = load_settings(
        ollama={"host": url},
        tiers={tier: {"model": f"loop-{tier}:latest", **spec} for tier in LOOPS},
        routing={"router": "offline", "general_chain": list(LOOPS)},
        checks={"stream": stream_checks},
    )
    director = CodingDirector(settings)
    try:
        t0 = time.perf_counter()
        result = await director.aget_assistance(PROMPT)
        seconds = time.perf_counter() - t0
    finally:
        await director.aclose()
    assert not result.accepted and len(result.attempts) == 3, result.attempts
    assert all(a.outcome == "rejected" for a in result.attempts), result.attempts
    return seconds, result


async def measure(url: str, n: int) -> tuple[list[dict[str, Any]], list[str]]:
    early: dict[str, list[float]] = {"ollama": [], "openai": []}
    tokens: list[float] = []
    reasons: list[str] = []
    for provider in early:  # warm-up: imports of both clients, connections
        await request(url, provider, True)
    for _ in range(n):
        for provider in early:
            seconds, result = await request(url, provider, True)
            early[provider].append(seconds)
            assert all(a.stopped_early for a in result.attempts), result.attempts
            tokens += [float(a.completion_tokens or 0) for a in result.attempts]
            reasons = [f"{a.tier}: {a.reason}" for a in result.attempts]
    full_s, full = await request(url, "ollama", False)
    full_tokens = [float(a.completion_tokens or 0) for a in full.attempts]
    ratio = statistics.median(early["ollama"]) / full_s
    rows = [
        row("every tier loops, stream checks on (ollama): request", early["ollama"], "s", "see the last rows"),
        row("every tier loops, stream checks on (openai /v1): request", early["openai"], "s", "see the last rows"),
        row("tokens read per rejected attempt, checks on", tokens, "tokens", f"num_predict = {NUM_PREDICT}"),
        row("every tier loops, read to num_predict (checks off)", [full_s], "s", "baseline, same run"),
        row("tokens read per rejected attempt, checks off", full_tokens, "tokens", "baseline, same run"),
        row("request time, checks on / off (ollama)", [ratio], "x", "median / baseline"),
    ]
    return rows, reasons


def main() -> None:
    n = int(arg("--n", 3))
    chunk_ms = arg("--chunk-ms", 20.0)
    models = [{"name": f"loop-{tier}:latest", "reply": text, "loop": True, "chunk_delay_ms": chunk_ms}
              for tier, text in LOOPS.items()]  # fmt: skip
    with emulator_process(models) as url:
        rows, reasons = asyncio.run(measure(url, n))
    print_rows(rows, "--json" in sys.argv)
    if "--json" not in sys.argv:
        print(f"(emulator in its own process, {chunk_ms:g} ms per token, n={n}; target: checks on < 15 s)")
        for reason in reasons:
            print(f"  {reason}")


if __name__ == "__main__":
    main()
