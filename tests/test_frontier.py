"""The frontier tier against the emulator, which serves the local team (Ollama ``/api/chat``) and
the frontier endpoint (OpenAI-compatible ``/v1/chat/completions``) at once: fallback, complex
placement, the daily budget, 429 with Retry-After, costs from the reported token counts, and
nothing leaving the machine with ``routing.frontier = "off"``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from coding_director.backends import HealthTracker
from coding_director.engine import CodingDirector
from coding_director.results import Assistance
from coding_director.routing.ledger import cost_usd
from coding_director.settings import ModelPrice, Settings

from tests.emulator import OllamaEmulator, ScriptedError, ScriptedModel
from tests.helpers import GOOD_PY, REFUSAL, add_team, team_settings

FRONTIER_MODEL = "frontier-m:latest"
PRICE = {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}
PROMPT = "Write a Python function that adds two numbers."


def frontier_settings(url: str, tmp_path: Path, mode: str = "fallback", **placement: Any) -> Settings:
    """The emulator's team plus a frontier tier on its ``/v1`` endpoint, the ledger in ``tmp_path``."""
    return team_settings(
        url,
        tiers={"frontier": {"model": FRONTIER_MODEL, "provider": "openai", "base_url": f"{url}/v1",
                            "api_key_env": "FRONTIER_TEST_KEY"}},
        routing={"frontier": mode},
        placement={"ledger_path": str(tmp_path / "ledger.sqlite3"), "prices": {FRONTIER_MODEL: PRICE}, **placement},
    )


def frontier_calls(emu: OllamaEmulator) -> list[dict[str, Any]]:
    return [r.json for r in emu.calls(path="/v1/chat/completions", model=FRONTIER_MODEL)]


async def ask(director: CodingDirector, prompt: str = PROMPT) -> Assistance:
    try:
        return await director.aget_assistance(prompt)
    finally:
        await director.aclose()


async def test_fallback_answers_when_every_local_tier_fails(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, reply=GOOD_PY))
    result = await ask(CodingDirector(frontier_settings(ollama_emulator.url, tmp_path)))
    assert [(a.tier, a.outcome) for a in result.attempts] == [
        ("lead", "rejected"), ("senior", "rejected"), ("principal", "rejected"), ("frontier", "accepted")]
    assert result.accepted and result.final_tier == "frontier" and "def add(a, b)" in result.answer
    assert result.route.placement == "local" and "fallback" in (result.route.placement_reason or "")
    frontier = result.attempts[-1]
    assert frontier.local is False and all(a.local for a in result.attempts[:-1])
    # The cost comes from the token counts the endpoint reported (it was asked for them).
    (body,) = frontier_calls(ollama_emulator)
    assert body["stream_options"] == {"include_usage": True}
    assert frontier.prompt_tokens and frontier.completion_tokens
    expected = cost_usd(ModelPrice(**PRICE), frontier.prompt_tokens, frontier.completion_tokens)
    assert frontier.cost_usd == pytest.approx(expected) and result.cost_usd == pytest.approx(expected)
    # Local tiers never ask for usage: llama.cpp-style local servers need not support stream_options.
    assert all("stream_options" not in (r.json or {}) for r in ollama_emulator.calls(path="/api/chat"))


async def test_a_daily_cap_of_zero_skips_the_frontier_with_reason_budget(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, reply=GOOD_PY))
    result = await ask(CodingDirector(frontier_settings(ollama_emulator.url, tmp_path, daily_budget_usd=0.0)))
    frontier = result.attempts[-1]
    assert (frontier.tier, frontier.outcome, frontier.error_kind) == ("frontier", "skipped", "budget")
    assert frontier.reason is not None and frontier.reason.startswith("budget")
    assert "daily cap of $0.00" in frontier.reason
    assert frontier_calls(ollama_emulator) == [] and not result.accepted
    assert result.withheld == []  # nothing was sent, so nothing needs reporting


async def test_spend_adds_up_until_the_cap_stops_the_frontier(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, reply=GOOD_PY))
    first = await ask(CodingDirector(frontier_settings(ollama_emulator.url, tmp_path)))
    spent = first.cost_usd
    assert spent is not None and spent > 0
    # A cap just above one answer's real cost but below the worst case of the next: the next is skipped.
    cap = spent * 1.5
    second = await ask(CodingDirector(frontier_settings(ollama_emulator.url, tmp_path, daily_budget_usd=cap)))
    assert second.attempts[-1].error_kind == "budget" and f"today's spend ${spent:.4f}" in (
        second.attempts[-1].reason or "")
    assert len(frontier_calls(ollama_emulator)) == 1


