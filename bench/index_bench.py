"""Workspace index on a real repository of about 100k lines: first index time, peak memory, re-index
after a one-file change, search latency.

The corpus is ``pip==24.2`` from PyPI (the wheel, unpacked: pip itself plus its vendored libraries
rich, urllib3, requests, packaging, ...; 437 files, about 131k lines of Python), downloaded once
into the user cache (``coding-director/bench-src``). The index is built from scratch in a
temporary folder with the default (offline WordLlama) embedder.

Rows (``--json`` for ``bench/report``):

- first index: wall seconds (target < 20 s on a 2-core machine); baseline: reading and hashing
  every file in the same run;
- peak RSS after the first index (``resource.getrusage``, MB; target < 400); baseline: RSS after
  the imports, before indexing;
- re-index after a one-file change (``WorkspaceIndex.update_file``, the path of ``didSave``), and
  a full incremental walk after that change (``update``), ms (target < 100);
- search p50/p95 ms, hybrid (target p95 < 30) with BM25 alone as the baseline.

The machine's load average is printed: the figures are only comparable on a quiet machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "server")]

from _common import pip_download, print_rows, row  # noqa: E402
from coding_director.knowledge.index import WorkspaceIndex  # noqa: E402
from coding_director.settings import Settings  # noqa: E402

PACKAGE = ("pip", "24.2")
CHANGED_FILE = "pip/_internal/req/req_install.py"
QUERIES = [
    "parse a requirement specifier with extras and markers", "where are wheels built", "download progress bar",
    "resolve dependency conflicts backtracking", "read the pip configuration files", "hash checking mode",
    "uninstall a distribution and its files", "vendored urllib3 connection pool retries", "proxy from environment",
    "rich console render markup", "normalize a project name", "compare version specifiers", "netrc credentials",
    "keyring authentication", "install scheme paths", "editable install", "cache directory", "TLS certificates",
    "Session.request", "parse_requirements", "InstallRequirement", "get_supported tags", "canonicalize_name",
    "retry on HTTP 503", "extract a zip archive safely", "find links index url", "python version check",
]


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _rss_mb()


def fetch(cache: Path) -> Path:
    """The unpacked ``pip`` wheel (downloaded once)."""
    name, version = PACKAGE
    root = cache / f"{name}-{version}-wheel"
    if not root.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(
            pip_download(f"{name}=={version}", Path(tmp), wheel=True)
        ) as archive:
            archive.extractall(root)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=20, help="one-file re-index samples")
    parser.add_argument("--searches", type=int, default=200)
    args = parser.parse_args()
    import platformdirs

    cache = args.cache or Path(platformdirs.user_cache_dir("coding-director", appauthor=False)) / "bench-src"
    root = fetch(cache)
    # Warm the file cache and measure the I/O baseline: read and hash every file.
    started = time.perf_counter()
    lines = files = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            hashlib.blake2b(data, digest_size=16).hexdigest()
            files += 1
            lines += data.count(b"\n")
    read_s = time.perf_counter() - started
    load_before = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as store_dir:
        settings = Settings(index={"cache_dir": store_dir})
        index = WorkspaceIndex(root, settings)
        index.embedder.embed(["warm up"])  # model load is not indexing
        rss_before = _current_rss_mb()
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = index.update()
        first_s, first_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        peak = _rss_mb()
        rows.append({**row(f"index: first index, pip {PACKAGE[1]} ({lines:,} lines, {summary.files} files, "
                           f"{summary.chunks} chunks)", [first_s], unit="s"),
                     "baseline": f"read+hash all files {read_s:.2f} s"})
        rows.append({**row("index: first index, CPU time of the process", [first_cpu], unit="s"),
                     "baseline": "wall time on a quiet machine is close to this"})
        rows.append({**row("index: peak RSS after the first index", [peak], unit="MB"),
                     "baseline": f"RSS after imports {rss_before:.0f} MB"})
        target = root / CHANGED_FILE
        original = target.read_text(encoding="utf-8")
        single: list[float] = []
        single_cpu: list[float] = []
        walk: list[float] = []
        try:
            for i in range(args.runs):
                target.write_text(original + f"\n\ndef bench_added_{i}(value):\n    return value + {i}\n",
                                  encoding="utf-8")
                started, cpu_started = time.perf_counter(), time.process_time()
                index.update_file(target)
                single.append((time.perf_counter() - started) * 1000)
                single_cpu.append((time.process_time() - cpu_started) * 1000)
                target.write_text(original + f"\n\ndef bench_walk_{i}():\n    return {i}\n", encoding="utf-8")
                started = time.perf_counter()
                walked = index.update()
                walk.append((time.perf_counter() - started) * 1000)
                assert walked.indexed == 1, walked
        finally:
            target.write_text(original, encoding="utf-8")
        rows.append({**row(f"index: re-index one changed file ({CHANGED_FILE}, update_file)", single),
                     "baseline": ""})
        rows.append({**row("index: re-index one changed file, CPU time", single_cpu), "baseline": ""})
        rows.append({**row("index: full incremental walk after a one-file change (update)", walk),
                     "baseline": ""})
        for mode in ("hybrid", "bm25"):
            times: list[float] = []
            cpu: list[float] = []
            for i in range(args.searches):
                started, cpu_started = time.perf_counter(), time.process_time()
                index.search(QUERIES[i % len(QUERIES)], top_k=10, mode=mode)
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
            rows.append({**row(f"index: search top-10, {mode}", times), "baseline": ""})
            rows.append({**row(f"index: search top-10, {mode}, CPU time", cpu), "baseline": ""})
        index.close()
    hybrid = next(r for r in rows if r["metric"] == "index: search top-10, hybrid")
    bm25 = next(r for r in rows if r["metric"] == "index: search top-10, bm25")
    hybrid["baseline"] = f"bm25 alone p95 {bm25['p95']:.2f} ms"
    one_file = next(r for r in rows if r["metric"].startswith("index: re-index one changed file ("))
    load_after = os.getloadavg()[0]
    rows.append({"metric": f"index: machine load average (1 min), {os.cpu_count()} cores", "p50": load_before,
                 "p95": load_after, "unit": "load", "n": 2, "baseline": "before / after the run"})
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    print_rows(rows)
    checks = [("first index < 20 s", first_s < 20), ("peak RSS < 400 MB", peak < 400),
              ("one-file re-index p95 < 100 ms", one_file["p95"] < 100), ("search p95 < 30 ms", hybrid["p95"] < 30)]
    for name, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
