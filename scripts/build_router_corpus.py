"""Build ``data/router/corpus.jsonl`` from the hand-written sources in ``data/router/src/``.

Deterministic: no clock, no unseeded randomness. Every run on the same sources writes the same
bytes. Run: ``.venv/bin/python scripts/build_router_corpus.py [--check]`` (``--check`` exits 1
when the committed corpus differs from a fresh build).

Source formats (see ``data/router/README.md``):

* prompt files: ``@domain math|general``, ``@boundary 0|1`` and ``@intent <intent>`` lines set the
  labels of the prompt lines that follow; ``#`` starts a comment line; a literal ``\\n`` in a prompt
  is a newline (pasted code, stack traces).
* ``code_*.txt`` (code snippets): ``=== <domain> <boundary> <language>`` starts a code snippet; each snippet
  becomes one example per code action (Explain / Fix / Add docstring / Generate tests, the prompts
  of :mod:`coding_director.features.actions`) plus two chat phrasings, with the snippet's import
  lines as ``imports`` and the rest as ``code``; a line ``>>> <intent> <prompt>`` inside a snippet
  adds one more chat request on that selection (with its own intent, the snippet's domain).

Scripted variation (on top of the written prompts, never a new label): lower-casing, dropped
punctuation, one adjacent-letter typo, a chatty prefix or suffix. About half of the written
prompts get one variant. A variant always lands in the split of the prompt it varies.

Held-out split, fixed by the text, not by a seed: written prompts (and code snippets) are first
grouped with their near-duplicates (:func:`near_duplicate_groups`: content-word Jaccard similarity
>= :data:`NEAR_DUPLICATE_JACCARD`, joined transitively), then a group is held out when the first 8
hex digits of the SHA-256 of its first text (in sorted order), read as an integer, are
``< 0.22 * 16**8``. A scripted variant and the code-action rows of one snippet go with it, so no
two texts that differ by a word or two sit on both sides.

The split is frozen: sources written later live in ``data/router/src/train/`` and are training data
only. They never take part in the grouping that decides the split (so they cannot move a held-out
group), and one that is a near-duplicate of a held-out text is dropped (counted on stderr, not
shown). :data:`HELDOUT_SHA256` records the held-out ids; a build that would change them fails.
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
#: Sources written after the held-out split was frozen: always training data (see the docstring).
TRAIN_ONLY = SRC / "train"
#: SHA-256 of the sorted ids of the held-out rows, fixed when the split was frozen (5,322 rows,
#: before any source of TRAIN_ONLY existed); :func:`build` refuses a corpus whose held-out split differs.
HELDOUT_SHA256 = "f595990b822c84cc437dadc580aedd5cd5356acb92505824e253ec661c52c1ab"
HELDOUT_SHARE = 0.22
#: Two written texts whose content-word sets have at least this Jaccard similarity (and share at
#: least two words) are near-duplicates and land in the same split.
NEAR_DUPLICATE_JACCARD = 0.5
_STOP_WORDS = "a an the of to in on for and or with is it i my me this that how do does what why can you please pls "
STOP_WORDS = frozenset(f"{_STOP_WORDS}from by be as at are was into use using write make get".split(" "))
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
    """Whether the group whose key is ``text`` belongs to the held-out split (hash rule above)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) < HELDOUT_SHARE * 16**8


def content_words(text: str) -> frozenset[str]:
    """Lower-case words of ``text`` without :data:`STOP_WORDS` (for near-duplicate detection)."""
    return frozenset(w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP_WORDS)


