"""The ``context`` subcommand, called through a small argparse parser as the lead's CLI will."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from coding_director.context.cli import add_context_command
from context_helpers import FIXTURES, load_marked


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="coding-director")
    add_context_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    result = args.func(args)
    assert isinstance(result, int)
    return result


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    marked = load_marked(FIXTURES / "typescript" / "sample.ts")
    path = tmp_path / "sample.ts"
    path.write_text(marked.text, encoding="utf-8")
    return path


def test_json_output(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["context", "--file", str(sample), "--line", "21", "--column", "40", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["language"] == "typescript"
    assert payload["enclosing"] == [
        {"kind": "module", "name": "sample", "startLine": 1, "endLine": 38},
        {"kind": "class", "name": "Circle", "startLine": 17, "endLine": 23},
        {"kind": "method", "name": "area", "startLine": 20, "endLine": 22},
    ]
    assert payload["cursor"] == {"line": 21, "column": 40}
    assert payload["focus"]["name"] == "area"
    assert "truncation" in payload and "tokenEstimate" in payload


def test_text_output_and_budget(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["context", "--file", str(sample), "--line", "26", "--budget", "80"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"File: {sample} (typescript)")
    assert "function describe" in out
    assert "cut to fit the token budget" in out


def test_column_defaults_to_one_and_lines_are_one_based(
    sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["context", "--file", str(sample), "--line", "1", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["cursor"] == {"line": 1, "column": 1}
    assert [e["kind"] for e in payload["enclosing"]] == ["module"]


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["context", "--file", str(tmp_path / "nope.py"), "--line", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot read" in captured.err


def test_rejects_zero_line(sample: Path) -> None:
    with pytest.raises(SystemExit):
        run(["context", "--file", str(sample), "--line", "0"])
