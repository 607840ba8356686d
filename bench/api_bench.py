"""The HTTP API's own overhead per request, against a zero-latency Ollama emulator.

Same run, interleaved request by request: (a) ``CodingDirector.aget_assistance`` called in this
process (the baseline: routing, model stream, verification); (b) the same request sent to
``coding-director api`` (a subprocess, same settings, same emulator) with httpx, non-streamed
(``chat.completion`` JSON) and (c) streamed (SSE until ``data: [DONE]``). The API overhead is
(b) - (a) and (c) - (a), paired: HTTP parsing, JSON validation, the engine task, translation and
SSE framing, plus the loopback round trip. Target: p50 < 3 ms. httpx is the client so that the
figure is the server's (the ``openai`` client's own parsing is measured separately, as a row).

Run: ``.venv/bin/python bench/api_bench.py [--json] [--n 200]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai
from _common import ROOT, emulator_process, print_rows, row
from coding_director import CodingDirector
from coding_director.settings import load_settings

from tests.api_process import api_process

REPLY = "Recursion is when a function calls itself on a smaller input until it reaches a base case. " * 2
PROMPT = "Explain what recursion is"
MODEL = "bench:latest"


async def measure(emulator_url: str, api_url: str, n: int) -> list[dict[str, object]]:
    settings = load_settings(ollama={"host": emulator_url}, tiers={"lead": {"model": MODEL}}, routing={"router": "offline"})
    director = CodingDirector(settings)
    http = httpx.AsyncClient(base_url=api_url, timeout=30)
    client = openai.AsyncOpenAI(base_url=api_url + "/v1", api_key="x", max_retries=0, timeout=30)
    body = {"model": "coding-director", "messages": [{"role": "user", "content": PROMPT}]}
    streamed = {**body, "stream": True}

    async def engine() -> float:
        t0 = time.perf_counter()
        result = await director.aget_assistance(PROMPT)
        assert result.accepted and result.answer == REPLY, result.attempts
        return (time.perf_counter() - t0) * 1000

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
    engine_ms: list[float] = []
    json_ms: list[float] = []
    stream_ms: list[float] = []
    openai_ms: list[float] = []
    for _ in range(n):
        engine_ms.append(await engine())
        json_ms.append(await api_json())
        stream_ms.append(await api_stream())
        openai_ms.append(await openai_stream())
    await director.aclose()
    await http.aclose()
    await client.close()
    json_over = [b - a for a, b in zip(engine_ms, json_ms, strict=True)]
    stream_over = [c - a for a, c in zip(engine_ms, stream_ms, strict=True)]
    openai_over = [d - a for a, d in zip(engine_ms, openai_ms, strict=True)]
    return [
        row("CodingDirector in process (route+stream+verify)", engine_ms, "ms", "baseline"),
        row("API chat, non-streamed (httpx)", json_ms, "ms", "same request"),
        row("API overhead per request, non-streamed", json_over, "ms", "paired; target p50 < 3"),
        row("API chat, streamed SSE (httpx)", stream_ms, "ms", "same request"),
        row("API overhead per request, streamed", stream_over, "ms", "paired; target p50 < 3"),
        row("API chat, streamed (openai client)", openai_ms, "ms", "same request"),
        row("API + openai client overhead, streamed", openai_over, "ms", "paired; includes client parsing"),
    ]


def main() -> None:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 200
    with emulator_process([{"name": MODEL, "reply": REPLY}]) as emulator_url, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "api.toml"
        config.write_text(
            json_free_toml(emulator_url),
            encoding="utf-8",
        )
        with api_process(config) as server:
            rows = asyncio.run(measure(emulator_url, server.url, n))
    print_rows(rows, "--json" in sys.argv)
    if "--json" not in sys.argv:
        print(f"(emulator with zero latency, {REPLY.count(' ')} chunks per answer, n={n}, API in a subprocess)")


def json_free_toml(emulator_url: str) -> str:
    """The API's config: the same settings as the in-process engine."""
    return f'[ollama]\nhost = {json.dumps(emulator_url)}\n[tiers.lead]\nmodel = "{MODEL}"\n[routing]\nrouter = "offline"\n'


_ = ROOT

if __name__ == "__main__":
    main()
