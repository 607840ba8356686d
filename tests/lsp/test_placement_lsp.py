"""Placement through the language server (pytest-lsp over stdio): with ``routing.frontier =
"fallback"`` and every local tier failing, the frontier endpoint answers a chat request that
mentions the workspace's ``.env`` and a git-ignored file; it never receives either (the emulator's
recorded bodies), the answer lists what was withheld, and the local tiers got both files."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import GOOD_PY, REFUSAL, TIER_MODELS, add_team, chat_calls, fix_code_action_union
from tests.lsp.test_knowledge_lsp import ask, indexed
from tests.test_frontier import FRONTIER_MODEL, PRICE, frontier_calls

SECRET = "sk_live_51HxQ2c8Rk4Vq7Lm0Nn3Bb6Yy9Tt2Ww5"
PASSWORD = "marigold-sextant-4410"


@pytest_asyncio.fixture
async def frontier_session(tmp_path: Path,
                           ollama_emulator: OllamaEmulator) -> AsyncIterator[tuple[LanguageClient, Path]]:
    add_team(ollama_emulator, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, reply=GOOD_PY))
    ws = tmp_path / "ws"
    (ws / ".git").mkdir(parents=True)
    (ws / ".gitignore").write_text("deploy.local.txt\n", encoding="utf-8")
    (ws / ".env").write_text(f"STRIPE_SECRET_KEY={SECRET}\n", encoding="utf-8")
    (ws / "deploy.local.txt").write_text(f"deploy user: ops, password {PASSWORD}\n", encoding="utf-8")
    (ws / "billing.py").write_text("import os\n\n\ndef key():\n    return os.environ['STRIPE_SECRET_KEY']\n",
                                   encoding="utf-8")
    tiers = "".join(f'[tiers.{tier}]\nmodel = "{model}"\n' for tier, model in TIER_MODELS.items())
    price = "\n".join(f"{k} = {v}" for k, v in PRICE.items())
    cfg = tmp_path / "server.toml"
    cfg.write_text(
        f'[ollama]\nhost = "{ollama_emulator.url}"\n{tiers}'
        f'[tiers.frontier]\nmodel = "{FRONTIER_MODEL}"\nprovider = "openai"\nbase_url = "{ollama_emulator.url}/v1"\n'
        f'[routing]\nrouter = "offline"\nfrontier = "fallback"\n'
        f'[placement]\nledger_path = "{tmp_path / "ledger.sqlite3"}"\n[placement.prices."{FRONTIER_MODEL}"]\n{price}\n'
        f'[index]\ncache_dir = "{tmp_path / "cache"}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    client = await ClientServerConfig(
        server_command=[sys.executable, "-m", "coding_director", "serve", "--config", str(cfg)], server_env=env
    ).start()
    fix_code_action_union(client)
    client.feature("codingDirector/chatEvent")(lambda ls, params: None)
    client.feature("codingDirector/status")(lambda ls, params: None)
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")],
    ))
    yield client, ws
    await client.shutdown_session()
    await client.stop()


async def test_chat_withholds_env_and_ignored_files_from_the_frontier(
        frontier_session: tuple[LanguageClient, Path], ollama_emulator: OllamaEmulator) -> None:
    client, _ws = frontier_session
    await indexed(client)
    result = await ask(client, "Deploys fail to charge: check @file .env and @file deploy.local.txt against billing.py")
    assert result["finalTier"] == "frontier" and result["accepted"]
    assert [a["tier"] for a in result["attempts"]] == ["lead", "senior", "principal", "frontier"]
    assert result["attempts"][-1]["local"] is False and result["costUsd"] > 0
    assert sorted((w["source"], w["action"], w["reason"]) for w in result["withheld"]) == [
        (".env", "removed", "matches '.env*' (placement.withhold)"),
        ("deploy.local.txt", "removed", "ignored by git"),
    ]
    (body,) = frontier_calls(ollama_emulator)
    sent = json.dumps(body)
    assert SECRET not in sent and PASSWORD not in sent
    for tier in ("lead", "senior", "principal"):
        (local,) = chat_calls(ollama_emulator, TIER_MODELS[tier])
        content = local["messages"][-1]["content"]
        assert SECRET in content and PASSWORD in content
