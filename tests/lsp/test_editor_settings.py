"""Editor settings over LSP. Review examples: one bad value in ``initializationOptions`` was kept
and made every later configuration change fail, silently; custom tier names were snake-cased
(``tiers.fastCoder`` became ``fast_coder``), so a chain naming ``fastCoder`` was rejected."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from tests.emulator import OllamaEmulator
from tests.helpers import TIER_MODELS, add_team
from tests.lsp.conftest import LspFactory
from tests.lsp.test_server import CODE, chat, complete, open_doc


async def test_a_rejected_initialization_value_is_forgotten_and_the_next_valid_layer_applies(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead={"reply": "a + b", "capabilities": ["completion", "insert"]})
    session = await lsp(
        emu.url,
        "[completion]\ndebounce_ms = 10\n",
        init_options={"routing": {"router": "sometimes"}},
        configuration={"completion": {"enabled": False}},
    )
    uri = open_doc(session, tmp_path, text=CODE, name="add.py")
    await asyncio.sleep(0.3)
    assert await complete(session, uri, 1, 11) is None  # the valid workspace layer is in force
    messages = [m.message for m in session.client.messages]
    assert len(messages) == 1 and "routing.router" in messages[0]


async def test_a_rejected_configuration_is_reported_once_then_a_valid_change_applies(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead={"reply": "a + b", "capabilities": ["completion", "insert"]})
    session = await lsp(emu.url, "[completion]\ndebounce_ms = 10\n", configuration={"completion": {"tier": "nobody"}})
    uri = open_doc(session, tmp_path, text=CODE, name="add.py")
    for _ in range(2):  # the same bad value again: not shown twice
        session.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)
    assert (await complete(session, uri, 1, 11)).items[0].insert_text == "a + b"  # defaults in force
    session.client.set_configuration({"completion": {"enabled": False}}, section="codingDirector")
    session.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)
    assert await complete(session, uri, 1, 12) is None
    messages = [m.message for m in session.client.messages]
    assert len(messages) == 1 and "completion.tier" in messages[0], messages


async def test_tier_names_keep_their_spelling(lsp: LspFactory, emu: OllamaEmulator) -> None:
    add_team(emu, lead=None)
    session = await lsp(
        emu.url,
        init_options={
            "tiers": {"fastCoder": {"model": TIER_MODELS["senior"]}},
            "routing": {"general_chain": ["fastCoder"]},
        },
    )
    result = await chat(session, chatId="t", prompt="Explain recursion")
    assert result["finalTier"] == "fastCoder", result
    assert not session.client.messages
