"""Chat text merged into fewer notifications, in order, nothing lost (features/chat_stream.py)."""

from __future__ import annotations

import asyncio

from coding_director.features.chat_stream import TextCoalescer
from coding_director.foreground import Foreground
from coding_director.messages import ChatEvent


def text(piece: str, tier: str = "lead") -> ChatEvent:
    return ChatEvent(chat_id="c", kind="text", tier=tier, text=piece)


def shape(sent: list[ChatEvent]) -> list[tuple[str, str, str | None]]:
    return [(e.kind, e.tier, e.text) for e in sent]


async def test_first_piece_goes_out_at_once_and_the_rest_is_merged_until_flushed() -> None:
    sent: list[ChatEvent] = []
    stream = TextCoalescer(sent.append, interval_s=60)
    stream(text("Hel"))
    assert shape(sent) == [("text", "lead", "Hel")]  # time to first token is the model's
    for piece in ("lo", ", ", "world"):
        stream(text(piece))
    assert len(sent) == 1
    stream.flush()
    assert shape(sent) == [("text", "lead", "Hel"), ("text", "lead", "lo, world")]
    stream.flush()
    assert len(sent) == 2  # nothing twice


async def test_other_events_send_the_merged_text_first_and_tiers_are_never_mixed() -> None:
    sent: list[ChatEvent] = []
    stream = TextCoalescer(sent.append, interval_s=60)
    stream(text("a"))
    stream(text("b"))
    stream(ChatEvent(chat_id="c", kind="attemptFinished", tier="lead"))
    stream(ChatEvent(chat_id="c", kind="attemptStarted", tier="senior"))
    stream(text("c", "senior"))
    stream(text("d", "senior"))
    stream(text("e", "principal"))
    stream.flush()
    assert shape(sent) == [
        ("text", "lead", "a"),
        ("text", "lead", "b"),
        ("attemptFinished", "lead", None),
        ("attemptStarted", "senior", None),
        ("text", "senior", "c"),
        ("text", "senior", "d"),
        ("text", "principal", "e"),
    ]


async def test_the_interval_sends_merged_text_without_a_flush() -> None:
    sent: list[ChatEvent] = []
    stream = TextCoalescer(sent.append, interval_s=0.01)
    stream(text("x"))
    stream(text("y"))
    stream(text("z"))
    await asyncio.sleep(0.05)  # scheduled after the interval's timer: runs once it has fired
    assert shape(sent) == [("text", "lead", "x"), ("text", "lead", "yz")]
    stream.flush()
    assert len(sent) == 2


async def test_text_due_while_a_completion_runs_waits_until_it_is_done() -> None:
    """The interval ends inside a foreground call: the merged text is sent only once the call is
    done (fails without the foreground: it would be sent when the interval ends)."""
    foreground = Foreground(max_pause_s=30)
    sent: list[ChatEvent] = []
    stream = TextCoalescer(sent.append, interval_s=0.01, foreground=foreground)
    stream(text("x"))
    stream(text("y"))
    with foreground.running():
        await asyncio.sleep(0.05)  # the interval's timer fired during the call
        assert shape(sent) == [("text", "lead", "x")]
    await asyncio.sleep(0.01)
    assert shape(sent) == [("text", "lead", "x"), ("text", "lead", "y")]
    stream(text("z"))  # a new interval runs: merged, sent when it ends
    await asyncio.sleep(0.05)
    assert shape(sent)[-1] == ("text", "lead", "z")


async def test_text_waits_for_the_foreground_at_most_its_longest_pause_and_flush_sends_it_once() -> None:
    foreground = Foreground(max_pause_s=0.02)
    sent: list[ChatEvent] = []
    stream = TextCoalescer(sent.append, interval_s=0.01, foreground=foreground)
    with foreground.running():
        stream(text("a"))
        stream(text("b"))
        await asyncio.sleep(0.1)  # the call is still in flight, but the text waited long enough
        assert shape(sent) == [("text", "lead", "a"), ("text", "lead", "b")]
        stream(text("c"))
        await asyncio.sleep(0.015)  # the next interval ended: waiting for the foreground now
        stream.flush()
        assert shape(sent)[-1] == ("text", "lead", "c")
    await asyncio.sleep(0.05)
    assert len(sent) == 3  # the cancelled wait sent nothing more
