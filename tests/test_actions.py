"""A Fix touches only the broken unit: the unit bounded the way a reader bounds it, and the rest
of the file byte-identical after the Fix (Python, TypeScript, Go; unclosed brackets, strings and
blocks), against the Ollama emulator."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from coding_director import CodingDirector
from coding_director.context import DocumentStore, check_syntax
from coding_director.features.actions import (
    ActionData,
    ActionError,
    LineEdit,
    check_unit_only,
    find_unit,
    reader_end,
    reindent,
    split_lines,
    stream_edit,
)
from coding_director.messages import Position, Range

from tests.emulator import OllamaEmulator
from tests.helpers import TIER_MODELS, add_team, chat_calls, team_settings


@dataclass(frozen=True)
class Case:
    """A file ``before + broken + after`` whose unit ``broken`` a Fix replaces with ``fixed``."""

    id: str
    language: str
    before: str
    broken: str
    after: str
    fixed: str
    #: 0-based line, inside ``broken``, where the cursor is.
    cursor: int

    @property
    def text(self) -> str:
        return self.before + self.broken + self.after

    @property
    def unit(self) -> tuple[int, int]:
        start = self.before.count("\n")
        return start, start + self.broken.count("\n")


PY_BEFORE = 'import re\n\nSEP = "-"\n\n\n'
PY_AFTER = '\n\ndef main():\n    print(slugify("Hello World"))\n\n\nif __name__ == "__main__":\n    main()\n'
PY_FIXED = 'def slugify(text):\n    text = re.sub(r"[^a-z0-9]+", SEP, text.lower())\n    return text.strip(SEP)\n'
TS_BEFORE = 'import { sep } from "./sep";\n\nconst LIMIT = 80;\n\n'
TS_AFTER = '\nexport function main(): void {\n  console.log(slugify("Hello World"));\n}\n'
TS_FIXED = (
    "export function slugify(text: string): string {\n"
    '  return text.toLowerCase().replace(/ /g, sep).slice(0, LIMIT);\n}\n'
)
GO_BEFORE = 'package main\n\nimport (\n\t"fmt"\n\t"strings"\n)\n\n'
GO_AFTER = '\nfunc main() {\n\tfmt.Println(slugify("Hello World"))\n}\n'
GO_FIXED = 'func slugify(text string) string {\n\treturn strings.ReplaceAll(strings.ToLower(text), " ", "-")\n}\n'

CASES = [
    Case("python-bracket", "python", PY_BEFORE,
         'def slugify(text):\n    text = re.sub(r"[^a-z0-9]+", SEP, text.lower()\n    return text.strip(SEP)\n',
         PY_AFTER, PY_FIXED, 1),
    Case("python-string", "python", PY_BEFORE,
         'def slugify(text):\n    """Make a slug.\n    text = re.sub(r"[^a-z0-9]+", SEP, text.lower())\n'
         "    return text.strip(SEP)\n",
         PY_AFTER, PY_FIXED, 1),
    Case("python-block", "python", PY_BEFORE,
         'def slugify(text):\n    if not text\n        return ""\n'
         '    text = re.sub(r"[^a-z0-9]+", SEP, text.lower())\n    return text.strip(SEP)\n',
         PY_AFTER, PY_FIXED, 1),
    Case("typescript-bracket", "typescript", TS_BEFORE,
         "export function slugify(text: string): string {\n"
         '  return text.toLowerCase().replace(/ /g, sep.slice(0, LIMIT);\n}\n',
         TS_AFTER, TS_FIXED, 1),
    Case("typescript-string", "typescript", TS_BEFORE,
         "export function slugify(text: string): string {\n  const dash = `-;\n"
         '  return text.toLowerCase().replace(/ /g, dash).slice(0, LIMIT);\n}\n',
         TS_AFTER, TS_FIXED, 1),
    Case("typescript-block", "typescript", TS_BEFORE,
         "export function slugify(text: string): string {\n  if (!text) {\n    return text;\n"
         '  return text.toLowerCase().replace(/ /g, sep).slice(0, LIMIT);\n}\n',
         TS_AFTER, TS_FIXED, 2),
    Case("go-bracket", "go", GO_BEFORE,
         'func slugify(text string) string {\n\treturn strings.ReplaceAll(strings.ToLower(text, " ", "-")\n}\n',
         GO_AFTER, GO_FIXED, 1),
    Case("go-string", "go", GO_BEFORE,
         "func slugify(text string) string {\n\tdash := `-\n"
         '\treturn strings.ReplaceAll(strings.ToLower(text), " ", dash)\n}\n',
         GO_AFTER, GO_FIXED, 1),
    Case("go-block", "go", GO_BEFORE,
         'func slugify(text string) string {\n\tif text == "" {\n\t\treturn ""\n'
         '\treturn strings.ReplaceAll(strings.ToLower(text), " ", "-")\n}\n',
         GO_AFTER, GO_FIXED, 1),
]


def fenced(case: Case, code: str) -> str:
    return f"Here is the fix:\n```{case.language}\n{code}```\n"


def open_case(case: Case, version: int = 1) -> tuple[DocumentStore, str]:
    store = DocumentStore()
    uri = f"file:///work/{case.id}.{ {'python': 'py', 'typescript': 'ts', 'go': 'go'}[case.language] }"
    store.open(uri, case.text, version, case.language)
    return store, uri


def action(uri: str, line: int, version: int = 1) -> ActionData:
    at = Position(line=line, character=2)
    return ActionData(action="fix", uri=uri, version=version, range=Range(start=at, end=at))


