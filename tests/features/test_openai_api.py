"""The OpenAI API's translation functions, without HTTP: requests to engine calls, engine events to
chunks (per-attempt buffering), and the error rules."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from coding_director.features.openai_api import (
    ApiError,
    ChatCompletionRequest,
    ChatStreamTranslator,
    CompletionRequestIn,
    chat_call,
    completion_call,
    decisive_events,
    resolve_model,
    unavailable,
)
from coding_director.results import Assistance, Attempt, RouteDecision
from coding_director.routing.escalation import AttemptFinished, AttemptStarted, Event, Finished, TextDelta
from coding_director.settings import load_settings

ROUTE = RouteDecision(domain="general", intent="generate", confidence=0.9, decided_by="offline")
SETTINGS = load_settings(routing={"router": "offline"})


def chat(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "coding-director", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


def test_models_resolve_to_a_pinned_tier_or_the_team() -> None:
    assert resolve_model(SETTINGS, "coding-director") is None
    assert resolve_model(SETTINGS, "coding-director/senior") == "senior"
    for name in ("coding-director/", "coding-director/nobody", "gpt-4o", "senior"):
        with pytest.raises(ApiError) as caught:
            resolve_model(SETTINGS, name)
        assert caught.value.status == 404 and caught.value.code == "model_not_found"


def test_chat_call_maps_messages_and_sampling() -> None:
    request = chat(
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "assistant", "content": [{"type": "text", "text": "Earlier "}, {"type": "text", "text": "one"}]},
            {"role": "user", "content": "Now this"},
        ],
        max_tokens=50,
        max_completion_tokens=60,
        temperature=0.3,
        stop="###",
        model="coding-director/lead",
    )
    call = chat_call(SETTINGS, request)
    assert call.prompt == "Now this" and call.chain == ["lead"]
    assert [(m.role, m.content) for m in call.history] == [("system", "Be brief."), ("assistant", "Earlier one")]
    assert (call.sampling.max_tokens, call.sampling.temperature, call.sampling.stop) == (60, 0.3, ("###",))


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"messages": [{"role": "assistant", "content": "x"}]}, "last message must be the user's"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "only text content parts"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4 stop sequences"),
    ],
)
def test_chat_call_rejects_what_the_engine_cannot_take(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(ApiError) as caught:
        chat_call(SETTINGS, chat(**fields))
    assert caught.value.status == 400 and needle in caught.value.message


async def test_only_decisive_events_reach_the_api() -> None:
    async def events() -> AsyncGenerator[Event]:
        yield AttemptStarted("lead", "l")
        yield TextDelta("lead", "a")
        yield TextDelta("lead", "b")
        yield AttemptFinished(Attempt(tier="lead", model="l", outcome="accepted"))
        yield Finished(Assistance(answer="ab", route=ROUTE, attempts=[], final_tier="lead", accepted=True))

    streamed = [e async for e in decisive_events(events(), stream=True)]
    assert [type(e).__name__ for e in streamed] == ["TextDelta", "Finished"]
    whole = [e async for e in decisive_events(events(), stream=False)]
    assert [type(e).__name__ for e in whole] == ["Finished"]


def test_stream_translator_never_sends_a_rejected_attempt() -> None:
    translator = ChatStreamTranslator("chatcmpl-1", "coding-director", 0, include_usage=True)
    rejected = Attempt(tier="lead", model="l", outcome="rejected", reason="does not parse", completion_tokens=3)
    accepted = Attempt(tier="senior", model="s", outcome="accepted", completion_tokens=2, prompt_tokens=10)
    events = [
        AttemptStarted("lead", "l"),
        TextDelta("lead", "def f(:"),
        AttemptFinished(rejected),
        AttemptStarted("senior", "s"),
        TextDelta("senior", "def f():"),
        TextDelta("senior", " pass"),
        AttemptFinished(accepted),
    ]
    assert all(translator.on_event(e) == [] for e in events)  # nothing before the decision
    result = Assistance(
        answer="def f(): pass", route=ROUTE, attempts=[rejected, accepted], final_tier="senior", accepted=True
    )
    chunks = translator.on_event(Finished(result))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == ["def f(): pass"]
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-2].coding_director is None
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens == 15
    assert last.coding_director is not None and last.coding_director.final_tier == "senior"
    dumped = last.model_dump(mode="json", exclude_none=True)
    assert dumped["coding_director"]["finalTier"] == "senior"  # camelCase inside, snake_case outside


def test_stream_translator_sends_the_best_answer_when_none_is_accepted() -> None:
    translator = ChatStreamTranslator("chatcmpl-1", "coding-director", 0)
    attempt = Attempt(tier="lead", model="l", outcome="rejected", reason="refusal")
    for event in (AttemptStarted("lead", "l"), TextDelta("lead", "I can't"), AttemptFinished(attempt)):
        translator.on_event(event)
    result = Assistance(answer="I can't", route=ROUTE, attempts=[attempt], final_tier="lead", accepted=False)
    chunks = translator.finish(result)
    assert chunks[0].choices[0].delta.content == "I can't"
    assert chunks[-1].coding_director is not None and chunks[-1].coding_director.accepted is False


def test_unavailable_only_when_no_tier_produced_anything() -> None:
    down = Attempt(tier="lead", model="l", outcome="error", reason="unreachable", error_kind="unreachable", fix="x")
    skipped = Attempt(tier="senior", model="s", outcome="skipped", reason="endpoint unreachable")
    nothing = Assistance(answer="", route=ROUTE, attempts=[down, skipped], final_tier=None, accepted=False)
    error = unavailable(nothing)
    assert error is not None and error.status == 503 and "Fix: x" in error.message
    rejected = Attempt(tier="lead", model="l", outcome="rejected", reason="empty answer")
    empty = Assistance(answer="", route=ROUTE, attempts=[rejected], final_tier=None, accepted=False)
    assert unavailable(empty) is None


def test_completion_call_defaults_to_the_completion_tier() -> None:
    call = completion_call(SETTINGS, CompletionRequestIn(model="coding-director", prompt=["x = "], suffix="\n"))
    assert (call.tier, call.prefix, call.suffix) == (SETTINGS.completion.tier, "x = ", "\n")
    pinned = completion_call(SETTINGS, CompletionRequestIn(model="coding-director/senior", prompt="x"))
    assert pinned.tier == "senior" and pinned.suffix == ""
    with pytest.raises(ApiError):
        completion_call(SETTINGS, CompletionRequestIn(model="coding-director", prompt=["a", "b"]))
