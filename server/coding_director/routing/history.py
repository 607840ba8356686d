"""Conversation budget: fit the chat history into a tier's context window.

Policy (after seed 002's context manager): the system prompt and the new request always go, and
so do system messages inside the history when they fit; the first user message (what the
conversation is about) is kept when it fits; then the latest turns, newest first, as long as they
fit; the oldest turns in between are dropped first. A kept tail never
starts with an assistant message whose question was dropped. The window is the tier's ``max_ctx``
minus the tokens reserved for the answer (``num_predict``) and :data:`MARGIN_TOKENS`.

Token counts come from ``count`` (the model's tokenizer when the caller knows it), else
:func:`~coding_director.tokens.estimate_tokens`, plus :data:`PER_MESSAGE_TOKENS` per message
for the chat template's role markers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coding_director.backends.base import Message
from coding_director.tokens import estimate_tokens

__all__ = ["MARGIN_TOKENS", "PER_MESSAGE_TOKENS", "FittedHistory", "fit_history", "window_for"]

#: Template overhead per chat message (role markers, separators), tokens.
PER_MESSAGE_TOKENS = 4
#: Tokens kept free besides the answer, for the server's own additions.
MARGIN_TOKENS = 64

TokenCounter = Callable[[str], int]


@dataclass(slots=True)
class FittedHistory:
    """The history to send (``kept``, in order), the 0-based indices of the dropped messages in the
    original history (``dropped``), and the token count of the whole prompt (``tokens``)."""

    kept: list[Message]
    dropped: list[int] = field(default_factory=list)
    tokens: int = 0


def window_for(max_ctx: int, num_predict: int) -> int:
    """Tokens available to the prompt: ``max_ctx - num_predict - MARGIN_TOKENS`` (at least 0)."""
    return max(0, max_ctx - num_predict - MARGIN_TOKENS)


def fit_history(
    history: Sequence[Message], fixed: Sequence[Message], window: int, count: TokenCounter | None = None
) -> FittedHistory:
    """Choose the messages of ``history`` that fit beside ``fixed`` (system prompt and the new
    request) in ``window`` tokens, by the policy of the module docstring. Never raises; when even
    ``fixed`` does not fit, every history message is dropped."""
    counter = count or estimate_tokens

    def cost(message: Message) -> int:
        return counter(message.content) + PER_MESSAGE_TOKENS

    used = sum(cost(m) for m in fixed)
    costs = [cost(m) for m in history]
    keep: set[int] = set()
    # System messages of the history (an API caller's instructions) go first, when they fit.
    for i, message in enumerate(history):
        if message.role == "system" and used + costs[i] <= window:
            keep.add(i)
            used += costs[i]
    first_user = next((i for i, m in enumerate(history) if m.role == "user"), None)
    if first_user is not None and used + costs[first_user] <= window:
        keep.add(first_user)
        used += costs[first_user]
    tail_start = len(history)
    for i in range(len(history) - 1, -1, -1):
        if i in keep and history[i].role != "system":
            break
        if i in keep:
            continue
        if used + costs[i] > window:
            break
        used += costs[i]
        keep.add(i)
        tail_start = i
    # The kept tail must not open with an answer to a dropped question.
    while tail_start < len(history) and history[tail_start].role == "assistant" and tail_start - 1 not in keep:
        keep.discard(tail_start)
        used -= costs[tail_start]
        tail_start += 1
    kept = [m for i, m in enumerate(history) if i in keep]
    dropped = [i for i in range(len(history)) if i not in keep]
    return FittedHistory(kept=kept, dropped=dropped, tokens=used)
