"""The workspace index through the language server (pytest-lsp over stdio): background indexing
with work done progress, edits seen by @codebase without a save, .gitignore followed."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from coding_director.lsp.convert import to_plain
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.emulator import OllamaEmulator
from tests.helpers import GOOD_PY, TIER_MODELS, add_team, fix_code_action_union

BILLING = '''\
def monthly_total(items):
    """Sum of the item prices for the month."""
    return sum(item.price for item in items)


def apply_discount(total, rate):
    """Reduce the total by a discount rate."""
    return total * (1 - rate)
'''
SHIPPING = '''\
def shipping_cost(weight):
    """Cost of shipping a parcel of this weight, by courier zone."""
    return 4.5 + weight * 0.8
'''


@pytest_asyncio.fixture
async def workspace_session(tmp_path: Path,
                            ollama_emulator: OllamaEmulator) -> AsyncIterator[tuple[LanguageClient, Path]]:
    add_team(ollama_emulator, lead=GOOD_PY)
    ws = tmp_path / "ws"
    (ws / "app").mkdir(parents=True)
    (ws / "app" / "billing.py").write_text(BILLING, encoding="utf-8")
    (ws / "app" / "shipping.py").write_text(SHIPPING, encoding="utf-8")
    tiers = "".join(f'[tiers.{tier}]\nmodel = "{model}"\n' for tier, model in TIER_MODELS.items())
    cfg = tmp_path / "server.toml"
    cfg.write_text(f'[ollama]\nhost = "{ollama_emulator.url}"\n{tiers}[routing]\nrouter = "offline"\n'
                   f'[index]\ncache_dir = "{tmp_path / "cache"}"\ndebounce_ms = 50\n', encoding="utf-8")
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


async def indexed(client: LanguageClient) -> str:
    """Wait for the indexing progress to end; returns its end message."""
    for _ in range(1500):
        for values in client.progress_reports.values():
            begin = values[0] if values else None
            ours = isinstance(begin, types.WorkDoneProgressBegin) and begin.title == "Indexing the workspace"
            if ours and isinstance(values[-1], types.WorkDoneProgressEnd):
                return values[-1].message or ""
        await asyncio.sleep(0.02)
    raise AssertionError("indexing did not finish")


async def ask(client: LanguageClient, prompt: str) -> dict[str, Any]:
    result = await client.protocol.send_request_async("codingDirector/chat", {"chatId": "k", "prompt": prompt})
    return dict(to_plain(result))


async def test_edits_reach_codebase_retrieval_without_a_save(
        workspace_session: tuple[LanguageClient, Path], ollama_emulator: OllamaEmulator) -> None:
    client, ws = workspace_session
    assert await indexed(client) == "2 files, 3 chunks"
    before = await ask(client, "@codebase where is the loyalty points bonus computed?")
    assert before["sources"]  # the workspace code was retrieved, without the edit yet
    # Whichever chain the learned router picks for this question, the answering tier saw the retrieved code.
    answering = TIER_MODELS[before["finalTier"]]
    first = ollama_emulator.calls(path="/api/chat", model=answering)[-1].json["messages"][-1]["content"]
    assert "def apply_discount(total, rate):" in first and "loyalty_bonus" not in first
    uri = (ws / "app" / "billing.py").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=BILLING)))
    # Rewrite apply_discount (lines 6-8) in the editor only.
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=5, character=0), end=types.Position(line=8, character=0)),
            text='def loyalty_bonus(total, points):\n    """Loyalty points bonus added to the total."""\n'
                 "    return total + points * 0.01\n")]))
    after = await ask(client, "@codebase where is the loyalty points bonus computed?")
    assert after["sources"][0] == {"path": "app/billing.py", "startLine": 6, "endLine": 8,
                                   "uri": (ws / "app" / "billing.py").as_uri()}
    answering = TIER_MODELS[after["finalTier"]]
    prompt = ollama_emulator.calls(path="/api/chat", model=answering)[-1].json["messages"][-1]["content"]
    assert "def loyalty_bonus(total, points):" in prompt and "`app/billing.py:6-8`" in prompt
    assert "@codebase" in prompt  # the user's words are passed on unchanged
    assert (ws / "app" / "billing.py").read_text(encoding="utf-8") == BILLING  # nothing was saved


async def test_a_file_added_to_gitignore_disappears_from_results(
        workspace_session: tuple[LanguageClient, Path]) -> None:
    client, ws = workspace_session
    await indexed(client)
    found = await ask(client, "@codebase shipping cost of a parcel by courier zone")
    assert found["sources"] and found["sources"][0]["path"] == "app/shipping.py"
    (ws / ".gitignore").write_text("app/shipping.py\n", encoding="utf-8")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=(ws / ".gitignore").as_uri(), type=types.FileChangeType.Created)]))
    for _ in range(250):
        gone = await ask(client, "@codebase shipping cost of a parcel by courier zone")
        if all(s["path"] != "app/shipping.py" for s in gone["sources"]):
            break
        await asyncio.sleep(0.05)
    assert all(s["path"] != "app/shipping.py" for s in gone["sources"])
    assert any(s["path"] == "app/billing.py" for s in gone["sources"])
