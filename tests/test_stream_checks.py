"""Rejection while streaming (issue 10, item 7): the checks that can decide early run on the stream,
the model stream is closed the moment one fails, the attempt records why and how far it got, and
long legitimate answers are never cut."""

from __future__ import annotations

import pytest
from coding_director import CodingDirector
from coding_director.features.chat import chat_event
from coding_director.results import Attempt
from coding_director.routing.escalation import AttemptFinished, TextDelta
from coding_director.routing.verify import StreamMonitor, Target, verify

from tests.emulator import OllamaEmulator, split_reply
from tests.helpers import GOOD_PY, TIER_MODELS, add_team, team_settings

LOOP_LINE = "The function returns the sum of the two numbers.\n"
PHRASE_LOOP = "and then the value of x is the value of x "
GENERAL = "Write a Python function that adds two numbers."

#: A long, legitimate answer: a Markdown table of 60 similar rows.
LONG_TABLE = (
    "| n | n squared | n cubed | parity |\n|---|---|---|---|\n"
    + "".join(f"| {n} | {n * n} | {n**3} | {'even' if n % 2 == 0 else 'odd'} |\n" for n in range(1, 61))
    + "\nEach row lists n, its square, its cube and whether it is even."
)
#: Repeated-but-valid code: many similar test cases.
SIMILAR_TESTS = (
    "Here are the tests:\n```python\nimport pytest\n\nfrom operator import add\n\n\n"
    + "".join(
        f"def test_add_{a}_and_{b}() -> None:\n    assert add({a}, {b}) == {a + b}\n\n\n"
        for a, b in ((i, i * 3 % 17) for i in range(40))
    )
    + "@pytest.mark.parametrize(('a', 'b', 'total'), [\n"
    + "".join(f"    ({i}, {i + 1}, {2 * i + 1}),\n" for i in range(40))
    + "])\ndef test_add_many(a: int, b: int, total: int) -> None:\n    assert add(a, b) == total\n```\n"
)


def feed_all(monitor: StreamMonitor, text: str) -> str | None:
    """Feed ``text`` one word-token at a time, as a model streams it; the first reason, if any."""
    for piece in split_reply(text):
        reason = monitor.feed(piece)
        if reason:
            return reason
    return None


# -- the monitor on its own ---------------------------------------------------------------------
def test_a_line_loop_is_rejected_after_a_few_lines() -> None:
    monitor = StreamMonitor(Target(intent="explain"), max_tokens=1024)
    reason = feed_all(monitor, LOOP_LINE * 200)
    assert reason and reason.startswith("generation loop") and "sum of the two numbers" in reason
    assert monitor.chunks < 120  # 200 lines of 10 tokens were on their way


def test_a_loop_holding_a_lone_surrogate_is_still_judged() -> None:
    """A model's JSON may escape a lone surrogate (``"\\ud800"``); the loop checks compress the
    answer's UTF-8 bytes and raised ``UnicodeEncodeError`` on it instead of judging it."""
    monitor = StreamMonitor(Target(intent="explain"), max_tokens=1024)
    reason = feed_all(monitor, "Sure. " + (PHRASE_LOOP + "\ud800 ") * 100)
    assert reason and reason.startswith("generation loop")
    assert (verify("\ud800 " + PHRASE_LOOP * 60, Target(intent="explain")) or "").startswith("generation loop")


def test_a_phrase_loop_without_newlines_is_rejected_by_compression() -> None:
    monitor = StreamMonitor(Target(intent="explain"), max_tokens=1024)
    reason = feed_all(monitor, "Sure. " + PHRASE_LOOP * 100)
    assert reason and "compresses to" in reason
    assert monitor.chars < 1200


@pytest.mark.parametrize(
    ("answer", "intent"),
    [(LONG_TABLE, "question"), (SIMILAR_TESTS, "test"), (GOOD_PY * 3, "generate")],
    ids=["table", "similar-tests", "short"],
)
def test_long_legitimate_answers_are_not_cut(answer: str, intent: str) -> None:
    target = Target(intent=intent, language="python")
    assert feed_all(StreamMonitor(target, max_tokens=4096), answer) is None
    assert verify(answer, target) is None  # and the complete answer is accepted too


def test_an_echo_of_the_request_is_rejected_early() -> None:
    given = "\n".join(f"This is line number {i} of the code context given to the model." for i in range(30))
    monitor = StreamMonitor(Target(intent="explain", prompt_text=given), max_tokens=1024)
    reason = feed_all(monitor, given + "\n")
    assert reason and reason.startswith("the answer echoes the request: 6 of 6 lines")


def test_a_rambling_refusal_is_rejected_early_but_a_refusal_with_code_is_not() -> None:
    refusal = "I'm sorry, but I can't help with that. " + " ".join(f"Reason {i} is policy." for i in range(200))
    monitor = StreamMonitor(Target(intent="generate"), max_tokens=4096)
    reason = feed_all(monitor, refusal)
    assert reason and reason.startswith("refusal: ") and monitor.chars < 900
    notes = " ".join(f"Note {i}: add() accepts {i} and {i * i} alike." for i in range(40))
    with_code = "I can't run it, but here is the code:\n" + GOOD_PY + notes
    assert feed_all(StreamMonitor(Target(intent="generate"), max_tokens=4096), with_code) is None


def test_runaway_length_is_rejected() -> None:
    monitor = StreamMonitor(Target(intent="explain"), max_tokens=20)
    words = " ".join(f"w{i}x{i * 7}" for i in range(100))
    reason = feed_all(monitor, words)
    assert reason and reason.startswith("runaway length: 37 chunks streamed, more than num_predict = 20")
    monitor = StreamMonitor(Target(intent="explain"), max_tokens=4)
    assert (monitor.feed("x" * 65) or "").startswith("runaway length: 65 characters")


