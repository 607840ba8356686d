"""Evaluation of the learned offline router on the held-out split of ``data/router/corpus.jsonl``.

Run: ``.venv/bin/python bench/router_eval.py [--json]``. The held-out split is never used by
``scripts/train_router.py`` (neither for fitting, nor for C, nor for the ``auto`` threshold).

Figures (rows: metric, p50, p95, unit, n, baseline):

* domain accuracy, boundary-case accuracy, accuracy on math / general prompts and on code-action
  rows, and the same for a baseline measured in the same run: a regular expression of math word
  stems (any hit of the classifier's own math topic lexicon = math);
* leakage check: the largest content-word Jaccard similarity between a held-out written prompt and
  any training prompt (the corpus builder groups near-duplicates, >= 0.5, into one split), and the
  share of held-out prompts with a training prompt at >= 0.5;
* intent accuracy overall and per true intent (recall);
* expected calibration error of the domain confidence (Guo et al. 2017, "On Calibration of Modern
  Neural Networks"): the held-out examples are put in 10 equal-width bins by the confidence of the
  predicted domain (bin ``b`` holds confidences in ``((b-1)/10, b/10]``, so only bins 6-10 are used
  as that confidence is >= 0.5); ``ECE = sum_b (n_b / N) * |accuracy_b - mean confidence_b|``;
* share of requests the ``auto`` mode sends to the router model (confidence < threshold) and the
  domain accuracy of the rest;
* load time (first :func:`load_model` call in a fresh interpreter with numpy imported: WordLlama's
  vocabulary and merges, its memory-mapped matrix, our weights), wall and CPU;
* one decision (features, embedding included, and both models), wall and CPU (``thread_time``),
  on the first pass over the held-out split (a fresh process: every word's BPE and hash buckets
  computed for the first time) and on a second pass (warm per-word caches, as in a language server
  after a while); decisions per second; and a third pass with the per-selection code cache
  (:func:`~coding_director.routing.features.code_part`) emptied before each decision, as when
  no two requests share a selection (the corpus has six requests per code snippet);
* ``coding-director route --offline --jsonl`` on 400 held-out prompts, wall time including the
  interpreter start and the CPU time of the child process (3 runs), with the same command on 1
  prompt as the baseline of the same run (interpreter start, imports and model load).

The machine may be shared: CPU times are printed beside wall times because wall times grow with
the load of other processes. Targets (issue 10): domain >= 97%, boundary >= 93%, ECE <= 0.05, one
decision p95 < 0.3 ms, load <= 150 ms, 400 prompts via the CLI < 1.5 s. Printed, not enforced.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, print_rows, row

sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "scripts"))

from build_router_corpus import content_words
from coding_director.routing.classifier import load_model
from coding_director.routing.features import code_part
from coding_director.routing.lexicon import N_MATH_TOPICS, tokens, topic_counts

CORPUS = ROOT / "data" / "router" / "corpus.jsonl"
BINS = 10
RUNS = 3


def corpus() -> list[dict[str, Any]]:
    """All examples, in file order."""
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def ece(confidences: list[float], correct: list[bool], bins: int = BINS) -> float:
    """Expected calibration error with ``bins`` equal-width bins (see the module docstring)."""
    total = len(confidences)
    error = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if (lo < c <= hi) or (b == 0 and c == 0.0)]
        if not members:
            continue
        acc = sum(correct[i] for i in members) / len(members)
        conf = sum(confidences[i] for i in members) / len(members)
        error += len(members) / total * abs(acc - conf)
    return error


def leakage(train: list[dict[str, Any]], held: list[dict[str, Any]]) -> tuple[list[float], float]:
    """Per held-out written prompt (not code-action rows, not variants), the largest content-word
    Jaccard similarity to any training prompt; and the share of those at >= 0.5."""
    train_words = [content_words(r["text"]) for r in train if "code" not in r]
    postings: dict[str, list[int]] = {}
    for i, ws in enumerate(train_words):
        for w in ws:
            postings.setdefault(w, []).append(i)
    best = []
    for r in held:
        if "code" in r or r.get("variant_of"):
            continue
        ws = content_words(r["text"])
        shared: dict[int, int] = {}
        for w in ws:
            for j in postings.get(w, ()):
                shared[j] = shared.get(j, 0) + 1
        best.append(max((n / len(ws | train_words[j]) for j, n in shared.items()), default=0.0))
    return best, 100.0 * sum(b >= 0.5 for b in best) / max(len(best), 1)


def load_ms() -> tuple[list[float], list[float]]:
    """Cold lazy-load time of the model in fresh interpreters (numpy already imported): wall, CPU (ms)."""
    code = (
        "import time, numpy; from coding_director.routing.classifier import load_model; "
        "t, c = time.perf_counter(), time.process_time(); load_model(); "
        "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
    )
    wall, cpu = [], []
    for _ in range(RUNS):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        w, c = proc.stdout.split()
        wall.append(float(w))
        cpu.append(float(c))
    return wall, cpu


def cli_seconds(prompts: list[str]) -> tuple[list[float], list[float]]:
    """``coding-director route --offline --jsonl`` on ``prompts``: wall (interpreter start included)
    and CPU (user + system of the child), in s."""
    text = "".join(p.replace("\n", " ") + "\n" for p in prompts)
    exe = Path(sys.executable).with_name("coding-director")
    wall, cpu = [], []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run([str(exe), "route", "--offline", "--jsonl"], input=text, capture_output=True, text=True)
        wall.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0 or len(proc.stdout.splitlines()) != len(prompts):
            raise SystemExit(f"route --offline --jsonl failed: {proc.stderr[-500:]}")
    return wall, cpu


def lexicon_domain(r: dict[str, Any]) -> str:
    """The baseline: ``math`` when any word of the math topic lexicon occurs in the text or code."""
    return "math" if any(topic_counts(tokens(f"{r['text']}\n{r.get('code', '')}"), N_MATH_TOPICS)) else "general"


def pct(values: list[bool]) -> float:
    return 100.0 * sum(values) / len(values) if values else float("nan")


def timed_pass(
    model: Any, rows: list[dict[str, Any]], *, reuse_code: bool = True
) -> tuple[list[Any], list[float], list[float], float]:
    """One pass of decisions: predictions, wall ms and CPU ms per decision, decisions per second.
    ``reuse_code=False`` empties the per-selection code cache before each decision (untimed)."""
    preds, wall, cpu = [], [], []
    started = time.perf_counter()
    for r in rows:
        if not reuse_code:
            code_part.cache_clear()
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        preds.append(model.predict(r["text"], r.get("code"), r.get("imports")))
        cpu.append((time.thread_time_ns() - c0) / 1e6)
        wall.append((time.perf_counter_ns() - t0) / 1e6)
    return preds, wall, cpu, len(rows) / (time.perf_counter() - started)


def accuracy_rows(rows: list[dict[str, Any]], preds: list[Any]) -> list[dict[str, Any]]:
    """Accuracy rows: domain, boundary, per domain, code actions, with the lexicon baseline."""
    correct = [p.domain == r["domain"] for p, r in zip(preds, rows, strict=True)]
    regex = [lexicon_domain(r) == r["domain"] for r in rows]

    def sub(flags: list[bool], keep: Any) -> list[bool]:
        return [f for f, r in zip(flags, rows, strict=True) if keep(r)]

    groups: list[tuple[str, Any]] = [
        ("held-out domain accuracy", lambda r: True),
        ("boundary-case accuracy", lambda r: r["boundary"]),
        ("math prompts accuracy", lambda r: r["domain"] == "math"),
        ("general prompts accuracy", lambda r: r["domain"] == "general"),
        ("code-action rows accuracy", lambda r: "code" in r),
    ]
    out = []
    for name, keep in groups:
        mine, base = sub(correct, keep), sub(regex, keep)
        out.append({**row(f"router eval: {name}", [pct(mine)], "%", f"math lexicon {pct(base):.1f}%"), "n": len(mine)})
    return out


def main() -> None:
    as_json = "--json" in sys.argv
    everything = corpus()
    rows = [r for r in everything if r["split"] == "heldout"]
    train = [r for r in everything if r["split"] == "train"]
    model = load_model()
    preds, cold_wall, cold_cpu, _ = timed_pass(model, rows)
    _, warm_wall, warm_cpu, rate = timed_pass(model, rows)
    _, fresh_code_wall, _, _ = timed_pass(model, rows, reuse_code=False)

    table = accuracy_rows(rows, preds)
    similarity, leaked = leakage(train, rows)
    table.append(row("router eval: max Jaccard to a training prompt", similarity, "", f"{leaked:.1f}% >= 0.5"))
    intent_ok = [p.intent == r["intent"] for p, r in zip(preds, rows, strict=True)]
    table.append({**row("router eval: intent accuracy", [pct(intent_ok)], "%"), "n": len(rows)})
    for intent in sorted({str(r["intent"]) for r in rows}):
        sub = [ok for ok, r in zip(intent_ok, rows, strict=True) if r["intent"] == intent]
        table.append({**row(f"router eval: intent {intent}", [pct(sub)], "%"), "n": len(sub)})
    correct = [p.domain == r["domain"] for p, r in zip(preds, rows, strict=True)]
    conf = [p.domain_confidence for p in preds]
    calibration = row("router eval: expected calibration error", [ece(conf, correct)], "", f"{BINS} bins")
    table.append({**calibration, "n": len(rows)})
    routed = [c < model.threshold for c in conf]
    kept = [c for c, sent in zip(correct, routed, strict=True) if not sent]
    share = f"threshold {model.threshold:.3f}"
    table.append({**row("router eval: share sent to the router model", [pct(routed)], "%", share), "n": len(rows)})
    table.append({**row("router eval: accuracy when not sent", [pct(kept)], "%"), "n": len(kept)})
    wall, cpu = load_ms()
    table.append(row("router eval: model load (lazy, cold), wall", wall, "ms", "fresh interpreter"))
    table.append(row("router eval: model load (lazy, cold), CPU", cpu, "ms", "fresh interpreter"))
    table.append(row("router eval: one decision, first pass, wall", cold_wall, "ms", "embedding included"))
    table.append(row("router eval: one decision, first pass, CPU", cold_cpu, "ms", "thread_time"))
    table.append(row("router eval: one decision, warm, wall", warm_wall, "ms", "second pass"))
    table.append(row("router eval: one decision, warm, CPU", warm_cpu, "ms", "second pass, thread_time"))
    fresh = row("router eval: one decision, warm, code part not reused, wall", fresh_code_wall, "ms", "third pass")
    table.append(fresh)
    table.append({**row("router eval: decisions per second", [rate], "1/s", "warm"), "n": len(rows)})
    prompts = [r["text"] for r in rows][:400]
    one_wall, one_cpu = cli_seconds(prompts[:1])
    many_wall, many_cpu = cli_seconds(prompts)
    table.append(row("router eval: route --offline --jsonl, 1 prompt, wall", one_wall, "s", "start + load"))
    table.append(row("router eval: route --offline --jsonl, 1 prompt, CPU", one_cpu, "s", "child user + sys"))
    table.append(row(f"router eval: route --offline --jsonl, {len(prompts)} prompts, wall", many_wall, "s"))
    table.append(row(f"router eval: route --offline --jsonl, {len(prompts)} prompts, CPU", many_cpu, "s"))
    print_rows(table, as_json)


if __name__ == "__main__":
    main()