async def test_429_with_retry_after_cools_the_frontier_for_that_long(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    calls = {"n": 0}

    def reply(_request: object) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ScriptedError("Rate limit reached for requests", status=429, headers={"Retry-After": "30"})
        return GOOD_PY

    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, reply=reply))
    now = [1000.0]
    director = CodingDirector(frontier_settings(ollama_emulator.url, tmp_path))
    director.health = HealthTracker(allowed_fails=5, cooldown_s=2.0, clock=lambda: now[0])
    try:
        limited = await director.aget_assistance(PROMPT)
        attempt = limited.attempts[-1]
        assert (attempt.tier, attempt.outcome, attempt.error_kind) == ("frontier", "error", "rate_limited")
        assert "429" in (attempt.reason or "") and "Retry-After 30 s" in (attempt.reason or "")
        # allowed_fails is 5 and cooldown_s 2: the cooldown is the server's 30 s, at once.
        now[0] += 29
        cooling = (await director.aget_assistance(PROMPT)).attempts[-1]
        assert cooling.outcome == "skipped" and "cooling down for 1 s more" in (cooling.reason or "")
        assert len(frontier_calls(ollama_emulator)) == 1
        now[0] += 2
        again = await director.aget_assistance(PROMPT)
        assert again.final_tier == "frontier" and again.accepted
        assert len(frontier_calls(ollama_emulator)) == 2
    finally:
        await director.aclose()


async def test_complex_sends_requests_above_the_threshold_to_the_frontier_first(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator)
    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, reply=GOOD_PY))
    hard = frontier_settings(ollama_emulator.url, tmp_path, mode="complex", threshold=0.1, threshold_min=0.0)
    result = await ask(CodingDirector(hard))
    assert result.route.placement == "frontier" and [a.tier for a in result.attempts] == ["frontier"]
    assert result.route.complexity is not None and result.route.complexity >= 0.1
    easy = frontier_settings(ollama_emulator.url, tmp_path, mode="complex", threshold=0.9)
    local = await ask(CodingDirector(easy))
    assert local.route.placement == "local" and [a.tier for a in local.attempts] == ["lead"]
    assert "< threshold 0.90" in (local.route.placement_reason or "")


async def test_off_never_calls_a_configured_frontier_tier(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, reply=GOOD_PY))
    settings = frontier_settings(ollama_emulator.url, tmp_path, mode="off")
    result = await ask(CodingDirector(settings))
    assert [a.tier for a in result.attempts] == ["lead", "senior", "principal"]
    assert result.route.placement == "local" and "nothing leaves this machine" in (result.route.placement_reason or "")
    assert frontier_calls(ollama_emulator) == []
    assert not (tmp_path / "ledger.sqlite3").exists()  # off: not even the ledger is touched


def test_retry_after_in_seconds_dates_and_milliseconds() -> None:
    from coding_director.backends.openai_compat import retry_after_seconds

    assert retry_after_seconds({"Retry-After": "30"}) == 30.0
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_after_seconds({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({"Retry-After": "1e9"}) is None  # beyond a day: not believed
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412490.0) == 0.0
    assert retry_after_seconds({}) is None


def test_a_requested_cooldown_is_not_shortened_by_later_errors() -> None:
    now = [0.0]
    health = HealthTracker(allowed_fails=0, cooldown_s=5.0, clock=lambda: now[0])
    health.cool_down("frontier", 60.0, "rate limited (429)")
    assert health.cooling("frontier") == "cooling down for 60 s more: rate limited (429)"
    health.cool_down("frontier", 10.0, "rate limited (429) again")
    now[0] = 59.0
    assert health.cooling("frontier") is not None
    now[0] = 61.0
    assert health.cooling("frontier") is None
    health.record_error("frontier", "server error (500)")
    assert "after 3 errors: server error (500)" in (health.cooling("frontier") or "")


async def test_a_missing_api_key_names_the_variable_to_set(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=REFUSAL, senior=REFUSAL, principal=REFUSAL)
    ollama_emulator.add_model(ScriptedModel(FRONTIER_MODEL, status=401, http_error="Missing Authentication header"))
    result = await ask(CodingDirector(frontier_settings(ollama_emulator.url, tmp_path)))
    frontier = result.attempts[-1]
    assert (frontier.outcome, frontier.error_kind) == ("error", "bad_request") and "401" in (frontier.reason or "")
    assert frontier.fix == "export FRONTIER_TEST_KEY=<your API key> before starting Coding Director"
    assert frontier.cost_usd == 0.0  # refused before any token: nothing billed, nothing recorded
