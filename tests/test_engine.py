"""The engine end to end against the Ollama emulator: every escalation trigger, cooldowns,
deadlines, best-effort answers, the router model and both providers."""

from __future__ import annotations

import asyncio
import contextlib

from coding_director import CodingDirector
from coding_director.backends import HealthTracker
from coding_director.routing.escalation import AttemptStarted, Finished, TextDelta

from tests.emulator import OllamaEmulator
from tests.helpers import BAD_PY, GOOD_PY, REFUSAL, TIER_MODELS, add_team, chat_calls, closed_port_url, team_settings

GENERAL = "Write a Python function that adds two numbers."
BLACK_SCHOLES = "Provide a Python implementation of the Black-Scholes formula."


def outcomes(result: object) -> list[tuple[str, str]]:
    return [(a.tier, a.outcome) for a in result.attempts]  # type: ignore[attr-defined]


async def ask(emu: OllamaEmulator, prompt: str = GENERAL, **overrides: object):  # type: ignore[no-untyped-def]
    director = CodingDirector(team_settings(emu.url, **overrides))
    try:
        return await director.aget_assistance(prompt)
    finally:
        await director.aclose()


async def test_valid_answer_is_accepted_by_the_lead(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator)
    result = await ask(ollama_emulator)
    assert result.accepted and result.final_tier == "lead"
    assert outcomes(result) == [("lead", "accepted")]
    assert result.answer == GOOD_PY
    assert result.attempts[0].latency_ms > 0 and result.attempts[0].completion_tokens


