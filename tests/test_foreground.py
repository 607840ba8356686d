"""Foreground work first (:mod:`coding_director.foreground`): chats pause while an inline completion
calls its model, and only then.

Timing only sets up orderings here (a pause much longer than the emulator's gap between chunks);
no assertion is a wall-clock threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest
from coding_director import CodingDirector
from coding_director.backends import BackendPool
from coding_director.backends.base import Chunk, GenerateOptions
from coding_director.features.completion import Completer, CompletionRequest
from coding_director.features.session import Session
from coding_director.foreground import Foreground
from coding_director.routing.escalation import Finished, TextDelta, _stream_with_timeout
from coding_director.settings import load_settings

from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import add_team, team_settings

REPLY = " ".join(f"step{i}" for i in range(80))  # no repetition: not a generation loop


async def wait_then_log(foreground: Foreground, order: list[str], entry: str) -> None:
    """A background stream: waits for the foreground, then appends ``entry`` to ``order``."""
    await foreground.wait()
    order.append(entry)


async def test_wait_returns_at_once_when_nothing_runs() -> None:
    foreground = Foreground()
    await foreground.wait()
    assert foreground.pauses == 0
    assert not foreground.active


async def test_a_waiting_stream_resumes_when_the_last_foreground_call_ends() -> None:
    foreground = Foreground(max_pause_s=30)
    order: list[str] = []
    with foreground.running():
        with foreground.running():
            task = asyncio.create_task(wait_then_log(foreground, order, "resumed"))
            await asyncio.sleep(0.05)
            order.append("inner ended")
        await asyncio.sleep(0.05)
        order.append("outer ended")
    await asyncio.wait_for(task, 5)
    assert order == ["inner ended", "outer ended", "resumed"]
    assert foreground.pauses == 1
    assert not foreground._waiters


async def test_an_exception_in_the_foreground_still_wakes_the_streams() -> None:
    foreground = Foreground(max_pause_s=30)
    waiting = asyncio.Event()

    async def background() -> bool:
        waiting.set()
        await foreground.wait()
        return foreground.active

    with pytest.raises(RuntimeError), foreground.running():
        task = asyncio.create_task(background())
        await waiting.wait()
        raise RuntimeError("completion failed")
    assert await asyncio.wait_for(task, 5) is False


async def test_a_long_foreground_call_pauses_a_stream_only_max_pause_s() -> None:
    foreground = Foreground(max_pause_s=0.02)
    release = asyncio.Event()

    async def slow_completion() -> None:
        with foreground.running():
            await release.wait()

    holder = asyncio.create_task(slow_completion())
    await asyncio.sleep(0)
    assert foreground.active
    await asyncio.wait_for(foreground.wait(), 5)  # gave up waiting: the call is still in flight
    assert foreground.active
    release.set()
    await holder
    assert not foreground._waiters


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    foreground = Foreground(max_pause_s=30)
    with foreground.running():
        task = asyncio.create_task(foreground.wait())
        await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert not foreground._waiters


async def chat_held_once(
    emulator: OllamaEmulator, reply: str, chunk_delay_ms: int, hold_s: float
) -> tuple[int, list[str], list[Finished], Foreground]:
    """Stream a chat from a model sending a chunk every ``chunk_delay_ms``; right after its first
    text, hold a foreground call for ``hold_s``. Returns the texts that reached the chat during the
    hold (a count), all its texts, its ``Finished`` events and the foreground."""
    slow = {"reply": reply, "chunk_delay_ms": chunk_delay_ms}
    add_team(emulator, lead=slow, math=slow)
    foreground = Foreground(max_pause_s=30)
    director = CodingDirector(team_settings(emulator.url), foreground=foreground)
    deltas: list[str] = []
    first = asyncio.Event()
    finished: list[Finished] = []

    async def chat() -> None:
        async for event in director.stream_assistance("Explain what this Flask view returns"):
            if isinstance(event, TextDelta):
                deltas.append(event.text)
                first.set()
            elif isinstance(event, Finished):
                finished.append(event)

    task = asyncio.create_task(chat())
    try:
        await asyncio.wait_for(first.wait(), 10)
        with foreground.running():
            at_start = len(deltas)
            await asyncio.sleep(hold_s)
            during = len(deltas) - at_start
        await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
        await director.aclose()
    return during, deltas, finished, foreground


async def test_a_chat_stream_pauses_while_a_completion_runs(ollama_emulator: OllamaEmulator) -> None:
    """Fails without the pause: the emulator sends a chunk every 5 ms, so about 30 would arrive
    during the 150 ms the completion is held in flight."""
    during, deltas, finished, foreground = await chat_held_once(ollama_emulator, REPLY, 5, 0.15)
    assert during <= 1, f"{during} chunks reached the chat while the completion ran"
    assert foreground.pauses >= 1
    assert finished[0].assistance.accepted
    assert "".join(deltas) == REPLY


async def test_a_chunk_that_arrives_during_a_completion_is_handed_on_only_after_it(
    ollama_emulator: OllamaEmulator,
) -> None:
    """The stream's read in flight when the completion starts still returns its chunk, but the
    chunk (its checks, its event, its notification) waits until the completion is done. Chunks come
    100 ms apart, so right after one is seen the next is still in flight; the completion is held
    350 ms. Fails when the chunk is handed on before the pause (1 delta during the hold)."""
    during, deltas, finished, _ = await chat_held_once(ollama_emulator, "alpha beta gamma delta", 100, 0.35)
    assert during == 0, f"{during} chunks were handed on while the completion ran"
    assert finished[0].assistance.accepted
    assert "".join(deltas) == "alpha beta gamma delta"


async def test_the_completer_marks_only_its_model_call(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.add_model(
        ScriptedModel("coder:latest", reply="return a + b\n", capabilities=["completion", "insert"], chunk_delay_ms=30)
    )
    settings = load_settings(
        ollama={"host": ollama_emulator.url},
        tiers={"lead": {"model": "coder:latest"}},
        completion={"debounce_ms": 100, "timeout_ms": 5000},
    )
    foreground = Foreground()
    completer = Completer(settings, BackendPool(settings), foreground=foreground)
    request = CompletionRequest(
        uri="file:///w/a.py", version=1, language="python", prefix="def add(a, b):\n    ", suffix="\n"
    )
    try:
        task = asyncio.create_task(completer.complete(request))
        await asyncio.sleep(0.02)
        assert not foreground.active, "the debounce is not foreground work"
        assert await ollama_emulator.wait_for_async(lambda: bool(ollama_emulator.calls(path="/api/generate")))
        assert foreground.active
        result = await asyncio.wait_for(task, 10)
        assert result is not None
        assert not foreground.active

        cancelled = asyncio.create_task(completer.complete(dataclasses.replace(request, prefix="x = ")))
        assert await ollama_emulator.wait_for_async(lambda: len(ollama_emulator.calls(path="/api/generate")) == 2)
        cancelled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
        assert not foreground.active
    finally:
        await completer.aclose()
        await completer.pool.aclose()


def test_the_session_shares_one_foreground_between_engine_and_completer() -> None:
    session = Session(load_settings(memory={"enabled": False}))
    try:
        assert session.director.foreground is session.foreground
        assert session.completer.foreground is session.foreground
        closing = session.reset_engine()
        assert session.director.foreground is session.foreground
        assert session.completer.foreground is session.foreground
        closing.close()
    finally:
        session.close()


async def test_streams_resume_after_what_the_foreground_scheduled_as_it_ended() -> None:
    """A request handler returning right after its block has its response written (a done
    callback, scheduled then) before any chat stream runs again."""
    foreground = Foreground(max_pause_s=30)
    order: list[str] = []
    with foreground.running():
        task = asyncio.create_task(wait_then_log(foreground, order, "stream resumed"))
        await asyncio.sleep(0.01)
    asyncio.get_running_loop().call_soon(order.append, "response written")
    await asyncio.wait_for(task, 5)
    assert order == ["response written", "stream resumed"]


async def test_pace_returns_at_once_while_the_user_is_not_typing() -> None:
    foreground = Foreground(pace_s=30)
    assert await asyncio.wait_for(foreground.pace(0.0), 5) == 0.0  # no foreground call yet
    quiet = Foreground(pace_s=30, typing_s=0.0)
    with quiet.running():
        pass
    assert not quiet.typing
    assert await asyncio.wait_for(quiet.pace(0.0), 5) == 0.0  # typing has stopped
    assert foreground.paced == quiet.paced == 0


async def test_pace_sleeps_once_a_stream_has_read_for_its_window_while_the_user_types() -> None:
    foreground = Foreground(pace_s=0.01, typing_s=60, read_window_s=60)
    with foreground.running():
        pass
    assert foreground.typing
    resumed = await asyncio.wait_for(foreground.pace(0.0), 5)  # read since 0.0: longer than the window
    assert resumed > 0.0
    assert foreground.paced == 1
    assert await asyncio.wait_for(foreground.pace(resumed), 5) == resumed  # within the window: no sleep
    assert foreground.paced == 1


async def test_a_paced_sleep_also_waits_for_a_foreground_call_in_flight() -> None:
    foreground = Foreground(max_pause_s=30, pace_s=0.01, typing_s=60, read_window_s=0.0)
    order: list[str] = []

    async def stream() -> None:
        await foreground.pace(0.0)
        order.append("stream resumed")

    with foreground.running():
        task = asyncio.create_task(stream())
        await asyncio.sleep(0.1)  # ten times the pace: the sleep is over, the call is not
        order.append("completion ended")
    await asyncio.wait_for(task, 5)
    assert order == ["completion ended", "stream resumed"]


async def test_while_the_user_types_a_chat_reads_its_tokens_in_batches(ollama_emulator: OllamaEmulator) -> None:
    """60 tokens 2 ms apart while the user counts as typing: the chat sleeps between batches (about
    one sleep per 100 ms of stream), so it sleeps at least once and far fewer times than it has
    tokens. Fails without the pacing (no sleep) and with a sleep after every token (60)."""
    reply = " ".join(f"tok{i}" for i in range(60))
    slow = {"reply": reply, "chunk_delay_ms": 2}
    add_team(ollama_emulator, lead=slow, math=slow)
    foreground = Foreground(pace_s=0.1, typing_s=60)
    director = CodingDirector(team_settings(ollama_emulator.url), foreground=foreground)
    try:
        with foreground.running():
            pass  # a completion has just answered: the user is typing
        deltas: list[str] = []
        finished: list[Finished] = []
        async for event in director.stream_assistance("Explain what this Flask view returns"):
            if isinstance(event, TextDelta):
                deltas.append(event.text)
            elif isinstance(event, Finished):
                finished.append(event)
    finally:
        await director.aclose()
    assert finished[0].assistance.accepted
    assert "".join(deltas) == reply
    assert 1 <= foreground.paced <= 60 // 3, f"{foreground.paced} sleeps for 60 tokens"


async def test_a_paced_stream_ends_at_its_last_chunk() -> None:
    """The chunk marked ``done`` is not followed by a paced sleep: the attempt ends when it
    arrives. Fails with the sleep (30 s here, against a 5 s limit)."""

    class OneChunk:
        async def chat_stream(self, *_: object) -> AsyncIterator[Chunk]:
            yield Chunk(text="done.", done=True)

    class Pool:
        def for_tier(self, tier: str) -> OneChunk:
            return OneChunk()

    foreground = Foreground(pace_s=30, typing_s=60, read_window_s=0.0)
    with foreground.running():
        pass
    stream = _stream_with_timeout(Pool(), "lead", "m", [], GenerateOptions(), 60, foreground)  # type: ignore[arg-type]
    chunks = await asyncio.wait_for(_collect(stream), 5)
    assert [c.text for c in chunks] == ["done."]
    assert foreground.paced == 0


async def _collect(stream: AsyncIterator[Chunk]) -> list[Chunk]:
    return [chunk async for chunk in stream]
