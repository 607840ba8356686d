"""The incrementally maintained file facts equal facts rebuilt from scratch, after any edits.

The first reference is a rebuild on the *same* tree, after every step. The second is a fresh store
parsing the same text: whenever that text parses without errors, the incremental tree must be the
fresh tree and the facts must be the fresh facts. Only for broken code may tree-sitter's error
recovery legitimately give an incremental re-parse a different tree than a fresh parse (see
test_context_documents); there the rebuild on the same tree is the reference.
"""

from __future__ import annotations

import pytest
from coding_director.context import DocumentStore, TextChange
from coding_director.context import chunks as chunks_module
from coding_director.context.chunks import ChunkTable, FileFacts, file_facts, rebuild
from coding_director.context.documents import Document
from coding_director.context.languages import spec_for
from coding_director.context.queries import get_query
from coding_director.context.symbols import _collect
from context_helpers import FIXTURES, load_marked, lsp_position
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tree_sitter import QueryCursor

from tests.hypothesis_profiles import examples

SOURCES = {
    "python": load_marked(FIXTURES / "python" / "sample.py.in").text,
    "typescript": load_marked(FIXTURES / "typescript" / "sample.ts").text,
    "cpp": load_marked(FIXTURES / "cpp" / "sample.cpp").text,
}
PIECES = st.sampled_from(["x", "def g():\n    pass\n", "class Q:\n", "}", "{", "\n", " ", "é😀", "(",
                          "function h() {}\n", "namespace N {", "int k() { return 1; }\n", "\"", "//",
                          "import os\n"])
EDIT = st.tuples(st.floats(min_value=0, max_value=1), st.integers(min_value=0, max_value=12),
                 st.lists(PIECES, max_size=3).map("".join))


def live_text_starts(doc: Document) -> dict[tuple[int, int], int]:
    """``(start_byte, end_byte) -> text_start`` of every definition, straight from the live nodes of
    ``doc``'s tree (the uncached path of the enclosing chain): the truth cached facts must match."""
    assert doc.tree is not None and doc.language is not None
    cursor = QueryCursor(get_query(doc.language, "definitions"))
    found = _collect(cursor, doc.tree.root_node, spec_for(doc.language).wrappers)
    return {(d.start_byte, d.end_byte): d.text_start for d in found}


def assert_text_starts(facts: FileFacts, doc: Document) -> None:
    truth = live_text_starts(doc)
    for d in facts.definitions():
        assert d.text_start == truth.get((d.start_byte, d.end_byte), d.start_byte), d.name


def snapshot(facts: FileFacts) -> dict[str, object]:
    definitions = [(d.kind, d.name, d.start_byte, d.end_byte, d.start_row, d.end_row, d.depth, d.signature,
                    d.text_start) for d in facts.definitions()]
    index = {name: sorted((d.start_byte, d.end_byte) for d in facts.lookup(name))
             for name in {d[1] for d in definitions}}
    near = [(d.name, d.start_byte) for d, _ in zip(facts.near(len(definitions) * 7, 0), range(6), strict=False)]
    return {"definitions": definitions, "imports": facts.imports(), "index": index,
            "top": facts.top_count(), "near": near}


@pytest.mark.parametrize("split", [16_384, 60])
@settings(max_examples=examples(60), deadline=None,  # the profile decides the draws (tests/hypothesis_profiles.py)
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(language=st.sampled_from(sorted(SOURCES)), steps=st.lists(st.lists(EDIT, min_size=1, max_size=3),
                                                                   min_size=1, max_size=5))
def test_incremental_facts_equal_fresh_facts(monkeypatch: pytest.MonkeyPatch, split: int, language: str,
                                            steps: list[list[tuple[float, int, str]]]) -> None:
    monkeypatch.setattr(chunks_module, "SPLIT_BYTES", split)
    store = DocumentStore()
    text = SOURCES[language]
    uri = f"file:///chunks.{language}"
    store.open(uri, text, 0, language)
    file_facts(store.get(uri))  # type: ignore[arg-type]
    for version, edits in enumerate(steps, start=1):
        changes = []
        for where, length, new in edits:
            start = int(where * len(text))
            end = min(len(text), start + length)
            if text[start - 1 : start] == "\r" or text[end - 1 : end] == "\r":
                continue
            (sl, sc), (el, ec) = lsp_position(text, start), lsp_position(text, end)
            changes.append(TextChange.edit(sl, sc, el, ec, new))
            text = text[:start] + new + text[end:]
        doc = store.change(uri, version, changes)
        incremental = snapshot(file_facts(doc))
        table = ChunkTable()
        rebuild(doc, table)
        assert incremental == snapshot(FileFacts(table, doc))
        assert_text_starts(file_facts(doc), doc)
        fresh_doc = DocumentStore().open(uri, text, 0, language)
        assert doc.tree is not None and fresh_doc.tree is not None
        if not fresh_doc.tree.root_node.has_error:
            assert str(doc.tree.root_node) == str(fresh_doc.tree.root_node)
            assert incremental == snapshot(file_facts(fresh_doc))


def test_edit_before_a_method_keeps_text_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks_module, "SPLIT_BYTES", 60)
    store = DocumentStore()
    text = SOURCES["python"]
    uri = "file:///chunks.py"
    store.open(uri, text, 0, "python")
    file_facts(store.get(uri))  # type: ignore[arg-type]
    steps = [[(0.0, 0, "def g():\n    pass\n"), (1.0, 0, "def g():\n    pass\ndef g():\n    pass\n")],
             [(0.609375, 0, "x")]]
    for version, edits in enumerate(steps, start=1):
        changes = []
        for where, length, new in edits:
            start = int(where * len(text))
            end = min(len(text), start + length)
            (sl, sc), (el, ec) = lsp_position(text, start), lsp_position(text, end)
            changes.append(TextChange.edit(sl, sc, el, ec, new))
            text = text[:start] + new + text[end:]
        doc = store.change(uri, version, changes)
        table = ChunkTable()
        rebuild(doc, table)
        assert snapshot(file_facts(doc)) == snapshot(FileFacts(table, doc))
        assert_text_starts(file_facts(doc), doc)  # the decorated `greeting` was one byte off here
