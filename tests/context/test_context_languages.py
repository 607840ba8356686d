from __future__ import annotations

import pytest
from coding_director.context import LANGUAGES, detect_language
from coding_director.context.languages import get_language
from coding_director.context.queries import QUERY_KINDS, get_query, query_source
from context_helpers import fixture_files, fixture_language


@pytest.mark.parametrize(
    ("language_id", "path", "expected"),
    [
        ("python", None, "python"),
        (None, "/a/b/c.py", "python"),
        (None, "file:///x/y/stub.PYI", "python"),
        ("javascriptreact", None, "javascript"),
        (None, "m.mjs", "javascript"),
        ("typescript", "x.tsx", "typescript"),  # the language id wins over the extension
        ("typescriptreact", None, "tsx"),
        (None, "comp.tsx", "tsx"),
        (None, "main.go", "go"),
        ("rust", None, "rust"),
        (None, "Main.java", "java"),
        (None, "x.h", "c"),
        ("cpp", None, "cpp"),
        (None, "vec.hpp", "cpp"),
        ("plaintext", "notes.txt", None),
        ("markdown", None, None),
        (None, None, None),
        ("unknown-id", "x.go", "go"),
        (None, "Makefile", None),
    ],
)
def test_detect_language(language_id: str | None, path: str | None, expected: str | None) -> None:
    assert detect_language(language_id, path) == expected


@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize("kind", QUERY_KINDS)
def test_every_query_file_compiles(language: str, kind: str) -> None:
    query = get_query(language, kind)
    assert query.pattern_count > 0
    assert "; inherits:" not in query_source(language, kind).split("\n", 1)[0] or language in (
        "typescript",
        "tsx",
    )



def test_an_inheriting_query_puts_its_own_patterns_first() -> None:
    """C++ inherits C's definitions; its own method pattern for `Foo::bar` wins over C's function
    pattern (the earliest matching pattern decides), and C's `int **f()` pattern reaches C++."""
    from coding_director.context.symbols import _collect
    from tree_sitter import Parser, QueryCursor

    assert query_source("cpp", "definitions").endswith("\n" + query_source("c", "definitions"))
    data = b"void Foo::bar() {}\nint **pp() { return 0; }\n"
    tree = Parser(get_language("cpp")).parse(data)
    found = _collect(QueryCursor(get_query("cpp", "definitions")), tree.root_node, ())
    assert [(d.kind, d.name) for d in found] == [("method", "Foo::bar"), ("function", "pp")]

def test_every_language_has_a_golden_fixture_that_parses_cleanly() -> None:
    from context_helpers import load_marked
    from tree_sitter import Parser

    covered = set()
    for path in fixture_files():
        language = fixture_language(path)
        assert language is not None, path
        marked = load_marked(path)
        tree = Parser(get_language(language)).parse(marked.text.encode())
        assert not tree.root_node.has_error, f"{path} does not parse cleanly"
        assert (path.parent / (path.name + ".golden.json")).exists(), f"no golden file for {path}"
        covered.add(language)
    assert covered == set(LANGUAGES)
