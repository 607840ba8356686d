"""check_syntax / check_splice used by escalation."""

from __future__ import annotations

import pytest
from coding_director.context import SyntaxProblem, check_splice, check_syntax

VALID_INVALID = {
    "python": ("def f(x):\n    return x + 1\n", "def f(x:\n    return x + 1\n"),
    "javascript": ("function f(x) { return x + 1; }\n", "function f(x) { return x + ; }\n"),
    "typescript": ("const f = (x: number): number => x + 1;\n", "const f = (x: number): => x + 1;\n"),
    "tsx": ("const A = () => <div>{1}</div>;\n", "const A = () => <div>{1</div>;\n"),
    "go": ("package a\n\nfunc F(x int) int { return x + 1 }\n",
           "package a\n\nfunc F(x int) int { return x + }\n"),
    "rust": ("fn f(x: i32) -> i32 { x + 1 }\n", "fn f(x: i32) -> i32 { x + }\n"),
    "java": ("class A { int f(int x) { return x + 1; } }\n", "class A { int f(int x) { return x + 1 } }\n"),
    "c": ("int f(int x) { return x + 1; }\n", "int f(int x) { return x + 1 }\n"),
    "cpp": ("namespace n { int f(int x) { return x + 1; } }\n",
            "namespace n { int f(int x) { return x +; } }\n"),
}


@pytest.mark.parametrize("language", sorted(VALID_INVALID))
def test_check_syntax_per_language(language: str) -> None:
    valid, invalid = VALID_INVALID[language]
    assert check_syntax(valid, language) == []
    problems = check_syntax(invalid, language)
    assert problems, f"{language}: the broken snippet was accepted"
    for problem in problems:
        assert problem.kind in ("error", "missing")
        assert problem.message
        lines = invalid.split("\n")
        assert problem.line < len(lines)
        assert (problem.line, problem.column) <= (problem.end_line, problem.end_column)


def test_missing_node_position_and_message() -> None:
    (problem,) = check_syntax("int f() { return 1 }", "c")
    assert problem.kind == "missing"
    assert (problem.line, problem.column) == (0, 18)
    assert (problem.end_line, problem.end_column) == (0, 18)
    assert ";" in problem.message


def test_columns_are_utf16() -> None:
    # '😀' is 2 UTF-16 units: the error node `g("😀"` spans 5 code points = 6 UTF-16 units.
    (problem,) = check_syntax('int f() { g("😀" }', "c")
    assert (problem.column, problem.end_column) == (10, 16)
    (problem,) = check_syntax("x = f('😀'\n", "python")
    assert problem.end_column == 10  # 9 code points


def test_lsp_language_ids_and_unknown_languages() -> None:
    assert check_syntax("const A = () => <b/>;", "typescriptreact") == []
    assert check_syntax("this is { not code", "markdown") == []  # cannot check -> no problems
    assert check_splice("x", 0, 0, 0, 1, "(((", "cobol") == []


def test_wire_shape() -> None:
    (problem,) = check_syntax("int f() { return 1 }", "c")
    wire = problem.model_dump(by_alias=True)
    assert set(wire) == {"kind", "line", "column", "endLine", "endColumn", "message"}
    assert SyntaxProblem.model_validate(problem.model_dump(by_alias=True)) == problem


FILE = "def good():\n    return 1\n\n\ndef other():\n    return 2\n"
BROKEN_FILE = "def good():\n    return 1\n\n\ndef broken(:\n    pass\n\n\ndef tail():\n    return 3\n"


def test_splice_that_keeps_file_valid() -> None:
    assert check_splice(FILE, 1, 11, 1, 12, "41 + 1", "python") == []


def test_splice_that_breaks_file_is_blamed_with_spliced_positions() -> None:
    problems = check_splice(FILE, 1, 11, 1, 12, "(41 +", "python")
    assert problems
    assert any(p.line in (1, 2, 3, 4) for p in problems)


def test_preexisting_problems_are_not_blamed_on_the_fix() -> None:
    assert check_syntax(BROKEN_FILE, "python")  # the original file is already broken
    # A valid change elsewhere (before and after the broken function, changing line counts).
    assert check_splice(BROKEN_FILE, 1, 11, 1, 12, "(\n        41\n    )", "python") == []
    assert check_splice(BROKEN_FILE, 9, 11, 9, 12, "3 + 0", "python") == []
    # A broken change elsewhere is still reported.
    assert check_splice(BROKEN_FILE, 9, 11, 9, 12, "3 +", "python")


def test_fix_of_the_broken_region_is_checked() -> None:
    fixed = check_splice(BROKEN_FILE, 4, 0, 5, 8, "def broken():\n    pass", "python")
    assert fixed == []
    still_broken = check_splice(BROKEN_FILE, 4, 0, 5, 8, "def broken(]:\n    pass", "python")
    assert still_broken
