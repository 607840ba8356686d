"""On real, large files the enclosing chain agrees with Python's own ``ast`` on every code line."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
from pathlib import Path

import pytest
from coding_director.context import DocumentStore, extract
from coding_director.context.cli import add_context_command


def _module_file(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


MODULES = ("lsprotocol.types", "pydantic.main", "typing_extensions", "pygls.protocol.json_rpc")
CANDIDATES = [_module_file(name) for name in MODULES]
FILES = [p for p in CANDIDATES if p is not None]


def ast_chains(source: str) -> dict[int, list[str]]:
    """1-based line -> names of the class/function definitions containing it, outermost first."""
    spans: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            assert node.end_lineno is not None
            spans.append((node.lineno, node.end_lineno, node.name))
    spans.sort()
    chains: dict[int, list[str]] = {}
    for line in range(1, source.count("\n") + 2):
        chains[line] = [name for start, end, name in spans if start <= line <= end]
    return chains


def code_lines(source: str) -> list[int]:
    """Lines that hold code (not blank, not only a comment), 1-based."""
    return [i for i, text in enumerate(source.split("\n"), start=1)
            if text.strip() and not text.strip().startswith("#")]


def test_large_files_are_available() -> None:
    assert len(FILES) >= 2 and any(p.name == "types.py" for p in FILES)
    assert sum(p.read_text(encoding="utf-8").count("\n") for p in FILES) > 14_000


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_enclosing_chain_agrees_with_ast_on_every_code_line(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    expected = ast_chains(source)
    store = DocumentStore()
    uri = path.resolve().as_uri()
    doc = store.open(uri, source, 0, None)
    assert doc.tree is not None and not doc.tree.root_node.has_error
    lines = code_lines(source)
    mismatches = []
    for line in lines:
        ctx = extract(store, uri, (line - 1, 0), token_budget=200)
        got = [e.name for e in ctx.enclosing[1:]]
        kinds_ok = all(e.kind in ("class", "function", "method") for e in ctx.enclosing[1:])
        if got != expected[line] or not kinds_ok:
            mismatches.append((line, got, expected[line]))
    assert not mismatches, f"{len(mismatches)} of {len(lines)} lines differ, first: {mismatches[:5]}"


def test_cli_json_agrees_with_ast(capsys: pytest.CaptureFixture[str]) -> None:
    path = next(p for p in FILES if p.name == "types.py")
    source = path.read_text(encoding="utf-8")
    expected = ast_chains(source)
    parser = argparse.ArgumentParser(prog="coding-director")
    add_context_command(parser.add_subparsers())
    lines = code_lines(source)
    for line in lines[:: max(1, len(lines) // 40)]:
        args = parser.parse_args(["context", "--file", str(path), "--line", str(line), "--json"])
        assert args.func(args) == 0
        payload = json.loads(capsys.readouterr().out)
        chain = payload["enclosing"]
        assert chain[0]["kind"] == "module"
        assert [e["name"] for e in chain[1:]] == expected[line], f"line {line}"
        innermost = chain[-1]
        assert innermost["startLine"] <= line <= innermost["endLine"]
