"""Secrets kept home, end to end against the emulator (local Ollama team + frontier endpoint): the
local tiers get the context unchanged, the frontier tier gets it filtered (checked in the bodies the
emulator recorded), and the answer says what was withheld."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from coding_director.context import DocumentStore
from coding_director.engine import CodingDirector
from coding_director.features.chat import run_chat
from coding_director.features.knowledge import KnowledgeService
from coding_director.messages import ChatParams
from coding_director.settings import Settings

from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import GOOD_PY, REFUSAL, TIER_MODELS, add_team, chat_calls, team_settings
from tests.test_cli import config, run
from tests.test_frontier import FRONTIER_MODEL, PRICE, frontier_calls

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # split: this file must not look like a leak
SETTINGS_PY = f'''"""Settings of the app."""

AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"
GITHUB_TOKEN = "{GITHUB_TOKEN}"
DEBUG = False


def database_url(host):
    return f"postgres://app@{{host}}/app"
'''
ENV_KEY = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
DOTENV = f"STRIPE_API_KEY={ENV_KEY}\nDEBUG=1\n"
IGNORED = "scratch notes: the staging box is 10.0.4.17, login ops / tulip-harbour-77\n"


def frontier_toml(url: str, tmp_path: Path) -> str:
    price = ", ".join(f"{k} = {v}" for k, v in PRICE.items())
    return (f'frontier = "fallback"\n[tiers.frontier]\nmodel = "{FRONTIER_MODEL}"\nprovider = "openai"\n'
            f'base_url = "{url}/v1"\n[placement]\nledger_path = "{tmp_path / "ledger.sqlite3"}"\n'
            f'[placement.prices."{FRONTIER_MODEL}"]\n{price}\n'.replace(", ", "\n"))


def local_user_messages(emu: OllamaEmulator) -> list[str]:
    return [body["messages"][-1]["content"]
            for tier in ("lead", "senior", "principal") for body in chat_calls(emu, TIER_MODELS[tier])]


def test_ask_file_redacts_both_secrets_for_the_frontier_only(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, reply=GOOD_PY))
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / "app" / "settings.py").write_text(SETTINGS_PY, encoding="utf-8")
    cfg = config(tmp_path, ollama_emulator.url, extra=frontier_toml(ollama_emulator.url, tmp_path))
    proc = run("ask", "--config", str(cfg), "--json", "--file", "app/settings.py",
               "Why does database_url ignore the port?", cwd=project)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [a["tier"] for a in result["attempts"]] == ["lead", "senior", "principal", "frontier"]
    assert result["finalTier"] == "frontier" and result["accepted"]
    # Every local tier got the file as it is.
    local = local_user_messages(ollama_emulator)
    assert len(local) == 3 and all(AWS_KEY_ID in m and GITHUB_TOKEN in m for m in local)
    # The frontier got it with both secrets redacted, and the rest of the file intact.
    (body,) = frontier_calls(ollama_emulator)
    sent = json.dumps(body)
    assert AWS_KEY_ID not in sent and GITHUB_TOKEN not in sent and "ghp_" not in sent
    user = body["messages"][-1]["content"]
    assert 'AWS_ACCESS_KEY_ID = "[REDACTED:AWS Access Key]"' in user
    assert 'GITHUB_TOKEN = "[REDACTED:GitHub Token]"' in user
    assert "def database_url(host):" in user
    # The answer says so: in the result, and in the note on stderr.
    assert result["withheld"] == [{"source": "app/settings.py", "action": "redacted",
                                   "reason": "2 secrets: AWS Access Key, GitHub Token"}]
    assert "app/settings.py: redacted (2 secrets: AWS Access Key, GitHub Token)" in proc.stderr
    assert result["costUsd"] > 0 and "frontier cost of this answer" in proc.stderr


async def workspace(tmp_path: Path) -> tuple[Path, KnowledgeService]:
    ws = tmp_path / "ws"
    (ws / ".git").mkdir(parents=True)  # a repository: its .gitignore applies
    (ws / ".gitignore").write_text("notes.local.txt\n", encoding="utf-8")
    (ws / ".env").write_text(DOTENV, encoding="utf-8")
    (ws / "notes.local.txt").write_text(IGNORED, encoding="utf-8")
    (ws / "app.py").write_text("import os\n\nKEY = os.environ['STRIPE_API_KEY']\n", encoding="utf-8")
    knowledge = KnowledgeService(Settings(index={"cache_dir": str(tmp_path / "cache")}))
    await knowledge.open_folders([ws])
    return ws, knowledge


async def chat(settings: Settings, ws: Path, knowledge: KnowledgeService, prompt: str) -> Any:
    director = CodingDirector(settings)
    director.workspace_root = ws
    try:
        return await run_chat(director, DocumentStore(), ChatParams(chat_id="c", prompt=prompt), lambda e: None,
                              knowledge)
    finally:
        await director.aclose()


async def test_env_and_ignored_files_never_reach_the_frontier(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, reply=GOOD_PY))
    ws, knowledge = await workspace(tmp_path)
    prompt = "The app cannot read its key: compare @file .env with @file notes.local.txt and app.py"
    url = ollama_emulator.url
    try:
        off = await chat(team_settings(url), ws, knowledge, prompt)
        local_off = local_user_messages(ollama_emulator)
        ollama_emulator.reset_requests()
        result = await chat(team_settings(
            url,
            tiers={"frontier": {"model": FRONTIER_MODEL, "provider": "openai", "base_url": f"{url}/v1"}},
            routing={"frontier": "fallback"},
            placement={"ledger_path": str(tmp_path / "ledger.sqlite3"), "prices": {FRONTIER_MODEL: PRICE}},
        ), ws, knowledge, prompt)
    finally:
        knowledge.close()
    assert [a.tier for a in off.attempts] == ["lead", "senior", "principal"]
    assert result.final_tier == "frontier" and result.accepted
    # Local tiers: both files, and the very same messages as with the frontier off.
    local = local_user_messages(ollama_emulator)
    assert local == local_off and all(ENV_KEY in m and "tulip-harbour-77" in m for m in local)
    # Frontier: neither file's content, nor its key.
    (body,) = frontier_calls(ollama_emulator)
    sent = json.dumps(body)
    assert ENV_KEY not in sent and "tulip-harbour-77" not in sent and "10.0.4.17" not in sent
    assert {(w.source, w.action, w.reason) for w in result.withheld} == {
        (".env", "removed", "matches '.env*' (placement.withhold)"),
        ("notes.local.txt", "removed", "ignored by git"),
        ("earlier answers", "removed", "local tiers' answers are not quoted: they may quote the withheld files"),
    }
    assert "Its answer was:" not in body["messages"][-1]["content"]  # the local refusals are not quoted


def test_route_json_shows_complexity_placement_and_threshold(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[routing]\nrouter = "offline"\n', encoding="utf-8")
    proc = run("route", "--config", str(cfg), "--json", "Design the architecture of a plugin system")
    assert proc.returncode == 0, proc.stderr
    decision = json.loads(proc.stdout)
    assert 0.0 <= decision["complexity"] <= 1.0 and decision["placement"] == "local"
    assert decision["placementReason"].startswith("routing.frontier is off")
    assert decision["thresholds"]["mode"] == "off" and decision["thresholds"]["threshold"] == 0.65
    assert decision["chain"] == ["lead", "senior", "principal"]


def test_git_check_ignore_agrees_on_the_ignored_file(tmp_path: Path) -> None:
    """The filter's gitignore reading matches git's own (when git is installed)."""
    from coding_director.context.secrets import OutboundFilter

    ws = tmp_path / "repo"
    ws.mkdir()
    if subprocess.run(["git", "init", "-q", str(ws)], capture_output=True).returncode != 0:
        return  # no git here: the other tests cover the rules
    (ws / ".gitignore").write_text("build/\n*.local.txt\n!keep.local.txt\n", encoding="utf-8")
    (ws / "build").mkdir()
    for name in ("build/out.py", "notes.local.txt", "keep.local.txt", "app.py"):
        (ws / name).write_text("x = 1\n", encoding="utf-8")
    git = subprocess.run(["git", "-C", str(ws), "check-ignore", "build/out.py", "notes.local.txt", "keep.local.txt",
                          "app.py"], capture_output=True, text=True)
    ignored_by_git = set(git.stdout.split())
    filt = OutboundFilter([], [ws])
    ours = {n for n in ("build/out.py", "notes.local.txt", "keep.local.txt", "app.py")
            if filt.file_verdict(ws / n) == "ignored by git"}
    assert ours == ignored_by_git == {"build/out.py", "notes.local.txt"}
