"""``bench/report``: run every benchmark of the project and print one table.

Each benchmark runs in its own process (``--json`` rows: metric, p50, p95, unit, n, baseline); each
comparison's baseline is measured in the same run as what it is compared with. The real-model
benchmark (``bench/real_model_bench.py``) runs on the built-in team's runtime (SmolLM2-135M,
installed by ``./scripts/setup``), on Gemma 3 270M with ``--gemma`` (``scripts/real-model-demo``),
or on the OpenAI-compatible server ``--base-url`` names; skip it with ``--no-real-model``.

Writes the table also as Markdown (with the date and the machine) and JSON to
``test-output/bench/report.md`` and ``report.json``. Exit code 0 unless a benchmark crashed; the
verdict on the real-model target (engine within 5% of the direct call, by the paired medians) is
printed, not enforced: machines are noisy.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _real_model import installed


def builtin_installed() -> bool:
    """Whether the built-in runtime and its model are installed (``./scripts/setup``)."""
    from coding_director.backends.embedded import RuntimeNotInstalled, resolve_spec
    from coding_director.settings import load_settings

    try:
        resolve_spec(load_settings().embedded)
    except RuntimeNotInstalled:
        return False
    return True


HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "test-output" / "bench"
#: (section, script, arguments, arguments with --quick)
BENCHES: list[tuple[str, str, list[str], list[str]]] = [
    ("router", "router_bench.py", [], []),
    ("router eval", "router_eval.py", [], []),
    ("engine", "engine_bench.py", ["--n", "300"], ["--n", "20"]),
    ("lsp", "lsp_bench.py", ["--n", "100"], ["--n", "10"]),
    ("api", "api_bench.py", ["--n", "200"], ["--n", "20"]),
    ("load", "load_bench.py", ["--n", "100"], ["--n", "20"]),
    ("context", "context_bench.py", ["--runs", "200"], ["--runs", "20"]),
    ("early rej.", "early_reject_bench.py", ["--n", "3"], ["--n", "1", "--chunk-ms", "5"]),
    ("index", "index_bench.py", ["--runs", "20", "--searches", "200"], ["--runs", "3", "--searches", "20"]),
    ("retrieval", "retrieval_eval.py", [], []),
    ("memory", "memory_bench.py", ["--n", "300"], ["--n", "30"]),
    ("real model", "real_model_bench.py", ["--n", "8"], ["--n", "2"]),
]
#: Rows whose paired median must be <= 1.05 (issue 6).
TARGET_ROWS = (
    "real model chat: TTFT engine / direct",
    "real model chat: total engine / direct",
    "real model completion: LSP / direct",
)
TARGET_RATIO = 1.05


def machine() -> str:
    """One line describing this machine: CPU model, cores, RAM, GPU, Python, OS."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f", {kib / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{ram}, no GPU used, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def run_bench(script: str, args: list[str]) -> tuple[list[dict[str, Any]], float, str]:
    """Run ``bench/<script> --json`` and parse its rows; returns (rows, seconds, error text)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / script), "--json", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    rows = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            rows.append(json.loads(line))
    error = "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
    return rows, seconds, error


def fmt(value: float) -> str:
    """A figure with about 3 significant digits (thousands separated)."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def verdict(rows: list[dict[str, Any]]) -> list[str]:
    """Lines judging the real-model target rows (paired median ratio <= 1.05)."""
    lines = []
    for name in TARGET_ROWS:
        match = [r for r in rows if r["metric"] == name]
        if match:
            p50 = match[0]["p50"]
            ok = "PASS" if p50 <= TARGET_RATIO else "MISS"
            lines.append(f"{ok}  {name}: median {p50:.3f}x (target <= {TARGET_RATIO}x)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running OpenAI-compatible server serving the real model (…/v1)")
    parser.add_argument("--model", help="the model name at --base-url")
    parser.add_argument("--gemma", action="store_true", help="real model: Gemma 3 270M (scripts/real-model-demo)")
    parser.add_argument("--no-real-model", action="store_true", help="skip the real-model benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run, not for the README)")
    args = parser.parse_args()
    url = ["--base-url", args.base_url] if args.base_url else ["--gemma"] if args.gemma else []
    if args.base_url and args.model:
        url += ["--model", args.model]
    benches = [
        (section, script, (quick if args.quick else full) + (url if section == "real model" else []))
        for section, script, full, quick in BENCHES
    ]
    if args.no_real_model or not (args.base_url or (installed() if args.gemma else builtin_installed())):
        benches = [b for b in benches if b[0] != "real model"]
        if not args.no_real_model:
            fix = "./scripts/real-model-demo" if args.gemma else "./scripts/setup"
            print(f"(real model not installed: run {fix} to include its figures)", file=sys.stderr)

    started = datetime.datetime.now().astimezone()
    table: list[dict[str, Any]] = []
    failures = 0
    for section, script, extra in benches:
        print(f"running {script} ...", file=sys.stderr, flush=True)
        rows, seconds, error = run_bench(script, extra)
        if error:
            failures += 1
            print(f"  {script} FAILED: {error}", file=sys.stderr)
        else:
            print(f"  {len(rows)} rows in {seconds:.0f} s", file=sys.stderr)
        table += [{"section": section, **r} for r in rows]

    header = f"{started:%Y-%m-%d %H:%M %Z}, {machine()}"
    width = max((len(r["metric"]) for r in table), default=10)
    print(f"\nCoding Director benchmarks: {header}")
    print(f"{'section':<11} {'metric':<{width}} {'p50':>9} {'p95':>9}  {'unit':<6} {'n':>4}  baseline (same run)")
    for r in table:
        print(
            f"{r['section']:<11} {r['metric']:<{width}} {fmt(r['p50']):>9} {fmt(r['p95']):>9}  "
            f"{r['unit']:<6} {r['n']:>4}  {r['baseline']}"
        )
    for line in verdict(table):
        print(line)

    OUT.mkdir(parents=True, exist_ok=True)
    md = [f"Latest figures ({header}):", "", "| metric | p50 | p95 | unit | n | baseline (same run) |",
          "|---|---|---|---|---|---|"]  # fmt: skip
    md += [f"| {r['metric']} | {fmt(r['p50'])} | {fmt(r['p95'])} | {r['unit']} | {r['n']} | {r['baseline']} |"
           for r in table]  # fmt: skip
    md += ["", *verdict(table)]
    (OUT / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    (OUT / "report.json").write_text(
        json.dumps({"when": started.isoformat(), "machine": machine(), "rows": table}, indent=1)
    )
    print(f"\n(also written to {OUT.relative_to(ROOT)}/report.md and report.json)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
