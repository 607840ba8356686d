"""What filtering a request for a non-local tier costs (``context/secrets.py``), and what placing it costs.

Measures, in the same run: (a) the outbound filter over the code context of a real file of this
repository (``routing/escalation.py``, about 3000 tokens: the default ``context.token_budget``)
rendered as the engine renders it, plus a 6-message chat history, every line new to the scan
(its memo of lines emptied first); (b) the same text with two secrets planted in it (redaction work
on top of the scan); (c) the text once more with one more character on its last line, as the next
keystroke's completion prefix or the next chat's context arrives (only the changed line and the one
before it are scanned again); (d) the complexity estimate of the same request (tree-sitter parse of
the focus included). Local tiers pay none of (a)-(c); the memory redacts its texts with the same scan.

Run: ``.venv/bin/python bench/outbound_bench.py [--json] [--n 30]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _common import print_rows, row
from coding_director.context import extract_from_file, render_context
from coding_director.context import secrets as secret_scan
from coding_director.context.secrets import OutboundFilter
from coding_director.routing.complexity import ComplexityInput, estimate_complexity
from coding_director.settings import DEFAULT_WITHHOLD
from coding_director.tokens import estimate_tokens

SOURCE = Path(__file__).resolve().parents[1] / "server" / "coding_director" / "routing" / "escalation.py"
HISTORY = [
    "Why does the retry loop post twice?",
    "Because the attempt is recorded after the stream closes; a cancellation in between loses it.",
] * 3


def measure(n: int) -> list[dict[str, object]]:
    ctx = extract_from_file(str(SOURCE), 200, 1, token_budget=3000)
    text = render_context(ctx)
    secrets = 'AWS = "AKIAIOSFODNN7EXAMPLE"\nGH = "ghp_' + "x1" * 18 + '"'
    planted = text.replace("log = logging.getLogger(__name__)", f"log = logging.getLogger(__name__)\n{secrets}")
    filt = OutboundFilter(DEFAULT_WITHHOLD, [SOURCE.parents[3]])
    filt.redact("warm up", "x")  # detect-secrets' plugins load once per process

    def timed(body: str, cold: bool = True) -> float:
        if cold:
            secret_scan._LINE_MEMO.clear()
        t0 = time.perf_counter()
        filt.redact(body, "escalation.py", "escalation.py")
        for message in HISTORY:
            filt.redact(message, "chat history")
        return (time.perf_counter() - t0) * 1000

    clean = [timed(text) for _ in range(n)]
    dirty = [timed(planted) for _ in range(n)]
    typed = []
    for i in range(n):
        timed(text + "x" * i)
        typed.append(timed(text + "x" * (i + 1), cold=False))
    shape = ComplexityInput(prompt="Explain the escalation loop", intent="explain", code=ctx.focus.text,
                            language="python", context_tokens=estimate_tokens(text), files=1)
    placing = []
    for _ in range(n):
        t0 = time.perf_counter()
        estimate_complexity(shape)
        placing.append((time.perf_counter() - t0) * 1000)
    lines = text.count("\n") + 1
    return [
        row(f"outbound filter, {estimate_tokens(text)}-token context ({lines} lines) + 6 messages", clean),
        row("same, two secrets planted (found and redacted)", dirty, baseline="row above"),
        row("same, one more character on the last line (lines remembered)", typed, baseline="first row"),
        row("complexity estimate (tree-sitter parse of the focus)", placing),
    ]


def main() -> int:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 30
    print_rows(measure(n), as_json="--json" in sys.argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