# -- end to end against the emulator ------------------------------------------------------------
LOOPING = {"reply": LOOP_LINE, "loop": True, "chunk_delay_ms": 2}


async def run(emu: OllamaEmulator, prompt: str = GENERAL, **overrides: object):  # type: ignore[no-untyped-def]
    director = CodingDirector(team_settings(emu.url, **overrides))
    try:
        events = [e async for e in director.stream_assistance(prompt)]
    finally:
        await director.aclose()
    return events


@pytest.mark.parametrize("provider", ["ollama", "openai"])
async def test_every_tier_looping_ends_early_with_every_stream_closed(
    ollama_emulator: OllamaEmulator, provider: str
) -> None:
    add_team(ollama_emulator, lead=LOOPING, senior=LOOPING, principal=LOOPING)
    tiers = {}
    if provider == "openai":
        v1 = {"provider": "openai", "base_url": ollama_emulator.url + "/v1"}
        tiers = {"lead": v1, "senior": dict(v1), "principal": dict(v1)}
    events = await run(ollama_emulator, tiers=tiers)
    result = events[-1].assistance  # type: ignore[attr-defined]
    attempts = result.attempts
    assert [(a.tier, a.outcome, a.stopped_early) for a in attempts] == [
        ("lead", "rejected", True),
        ("senior", "rejected", True),
        ("principal", "rejected", True),
    ]
    for a in attempts:
        assert a.reason and a.reason.startswith("generation loop: only ") and "stopped after" in a.reason
        assert a.reason.endswith(f"{a.completion_tokens} tokens)")
        assert a.completion_tokens is not None and 0 < a.completion_tokens < 1024 // 8  # num_predict is 1024
    # The streamed text was discarded: it is not offered as the best answer.
    assert not result.accepted and result.answer == "" and result.final_tier is None
    path = "/v1/chat/completions" if provider == "openai" else "/api/chat"
    for tier in ("lead", "senior", "principal"):
        (call,) = ollama_emulator.calls(path=path, model=TIER_MODELS[tier])
        assert await ollama_emulator.wait_for_async(lambda c=call: c.closed_early)  # type: ignore[misc]
        assert not call.completed and call.chunks_sent < 1024
    # The next tier was told why the previous one was stopped.
    senior = ollama_emulator.calls(path=path, model=TIER_MODELS["senior"])[0].json
    assert "lead" in senior["messages"][-1]["content"] and "generation loop" in senior["messages"][-1]["content"]


async def test_a_loop_then_a_good_answer(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=LOOPING)
    events = await run(ollama_emulator)
    result = events[-1].assistance  # type: ignore[attr-defined]
    assert [(a.tier, a.outcome) for a in result.attempts] == [("lead", "rejected"), ("senior", "accepted")]
    assert result.answer == GOOD_PY
    finished = [e.attempt for e in events if isinstance(e, AttemptFinished)]
    wire = chat_event("c1", AttemptFinished(finished[0]))
    assert wire is not None and wire.discarded and wire.attempt and wire.attempt.stopped_early
    later = chat_event("c1", AttemptFinished(finished[1]))
    assert later is not None and not later.discarded
    # The loop's text was streamed before it was discarded.
    assert any(isinstance(e, TextDelta) and e.tier == "lead" for e in events)


async def test_a_long_legitimate_answer_streams_to_the_end(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=SIMILAR_TESTS)
    events = await run(ollama_emulator, "Write pytest tests for add in Python", tiers={"lead": {"num_predict": 4096}})
    result = events[-1].assistance  # type: ignore[attr-defined]
    assert [(a.tier, a.outcome, a.stopped_early) for a in result.attempts] == [("lead", "accepted", False)]
    assert result.answer == SIMILAR_TESTS
    assert ollama_emulator.calls(path="/api/chat", model=TIER_MODELS["lead"])[0].completed


async def test_a_server_ignoring_num_predict_is_stopped(ollama_emulator: OllamaEmulator) -> None:
    words = " ".join(f"w{i}x{i * 7}" for i in range(400))
    # 10 ms a chunk: the emulator is still writing (400 chunks, 4 s) when the client stops after 67, so
    # the stream is seen closed; without a delay the whole answer fits in the socket buffers at once.
    add_team(ollama_emulator, lead={"reply": words, "ignore_num_predict": True, "chunk_delay_ms": 10})
    events = await run(ollama_emulator, "Explain recursion", tiers={"lead": {"num_predict": 50}})
    first = events[-1].assistance.attempts[0]  # type: ignore[attr-defined]
    assert first.outcome == "rejected" and first.stopped_early
    assert first.reason.startswith("runaway length: 67 chunks streamed, more than num_predict = 50")
    call = ollama_emulator.calls(path="/api/chat", model=TIER_MODELS["lead"])[0]
    assert await ollama_emulator.wait_for_async(lambda: call.closed_early)


async def test_stream_checks_can_be_turned_off(ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead={"reply": LOOP_LINE, "loop": True})
    events = await run(ollama_emulator, checks={"stream": False}, tiers={"lead": {"num_predict": 200}})
    first = events[-1].assistance.attempts[0]  # type: ignore[attr-defined]
    assert first.outcome == "rejected" and not first.stopped_early and first.reason.startswith("generation loop")
    assert first.completion_tokens == 200  # read to its limit
    assert ollama_emulator.calls(path="/api/chat", model=TIER_MODELS["lead"])[0].completed


def test_attempt_defaults_are_not_stopped_early() -> None:
    assert Attempt(tier="lead", model="m", outcome="accepted").stopped_early is False
