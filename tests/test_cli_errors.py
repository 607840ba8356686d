"""CLI errors follow the documented exit codes with one-line messages; binary files are never
context. Review example: ``ask --file missing.py`` printed a traceback and exited 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulator import OllamaEmulator
from tests.helpers import add_team
from tests.test_cli import config, run


def assert_usage_error(proc: object, *words: str) -> None:
    assert getattr(proc, "returncode", None) == 2, proc
    stderr: str = getattr(proc, "stderr", "")
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    for word in words:
        assert word in stderr, stderr


def test_ask_with_a_missing_file_is_bad_usage(tmp_path: Path) -> None:
    assert_usage_error(run("ask", "--file", str(tmp_path / "missing.py"), "Fix it"), "missing.py", "No such file")


@pytest.mark.parametrize("line", ["0", "-3"])
def test_ask_with_a_line_below_one_is_bad_usage(tmp_path: Path, line: str) -> None:
    (tmp_path / "app.py").write_text("x = 1\n", encoding="utf-8")
    proc = run("ask", "--file", str(tmp_path / "app.py"), f"--line={line}", "Fix it")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_ask_past_the_end_of_the_file_is_bad_usage_and_calls_no_model(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator)
    (tmp_path / "app.py").write_text("x = 1\n", encoding="utf-8")
    cfg = str(config(tmp_path, ollama_emulator.url))
    proc = run("ask", "--config", cfg, "--file", str(tmp_path / "app.py"), "--line", "40", "Fix it")
    assert_usage_error(proc, "--line 40", "2 lines")
    assert not ollama_emulator.calls(path="/api/chat")


def test_a_binary_file_is_never_sent_as_context(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator)
    blob = tmp_path / "logo.py"  # a source-code name does not make it text
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    cfg = str(config(tmp_path, ollama_emulator.url))
    assert_usage_error(run("ask", "--config", cfg, "--file", str(blob), "Explain"), "binary")
    assert not ollama_emulator.calls(path="/api/chat")
    assert_usage_error(run("context", "--file", str(blob), "--line", "1"), "binary")
