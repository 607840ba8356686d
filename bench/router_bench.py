"""Offline router throughput: decisions per second and per-decision latency (p50/p95, us) of the
learned classifier (embedding included; the model is loaded before timing, its load time is a row
of ``bench/router_eval.py``).

Run: ``.venv/bin/python bench/router_bench.py [--json]``.
"""

from __future__ import annotations

import sys
import time

from _common import print_rows, row
from coding_director.routing.offline import classify

PROMPTS = [
    "Provide a Python implementation of the Black-Scholes formula.",
    "Create a Flask hello-world endpoint.",
    "Explain what this function does and why it recurses",
    "Fix the off-by-one error in this loop",
    "Write unit tests for the parse_header function",
    "Add a docstring to this class",
    "Refactor this module into smaller functions, keeping behaviour",
    "Compute the eigenvalues of a symmetric matrix without numpy",
    "Why does this crash when the list is empty?",
    "Review this pull request for security problems",
    "Integrate sin(x) from 0 to pi with Simpson's rule",
    "calculate the total price of the basket including tax",
    "What is the difference between a process and a thread?",
    "Implement a thread-safe LRU cache in Rust",
    "Estimate pi with a Monte Carlo simulation in Go",
    "Rename this variable everywhere in the file",
] * 25  # 400 prompts


def main() -> None:
    as_json = "--json" in sys.argv
    for prompt in PROMPTS[:50]:  # warm-up (lazy model load, regex caches)
        classify(prompt)
    per_call_us: list[float] = []
    rounds = 5
    started = time.perf_counter()
    for _ in range(rounds):
        for prompt in PROMPTS:
            t0 = time.perf_counter_ns()
            classify(prompt)
            per_call_us.append((time.perf_counter_ns() - t0) / 1000)
    total = time.perf_counter() - started
    rate = rounds * len(PROMPTS) / total
    rows = [
        row("offline router: one decision", per_call_us, "us"),
        row("offline router: decisions per second", [rate], "1/s", f"{len(PROMPTS)} prompts x {rounds}"),
    ]
    print_rows(rows, as_json)


if __name__ == "__main__":
    main()
