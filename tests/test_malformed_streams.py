"""Malformed model streams escalate and never raise: truncated NDJSON/SSE, invalid UTF-8, a 10 MB
line, a stall, and unexpected exceptions, over both providers (Ollama's NDJSON and the
OpenAI-compatible SSE path) of the emulator; closing a pool waits for the requests using it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import coding_director.backends.openai_compat  # noqa: F401 - imported before any timed attempt (it takes seconds)
import pytest
from coding_director import CodingDirector
from coding_director.backends import BackendPool, MalformedResponse
from coding_director.backends.ollama import OllamaBackend
from coding_director.routing import escalation

from tests.emulator import OllamaEmulator
from tests.helpers import GOOD_PY, TIER_MODELS, add_team, team_settings

PROMPT = "Write a Python function that adds two numbers."
PROVIDERS: dict[str, dict[str, Any]] = {
    "ollama": {},
    "openai": {"provider": "openai"},
}
FAULTS = {
    "truncated": ("malformed", "ended before its final message|JSONDecodeError"),
    "invalid_utf8": ("malformed", "(?i)utf-8"),
    "huge_line": ("malformed", "a line longer than 1048576 bytes"),
    "stall": ("timeout", "timeout"),
}


def lead_settings(emu: OllamaEmulator, provider: str, **lead: Any) -> dict[str, Any]:
    spec = dict(PROVIDERS[provider])
    if provider == "openai":
        spec["base_url"] = emu.url + "/v1"
    return {"tiers": {"lead": {**spec, **lead}}}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_malformed_stream_is_an_error_attempt_and_escalates(
    ollama_emulator: OllamaEmulator, fault: str, provider: str, suite_figures: Callable[[str, str], None]
) -> None:
    add_team(ollama_emulator, lead={"reply": GOOD_PY, "stream_fault": fault, "fault_after_chunks": 2})
    director = CodingDirector(team_settings(ollama_emulator.url, **lead_settings(
        ollama_emulator, provider, timeout_s=3.0 if fault == "stall" else 30.0)))
    try:
        result = await director.aget_assistance(PROMPT)
    finally:
        await director.aclose()
    kind, words = FAULTS[fault]
    lead, senior = result.attempts[0], result.attempts[1]
    assert (lead.tier, lead.outcome, lead.error_kind) == ("lead", "error", kind), lead
    assert re.search(words, lead.reason or ""), lead.reason
    assert lead.first_token_ms is not None  # the good chunks before the fault arrived: the fault decided
    assert (senior.tier, senior.outcome) == ("senior", "accepted")
    assert result.accepted and result.answer == GOOD_PY
    path = "/v1/chat/completions" if provider == "openai" else "/api/chat"
    assert ollama_emulator.calls(path=path, model=TIER_MODELS["lead"])
    suite_figures(
        "malformed streams",
        f"{provider} {fault}: lead {lead.outcome} ({lead.error_kind}) after {lead.latency_ms:.0f} ms, "
        f"{(lead.reason or '')[:70]!r}; senior {senior.outcome}",
    )


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_a_body_that_is_not_json_at_all_escalates(ollama_emulator: OllamaEmulator, provider: str) -> None:
    # `fault_after_chunks=0`: the very first line is half a JSON object.
    add_team(ollama_emulator, lead={"reply": GOOD_PY, "stream_fault": "truncated", "fault_after_chunks": 0})
    director = CodingDirector(team_settings(ollama_emulator.url, **lead_settings(ollama_emulator, provider)))
    try:
        result = await director.aget_assistance(PROMPT)
    finally:
        await director.aclose()
    assert [(a.tier, a.outcome, a.error_kind) for a in result.attempts[:2]] == [
        ("lead", "error", "malformed"), ("senior", "accepted", None)]


async def test_an_unexpected_exception_in_a_backend_is_an_error_attempt(
    ollama_emulator: OllamaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_team(ollama_emulator)
    real = OllamaBackend.chat_stream
    calls = 0

    def flaky(self: OllamaBackend, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in a library")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(OllamaBackend, "chat_stream", flaky)
    director = CodingDirector(team_settings(ollama_emulator.url))
    try:
        result = await director.aget_assistance(PROMPT)
    finally:
        await director.aclose()
    lead = result.attempts[0]
    assert (lead.outcome, lead.error_kind) == ("error", "internal")
    assert "RuntimeError: bug in a library" in (lead.reason or "")
    assert result.final_tier == "senior" and result.accepted


async def test_a_crashing_check_rejects_the_answer_and_escalates(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator)
    answers: list[str] = []

    def crashing(answer: str) -> str | None:
        answers.append(answer)
        if len(answers) == 1:
            raise KeyError("boom")
        return None

    director = CodingDirector(team_settings(ollama_emulator.url))
    try:
        events = [e async for e in director.stream_assistance(PROMPT, extra_checks=(crashing,))]
    finally:
        await director.aclose()
    final = events[-1]
    assert isinstance(final, escalation.Finished)
    assert [(a.tier, a.outcome) for a in final.assistance.attempts] == [("lead", "rejected"), ("senior", "accepted")]
    assert "KeyError" in (final.assistance.attempts[0].reason or "")


async def test_nothing_raises_out_of_aget_assistance(
    ollama_emulator: OllamaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_team(ollama_emulator)

    def broken_escalate(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("escalation bug")

    monkeypatch.setattr("coding_director.engine.escalate", broken_escalate)
    director = CodingDirector(team_settings(ollama_emulator.url))
    try:
        result = await director.aget_assistance(PROMPT)
    finally:
        await director.aclose()
    assert not result.accepted and result.answer == ""
    assert [(a.tier, a.outcome, a.error_kind) for a in result.attempts] == [("engine", "error", "internal")]
    assert "escalation bug" in (result.attempts[0].reason or "")


async def test_checked_stream_rejects_replacement_characters() -> None:
    from coding_director.backends import Chunk, GenerateOptions
    from coding_director.backends.errors import checked_stream

    async def parts() -> Any:
        yield Chunk(text="ok ")
        yield Chunk(text="bad \ufffd")

    with pytest.raises(MalformedResponse, match="UTF-8"):
        async for _chunk in checked_stream(parts(), "http://x", GenerateOptions()):
            pass


async def test_closing_a_pool_waits_for_the_requests_running_on_it(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead={"reply": GOOD_PY, "chunk_delay_ms": 20})
    director = CodingDirector(team_settings(ollama_emulator.url))
    pool: BackendPool = director.pool
    request = asyncio.ensure_future(director.aget_assistance(PROMPT))
    assert await ollama_emulator.wait_for_async(
        lambda: any(c.chunks_sent for c in ollama_emulator.calls(path="/api/chat")), within=30
    )
    assert pool.leases == 1
    closing = asyncio.ensure_future(director.aclose())  # what resetEngine does with the old engine
    await asyncio.sleep(0.05)
    assert not closing.done()  # still waiting for the request
    result = await request
    await closing
    assert result.accepted and result.final_tier == "lead" and result.answer == GOOD_PY
    assert pool.leases == 0
    call = ollama_emulator.calls(path="/api/chat", model=TIER_MODELS["lead"])[0]
    # completed is recorded after the emulator's write_eof, which may follow the client's return
    assert await ollama_emulator.wait_for_async(lambda: call.completed or call.closed_early)
    assert call.completed and not call.closed_early


async def test_checked_stream_bounds_the_characters_per_token() -> None:
    from coding_director.backends import Chunk, GenerateOptions
    from coding_director.backends.errors import checked_stream

    async def parts() -> Any:
        for _ in range(100):
            yield Chunk(text="y" * 1000)  # 100k characters for 16 tokens, in normal-sized lines
        yield Chunk(done=True)

    with pytest.raises(MalformedResponse, match="characters for 16 tokens"):
        async for _chunk in checked_stream(parts(), "http://x", GenerateOptions(num_predict=16)):
            pass
