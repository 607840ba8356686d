"""Between lsprotocol's types and the plain shapes of :mod:`coding_director.features`, plus the
LSP work done progress behind :class:`~coding_director.features.progress.Progress`."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from coding_director.context import TextChange
from coding_director.features.actions import LineEdit, ListedAction
from coding_director.messages import ASK_IN_CHAT_COMMAND
from coding_director.wire import to_wire

log = logging.getLogger(__name__)


def to_plain(value: Any) -> Any:
    """pygls hands untyped values over as nested namedtuples; turn them into dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: to_plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def text_changes(params: types.DidChangeTextDocumentParams) -> list[TextChange]:
    """``didChange`` content changes as :class:`~coding_director.context.TextChange` edits."""
    return [
        TextChange.edit(c.range.start.line, c.range.start.character, c.range.end.line, c.range.end.character, c.text)
        if isinstance(c, types.TextDocumentContentChangePartial)
        else TextChange.replace_all(c.text)
        for c in params.content_changes
    ]


def code_action(listed: ListedAction, diagnostics: Sequence[types.Diagnostic]) -> types.CodeAction:
    """The LSP code action of ``listed``: ``data`` for actions resolved later, or the
    ``codingDirector.askInChat`` command with one ChatParams argument."""
    action = types.CodeAction(title=listed.title, kind=listed.kind)
    if listed.data is not None:
        action.data = to_wire(listed.data)
    if listed.ask is not None:
        argument = listed.ask.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
        action.command = types.Command(title=listed.title, command=ASK_IN_CHAT_COMMAND, arguments=[argument])
    if listed.with_diagnostics:
        action.diagnostics = list(diagnostics)
    return action


def workspace_edit(edit: LineEdit) -> types.WorkspaceEdit:
    """A versioned ``TextDocumentEdit`` replacing ``edit``'s lines (fails on another version)."""
    text_edit = types.TextEdit(
        range=types.Range(
            start=types.Position(line=edit.start_line, character=0),
            end=types.Position(line=edit.end_line, character=edit.end_character),
        ),
        new_text=edit.new_text,
    )
    return types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=edit.uri, version=edit.version),
                edits=[text_edit],
            )
        ]
    )


class WorkDoneProgress:
    """:class:`~coding_director.features.progress.Progress` as LSP work done progress
    (``window/workDoneProgress/create``, then ``$/progress`` begin/report/end).

    Shows nothing when the client lacks ``window.workDoneProgress`` or refuses the token within
    2 s: progress is a nicety and never fails the request.
    """

    def __init__(self, server: LanguageServer) -> None:
        self._server = server
        self._token: str | None = None

    async def begin(self, title: str) -> None:
        window = self._server.client_capabilities.window
        if window is None or not window.work_done_progress:
            return
        token = f"coding-director/{uuid.uuid4()}"
        try:
            async with asyncio.timeout(2):
                await self._server.work_done_progress.create_async(token)
        except Exception as exc:  # a client may refuse or not answer
            log.debug("work done progress refused: %s", exc)
            return
        self._token = token
        self._server.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=False))

    def report(self, message: str, percentage: int | None = None) -> None:
        if self._token is not None:
            self._server.work_done_progress.report(
                self._token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

    def end(self, message: str | None = None) -> None:
        if self._token is not None:
            self._server.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message))
            self._token = None