def near_duplicate_pairs(texts: list[str]) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, jaccard)`` (``i < j``) of ``texts`` that are near-duplicates (see
    :data:`NEAR_DUPLICATE_JACCARD`); candidates come from an inverted index of content words."""
    words = [content_words(t) for t in texts]
    postings: dict[str, list[int]] = {}
    for i, ws in enumerate(words):
        for w in ws:
            postings.setdefault(w, []).append(i)
    pairs = []
    for i, ws in enumerate(words):
        shared: dict[int, int] = {}
        for w in ws:
            for j in postings[w]:
                if j > i:
                    shared[j] = shared.get(j, 0) + 1
        for j, count in shared.items():
            jaccard = count / len(ws | words[j])
            if count >= 2 and jaccard >= NEAR_DUPLICATE_JACCARD:
                pairs.append((i, j, jaccard))
    return pairs


def near_duplicate_groups(texts: list[str]) -> dict[str, str]:
    """Each text of ``texts`` -> the key of its near-duplicate group (the group's smallest text);
    groups are the connected components of :func:`near_duplicate_pairs` (union-find)."""
    unique = sorted(set(texts))
    parent = list(range(len(unique)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in near_duplicate_pairs(unique):
        a, b = find(i), find(j)
        parent[max(a, b)] = min(a, b)
    return {text: unique[find(i)] for i, text in enumerate(unique)}


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
    """The code-action examples of a ``code_*.txt`` file (one group per snippet)."""
    snippets: list[tuple[list[str], list[str], list[tuple[str, str]]]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("#") and not snippets:
            continue
        if raw.startswith("=== "):
            snippets.append((raw[4:].split(), [], []))
        elif raw.startswith(">>> ") and snippets:
            intent, _, prompt = raw[4:].partition(" ")
            if intent not in INTENTS or not prompt.strip():
                raise SystemExit(f"{path.name}: bad chat line {raw!r}")
            snippets[-1][2].append((intent, prompt.strip()))
        elif snippets:
            snippets[-1][1].append(raw)
    rows = []
    for (domain, boundary, language), lines, chats in snippets:
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
        for intent, prompt in [*prompts, *pick, *chats]:
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


def _written(directory: Path) -> list[dict[str, Any]]:
    """The written examples of the ``*.txt`` sources directly in ``directory``, in file order."""
    rows: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.txt")):
        rows.extend(parse_code_file(path) if path.name.startswith("code_") else parse_prompt_file(path))
    return rows


def heldout_digest(rows: list[dict[str, Any]]) -> str:
    """SHA-256 of the sorted ids of the held-out rows of ``rows`` (see :data:`HELDOUT_SHA256`)."""
    ids = sorted(r["id"] for r in rows if r["split"] == "heldout")
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def build() -> list[dict[str, Any]]:
    """All examples, written and varied, sorted by id.

    Raises ``SystemExit`` for a malformed source, a duplicate prompt, or a held-out split that is
    not the frozen one (:data:`HELDOUT_SHA256`)."""
    written = _written(SRC)
    # The split of the sources in SRC (the hash rule of the module docstring) over their own
    # near-duplicate groups: texts of TRAIN_ONLY never take part, so they cannot move a group.
    split_groups = near_duplicate_groups([row.get("group", row["text"]) for row in written])
    split_of = {key: "heldout" if heldout(group) else "train" for key, group in split_groups.items()}
    held_keys = sorted({key for key, split in split_of.items() if split == "heldout"})
    extra = _written(TRAIN_ONLY)
    extra_keys = sorted({row.get("group", row["text"]) for row in extra})
    # A training-only text that is a near-duplicate of a held-out text is dropped (not shown).
    leaking = {
        extra_keys[j - len(held_keys)]
        for i, j, _ in near_duplicate_pairs([*held_keys, *extra_keys])
        if i < len(held_keys) <= j
    }
    for row in extra:
        key = row.get("group", row["text"])
        if key not in split_of:  # a text already written in SRC keeps its split (the repeat is skipped)
            split_of[key] = "drop" if key in leaking else "train"
    # A training-only row never joins the held-out split, even when its snippet or text was written
    # there before (its own chat lines on that snippet are dropped too).
    extra = [row for row in extra if split_of[row.get("group", row["text"])] == "train"]
    kept = [*written, *extra]
    # Near-duplicate groups for grouped cross-validation: the held-out rows keep the groups of the
    # split; the training rows (SRC and TRAIN_ONLY) are grouped among themselves.
    train_keys = [row.get("group", row["text"]) for row in kept if split_of[row.get("group", row["text"])] == "train"]
    groups = {**near_duplicate_groups(train_keys), **{key: split_groups[key] for key in held_keys}}
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    late = {row["source"] for row in extra}
    repeated = 0
    for row in kept:
        key = row.pop("group", row["text"])
        text_key = (row["text"], row.get("code", ""))
        if text_key in seen:
            if row["source"] in late:  # written again after the freeze: the earlier row stands
                repeated += 1
                continue
            raise SystemExit(f"duplicate prompt in {row['source']}: {row['text'][:60]!r}")
        seen.add(text_key)
        base = {
            "id": _id(row["text"], row.get("code", "")),
            **row,
            "split": split_of[key],
            "group": _id("group", groups[key]),
            "variant_of": None,
        }
        out.append(base)
        if "code" in row:
            continue
        rng = random.Random(_id("vary", row["text"]))
        if rng.random() < 0.6:
            text = _vary(row["text"], rng)
            if (text, "") not in seen:
                seen.add((text, ""))
                out.append({**base, "id": _id(text, ""), "text": text, "variant_of": base["id"]})
    if leaking or repeated:
        print(
            f"training-only sources: {len(leaking)} dropped as near-duplicates of held-out ones, "
            f"{repeated} already written",
            file=sys.stderr,
        )
    if heldout_digest(out) != HELDOUT_SHA256:
        raise SystemExit(f"the held-out split changed (digest {heldout_digest(out)}): it is frozen")
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
