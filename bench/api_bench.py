"""The HTTP API's own overhead per request, against a zero-latency Ollama emulator.

Same run, interleaved request by request: (a) ``CodingDirector.aget_assistance`` called in this
process (the baseline: routing, model stream, verification); (b) the same request sent to
``coding-director api`` (a subprocess, same settings, same emulator) with httpx, non-streamed
(``chat.completion`` JSON) and (c) streamed (SSE until ``data: [DONE]``). The API overhead is
(b) - (a) and (c) - (a), paired: HTTP parsing, JSON validation, the engine task, translation and
SSE framing, plus the loopback round trip. Target: p50 < 3 ms. httpx is the client so that the
figure is the server's (the ``openai`` client's own parsing is measured separately, as a row).

Wall time on a shared, loaded machine mostly measures waiting for a core, so CPU time is printed
too: the engine's CPU per request in this process (``time.process_time``) and the API server's CPU
per request (utime + stime of its process from ``/proc/PID/stat``, summed over the requests of one
kind and divided by their number, hence a mean: the kernel counts it in clock ticks).

Run: ``.venv/bin/python bench/api_bench.py [--json] [--n 200]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import openai
from _common import emulator_process, print_rows, row
from coding_director import CodingDirector
from coding_director.settings import load_settings

from tests.api_process import api_process

REPLY = "Recursion is when a function calls itself on a smaller input until it reaches a base case. " * 2
PROMPT = "Explain what recursion is"
MODEL = "bench:latest"


def mean_row(metric: str, value_ms: float, n: int, baseline: str) -> dict[str, object]:
    """A row holding a mean over ``n`` requests (p50 and p95 columns both show the mean)."""
    return {**row(metric, [value_ms], "ms", baseline), "n": n}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(emulator_url: str, api_url: str, n: int, server_pid: int) -> list[dict[str, object]]:
    settings = load_settings(
        ollama={"host": emulator_url}, tiers={"lead": {"model": MODEL}}, routing={"router": "offline"}
    )
    director = CodingDirector(settings)
    http = httpx.AsyncClient(base_url=api_url, timeout=30)
    client = openai.AsyncOpenAI(base_url=api_url + "/v1", api_key="x", max_retries=0, timeout=30)
    body = {"model": "coding-director", "messages": [{"role": "user", "content": PROMPT}]}
    streamed = {**body, "stream": True}

    engine_cpu: list[float] = []
    server_cpu = {"json": 0.0, "stream": 0.0}

    async def engine() -> float:
        c0, t0 = time.process_time(), time.perf_counter()
        result = await director.aget_assistance(PROMPT)
        elapsed = (time.perf_counter() - t0) * 1000
        engine_cpu.append((time.process_time() - c0) * 1000)
        assert result.accepted and result.answer == REPLY, result.attempts
        return elapsed

    async def on_server(kind: str, call: Callable[[], Awaitable[float]]) -> float:
        before = cpu_seconds(server_pid)
        elapsed = await call()
        server_cpu[kind] += cpu_seconds(server_pid) - before
        return elapsed

    async def api_json() -> float:
        t0 = time.perf_counter()
        response = await http.post("/v1/chat/completions", json=body)
        elapsed = (time.perf_counter() - t0) * 1000
        assert response.json()["choices"][0]["message"]["content"] == REPLY
        return elapsed

    async def api_stream() -> float:
        t0 = time.perf_counter()
        last = ""
        async with http.stream("POST", "/v1/chat/completions", json=streamed) as response:
            async for line in response.aiter_lines():
                if line:
                    last = line
        elapsed = (time.perf_counter() - t0) * 1000
        assert last == "data: [DONE]"
        return elapsed

    async def openai_stream() -> float:
        t0 = time.perf_counter()
        parts = []
        stream = await client.chat.completions.create(
            model="coding-director", messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
        elapsed = (time.perf_counter() - t0) * 1000
        assert "".join(parts) == REPLY
        return elapsed

    for _ in range(20):  # warm-up: connections, imports, caches on both sides
        await engine()
        await api_json()
        await api_stream()
        await openai_stream()
    engine_cpu.clear()
    engine_ms: list[float] = []
    json_ms: list[float] = []
    stream_ms: list[float] = []
    openai_ms: list[float] = []
    for _ in range(n):
        engine_ms.append(await engine())
        json_ms.append(await on_server("json", api_json))
        stream_ms.append(await on_server("stream", api_stream))
        openai_ms.append(await openai_stream())
    await director.aclose()
    await http.aclose()
    await client.close()
    json_over = [b - a for a, b in zip(engine_ms, json_ms, strict=True)]
    stream_over = [c - a for a, c in zip(engine_ms, stream_ms, strict=True)]
    openai_over = [d - a for a, d in zip(engine_ms, openai_ms, strict=True)]
    engine_cpu_mean = statistics.fmean(engine_cpu)
    json_cpu, stream_cpu = (server_cpu[k] * 1000 / n for k in ("json", "stream"))
    return [
        row("CodingDirector in process (route+stream+verify)", engine_ms, "ms", "baseline"),
        row("API chat, non-streamed (httpx)", json_ms, "ms", "same request"),
        row("API overhead per request, non-streamed", json_over, "ms", "paired; target p50 < 3"),
        row("API chat, streamed SSE (httpx)", stream_ms, "ms", "same request"),
        row("API overhead per request, streamed", stream_over, "ms", "paired; target p50 < 3"),
        row("API chat, streamed (openai client)", openai_ms, "ms", "same request"),
        row("API + openai client overhead, streamed", openai_over, "ms", "paired; includes client parsing"),
        row("CPU per request: engine in process", engine_cpu, "ms", "baseline (CPU)"),
        mean_row("CPU per request: API server, non-streamed", json_cpu, n, "mean; same requests"),
        mean_row("API CPU overhead per request, non-streamed", json_cpu - engine_cpu_mean, n, "means; vs baseline"),
        mean_row("CPU per request: API server, streamed", stream_cpu, n, "mean; same requests"),
        mean_row("API CPU overhead per request, streamed", stream_cpu - engine_cpu_mean, n, "means; vs baseline"),
    ]


def main() -> None:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 200
    with emulator_process([{"name": MODEL, "reply": REPLY}]) as emulator_url, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "api.toml"
        config.write_text(api_toml(emulator_url), encoding="utf-8")
        with api_process(config) as server:
            rows = asyncio.run(measure(emulator_url, server.url, n, server.proc.pid))
    print_rows(rows, "--json" in sys.argv)
    if "--json" not in sys.argv:
        print(f"(emulator with zero latency, {REPLY.count(' ')} chunks per answer, n={n}, API in a subprocess)")


def api_toml(emulator_url: str) -> str:
    """The API's config: the same settings as the in-process engine."""
    host = json.dumps(emulator_url)
    return f'[ollama]\nhost = {host}\n[tiers.lead]\nmodel = "{MODEL}"\n[routing]\nrouter = "offline"\n'


if __name__ == "__main__":
    main()
