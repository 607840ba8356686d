"""extract(): sections, budget and truncation, diagnostics, related snippets, plain-text fallback."""

from __future__ import annotations

from coding_director.context import (
    CodeContext,
    ContextDiagnostic,
    DocumentStore,
    TextChange,
    estimate_tokens,
    extract,
    render_context,
)
from coding_director.wire import to_wire
from context_helpers import FIXTURES, load_marked

PY = load_marked(FIXTURES / "python" / "sample.py.in")
PY_URI = "file:///proj/sample.py"

HELPERS = '''"""Helpers."""


def compute_total_price(items):
    """Sum of prices."""
    return sum(item.price for item in items)


class ShoppingBasket:
    def add(self, item):
        self.items.append(item)


def x(a):
    return a
'''

USER = '''from helpers import compute_total_price, ShoppingBasket, x


def checkout(basket: ShoppingBasket):
    total = compute_total_price(basket.items)
    check = compute_total_price(basket.items)
    return x(total) if total == check else None
'''


def open_sample(store: DocumentStore) -> None:
    store.open(PY_URI, PY.text, 3, "python")


def test_sections_at_a_method(store: DocumentStore) -> None:
    open_sample(store)
    ctx = extract(store, PY_URI, PY.markers["2"])
    assert ctx.language == "python" and ctx.version == 3
    assert [(e.kind, e.name) for e in ctx.enclosing] == [("module", "sample"), ("class", "Greeter"),
                                                         ("method", "greeting")]
    assert ctx.focus.kind == "definition" and ctx.focus.name == "greeting"
    assert ctx.focus.text.startswith("    @property\n    def greeting(self)")
    assert "import os" in ctx.imports
    assert [o.name for o in ctx.outline if o.depth == 1] == ["__init__", "greeting", "nested"]
    assert ctx.prefix.endswith("{self.name}") and ctx.suffix.startswith(" {emoji}")
    assert ctx.cursor.line == PY.markers["2"][0] + 1
    assert not ctx.truncated and ctx.truncation == []
    assert ctx.token_estimate <= ctx.token_budget


def test_wire_form_is_camel_case_and_valid(store: DocumentStore) -> None:
    open_sample(store)
    wire = to_wire(extract(store, PY_URI, PY.markers["1"]))
    assert {"uri", "enclosing", "focus", "imports", "outline", "prefix", "suffix", "diagnostics",
            "related", "truncated", "truncation", "tokenEstimate", "tokenBudget"} <= set(wire)
    assert set(wire["enclosing"][0]) == {"kind", "name", "startLine", "endLine"}
    assert CodeContext.model_validate(wire).focus.name == "top_level"


def test_small_budget_truncates_and_reports(store: DocumentStore) -> None:
    open_sample(store)
    full = extract(store, PY_URI, PY.markers["3"], token_budget=4000)
    small = extract(store, PY_URI, PY.markers["3"], token_budget=120)
    assert not full.truncated
    assert small.truncated
    sections = {note.section for note in small.truncation}
    assert sections, "truncation must be reported"
    for note in small.truncation:
        assert note.kept_tokens <= note.original_tokens and note.reason
    assert small.token_estimate <= 120 + 20  # header + per-item overheads are estimates
    assert len(small.prefix) < len(full.prefix) or len(small.outline) < len(full.outline)
    assert estimate_tokens(small.prefix) <= 120


def test_focus_cut_keeps_signature_and_cursor_line(store: DocumentStore) -> None:
    body = "\n".join(f"    value_{i} = {i}" for i in range(400))
    text = f"def long_function():\n{body}\n    return value_0\n"
    store.open("file:///long.py", text, 0, "python")
    ctx = extract(store, "file:///long.py", (250, 6), token_budget=600)
    assert ctx.focus.text.startswith("def long_function():")
    assert "value_249 = 249" in ctx.focus.text
    assert "…" in ctx.focus.text
    assert any(note.section == "focus" for note in ctx.truncation)
    assert (ctx.focus.start_line, ctx.focus.end_line) == (1, 402)


def test_diagnostics_overlapping_the_focus(store: DocumentStore) -> None:
    open_sample(store)
    line = PY.markers["1"][0]
    diagnostics = [
        ContextDiagnostic(start_line=line, end_line=line, message="inside", severity=1, source="pyright"),
        {"startLine": 36, "endLine": 36, "message": "elsewhere", "severity": 2},
        {"start_line": line - 2, "end_line": line - 1, "message": "signature", "severity": 2},
    ]
    ctx = extract(store, PY_URI, PY.markers["1"], diagnostics=diagnostics)
    got = [(d.message, d.severity) for d in ctx.diagnostics]
    assert got == [("inside", "error"), ("signature", "warning")]
    assert ctx.diagnostics[0].start_line == line + 1


