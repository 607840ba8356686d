"""Placement through the language server (pytest-lsp over stdio): with ``routing.frontier =
"fallback"`` and every local tier failing, the frontier endpoint answers a chat request that
mentions the workspace's ``.env`` and a git-ignored file; it never receives either (the emulator's
recorded bodies), the answer lists what was withheld, and the local tiers got both files."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_lsp import LanguageClient

from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import GOOD_PY, REFUSAL, TIER_MODELS, add_team, chat_calls
from tests.lsp.conftest import LspFactory
from tests.lsp.test_knowledge_lsp import ask, indexed
from tests.test_frontier import FRONTIER_MODEL, PRICE, frontier_calls

SECRET = "sk_live_51HxQ2c8Rk4Vq7Lm0Nn3Bb6Yy9Tt2Ww5"
PASSWORD = "marigold-sextant-4410"


async def start(lsp: LspFactory, tmp_path: Path, emu: OllamaEmulator) -> tuple[LanguageClient, Path]:
    add_team(emu, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    emu.add_model(ScriptedModel(FRONTIER_MODEL, reply=GOOD_PY))
    ws = tmp_path / "ws"
    (ws / ".git").mkdir(parents=True)
    (ws / ".gitignore").write_text("deploy.local.txt\n", encoding="utf-8")
    (ws / ".env").write_text(f"STRIPE_SECRET_KEY={SECRET}\n", encoding="utf-8")
    (ws / "deploy.local.txt").write_text(f"deploy user: ops, password {PASSWORD}\n", encoding="utf-8")
    (ws / "billing.py").write_text("import os\n\n\ndef key():\n    return os.environ['STRIPE_SECRET_KEY']\n",
                                   encoding="utf-8")
    price = "\n".join(f"{k} = {v}" for k, v in PRICE.items())
    extra = (f'frontier = "fallback"\n[tiers.frontier]\nmodel = "{FRONTIER_MODEL}"\nprovider = "openai"\n'
             f'base_url = "{emu.url}/v1"\n[placement]\nledger_path = "{tmp_path / "ledger.sqlite3"}"\n'
             f'[placement.prices."{FRONTIER_MODEL}"]\n{price}\n[index]\ncache_dir = "{tmp_path / "cache"}"\n')
    session = await lsp(emu.url, extra_toml=extra, workspace=ws)
    return session.client, ws


async def test_chat_withholds_env_and_ignored_files_from_the_frontier(
        lsp: LspFactory, tmp_path: Path, emu: OllamaEmulator) -> None:
    client, _ws = await start(lsp, tmp_path, emu)
    await indexed(client)
    result = await ask(client, "Deploys fail to charge: check @file .env and @file deploy.local.txt against billing.py")
    assert result["finalTier"] == "frontier" and result["accepted"]
    assert [a["tier"] for a in result["attempts"]] == ["lead", "senior", "principal", "frontier"]
    assert result["attempts"][-1]["local"] is False and result["costUsd"] > 0
    assert sorted((w["source"], w["action"], w["reason"]) for w in result["withheld"]) == [
        (".env", "removed", "matches '.env*' (placement.withhold)"),
        ("deploy.local.txt", "removed", "ignored by git"),
        ("earlier answers", "removed", "local tiers' answers are not quoted: they may quote the withheld files"),
    ]
    (body,) = frontier_calls(emu)
    sent = json.dumps(body)
    assert SECRET not in sent and PASSWORD not in sent
    for tier in ("lead", "senior", "principal"):
        (local,) = chat_calls(emu, TIER_MODELS[tier])
        content = local["messages"][-1]["content"]
        assert SECRET in content and PASSWORD in content
