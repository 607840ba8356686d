"""Retrieval evaluation on real code: recall@1, recall@5 and MRR of BM25 alone, vectors alone and
the hybrid (reciprocal rank fusion) over ``bench/data/retrieval_questions.jsonl``.

The corpora are downloaded by this script, pinned, into a cache folder (platformdirs' user cache,
``coding-director/bench-src``; ``--cache`` to change it) and reused by later runs:

- ``requests==2.32.3`` from PyPI (``pip download --no-deps --no-binary :all:``: the sdist, tests
  and docs included, about 11k lines of Python);
- ``rxjs@7.8.2`` from npm (``npm pack``; its ``src/`` folder, 251 TypeScript files).

Each question names one or more acceptable answers ``{path, name}`` (path relative to the corpus
root, a definition name). A retrieved chunk is correct when it is in that file and is that
definition (its name is ``name``, ends with ``.name``, or it defines ``name``). recall@k: share of
questions with a correct chunk among the first k; MRR: mean of 1/rank of the first correct chunk
within the first 10 (0 when none). Every question's answers are checked to exist in the index
first (a stale question is an error, not a miss). The index is built from scratch in a temporary
folder on every run (its time is printed too).

Usage: ``.venv/bin/python bench/retrieval_eval.py [--json] [--cache DIR] [--show-misses]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from _common import pip_download  # noqa: E402
from coding_director.knowledge.index import WorkspaceIndex  # noqa: E402
from coding_director.settings import Settings  # noqa: E402

QUESTIONS = ROOT / "bench" / "data" / "retrieval_questions.jsonl"
REQUESTS = ("requests", "2.32.3")
RXJS = ("rxjs", "7.8.2")
MODES = ("bm25", "vector", "hybrid")
DEPTH = 10


def default_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("coding-director", appauthor=False)) / "bench-src"


def _safe_extract(archive: tarfile.TarFile, target: Path) -> None:
    archive.extractall(target, filter="data")


def fetch_requests(cache: Path) -> Path:
    """The unpacked ``requests`` sdist (downloaded once with pip)."""
    name, version = REQUESTS
    root = cache / f"{name}-{version}"
    if not root.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp, tarfile.open(
            pip_download(f"{name}=={version}", Path(tmp), wheel=False)
        ) as archive:
            _safe_extract(archive, cache)
    return root


def fetch_rxjs(cache: Path) -> Path:
    """The ``src/`` folder of the ``rxjs`` npm package (downloaded once with npm pack)."""
    name, version = RXJS
    root = cache / f"{name}-{version}"
    if not root.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            (tgz,) = Path(tmp).glob("*.tgz")
            with tarfile.open(tgz) as archive:
                _safe_extract(archive, Path(tmp))
            shutil.move(str(Path(tmp) / "package"), str(root))
    return root / "src"


def correct_ids(index: WorkspaceIndex, answers: list[dict[str, str]]) -> set[int]:
    """Chunk ids that answer a question (see the module docstring)."""
    ids: set[int] = set()
    for answer in answers:
        path, name = answer["path"], answer["name"]
        rows = index.store._reader.execute(  # read-only look-up of the evaluation's ground truth
            "SELECT id FROM chunks WHERE path = ? AND (name = ? OR name LIKE ?) UNION "
            "SELECT c.id FROM chunks c JOIN symbols s ON s.chunk_id = c.id WHERE c.path = ? AND s.name = ?",
            (path, name, f"%.{name}", path, name)).fetchall()
        ids.update(int(row[0]) for row in rows)
    return ids


def evaluate(index: WorkspaceIndex, questions: list[dict[str, Any]], show_misses: bool) -> dict[str, dict[str, float]]:
    """recall@1, recall@5, MRR per mode over ``questions`` (all on this index)."""
    results: dict[str, dict[str, float]] = {}
    for mode in MODES:
        r1 = r5 = rr = 0.0
        for q in questions:
            good = correct_ids(index, q["answers"])
            hits = index.search(q["question"], top_k=DEPTH, mode=mode)
            rank = next((i for i, (_hit, chunk) in enumerate(hits, 1) if chunk.id in good), None)
            if rank is not None:
                r1 += rank == 1
                r5 += rank <= 5
                rr += 1.0 / rank
            if show_misses and mode == "hybrid" and (rank is None or rank > 5):
                top = ", ".join(f"{h.path}:{h.name}" for h, _ in hits[:3])
                print(f"  miss [{q['id']}] {q['question']!r} (rank {rank}); top: {top}", file=sys.stderr)
        n = len(questions)
        results[mode] = {"recall@1": r1 / n, "recall@5": r5 / n, "mrr": rr / n, "n": n}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print report rows as JSON lines")
    parser.add_argument("--cache", type=Path, default=None, help="download folder (default: user cache)")
    parser.add_argument("--show-misses", action="store_true", help="list the hybrid's misses on stderr")
    args = parser.parse_args()
    cache = args.cache or default_cache()
    corpora = {"requests": fetch_requests(cache), "rxjs": fetch_rxjs(cache)}
    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    totals: dict[str, dict[str, float]] = {m: {"recall@1": 0.0, "recall@5": 0.0, "mrr": 0.0} for m in MODES}
    index_seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as store_dir:
        settings = Settings(index={"cache_dir": store_dir})
        for package, root in corpora.items():
            subset = [q for q in questions if q["package"] == package]
            index = WorkspaceIndex(root, settings)
            started = time.perf_counter()
            summary = index.update()
            index_seconds[package] = time.perf_counter() - started
            stale = [q["id"] for q in subset if not correct_ids(index, q["answers"])]
            if stale:
                print(f"error: answers not found in {package}: {', '.join(stale)}", file=sys.stderr)
                return 1
            per = evaluate(index, subset, args.show_misses)
            index.close()
            if not args.json:
                print(f"{package}: {summary.files} files, {summary.chunks} chunks, indexed in "
                      f"{index_seconds[package]:.2f} s; {len(subset)} questions")
            for mode in MODES:
                for key in ("recall@1", "recall@5", "mrr"):
                    totals[mode][key] += per[mode][key] * len(subset)
    n = len(questions)
    table = {mode: {k: v / n for k, v in totals[mode].items()} for mode in MODES}
    if args.json:
        base = f"bm25 {table['bm25']['recall@5']:.3f}, vector {table['vector']['recall@5']:.3f}"
        for mode in MODES:
            for key in ("recall@1", "recall@5", "mrr"):
                value = table[mode][key]
                print(json.dumps({"metric": f"retrieval {mode} {key}", "p50": value, "p95": value, "unit": "ratio",
                                  "n": n, "baseline": base if (mode, key) == ("hybrid", "recall@5") else ""}))
        return 0
    print(f"\n{n} questions (requests {REQUESTS[1]}, rxjs {RXJS[1]})")
    print(f"{'mode':<8} {'recall@1':>9} {'recall@5':>9} {'MRR':>7}")
    for mode in MODES:
        t = table[mode]
        print(f"{mode:<8} {t['recall@1']:>9.3f} {t['recall@5']:>9.3f} {t['mrr']:>7.3f}")
    hybrid, bm25 = table["hybrid"]["recall@5"], table["bm25"]["recall@5"]
    verdict = "PASS" if hybrid >= 0.85 and hybrid > bm25 else "MISS"
    print(f"{verdict}  hybrid recall@5 {hybrid:.3f} (target >= 0.85 and > BM25 {bm25:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
