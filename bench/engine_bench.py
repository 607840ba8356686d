"""The engine's own overhead per request against a zero-latency Ollama emulator.

Measures, in the same run and interleaved, (a) one streamed chat request made directly with the
official ``ollama`` AsyncClient and (b) the same request through ``CodingDirector`` (offline
routing, verification, escalation bookkeeping; accepted by the first tier). The engine overhead is
(b) - (a): everything but model time. Target (STACK.md): about 1.5x the raw client or less.

Run: ``.venv/bin/python bench/engine_bench.py [--json] [--n 300]``.
"""

from __future__ import annotations

import asyncio
import sys
import time

import ollama
from _common import emulator_process, print_rows, row
from coding_director import CodingDirector
from coding_director.settings import load_settings

REPLY = "Recursion is when a function calls itself on a smaller input until it reaches a base case. " * 2
PROMPT = "Explain what recursion is"


async def measure(url: str, n: int) -> list[dict[str, object]]:
    client = ollama.AsyncClient(host=url, timeout=30)
    settings = load_settings(
        ollama={"host": url},
        tiers={"lead": {"model": "bench:latest"}},
        routing={"router": "offline"},
    )
    director = CodingDirector(settings)
    messages = [{"role": "user", "content": PROMPT}]

    async def raw() -> float:
        t0 = time.perf_counter()
        async for _ in await client.chat(model="bench:latest", messages=messages, stream=True, keep_alive="10m"):
            pass
        return (time.perf_counter() - t0) * 1000

    async def engine() -> float:
        t0 = time.perf_counter()
        result = await director.aget_assistance(PROMPT)
        assert result.accepted, result.attempts
        return (time.perf_counter() - t0) * 1000

    for _ in range(20):  # warm-up: connections, imports, regex caches
        await raw()
        await engine()
    raw_ms: list[float] = []
    engine_ms: list[float] = []
    for _ in range(n):
        raw_ms.append(await raw())
        engine_ms.append(await engine())
    await director.aclose()
    overhead = [e - r for e, r in zip(engine_ms, raw_ms, strict=True)]
    ratio = [e / r for e, r in zip(engine_ms, raw_ms, strict=True)]
    return [
        row("raw ollama AsyncClient, streamed chat", raw_ms, "ms", "baseline"),
        row("CodingDirector request (route+stream+verify)", engine_ms, "ms", "same request"),
        row("engine overhead per request (b - a)", overhead, "ms", "paired"),
        row("engine / raw client ratio", ratio, "x", "paired"),
    ]


def main() -> None:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 300
    chunks = REPLY.count(" ")
    with emulator_process([{"name": "bench:latest", "reply": REPLY}]) as url:
        rows = asyncio.run(measure(url, n))
    print_rows(rows, "--json" in sys.argv)
    if "--json" not in sys.argv:
        print(f"(emulator with zero latency, {chunks} chunks per answer, n={n})")


if __name__ == "__main__":
    main()
