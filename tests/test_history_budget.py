"""Conversation budget: a long chat is fitted into the tier's context window and says what it dropped."""

from __future__ import annotations

from coding_director import CodingDirector
from coding_director.backends.base import Message
from coding_director.context import DocumentStore
from coding_director.features.chat import chat_event, run_chat
from coding_director.messages import ChatParams
from coding_director.routing.escalation import Event
from coding_director.routing.history import PER_MESSAGE_TOKENS, fit_history, window_for
from coding_director.tokens import estimate_tokens

from tests.emulator import OllamaEmulator
from tests.helpers import TIER_MODELS, add_team, chat_calls, team_settings


def turns(n: int) -> list[dict[str, str]]:
    history = []
    for i in range(n):
        history.append({"role": "user", "content": f"question {i}: " + "how does the parser handle this? " * 8})
        history.append({"role": "assistant", "content": f"answer {i}: " + "it walks the tree and then... " * 8})
    return history


async def test_a_chat_turn_with_40_earlier_turns_fits_the_window_and_reports_what_it_dropped(
        ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator)
    max_ctx, num_predict = 2048, 256
    settings = team_settings(ollama_emulator.url, tiers={"lead": {"max_ctx": max_ctx, "num_predict": num_predict}})
    director = CodingDirector(settings)
    events: list[Event] = []
    history = turns(40)
    params = ChatParams(chat_id="c1", prompt="Write a Python function that adds two numbers.", history=history)
    try:
        result = await run_chat(director, DocumentStore(), params, events.append)
    finally:
        await director.aclose()
    assert result.accepted and result.final_tier == "lead"
    sent = chat_calls(ollama_emulator, TIER_MODELS["lead"])[0]["messages"]
    tokens = sum(estimate_tokens(m["content"]) + PER_MESSAGE_TOKENS for m in sent)
    assert tokens <= window_for(max_ctx, num_predict)
    assert sent[0]["role"] == "system" and sent[-1]["content"].endswith("adds two numbers.")
    assert sent[1]["content"] == history[0]["content"]  # the first user message is kept
    assert sent[-2]["content"] == history[-1]["content"]  # and the latest turns
    dropped = result.attempts[0].history_dropped
    assert dropped and len(sent) - 2 + len(dropped) == len(history)
    assert dropped == list(range(dropped[0], dropped[-1] + 1)) and dropped[0] == 1  # oldest first, one run
    kept_contents = [m["content"] for m in sent[1:-1]]
    assert kept_contents == [h["content"] for i, h in enumerate(history) if i not in dropped]
    wire = [chat_event("c1", e) for e in events]
    finished = [w for w in wire if w is not None and w.kind == "attemptFinished"]
    assert finished[0].attempt is not None and finished[0].attempt.history_dropped == dropped
    assert finished[0].model_dump(by_alias=True)["attempt"]["historyDropped"] == dropped


def test_short_history_is_kept_whole_and_an_orphan_answer_is_not_kept() -> None:
    system = [Message(role="system", content="s"), Message(role="user", content="now")]
    short = [Message(role="user", content="a"), Message(role="assistant", content="b")]
    assert fit_history(short, system, 1000).dropped == []
    long = [Message(role="user", content="q0" * 10), Message(role="assistant", content="x" * 600),
            Message(role="user", content="q1"), Message(role="assistant", content="y" * 60)]
    fitted = fit_history(long, system, 60)
    assert [m.content[:2] for m in fitted.kept] == ["q0", "q1", "yy"] and fitted.dropped == [1]
    tight = fit_history(long, system, 45)  # room for q0 and one more: "yy" alone would be an orphan
    assert [m.content[:2] for m in tight.kept] == ["q0"] and tight.dropped == [1, 2, 3]
    assert fit_history(long, system, 0).dropped == [0, 1, 2, 3]
    # A system message in the history (an API caller's instruction) is kept (test_api found this).
    with_system = [Message(role="system", content="Be brief."), *short]
    assert [m.content for m in fit_history(with_system, system, 1000).kept] == ["Be brief.", "a", "b"]
