"""Review example: in a folder whose `.env` holds the project's own variables (DATABASE_URL=...),
every CLI command failed with "invalid settings: database_url: unknown key". Now the CLI and the
language server read only our own configuration, whatever the working directory holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import GOOD_PY, TIER_MODELS, add_team
from tests.lsp.conftest import write_config
from tests.raw_client import raw_server

DOTENV = "DATABASE_URL=postgres://app:secret@db/app\nSECRET_KEY=s3cr3t\nCODING_DIRECTOR_ROUTING__ROUTER=sometimes\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / ".env").write_text(DOTENV, encoding="utf-8")
    (folder / "app.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    return folder


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    return subprocess.run(
        [sys.executable, "-m", "coding_director", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=project,
    )


def test_every_cli_command_works_beside_a_projects_dotenv(
    ollama_emulator: OllamaEmulator, project: Path, tmp_path: Path
) -> None:
    add_team(ollama_emulator, principal=None, lead={"reply": GOOD_PY, "capabilities": ["completion", "insert"]})
    ollama_emulator.add_pullable(ScriptedModel(name=TIER_MODELS["principal"]))
    cfg = str(write_config(tmp_path, ollama_emulator.url))
    route = cli(project, "route", "--offline", "--json", "hello")
    assert route.returncode == 0, route.stderr
    assert json.loads(route.stdout)["decidedBy"] == "offline"
    ask = cli(project, "ask", "--config", cfg, "--json", "--file", "app.py", "--line", "2", "Explain add")
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["answer"] == GOOD_PY
    pull = cli(project, "models", "pull", "--config", cfg)
    assert pull.returncode == 0, pull.stderr
    doctor = cli(project, "doctor", "--config", cfg, "--json")
    assert doctor.returncode == 0, doctor.stderr
    context = cli(project, "context", "--file", "app.py", "--line", "2", "--json")
    assert context.returncode == 0, context.stderr
    schemas = cli(project, "schemas", "--check")
    assert schemas.returncode == 0, schemas.stderr
    for proc in (route, ask, pull, doctor, context, schemas):
        assert "database_url" not in proc.stderr.lower() and "secret" not in proc.stdout


def test_language_server_works_beside_a_projects_dotenv(
    ollama_emulator: OllamaEmulator, project: Path, tmp_path: Path
) -> None:
    add_team(ollama_emulator)
    with raw_server(write_config(tmp_path, ollama_emulator.url), project, cwd=project) as client:
        uri = client.open(project / "app.py", (project / "app.py").read_text())
        response = client.request(
            "codingDirector/chat",
            {"prompt": "Explain add", "textDocument": {"uri": uri}},
        )
        assert response["result"]["answer"] == GOOD_PY, response
        assert not [p for m, p in client.notifications if m == "window/showMessage"]
