"""Feedback from the editor, linked to the request it is about, recorded in the team memory.

- **Inline completions**: each completion returned is recorded as a request (``source =
  completion``) with ``shown`` feedback, and its item carries the server command
  ``codingDirector.completionAccepted`` with the request id (LSP 3.18
  ``InlineCompletionItem.command``, run by the editor when the user accepts it). A shown
  completion of a document that was not accepted before the next completion request of that
  document is ``dismissed``.
- **Fix / Add docstring**: when the edit of a resolved code action arrives in ``didChange`` it is
  ``applied``; if the document then returns to its text from before the edit within
  ``memory.undo_window_s`` seconds it is ``undone``, otherwise ``kept`` (decided at the next change
  after the window, or when the server shuts down).
- **Chat**: ``codingDirector/feedback`` (:class:`~coding_director.memory.models.FeedbackParams`)
  carries helpful / unhelpful, and ``inserted`` / ``applied`` for a chat code block.

Nothing here imports pygls; without memory every method does nothing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from coding_director.features.completion import CompletionRequest, CompletionResult
from coding_director.memory import FeedbackParams, Memory, Source
from coding_director.memory.keys import PLACE_CHARS, place_of
from coding_director.memory.records import AttemptRecord, RequestRecord

COMPLETION_ACCEPTED_COMMAND = "codingDirector.completionAccepted"


@dataclass
class _PendingEdit:
    """A resolved edit waiting to be applied, then watched for an undo."""

    request_id: str
    before: str
    after: str
    applied_at: float | None = None


class FeedbackTracker:
    """Turns editor events into feedback rows. ``undo_window_s``: how long after an applied edit
    a return to the earlier text counts as an undo. ``clock`` is monotonic seconds."""

    def __init__(self, memory: Memory | None, undo_window_s: float = 30.0, workspace: str | None = None) -> None:
        self.memory = memory
        self.undo_window_s = undo_window_s
        self.workspace = workspace
        self._shown: dict[str, str] = {}  # uri -> request id of the last completion shown, not yet accepted
        self._edits: dict[str, list[_PendingEdit]] = {}

    @property
    def active(self) -> bool:
        """Whether anything is recorded."""
        return self.memory is not None and self.memory.available

    # -- inline completions --------------------------------------------------------------------
    def completion_requested(self, uri: str) -> None:
        """A new completion request for ``uri``: the previous one shown there was dismissed."""
        previous = self._shown.pop(uri, None)
        if previous is not None and self.memory is not None:
            self.memory.feedback(previous, "dismissed")

    def completion_shown(
        self, request: CompletionRequest, result: CompletionResult, tier: str, latency_ms: float
    ) -> str | None:
        """Record a completion returned to the editor; returns its request id (``None`` without memory)."""
        if not self.active or self.memory is None:
            return None
        request_id = record_completion(self.memory, request, result, tier, latency_ms, workspace=self.workspace)
        self.memory.feedback(request_id, "shown")
        self._shown[request.uri] = request_id
        return request_id

    def shown_for(self, uri: str) -> str | None:
        """The request id of the completion last shown in ``uri`` and not yet accepted."""
        return self._shown.get(uri)

    def completion_accepted(self, request_id: str) -> None:
        """The editor ran the accept command of completion ``request_id``."""
        for uri, shown in list(self._shown.items()):
            if shown == request_id:
                del self._shown[uri]
        if self.memory is not None:
            self.memory.feedback(request_id, "accepted")

    # -- edits of code actions -----------------------------------------------------------------
    def edit_resolved(self, uri: str, request_id: str | None, before: str, after: str) -> None:
        """A Fix/docstring edit was sent to the editor: ``before`` is the document's text, ``after``
        the text once the edit is applied."""
        if request_id is None or not self.active or before == after:
            return
        self._edits.setdefault(uri, []).append(_PendingEdit(request_id, before, after))

    def document_changed(self, uri: str, text: str, now: float | None = None) -> None:
        """The document ``uri`` now reads ``text`` (after a ``didChange``)."""
        pending = self._edits.get(uri)
        if not pending or self.memory is None:
            return
        now = time.monotonic() if now is None else now
        keep: list[_PendingEdit] = []
        for edit in pending:
            if edit.applied_at is None:
                if text == edit.after:
                    edit.applied_at = now
                    self.memory.feedback(edit.request_id, "applied")
                keep.append(edit)
            elif now - edit.applied_at > self.undo_window_s:
                self.memory.feedback(edit.request_id, "kept")
            elif text == edit.before:
                self.memory.feedback(edit.request_id, "undone")
            else:
                keep.append(edit)
        if keep:
            self._edits[uri] = keep[-8:]
        else:
            del self._edits[uri]

    def close(self) -> None:
        """Shutting down: every applied edit not undone so far was kept."""
        if self.memory is None:
            return
        for edits in self._edits.values():
            for edit in edits:
                if edit.applied_at is not None:
                    self.memory.feedback(edit.request_id, "kept")
        self._edits.clear()

    # -- chat ----------------------------------------------------------------------------------
    def record(self, params: FeedbackParams) -> None:
        """Feedback sent by the client (``codingDirector/feedback``)."""
        if self.memory is not None:
            self.memory.feedback(params.request_id, params.kind, params.detail)


def record_completion(
    memory: Memory,
    request: CompletionRequest,
    result: CompletionResult,
    tier: str,
    latency_ms: float,
    *,
    source: Source = "completion",
    workspace: str | None = None,
) -> str:
    """Queue the record of one completion (intent ``complete``; as its prompt the end of the prefix
    that identifies the place, its last :data:`~coding_director.memory.keys.PLACE_CHARS`
    characters; the completion as its answer; one accepted attempt of ``tier`` unless it came from
    the completion cache) and return its new request id. ``latency_ms`` is the wall time of the
    request in milliseconds. Returns at once: the write happens on the memory's writer thread.

    The whole prefix window (about 6,000 characters) on every keystroke made the store grow by
    that much per keystroke, to be redacted first."""
    request_id = uuid.uuid4().hex
    record = RequestRecord(
        id=request_id, created_at=time.time(), source=source, workspace=workspace,
        intent="complete", files=[request.uri], languages=[request.language] if request.language else [],
        context_tokens=(len(request.prefix) + len(request.suffix)) // 4, prompt=request.prefix[-PLACE_CHARS:],
        answer=result.text, final_tier=tier, accepted=True, cached=result.from_cache,
        place=place_of(request.uri, request.prefix), latency_ms=round(latency_ms, 3),
    )  # fmt: skip
    if not result.from_cache:
        attempt = AttemptRecord(
            tier, result.model, None, "accepted", None, None, latency_ms, None, None, None, result.text
        )
        record.attempts.append(attempt)
    memory.record(record)
    return request_id


def text_after_edit(before: str, start_line: int, end_line: int, end_character: int, new_text: str) -> str:
    """``before`` with the text from ``(start_line, 0)`` to ``(end_line, end_character)`` replaced by
    ``new_text`` (LSP positions: 0-based lines, ``end_character`` in UTF-16 code units)."""
    lines = before.splitlines(keepends=True)
    start = sum(len(line) for line in lines[:start_line])
    end = sum(len(line) for line in lines[:end_line])
    if end_line < len(lines) and end_character:
        units = lines[end_line].encode("utf-16-le")[: end_character * 2]
        end += len(units.decode("utf-16-le", errors="ignore"))
    return before[:start] + new_text + before[end:]
