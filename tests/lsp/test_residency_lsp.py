"""The language server warms up the completion model in the background (pytest-lsp over stdio,
the Ollama emulator): initialize and requests are answered while the model loads."""

from __future__ import annotations

from coding_director.messages import SHOW_STATS_COMMAND
from lsprotocol import types

from tests.emulator import OllamaEmulator, RecordedRequest
from tests.helpers import TIER_MODELS, add_team
from tests.lsp.conftest import LspFactory

LEAD = TIER_MODELS["lead"]
FIM = ["completion", "insert"]


def warm_ups(emu: OllamaEmulator) -> list[RecordedRequest]:
    return [r for r in emu.calls(path="/api/generate", model=LEAD) if r.load_only]


async def test_warm_up_does_not_delay_initialize_or_requests(lsp: LspFactory, emu: OllamaEmulator) -> None:
    add_team(emu, lead={"reply": "x", "capabilities": FIM, "load_ms": 30_000})  # a cold load of 30 s
    session = await lsp(emu.url)  # initialize answered, initialized sent
    assert not any(r.completed for r in warm_ups(emu))  # initialize did not wait for the load
    assert await emu.wait_for_async(lambda: bool(warm_ups(emu)), within=30)
    (warm,) = warm_ups(emu)
    assert warm.json["prompt"] == "" and warm.json["keep_alive"] == "1h" and warm.json["options"]["num_ctx"] == 4096
    stats = await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=SHOW_STATS_COMMAND)
    )
    assert "completions" in stats  # answered while the model is still loading
    assert not warm.completed and not warm.closed_early


async def test_the_completion_model_is_loaded_after_start(lsp: LspFactory, emu: OllamaEmulator) -> None:
    add_team(emu, lead={"reply": "x", "capabilities": FIM, "load_ms": 50})
    await lsp(emu.url)
    assert await emu.wait_for_async(lambda: any(r.completed for r in warm_ups(emu)), within=30)
    (runner, _), = emu.scheduler.ps()
    assert runner.model.name == LEAD and runner.session_s == 3600 and runner.num_ctx == 4096
    assert len(warm_ups(emu)) == 1

