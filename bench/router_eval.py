"""Evaluation of the learned offline router on the held-out split of ``data/router/corpus.jsonl``.

Run: ``.venv/bin/python bench/router_eval.py [--json]``. The held-out split is never used by
``scripts/train_router.py`` (neither for fitting, nor for C, nor for the ``auto`` threshold).

Figures (rows: metric, p50, p95, unit, n, baseline):

* domain accuracy, boundary-case accuracy, accuracy on math / general prompts, and the same for a
  baseline measured in the same run: a regular expression of math word stems (any hit = math, the
  classifier's own topic lexicon);
* intent accuracy overall and per true intent (recall);
* expected calibration error of the domain confidence (Guo et al. 2017, "On Calibration of Modern
  Neural Networks"): the held-out examples are put in 10 equal-width bins by the confidence of the
  predicted domain (bin ``b`` holds confidences in ``((b-1)/10, b/10]``, so only bins 6-10 are used
  as that confidence is >= 0.5); ``ECE = sum_b (n_b / N) * |accuracy_b - mean confidence_b|``;
* share of requests the ``auto`` mode sends to the router model (confidence < threshold) and the
  domain accuracy of the rest;
* load time (first :func:`load_model` call: WordLlama tokenizer and embeddings plus our weights, in a
  fresh interpreter), one decision (embedding included) p50/p95 in ms, decisions per second;
* ``coding-director route --offline --jsonl`` on 400 held-out prompts, wall time including the
  interpreter start (3 runs), with the same command on 1 prompt as the baseline of the same run
  (interpreter start, imports and model load).

Targets (issue 10): domain >= 97%, boundary >= 93%, ECE <= 0.05, one decision p95 < 0.3 ms, load
<= 150 ms, 400 prompts via the CLI < 1.5 s. Printed, not enforced (machines are noisy).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, print_rows, row

sys.path.insert(0, str(ROOT / "server"))

from coding_director.routing.classifier import N_MATH_TOPICS, load_model, topic_counts

CORPUS = ROOT / "data" / "router" / "corpus.jsonl"
BINS = 10


def heldout() -> list[dict[str, object]]:
    """The held-out examples, in file order."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["split"] == "heldout"]


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


def load_ms() -> list[float]:
    """Cold lazy-load time of the model in fresh interpreters (numpy already imported), ms."""
    code = (
        "import time, numpy; from coding_director.routing.classifier import load_model; "
        "t = time.perf_counter(); load_model(); print((time.perf_counter() - t) * 1000)"
    )
    out = []
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out.append(float(proc.stdout.strip()))
    return out


def cli_seconds(prompts: list[str]) -> list[float]:
    """Wall time of ``coding-director route --offline --jsonl`` on ``prompts`` (interpreter start included)."""
    text = "".join(p.replace("\n", " ") + "\n" for p in prompts)
    exe = Path(sys.executable).with_name("coding-director")
    out = []
    for _ in range(3):
        t0 = time.perf_counter()
        proc = subprocess.run([str(exe), "route", "--offline", "--jsonl"], input=text, capture_output=True, text=True)
        out.append(time.perf_counter() - t0)
        if proc.returncode != 0 or len(proc.stdout.splitlines()) != len(prompts):
            raise SystemExit(f"route --offline --jsonl failed: {proc.stderr[-500:]}")
    return out


def lexicon_domain(r: dict[str, object]) -> str:
    """The baseline: ``math`` when any word of the math topic lexicon occurs in the text or code."""
    return "math" if any(topic_counts(f"{r['text']}\n{r.get('code', '')}")[:N_MATH_TOPICS]) else "general"


def pct(values: list[bool]) -> float:
    return 100.0 * sum(values) / len(values) if values else float("nan")


def main() -> None:
    as_json = "--json" in sys.argv
    rows = heldout()
    model = load_model()
    threshold = model.threshold
    preds = []
    per_call_ms = []
    for r in rows:
        t0 = time.perf_counter_ns()
        p = model.predict(str(r["text"]), r.get("code"), r.get("imports"))  # type: ignore[arg-type]
        per_call_ms.append((time.perf_counter_ns() - t0) / 1e6)
        preds.append(p)
    # Timing on a second pass (warm caches), one decision at a time.
    per_call_ms = []
    started = time.perf_counter()
    for r in rows:
        t0 = time.perf_counter_ns()
        model.predict(str(r["text"]), r.get("code"), r.get("imports"))  # type: ignore[arg-type]
        per_call_ms.append((time.perf_counter_ns() - t0) / 1e6)
    rate = len(rows) / (time.perf_counter() - started)

    correct = [p.domain == r["domain"] for p, r in zip(preds, rows, strict=True)]
    boundary = [c for c, r in zip(correct, rows, strict=True) if r["boundary"]]
    conf = [p.domain_confidence for p in preds]
    regex = [lexicon_domain(r) == r["domain"] for r in rows]
    regex_boundary = [c for c, r in zip(regex, rows, strict=True) if r["boundary"]]
    routed = [c < threshold for c in conf]
    kept = [c for c, sent in zip(correct, routed, strict=True) if not sent]
    n = len(rows)
    nb = len(boundary)
    base = f"math lexicon (any hit = math) {pct(regex):.1f}%"
    table = [
        row("router eval: held-out domain accuracy", [pct(correct)], "%", base),
        row("router eval: boundary-case accuracy", [pct(boundary)], "%", f"lexicon {pct(regex_boundary):.1f}%"),
    ]
    table[0]["n"], table[1]["n"] = n, nb
    for domain in ("math", "general"):
        sub = [c for c, r in zip(correct, rows, strict=True) if r["domain"] == domain]
        table.append({**row(f"router eval: {domain} prompts accuracy", [pct(sub)], "%"), "n": len(sub)})
    intent_ok = [p.intent == r["intent"] for p, r in zip(preds, rows, strict=True)]
    table.append({**row("router eval: intent accuracy", [pct(intent_ok)], "%"), "n": n})
    for intent in sorted({str(r["intent"]) for r in rows}):
        sub = [ok for ok, r in zip(intent_ok, rows, strict=True) if r["intent"] == intent]
        table.append({**row(f"router eval: intent {intent}", [pct(sub)], "%"), "n": len(sub)})
    table.append({**row("router eval: expected calibration error", [ece(conf, correct)], "", f"{BINS} bins"), "n": n})
    table.append(
        {**row("router eval: share sent to the router model", [pct(routed)], "%", f"threshold {threshold:.3f}"), "n": n}
    )
    table.append({**row("router eval: accuracy when not sent", [pct(kept)], "%"), "n": len(kept)})
    table.append(row("router eval: model load (lazy, cold)", load_ms(), "ms", "fresh interpreter"))
    table.append(row("router eval: one decision", per_call_ms, "ms", "embedding included"))
    table.append({**row("router eval: decisions per second", [rate], "1/s"), "n": n})
    prompts = [str(r["text"]) for r in rows][:400]
    one = cli_seconds(prompts[:1])
    many = cli_seconds(prompts)
    table.append(row("router eval: route --offline --jsonl, 1 prompt", one, "s", "interpreter start + model load"))
    table.append(
        row("router eval: route --offline --jsonl, 400 prompts", many, "s", f"1 prompt: {sorted(one)[1]:.2f} s")
    )
    print_rows(table, as_json)


if __name__ == "__main__":
    main()
