"""The team memory's cost: recording on the request path, an exact cache hit, a semantic lookup.

Rows (p50/p95), all measured in the same run:

1. ``recording hook on the request path``: the synchronous work the engine does per request for
   the memory (build the :class:`Recording` with its cache keys, observe every event, hand the
   record to the writer queue), on a real streamed request's events. Target: < 0.3 ms p95.
2. ``engine request, memory off`` / ``memory on (cache off)`` and their paired difference: the
   same request through ``CodingDirector`` against a zero-latency emulator, interleaved.
3. ``exact cache hit end to end``: ``aget_assistance`` answered from the cache (key, reader
   thread, SQLite lookup, Assistance). Target: < 2 ms.
4. ``semantic lookup at 10,000 entries``: embed the prompt (WordLlama) + sqlite-vec binary KNN +
   exact cosine re-rank, with 10,000 entries in the scope. Target: < 5 ms p95. Baselines measured
   beside it: a float32 ``vec0`` KNN and a numpy matrix product over the same 10,000 vectors.

Run: ``.venv/bin/python bench/memory_bench.py [--json] [--n 300]``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emulator_process, print_rows, row
from coding_director import CodingDirector
from coding_director.memory import cache as cache_store
from coding_director.memory import open_memory
from coding_director.memory.db import connect
from coding_director.memory.embed import embed
from coding_director.memory.recorder import Recording
from coding_director.routing.escalation import Finished
from coding_director.settings import load_settings

REPLY = "Recursion is when a function calls itself on a smaller input until it reaches a base case. " * 2
PROMPT = "Explain what recursion is"
TOPICS = ["recursion", "decorators", "generators", "sorting", "HTTP", "SQL joins", "closures", "async", "regex"]


async def request_path(url: str, n: int, db_dir: Path) -> list[dict[str, object]]:
    base = {"ollama": {"host": url}, "tiers": {"lead": {"model": "bench:latest"}}, "routing": {"router": "offline"}}
    off = CodingDirector(load_settings(**base, memory={"enabled": False}))
    settings_on = load_settings(**base, memory={"path": str(db_dir / "on.sqlite3"), "cache": False})
    memory_on = open_memory(settings_on)
    assert memory_on is not None
    on = CodingDirector(settings_on, memory_on)
    settings_hit = load_settings(**base, memory={"path": str(db_dir / "hit.sqlite3")})
    memory_hit = open_memory(settings_hit)
    assert memory_hit is not None
    hit = CodingDirector(settings_hit, memory_hit)

    async def timed(director: CodingDirector) -> tuple[float, bool]:
        t0 = time.perf_counter()
        result = await director.aget_assistance(PROMPT)
        assert result.accepted, result.attempts
        return (time.perf_counter() - t0) * 1000, result.cached

    for _ in range(20):
        await timed(off)
        await timed(on)
    await timed(hit)
    memory_hit.flush()
    assert (await timed(hit))[1], "the second request must be a cache hit"

    off_ms, on_ms, hit_ms = [], [], []
    for _ in range(n):
        off_ms.append((await timed(off))[0])
        on_ms.append((await timed(on))[0])
        hit_ms.append((await timed(hit))[0])

    # The hook's own synchronous work, on the events of a real request.
    events = [e async for e in off.stream_assistance(PROMPT)]
    hook_ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        recording = Recording(
            memory_on, settings_on, prompt=PROMPT, context=None, context_text=None, history=(),
            overrides="None|None|None", source="api", workspace=None, use_cache=False, extra_checks=(),
        )  # fmt: skip
        for event in events:
            recording.observe(event)
        recording.close()
        hook_ms.append((time.perf_counter() - t0) * 1000)
        assert isinstance(events[-1], Finished)
    for director in (off, on, hit):
        await director.aclose()
    memory_on.close()
    memory_hit.close()
    diff = [b - a for a, b in zip(off_ms, on_ms, strict=True)]
    return [
        row("recording hook on the request path", hook_ms, "ms", "target < 0.3 ms p95"),
        row("engine request, memory off", off_ms, "ms", "baseline"),
        row("engine request, memory on (cache off)", on_ms, "ms", "same run, interleaved"),
        row("memory on - off (paired)", diff, "ms", "paired"),
        row("exact cache hit end to end", hit_ms, "ms", "target < 2 ms"),
    ]


def semantic(n: int, db_dir: Path, entries: int = 10_000) -> list[dict[str, object]]:
    conn = connect(db_dir / "semantic.sqlite3")
    prompts = [
        f"{['explain', 'how do I use', 'fix my', 'what is'][i % 4]} {TOPICS[i % len(TOPICS)]} case {i}"
        for i in range(entries)
    ]
    vectors = np.stack([embed(p) for p in prompts])
    now = time.time()
    conn.execute("BEGIN")
    for i, (prompt, vector) in enumerate(zip(prompts, vectors, strict=True)):
        entry = cache_store.NewEntry(
            f"k{i}", "scope", f"r{i}", None, "question", "general", "{}", "lead", prompt, vector
        )
        cache_store.put(conn, entry, now, 86400, entries + 1)
    conn.execute("COMMIT")
    conn.execute(
        "CREATE VIRTUAL TABLE f32 USING vec0(entry_id INTEGER PRIMARY KEY, embedding FLOAT[256] distance_metric=cosine)"
    )
    conn.execute("BEGIN")
    for i, vector in enumerate(vectors):
        conn.execute("INSERT INTO f32 (entry_id, embedding) VALUES (?, ?)", (i, vector.tobytes()))
    conn.execute("COMMIT")
    queries = [f"please explain {TOPICS[i % len(TOPICS)]} case {i * 7 % entries}" for i in range(n)]
    ours, f32, dense, found = [], [], [], 0
    for query in queries:
        t0 = time.perf_counter()
        result = cache_store.lookup_semantic(conn, "scope", embed(query), 0.5, now)
        ours.append((time.perf_counter() - t0) * 1000)
        found += result is not None
        vector = embed(query)
        t0 = time.perf_counter()
        conn.execute("SELECT entry_id FROM f32 WHERE embedding MATCH ? AND k = 1", (vector.tobytes(),)).fetchall()
        f32.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        int(np.argmax(vectors @ vector))
        dense.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return [
        row(f"semantic lookup at {entries:,} entries (embed + binary KNN + re-rank)", ours, "ms", "target < 5 ms p95"),
        row(f"  baseline: float32 vec0 KNN at {entries:,}", f32, "ms", "same run"),
        row(f"  baseline: numpy matrix product at {entries:,}", dense, "ms", "same run"),
    ], found


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 300
    with tempfile.TemporaryDirectory() as tmp, emulator_process([{"name": "bench:latest", "reply": REPLY}]) as url:
        rows = asyncio.run(request_path(url, n, Path(tmp)))
        semantic_rows, found = semantic(min(n, 200), Path(tmp))
    rows += semantic_rows
    print_rows(rows, "--json" in sys.argv)
    if "--json" not in sys.argv:
        print(f"(emulator with zero latency, n={n}; semantic queries that found a neighbour >= 0.5: {found})")


if __name__ == "__main__":
    main()
