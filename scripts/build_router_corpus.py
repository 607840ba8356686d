"""Build ``data/router/corpus.jsonl`` from the hand-written sources in ``data/router/src/``.

Deterministic: no clock, no unseeded randomness. Every run on the same sources writes the same
bytes. Run: ``.venv/bin/python scripts/build_router_corpus.py [--check]`` (``--check`` exits 1
when the committed corpus differs from a fresh build).

Source formats (see ``data/router/README.md``):

* prompt files: ``@domain math|general``, ``@boundary 0|1`` and ``@intent <intent>`` lines set the
  labels of the prompt lines that follow; ``#`` starts a comment line; a literal ``\\n`` in a prompt
  is a newline (pasted code, stack traces).
* ``code_context.txt``: ``=== <domain> <boundary> <language>`` starts a code snippet; each snippet
  becomes one example per code action (Explain / Fix / Add docstring / Generate tests, the prompts
  of :mod:`coding_director.features.actions`) plus two chat phrasings, with the snippet's import
  lines as ``imports`` and the rest as ``code``.

Scripted variation (on top of the written prompts, never a new label): lower-casing, dropped
punctuation, one adjacent-letter typo, a chatty prefix or suffix. About half of the written
prompts get one variant. A variant always lands in the split of the prompt it varies.

Held-out split: a written prompt (or snippet) is held out when the first 8 hex digits of the
SHA-256 of its text, read as an integer, are ``< 0.22 * 16**8``: fixed by the text, not by a seed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "data" / "router" / "src"
OUT = ROOT / "data" / "router" / "corpus.jsonl"
HELDOUT_SHARE = 0.22
INTENTS = ("explain", "fix", "debug", "generate", "test", "docs", "refactor", "review", "arch", "question")
ACTION_PROMPTS = {
    "fix": "Fix the problems in this code.",
    "explain": "Explain this code.",
    "docs": "Add a docstring (or doc comment) to this definition.",
    "test": "Generate unit tests for this code.",
}
CHAT_ON_CODE = (
    ("explain", "what does this do"),
    ("review", "anything wrong with this?"),
    ("refactor", "clean this up"),
    ("fix", "this doesn't work, can you fix it"),
    ("explain", "can you walk me through this function"),
    ("test", "write tests for the selected code"),
)
PREFIXES = ("pls ", "please ", "hey, ", "quick q: ", "can you ", "i need to ", "help: ", "so ", "ok so ", "q: ")
SUFFIXES = (" thx", " thanks", " asap", "??", " pls", " (urgent)", " thank you!", " :)")


def heldout(text: str) -> bool:
    """Whether the written prompt ``text`` belongs to the held-out split (hash rule above)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) < HELDOUT_SHARE * 16**8


def _id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def _typo(text: str, rng: random.Random) -> str:
    words = [(m.start(), m.end()) for m in re.finditer(r"[A-Za-z]{5,}", text)]
    if not words:
        return text
    start, end = rng.choice(words)
    i = rng.randrange(start + 1, end - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _vary(text: str, rng: random.Random) -> str:
    """One scripted variation of ``text`` (a different string, same meaning and labels)."""
    kind = rng.randrange(5)
    if "\n" in text:  # keep pasted code intact: vary only the wording around it
        kind = 3 if kind < 3 else kind
    if kind == 0:
        out = text.lower().rstrip(".?!")
    elif kind == 1:
        out = re.sub(r"[,.;:?!]", "", text).lower()
    elif kind == 2:
        out = _typo(text, rng)
    elif kind == 3:
        out = rng.choice(PREFIXES) + text[0].lower() + text[1:]
    else:
        out = text.rstrip(".") + rng.choice(SUFFIXES)
    return out if out != text else rng.choice(PREFIXES) + text


def parse_prompt_file(path: Path) -> list[dict[str, Any]]:
    """The written examples of one prompt file (labels from the ``@`` lines above each prompt)."""
    labels: dict[str, str] = {}
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            key, _, value = line[1:].partition(" ")
            labels[key] = value.strip()
            continue
        intent = labels.get("intent", "")
        if labels.get("domain") not in ("math", "general") or intent not in INTENTS:
            raise SystemExit(f"{path.name}:{number}: bad or missing @domain/@intent before this prompt")
        text = raw.rstrip().replace("\\n", "\n")
        rows.append(
            {
                "text": text,
                "domain": labels["domain"],
                "intent": intent,
                "boundary": labels.get("boundary", "0") == "1",
                "source": path.name,
            }
        )
    return rows


def parse_code_file(path: Path) -> list[dict[str, Any]]:
    """The code-action examples of ``code_context.txt`` (one group per snippet)."""
    snippets: list[tuple[list[str], list[str]]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("#") and not snippets:
            continue
        if raw.startswith("=== "):
            snippets.append((raw[4:].split(), []))
        elif snippets:
            snippets[-1][1].append(raw)
    rows = []
    for (domain, boundary, language), lines in snippets:
        body = "\n".join(lines).strip("\n")
        imports = [
            ln.strip()
            for ln in lines
            if re.match(r"\s*(import|from \S+ import|using |#include|use |library\()", ln)
            or (language == "go" and ln.startswith("import"))
        ]
        code = "\n".join(ln for ln in lines if ln.strip() not in imports).strip("\n")
        group = body
        prompts = [(intent, prompt) for intent, prompt in ACTION_PROMPTS.items()]
        pick = random.Random(_id(body)).sample(CHAT_ON_CODE, 2)
        for intent, prompt in [*prompts, *pick]:
            rows.append(
                {
                    "text": prompt,
                    "code": code,
                    "imports": imports,
                    "language": language,
                    "domain": domain,
                    "intent": intent,
                    "boundary": boundary == "1",
                    "source": path.name,
                    "group": group,
                }
            )
    return rows


def build() -> list[dict[str, Any]]:
    """All examples, written and varied, sorted by id."""
    written: list[dict[str, Any]] = []
    for path in sorted(SRC.glob("*.txt")):
        written.extend(parse_code_file(path) if path.name == "code_context.txt" else parse_prompt_file(path))
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for row in written:
        group = row.pop("group", row["text"])
        key = (row["text"], row.get("code", ""))
        if key in seen:
            raise SystemExit(f"duplicate prompt in {row['source']}: {row['text'][:60]!r}")
        seen.add(key)
        split = "heldout" if heldout(group) else "train"
        base = {"id": _id(row["text"], row.get("code", "")), **row, "split": split, "variant_of": None}
        out.append(base)
        if "code" in row:
            continue
        rng = random.Random(_id("vary", row["text"]))
        if rng.random() < 0.6:
            text = _vary(row["text"], rng)
            if (text, "") not in seen:
                seen.add((text, ""))
                out.append({**base, "id": _id(text, ""), "text": text, "variant_of": base["id"]})
    return sorted(out, key=lambda r: r["id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed corpus is stale")
    args = parser.parse_args()
    rows = build()
    text = "".join(json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False) + "\n" for r in rows)
    if args.check:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run scripts/build_router_corpus.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    n = len(rows)
    held = sum(r["split"] == "heldout" for r in rows)
    boundary = sum(r["boundary"] for r in rows)
    written = sum(r["variant_of"] is None for r in rows)
    math = sum(r["domain"] == "math" for r in rows)
    print(f"{n} examples ({written} written), {math} math, {boundary} boundary, {held} held out -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