async def test_unparsable_code_escalates_with_evidence(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    result = await ask(ollama_emulator)
    assert outcomes(result) == [("lead", "rejected"), ("senior", "accepted")]
    reason = result.attempts[0].reason
    assert reason and "does not parse" in reason and "python" in reason
    assert result.final_tier == "senior" and result.answer == GOOD_PY
    # The senior saw why the lead failed, and the lead's answer.
    senior_prompt = chat_calls(ollama_emulator, TIER_MODELS["senior"])[0]["messages"][-1]["content"]
    assert "lead" in senior_prompt and "does not parse" in senior_prompt and "def add(a, b:" in senior_prompt
    lead_prompt = chat_calls(ollama_emulator, TIER_MODELS["lead"])[0]["messages"][-1]["content"]
    assert "rejected" not in lead_prompt


async def test_refusal_and_empty_answers_escalate(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=REFUSAL, senior="   ")
    result = await ask(ollama_emulator)
    assert outcomes(result) == [("lead", "rejected"), ("senior", "rejected"), ("principal", "accepted")]
    assert result.attempts[0].reason.startswith("refusal")
    assert result.attempts[1].reason == "empty answer"


async def test_missing_model_escalates_with_404(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=None)
    result = await ask(ollama_emulator)
    assert outcomes(result) == [("lead", "error"), ("senior", "accepted")]
    assert "not found (404)" in result.attempts[0].reason
    assert result.attempts[0].fix == f"ollama pull {TIER_MODELS['lead']}"
    assert result.attempts[0].error_kind == "not_found" and result.attempts[1].error_kind is None


async def test_timeout_escalates(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead={"reply": GOOD_PY, "first_token_delay_ms": 3000})
    result = await ask(ollama_emulator, tiers={"lead": {"timeout_s": 0.3}})
    assert outcomes(result) == [("lead", "error"), ("senior", "accepted")]
    assert result.attempts[0].reason.startswith("timeout") and result.attempts[0].error_kind == "timeout"
    # The abandoned request was closed on the emulator's side, not left running.
    assert ollama_emulator.wait_for(lambda: ollama_emulator.calls(path="/api/chat", model="lead-m")[0].closed_early)


async def test_error_mid_stream_escalates(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead={"reply": GOOD_PY, "error_after_chunks": 3, "error_message": "GPU fell over"})
    result = await ask(ollama_emulator)
    assert outcomes(result) == [("lead", "error"), ("senior", "accepted")]
    assert "mid-stream" in result.attempts[0].reason and "GPU fell over" in result.attempts[0].reason


async def test_server_error_escalates(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead={"status": 500, "http_error": "out of memory"})
    result = await ask(ollama_emulator)
    assert outcomes(result) == [("lead", "error"), ("senior", "accepted")]
    assert "500" in result.attempts[0].reason and "out of memory" in result.attempts[0].reason


async def test_all_tiers_fail_returns_best_answer_with_every_reason(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=BAD_PY, senior=REFUSAL, principal="")
    result = await ask(ollama_emulator)
    assert not result.accepted
    assert outcomes(result) == [("lead", "rejected"), ("senior", "rejected"), ("principal", "rejected")]
    assert all(a.reason for a in result.attempts)
    # An answer that only failed the code check beats a refusal and an empty answer.
    assert result.answer == BAD_PY and result.final_tier == "lead"


async def test_max_attempts_bounds_the_chain(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=BAD_PY, senior=BAD_PY)
    result = await ask(ollama_emulator, routing={"max_attempts": 2})
    assert outcomes(result) == [("lead", "rejected"), ("senior", "rejected"), ("principal", "skipped")]
    assert "maximum of 2 attempts" in result.attempts[2].reason
    assert not chat_calls(ollama_emulator, TIER_MODELS["principal"])


async def test_request_deadline_bounds_the_whole_request(ollama_emulator: OllamaEmulator) -> None:
    slow = {"reply": GOOD_PY, "first_token_delay_ms": 5000}
    add_team(ollama_emulator, lead=slow, senior=slow, principal=slow)
    result = await ask(ollama_emulator, routing={"request_timeout_s": 0.4})
    assert result.attempts[0].outcome == "error" and result.attempts[0].reason.startswith("timeout")
    assert result.attempts[-1].outcome == "skipped" and "deadline" in result.attempts[-1].reason
    assert not result.accepted


async def test_cooldown_skips_a_failing_tier_then_retries_it(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=None)
    now = [1000.0]
    director = CodingDirector(team_settings(ollama_emulator.url, health={"allowed_fails": 1, "cooldown_s": 30}))
    director.health = HealthTracker(1, 30, clock=lambda: now[0])
    try:
        first = await director.aget_assistance(GENERAL)
        second = await director.aget_assistance(GENERAL)
        assert outcomes(first)[0] == ("lead", "error") and outcomes(second)[0] == ("lead", "error")
        third = await director.aget_assistance(GENERAL)
        assert outcomes(third)[0] == ("lead", "skipped")
        assert "cooling down" in third.attempts[0].reason and "404" in third.attempts[0].reason
        assert len(chat_calls(ollama_emulator, TIER_MODELS["lead"])) == 2
        now[0] += 31  # cooldown over: the lead is tried again, and now it is there
        add_team(ollama_emulator, lead=GOOD_PY, router=None, math=None, senior=None, principal=None)
        fourth = await director.aget_assistance(GENERAL)
        assert outcomes(fourth) == [("lead", "accepted")]
    finally:
        await director.aclose()


async def test_dead_endpoint_is_tried_once_per_request() -> None:
    director = CodingDirector(team_settings(closed_port_url()))
    try:
        result = await director.aget_assistance(GENERAL)
    finally:
        await director.aclose()
    assert [a.outcome for a in result.attempts] == ["error", "skipped", "skipped"]
    assert "cannot reach Ollama" in result.attempts[0].reason
    assert [a.error_kind for a in result.attempts] == ["unreachable"] * 3
    assert "ollama serve" in (result.attempts[0].fix or "")
    assert all("endpoint unreachable" in a.reason for a in result.attempts[1:])
    assert result.answer == "" and result.final_tier is None


async def test_math_prompt_routes_to_the_math_chain(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator)
    result = await ask(ollama_emulator, BLACK_SCHOLES)
    assert result.route.domain == "math" and result.route.intent == "generate"
    assert outcomes(result) == [("math", "accepted")]
    system = chat_calls(ollama_emulator, TIER_MODELS["math"])[0]["messages"][0]["content"]
    assert "mathematics" in system


async def test_num_ctx_and_keep_alive_are_sent(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    long_prompt = GENERAL + " " + "x" * 9000
    await ask(ollama_emulator, long_prompt)
    body = chat_calls(ollama_emulator, TIER_MODELS["lead"])[0]
    assert body["options"]["num_ctx"] >= 4096  # 9 kB of prompt does not fit Ollama's 2048 default
    # lead is also the completion tier: a chat on it keeps the completion model's longer keep_alive
    assert body["keep_alive"] == "1h"
    assert chat_calls(ollama_emulator, TIER_MODELS["senior"])[0]["keep_alive"] == "5m"


async def test_streaming_reports_tiers_and_text_in_order(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    director = CodingDirector(team_settings(ollama_emulator.url))
    events = [e async for e in director.stream_assistance(GENERAL)]
    await director.aclose()
    started = [e.tier for e in events if isinstance(e, AttemptStarted)]
    assert started == ["lead", "senior"]
    senior_text = "".join(e.text for e in events if isinstance(e, TextDelta) and e.tier == "senior")
    assert senior_text == GOOD_PY
    assert isinstance(events[-1], Finished)


async def test_cancelling_a_request_closes_the_model_stream(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead={"reply": "word " * 200, "chunk_delay_ms": 20})
    director = CodingDirector(team_settings(ollama_emulator.url))
    got_text = asyncio.Event()

    async def consume() -> None:
        async for event in director.stream_assistance("Explain recursion"):
            if isinstance(event, TextDelta):
                got_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_text.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await director.aclose()
    call = ollama_emulator.calls(path="/api/chat", model="lead-m")[0]
    assert await ollama_emulator.wait_for_async(lambda: call.closed_early)
    assert not call.completed


async def test_openai_compatible_provider(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=None)
    v1 = {"provider": "openai", "base_url": ollama_emulator.url + "/v1"}
    result = await ask(ollama_emulator, tiers={"lead": v1, "senior": {**v1}})
    assert outcomes(result) == [("lead", "error"), ("senior", "accepted")]
    assert "not found (404)" in result.attempts[0].reason
    assert ollama_emulator.calls(path="/v1/chat/completions", model="senior-m")
    assert result.answer == GOOD_PY


async def test_explain_intent_does_not_require_code(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead="This function adds two numbers.")
    result = await ask(ollama_emulator, "Explain what this function does")
    assert result.route.intent == "explain" and outcomes(result) == [("lead", "accepted")]


def test_blocking_api_works_as_in_the_readme(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator)
    director = CodingDirector(team_settings(ollama_emulator.url))
    result = director.get_assistance(BLACK_SCHOLES)
    assert result.accepted and result.final_tier == "math"


NUMERICAL_FILE = (
    "import numpy as np\n\n\ndef whiten(X):\n    C = np.cov(X, rowvar=False)\n"
    "    vals, vecs = np.linalg.eigh(C)\n    return X @ vecs / np.sqrt(vals)\n"
)
WEB_FILE = (
    "from flask import Flask, jsonify\n\napp = Flask(__name__)\n\n\n@app.get('/health')\n"
    "def health():\n    return jsonify(ok=True)\n"
)


async def test_code_actions_route_by_the_code_and_its_imports(ollama_emulator: OllamaEmulator) -> None:
    """Explain/Fix on numerical code go to the math chain: the engine passes the focus code and the
    file's imports (``CodeContext.imports``) to the classifier; the same prompt on web code does not."""
    from coding_director.context import DocumentStore, extract

    add_team(ollama_emulator)
    store = DocumentStore()
    store.open("file:///w/stats.py", NUMERICAL_FILE, 1, "python")
    store.open("file:///w/app.py", WEB_FILE, 1, "python")
    numeric = extract(store, "file:///w/stats.py", (4, 4), (6, 30))
    web = extract(store, "file:///w/app.py", (6, 4), (7, 20))
    assert "import numpy as np" in numeric.imports[0] and "np." in numeric.focus.text
    director = CodingDirector(team_settings(ollama_emulator.url))
    try:
        for intent in ("explain", "fix"):
            on_numpy = await director.aget_assistance("Explain this code.", numeric, intent=intent)  # type: ignore[arg-type]
            on_flask = await director.aget_assistance("Explain this code.", web, intent=intent)  # type: ignore[arg-type]
            assert (on_numpy.route.domain, on_numpy.final_tier) == ("math", "math")
            assert (on_flask.route.domain, on_flask.final_tier) == ("general", "lead")
    finally:
        await director.aclose()