def test_related_snippets_from_other_documents_ranked(store: DocumentStore) -> None:
    store.open("file:///proj/helpers.py", HELPERS, 0, "python")
    store.open("file:///proj/user.py", USER, 0, "python")
    ctx = extract(store, "file:///proj/user.py", (4, 10))
    names = [r.name for r in ctx.related]
    assert names[:2] == ["compute_total_price", "ShoppingBasket"]  # used twice, then once
    assert names[-1] == "x"  # a short name ranks low
    assert "checkout" not in names  # the enclosing definition itself is excluded
    assert len(names) == len(set((r.uri, r.start_line) for r in ctx.related))  # de-duplicated
    first = ctx.related[0]
    assert first.uri == "file:///proj/helpers.py" and first.text.startswith("def compute_total_price")
    assert ctx.related[0].score >= ctx.related[-1].score


def test_related_snippets_follow_edits(store: DocumentStore) -> None:
    store.open("file:///proj/helpers.py", HELPERS, 0, "python")
    store.open("file:///proj/user.py", USER, 0, "python")
    store.change("file:///proj/helpers.py", 1,
                 [TextChange.edit(3, 4, 3, 23, "grand_total_of_prices")])
    store.change("file:///proj/user.py", 1, [TextChange.edit(4, 12, 4, 31, "grand_total_of_prices")])
    ctx = extract(store, "file:///proj/user.py", (4, 10))
    by_name = {r.name: r for r in ctx.related}
    assert "compute_total_price" not in by_name
    assert by_name["grand_total_of_prices"].start_line == 4
    assert by_name["grand_total_of_prices"].text.startswith("def grand_total_of_prices(items):")


def test_range_extraction_picks_a_definition_covering_the_range(store: DocumentStore) -> None:
    open_sample(store)
    # From inside __init__ to inside greeting: the innermost definition covering both is the class.
    ctx = extract(store, PY_URI, (21, 8), (25, 10))
    assert ctx.focus.name == "Greeter"
    assert ctx.range_end is not None and ctx.range_end.line == 26


def test_blank_line_uses_indentation(store: DocumentStore) -> None:
    text = "class A:\n    def f(self):\n        pass\n        \n    \nx = 1\n"
    store.open("file:///blank.py", text, 0, "python")
    inside = extract(store, "file:///blank.py", (3, 8))
    assert [e.name for e in inside.enclosing] == ["blank", "A", "f"]
    member = extract(store, "file:///blank.py", (4, 4))
    assert [e.name for e in member.enclosing] == ["blank", "A"]
    module = extract(store, "file:///blank.py", (4, 0))
    assert [e.name for e in module.enclosing] == ["blank"]


def test_empty_body_at_end_of_line(store: DocumentStore) -> None:
    store.open("file:///e.ts", "function f() {}\nclass K {\n  m() {\n  }\n}\n", 0, None)
    assert [e.name for e in extract(store, "file:///e.ts", (0, 14)).enclosing] == ["e", "f"]
    assert [e.name for e in extract(store, "file:///e.ts", (2, 7)).enclosing] == ["e", "K", "m"]


def test_plain_text_and_unknown_language(store: DocumentStore) -> None:
    lines = [f"line {i} ünïcode" for i in range(200)]
    store.open("file:///notes.txt", "\n".join(lines), 0, None)
    ctx = extract(store, "file:///notes.txt", (100, 3))
    assert ctx.language is None and ctx.enclosing == [] and ctx.plain_text_reason
    assert ctx.focus.kind == "window" and "line 100 ünïcode" in ctx.focus.text
    assert ctx.prefix.endswith("lin") and ctx.suffix.startswith("e 100")
    assert render_context(ctx).startswith("File: /notes.txt (plain text)")


def test_too_large_file_uses_line_windows() -> None:
    store = DocumentStore(max_file_bytes=1024)
    store.open("file:///big.py", "def f():\n    return 1\n" * 200, 0, "python")
    ctx = extract(store, "file:///big.py", (101, 4))
    assert ctx.enclosing == [] and ctx.focus.kind == "window"
    assert ctx.plain_text_reason is not None and "too large" in ctx.plain_text_reason


def test_positions_past_the_end_are_clamped(store: DocumentStore) -> None:
    open_sample(store)
    ctx = extract(store, PY_URI, (10_000, 500))
    assert ctx.cursor.line == PY.text.count("\n") + 1


def test_render_context(store: DocumentStore) -> None:
    open_sample(store)
    store.open("file:///proj/other.py", "def top_level_helper():\n    return 1\n", 0, "python")
    ctx = extract(store, PY_URI, PY.markers["1"],
                  diagnostics=[ContextDiagnostic(start_line=12, end_line=12, message="bad", severity=1)])
    text = render_context(ctx)
    assert text.startswith("File: /proj/sample.py (python)")
    assert "Enclosing: module sample > function top_level (lines 11-14)" in text
    assert "```python\ndef top_level(x: int, y: int = 2) -> int:" in text
    assert "## Imports" in text and "import os" in text
    assert "## Diagnostics" in text and "error: bad" in text
    small = render_context(extract(store, PY_URI, PY.markers["1"], token_budget=100))
    assert "Note: context was cut to fit the token budget" in small
