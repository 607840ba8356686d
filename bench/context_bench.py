"""Benchmark of the context engine on large real files.

Prints p50/p95 in milliseconds for, per file:

- ``full parse``: ``DocumentStore.open`` (UTF-8 encode, line index, full tree-sitter parse);
- ``edit+reparse``: one 1-character edit (insert or delete a letter inside an identifier, so the
  file stays valid) through ``DocumentStore.change``, i.e. ``tree.edit`` + incremental parse;
- ``extract``: ``extract`` at a random position right after that edit (default budget 3000
  tokens), i.e. including the refresh of per-version caches.

Files: ``lsprotocol/types.py`` from the installed packages, and a large TypeScript file: the
first of ``--ts PATH``, a known large ``.ts`` under ``node_modules`` of the repository, or
``npm pack typescript`` into a temporary directory (``lib/typescript.d.ts``; deleted afterwards,
never committed). Run: ``.venv/bin/python bench/context_bench.py [--runs N] [--ts PATH]``.
"""

from __future__ import annotations

import argparse
import keyword
import random
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import print_rows, row
from coding_director.context import DocumentStore, TextChange, detect_language, extract

REPO = Path(__file__).resolve().parents[1]
TS_CANDIDATES = (
    "node_modules/typescript/lib/typescript.d.ts",
    "node_modules/@types/vscode/index.d.ts",
    "extension/node_modules/typescript/lib/typescript.d.ts",
    "extension/node_modules/@types/vscode/index.d.ts",
)
TS_KEYWORDS = frozenset(
    [
        "abstract",
        "any",
        "as",
        "async",
        "await",
        "boolean",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "constructor",
        "continue",
        "declare",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "from",
        "function",
        "get",
        "if",
        "implements",
        "import",
        "in",
        "infer",
        "instanceof",
        "interface",
        "is",
        "keyof",
        "let",
        "module",
        "namespace",
        "never",
        "new",
        "null",
        "number",
        "object",
        "of",
        "package",
        "private",
        "protected",
        "public",
        "readonly",
        "require",
        "return",
        "set",
        "static",
        "string",
        "super",
        "switch",
        "symbol",
        "this",
        "throw",
        "true",
        "try",
        "type",
        "typeof",
        "undefined",
        "unique",
        "unknown",
        "var",
        "void",
        "while",
        "with",
        "yield",
    ]
)
IDENTIFIER = re.compile(rb"\b[A-Za-z_][A-Za-z0-9_]{2,}\b")


MEASURES = {
    "full parse": "full parse",
    "edit+reparse": "1-char edit + incremental re-parse",
    "extract": "context extraction after an edit",
}
TARGETS = {"full parse": "", "edit+reparse": "", "extract": "target p95 < 2"}


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) of ``samples`` in the same unit (nearest-rank)."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def find_python_file() -> Path:
    import lsprotocol

    return Path(lsprotocol.__file__).with_name("types.py")


def find_ts_file(explicit: str | None, tmp: Path) -> Path | None:
    if explicit:
        return Path(explicit)
    for candidate in TS_CANDIDATES:
        if (REPO / candidate).is_file():
            return REPO / candidate
    try:
        out = subprocess.run(
            ["npm", "pack", "typescript", "--silent"], cwd=tmp, check=True, capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.SubprocessError) as error:
        print(f"(no TypeScript file: npm pack failed: {error})", file=sys.stderr)
        return None
    with tarfile.open(tmp / out.stdout.strip().splitlines()[-1]) as archive:
        archive.extract("package/lib/typescript.d.ts", tmp, filter="data")
    return tmp / "package/lib/typescript.d.ts"


def bench_file(path: Path, runs: int, seed: int) -> dict[str, list[float]]:
    text = path.read_text(encoding="utf-8")
    language = detect_language(None, str(path))
    uri = path.resolve().as_uri()
    store = DocumentStore()
    parse = [timed(lambda: store.open(uri, text, 0, None)) for _ in range(max(5, runs // 20))]
    doc = store.get(uri)
    assert doc is not None and doc.tree is not None, f"{path} was not parsed"
    reserved = keyword.kwlist if language == "python" else TS_KEYWORDS
    spots = [m.start() + 1 for m in IDENTIFIER.finditer(doc.data) if m.group().decode() not in reserved]
    rng = random.Random(seed)
    edits: list[float] = []
    extracts: list[float] = []
    extract(store, uri, (0, 0))  # first request builds per-file caches (not measured)
    version = 1
    for _ in range(runs):
        offset = rng.choice(spots)
        line, character = doc.lines.position_at(doc.data, offset)
        for change in (
            TextChange.edit(line, character, line, character, "q"),
            TextChange.edit(line, character, line, character + 1, ""),
        ):
            version += 1
            edits.append(timed(lambda change=change, version=version: store.change(uri, version, [change])))
            position = (rng.randrange(doc.lines.line_count), rng.randrange(0, 40))
            extracts.append(timed(lambda position=position: extract(store, uri, position)))
    assert doc.data == text.encode("utf-8"), "edits did not round-trip"
    return {"full parse": parse, "edit+reparse": edits, "extract": extracts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="edit/extract pairs per file (x2 edits)")
    parser.add_argument("--ts", help="a large TypeScript file to use")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="JSON lines of table rows (for bench/report)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = [find_python_file()]
        ts_file = find_ts_file(args.ts, Path(tmp))
        if ts_file is not None:
            files.append(ts_file)
        rows = []
        if not args.json:
            print(f"{'file':<34} {'lines':>6} {'KiB':>6}  {'measure':<13} {'p50 ms':>8} {'p95 ms':>8}")
        for path in files:
            data = path.read_bytes()
            results = bench_file(path, args.runs, args.seed)
            lines_total = data.count(b"\n") + 1
            for index, (name, samples) in enumerate(results.items()):
                rows.append(
                    row(f"{path.name} ({lines_total // 1000}k lines): {MEASURES[name]}", samples, "ms", TARGETS[name])
                )
                p50, p95 = percentiles(samples)
                label = f"{path.parent.name}/{path.name}"[-34:] if index == 0 else ""
                lines = str(lines_total) if index == 0 else ""
                size = str(len(data) // 1024) if index == 0 else ""
                if not args.json:
                    print(f"{label:<34} {lines:>6} {size:>6}  {name:<13} {p50:>8.2f} {p95:>8.2f}")
        if args.json:
            print_rows(rows, as_json=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
