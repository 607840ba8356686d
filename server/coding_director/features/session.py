"""The state one editor connection works on: settings, open documents, the engine, completions
and the status bar. Entry points (the language server) hold one :class:`Session` and pass its
parts to the use cases; nothing here knows LSP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

from coding_director.context import DocumentStore, TextChange
from coding_director.doctor import diagnose
from coding_director.engine import CodingDirector
from coding_director.features.actions import LineEdit
from coding_director.features.completion import Completer, CompletionRequest, CompletionResult
from coding_director.features.feedback import FeedbackTracker, text_after_edit
from coding_director.features.status import StatusTracker, status_from_report
from coding_director.foreground import Foreground
from coding_director.memory import open_memory
from coding_director.messages import ServerStats, StatusParams
from coding_director.results import Assistance
from coding_director.settings import EditorLayers, Settings

log = logging.getLogger(__name__)

#: A coroutine closing replaced connection pools.
Closing = Coroutine[Any, Any, None]


class Session:
    """Settings, documents, engine, completer and status of one connection.

    ``settings`` comes from the file and the environment; :meth:`apply_editor_settings` layers the
    editor's settings over them.
    """

    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        self.settings = settings
        self.layers = EditorLayers(config_path)
        self.store = DocumentStore(max_file_bytes=settings.context.max_file_bytes)
        #: Problems of the team memory not yet reported; :meth:`report_memory_problems_to` takes them.
        self.memory_problems: list[str] = []
        self._report: Callable[[str], None] | None = None
        self.memory = open_memory(settings, self._memory_problem)
        self.feedback = FeedbackTracker(self.memory, settings.memory.undo_window_s)
        #: The user's typing comes first: chats pause while a completion calls its model.
        self.foreground = Foreground()
        self.director = CodingDirector(settings, self.memory, self.foreground)
        self.completer = Completer(settings, self.director.pool, foreground=self.foreground)
        self.status = StatusTracker()
        self._unknown_uris: set[str] = set()

    def change_document(self, uri: str, version: int, changes: Iterable[TextChange]) -> None:
        """Apply ``didChange``; a change to a document that is not open is logged once (per URI)
        and ignored: it is the client's mistake and there is nothing to change."""
        if uri not in self.store:
            self._unknown(uri, "didChange")
            return
        self.store.change(uri, version, changes)
        doc = self.store.get(uri)
        if doc is not None:
            self.feedback.document_changed(uri, doc.text)

    def _memory_problem(self, message: str) -> None:
        if self._report is None:
            self.memory_problems.append(message)
        else:
            self._report(message)

    def report_memory_problems_to(self, report: Callable[[str], None]) -> None:
        """Send the memory's problems (one line each: locked, corrupt ...) to ``report`` from now
        on, starting with those found before."""
        self._report = report
        pending, self.memory_problems = self.memory_problems, []
        for message in pending:
            report(message)

    def completion_shown(self, request: CompletionRequest, result: CompletionResult, latency_ms: float) -> None:
        """Record an inline completion returned to the editor (see :mod:`.feedback`)."""
        self.feedback.completion_shown(request, result, self.settings.completion.tier, latency_ms)

    def edit_sent(self, edit: LineEdit, assistance: Assistance) -> None:
        """A Fix/docstring edit went to the editor: watch ``didChange`` for it being applied, then undone."""
        doc = self.store.get(edit.uri)
        if doc is not None:
            after = text_after_edit(doc.text, edit.start_line, edit.end_line, edit.end_character, edit.new_text)
            self.feedback.edit_resolved(edit.uri, assistance.request_id, doc.text, after)

    def close(self) -> None:
        """The connection ends: applied edits not undone were kept; commit the memory."""
        self.feedback.close()
        if self.memory is not None:
            self.memory.close()

    def close_document(self, uri: str) -> None:
        """Apply ``didClose`` (closing a document that is not open is logged once and ignored)."""
        if uri not in self.store:
            self._unknown(uri, "didClose")
            return
        self.store.close(uri)
        self.completer.forget(uri)

    def _unknown(self, uri: str, method: str) -> None:
        if uri not in self._unknown_uris:
            self._unknown_uris.add(uri)
            log.warning("client error: %s for %s, which is not open; ignored", method, uri)

    def apply_editor_settings(self, overrides: dict[str, Any], *, initial: bool = False) -> tuple[bool, Closing | None]:
        """Validate the editor's settings layer (TOML-shaped ``overrides``) and switch to it.

        Returns ``(changed, closing)``: whether the settings changed, and the coroutine closing
        the replaced engine (``None`` when nothing changed; the caller runs it in the background).
        Raises :class:`~coding_director.settings.SettingsError` when a value is invalid; then
        nothing changes and the rejected layer is forgotten.
        """
        new = self.layers.apply(overrides, initial=initial)
        if new == self.settings:
            return False, None
        self.settings = new
        self.store.max_file_bytes = new.context.max_file_bytes
        return True, self.reset_engine()

    def reset_engine(self) -> Closing:
        """Replace the engine and the completer with fresh ones (same settings): new connection
        pools, no cooldowns, an empty completion cache. Returns the coroutine that closes the old
        ones; run it in the background."""
        old_director, old_completer = self.director, self.completer
        self.director = CodingDirector(self.settings, self.memory, self.foreground)
        self.director.workspace_root = old_director.workspace_root
        self.completer = Completer(self.settings, self.director.pool, foreground=self.foreground)

        async def close_old() -> None:
            await old_completer.aclose()
            await old_director.aclose()

        return close_old()

    async def settle_team(self) -> str | None:
        """Choose the engine's team (:func:`~coding_director.features.runtime.settle_team`: the
        built-in runtime when no Ollama answers); the completer follows it. Returns the notice to
        show once, if any."""
        from coding_director.features.runtime import settle_team

        update = await settle_team(self.director, self.completer)
        if update.completer is not None:
            old, self.completer = self.completer, update.completer
            await old.aclose()
        return update.notice

    async def check_endpoint(self, timeout_s: float = 5.0) -> StatusParams:
        """Run the doctor checks on the engine's team and return the idle status they imply
        (``ready``, ``modelsMissing`` or ``endpointDown``; with the runtime that answers)."""
        team = self.director.settings
        report = await diagnose(team, self.director.pool, timeout_s=timeout_s)
        return status_from_report(team, report)

    def stats(self) -> ServerStats:
        """Counters for ``codingDirector.showStats``: completions, cooldowns, open documents."""
        return ServerStats(
            completions=self.completer.stats,
            cooldowns=self.director.health.snapshot(),
            open_documents=len(self.store),
            status=self.status.current,
        )