def apply(text: str, edit: LineEdit) -> str:
    lines = split_lines(text)
    start = sum(len(line) for line in lines[: edit.start_line])
    end = sum(len(line) for line in lines[: edit.end_line]) + edit.end_character
    return text[:start] + edit.new_text + text[end:]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_broken_unit_is_bounded_as_a_reader_would(case: Case) -> None:
    store, uri = open_case(case)
    doc = store.get(uri)
    assert doc is not None and doc.tree is not None and doc.tree.root_node.has_error
    start, end = case.unit
    unit = find_unit(doc, start + case.cursor, start + case.cursor)
    assert (unit.start_line, unit.end_line, unit.name) == (start, end, "slugify")
    # A cursor in `main`, which the tree may have swallowed into the broken unit, finds `main`.
    main_line = case.text.split("\n").index(next(line for line in case.text.split("\n") if "main()" in line
                                                  and ("def" in line or "func" in line)))
    assert find_unit(doc, main_line + 1, main_line + 1).name == "main"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_fix_leaves_the_rest_of_the_file_byte_identical(ollama_emulator: OllamaEmulator, case: Case) -> None:
    add_team(ollama_emulator, lead=fenced(case, case.fixed))
    store, uri = open_case(case)
    director = CodingDirector(team_settings(ollama_emulator.url))
    try:
        items = [item async for item in stream_edit(director, store, action(uri, case.unit[0] + case.cursor))]
    finally:
        await director.aclose()
    edit, assistance = items[-1]  # type: ignore[misc]
    assert isinstance(edit, LineEdit) and assistance.final_tier == "lead"
    fixed_text = apply(case.text, edit)
    assert fixed_text == case.before + case.fixed + case.after
    assert check_syntax(fixed_text, case.language) == []
    # The model was told only the unit: its lines, and none of `main`'s code as the code to change.
    prompt = chat_calls(ollama_emulator, TIER_MODELS["lead"])[0]["messages"][-1]["content"]
    start, end = case.unit
    assert f"(lines {start + 1}-{end})" in prompt
    focus = prompt.split("## Focus:", 1)[1].split("```", 2)[1]
    assert "slugify(" in focus and "main()" not in focus


async def test_an_edit_rewriting_code_outside_the_unit_escalates(ollama_emulator: OllamaEmulator) -> None:
    case = CASES[0]
    rewritten_main = case.fixed + "\n\ndef main():\n    print('changed')\n"
    add_team(ollama_emulator, lead=fenced(case, rewritten_main), senior=fenced(case, case.fixed))
    store, uri = open_case(case)
    director = CodingDirector(team_settings(ollama_emulator.url))
    try:
        items = [item async for item in stream_edit(director, store, action(uri, case.unit[0] + 1))]
    finally:
        await director.aclose()
    edit, assistance = items[-1]  # type: ignore[misc]
    assert [(a.tier, a.outcome) for a in assistance.attempts] == [("lead", "rejected"), ("senior", "accepted")]
    assert "`main`" in (assistance.attempts[0].reason or "") and "outside the unit" in (
        assistance.attempts[0].reason or "")
    assert apply(case.text, edit) == case.before + case.fixed + case.after


async def test_no_tier_keeping_to_the_unit_means_no_edit(ollama_emulator: OllamaEmulator) -> None:
    case = CASES[3]
    whole_file = case.before + case.fixed + case.after
    add_team(ollama_emulator, lead=fenced(case, whole_file), senior=fenced(case, whole_file),
             principal=fenced(case, whole_file))
    store, uri = open_case(case)
    director = CodingDirector(team_settings(ollama_emulator.url))
    try:
        with pytest.raises(ActionError, match="outside the unit"):
            async for _item in stream_edit(director, store, action(uri, case.unit[0] + 1)):
                pass
    finally:
        await director.aclose()


def test_check_unit_only() -> None:
    text = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    start, end = 0, len("def a():\n    return 1\n")
    assert check_unit_only(text, start, end, "def a():\n    return 3\n", "python", {"a"}) is None
    reason = check_unit_only(text, start, end, "def a():\n    return 3\n\n\ndef b():\n    return 4\n", "python", {"a"})
    assert reason is not None and "`b`" in reason
    # A helper the unit already defined may be returned again.
    assert check_unit_only(text, start, end, "def a():\n    def b():\n        pass\n", "python", {"a", "b"}) is None


PY = ["def add(a, b:\n", "    return a + b\n", "\n", "x = 1\n"]
JS = ["function f(a {\n", "  return a;\n", "}\n", "f(1);\n"]
PY_SIGNATURE = ["def f(\n", "    a,\n", "):\n", "    return a\n", "def g():\n", "    pass\n"]
TS_SIGNATURE = ["function f(\n", "  a: number,\n", "): number {\n", "  if (a) {\n", "  } else {\n", "  }\n",
                "  return a;\n", "}\n", "f(1);\n"]


@pytest.mark.parametrize(
    ("lines", "language", "start", "expected"),
    [
        (PY, "python", 0, 2),  # the indented body belongs to the def line; the blank line does not
        (PY, "python", 1, 2),  # inside the body: nothing deeper follows
        (JS, "javascript", 0, 3),  # the closing brace at the same indentation ends the block
        (PY, "python", 3, 4),
        (PY_SIGNATURE, "python", 0, 4),  # `):` at the def's indentation continues the header
        (TS_SIGNATURE, "typescript", 0, 8),  # `): number {` and `} else {` continue; `}` ends it
    ],
)
def test_reader_end(lines: list[str], language: str, start: int, expected: int) -> None:
    assert reader_end(lines, start, language) == expected


def test_reindent() -> None:
    assert reindent("def f():\n    pass\n", "    ") == "    def f():\n        pass"
