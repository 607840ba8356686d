"""The chat use case: answer a :class:`~coding_director.messages.ChatParams` with the team,
reporting every step as a :class:`~coding_director.messages.ChatEvent`."""

from __future__ import annotations

from collections.abc import Callable

from coding_director.backends import Message
from coding_director.context import DocumentStore, extract
from coding_director.engine import CodingDirector
from coding_director.features.knowledge import KnowledgeService
from coding_director.features.validation import check_lines
from coding_director.messages import ChatEvent, ChatParams
from coding_director.results import Assistance
from coding_director.routing.escalation import AttemptFinished, AttemptStarted, Event, Finished, TextDelta


def chat_event(chat_id: str, event: Event) -> ChatEvent | None:
    """The wire form of an engine event (``None`` for :class:`Finished`, which is the response)."""
    if isinstance(event, AttemptStarted):
        return ChatEvent(chat_id=chat_id, kind="attemptStarted", tier=event.tier, model=event.model)
    if isinstance(event, TextDelta):
        return ChatEvent(chat_id=chat_id, kind="text", tier=event.tier, text=event.text)
    if isinstance(event, AttemptFinished):
        a = event.attempt
        return ChatEvent(
            chat_id=chat_id, kind="attemptFinished", tier=a.tier, model=a.model, attempt=a, discarded=a.stopped_early
        )
    return None


async def run_chat(
    director: CodingDirector,
    store: DocumentStore,
    params: ChatParams,
    on_event: Callable[[Event], None],
    knowledge: KnowledgeService | None = None,
    workspace: str | None = None,
) -> Assistance:
    """Answer ``params``; ``on_event`` sees every engine event as it happens.

    When ``params.text_document`` is open in ``store`` (and is text, not binary), the code
    context of ``params.range`` (or of the document's start) is extracted within
    ``context.token_budget`` tokens and given to the team. With ``knowledge``, the prompt's
    ``@codebase``/``@file``/``@symbol`` mentions and, for Explain / Fix / Generate tests, the
    definitions the focus uses and its callers are retrieved from the workspace index and listed in
    ``Assistance.sources``. Cancelling the calling task stops generation at once. Raises
    :class:`~coding_director.features.validation.InvalidRequest` (before any model call) when the
    range lies outside the open document.
    """
    context = None
    doc = store.get(params.text_document.uri) if params.text_document is not None else None
    if params.text_document is not None and doc is not None and not doc.binary:  # binary: never context
        rng = params.range
        if rng is not None:
            check_lines(doc, "range.start.line", rng.start.line)
            check_lines(doc, "range.end.line", rng.end.line)
        start = (rng.start.line, rng.start.character) if rng else (0, 0)
        end = (rng.end.line, rng.end.character) if rng else None
        context = extract(
            store, params.text_document.uri, start, end, token_budget=director.settings.context.token_budget
        )
    history = [Message(role=m.role, content=m.content) for m in params.history]
    gathered = None
    if knowledge is not None:
        focus = (context.focus.start_line, context.focus.end_line) if context is not None else None
        gathered = await knowledge.gather(
            params.prompt, intent=params.intent, store=store,
            uri=params.text_document.uri if params.text_document else None, focus=focus)
    result: Assistance | None = None
    events = director.stream_assistance(
        params.prompt, context, intent=params.intent, history=history, source="chat",
        workspace=workspace, use_cache=not params.no_cache, extra_context=gathered.parts if gathered else None,
    )  # fmt: skip
    async for event in events:
        on_event(event)
        if isinstance(event, Finished):
            result = event.assistance
    assert result is not None
    if gathered is not None and gathered.sources:
        result = result.model_copy(update={"sources": gathered.sources})
    return result
