"""The language server: pygls over stdio, handlers a few lines each over :mod:`coding_director.features`.

Protocol notes:

- Positions are UTF-16 code units (LSP's default and VS Code's only encoding); the server declines
  other encodings a client may prefer, because its document store counts UTF-16 columns.
- Settings: ``serve --config F`` (and the environment) give the base; ``initializationOptions``
  and the client's ``workspace/configuration`` section ``codingDirector`` override it, validated by
  the same :class:`~coding_director.settings.Settings`. A bad value is reported once
  (``window/showMessage``) and forgotten: the settings in force stay, the next valid change applies.
  The editor sends the TOML file's keys (the VS Code extension maps its setting names to them).
- Custom messages: see :mod:`coding_director.messages` (validated on arrival).
- stdout carries the protocol; logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls import uris
from pygls.exceptions import JsonRpcContentModified
from pygls.lsp.server import LanguageServer

from coding_director import __version__
from coding_director.context.render import path_of_uri
from coding_director.features.actions import ActionError, StaleDocument, list_code_actions, resolve_edit
from coding_director.features.ask import answer_markdown, ask, save_answer
from coding_director.features.chat import chat_event, run_chat
from coding_director.features.chat_stream import TextCoalescer
from coding_director.features.completion import complete_at
from coding_director.features.feedback import COMPLETION_ACCEPTED_COMMAND
from coding_director.features.knowledge import KnowledgeService
from coding_director.features.pull import pull_models
from coding_director.features.residency import warm_up_logged
from coding_director.features.runtime import offer_actions
from coding_director.features.session import Session
from coding_director.features.stats import StatsUnavailable, memory_stats
from coding_director.features.task import run_task_in_editor
from coding_director.features.validation import InvalidRequest, parse, parse_argument
from coding_director.lsp import convert
from coding_director.lsp.knowledge import index_workspace, watch_files
from coding_director.lsp.protocol import (
    CLIENT_ERRORS,
    EXPECTED_ERRORS,
    DirectorProtocol,
    ExpectedErrorFilter,
    RequestFailed,
    converter_factory,
    invalid_params,
)
from coding_director.lsp.stdio import serve_stdio
from coding_director.memory import FeedbackParams
from coding_director.memory.models import FEEDBACK_METHOD, STATS_METHOD, StatsParams
from coding_director.messages import (
    ASK_IN_CHAT_COMMAND,
    CHAT_EVENT_METHOD,
    CHAT_METHOD,
    PULL_MODELS_COMMAND,
    RESET_ENGINE_COMMAND,
    SHOW_STATS_COMMAND,
    STATUS_METHOD,
    TASK_METHOD,
    ActionData,
    ChatParams,
    StatusParams,
)
from coding_director.routing.escalation import Event
from coding_director.settings import Settings, SettingsError, editor_layer
from coding_director.wire import to_wire

log = logging.getLogger(__name__)

CONFIG_SECTION = "codingDirector"


class DirectorServer(LanguageServer):
    """The Coding Director language server: a :class:`~coding_director.features.session.Session`
    plus what only LSP needs (messages shown once, status notifications, background tasks)."""

    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        super().__init__(
            "coding-director", __version__, protocol_cls=DirectorProtocol, converter_factory=converter_factory
        )
        self.session = Session(settings, config_path)
        self._shown: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self.knowledge = KnowledgeService(settings, on_error=self.show_once)

    def chat_forwarder(self, chat_id: str) -> tuple[Callable[[Event], None], TextCoalescer]:
        """The ``on_event`` of a chat or task request: every engine event is observed (status bar)
        and sent as a ``codingDirector/chatEvent``, text merged by the returned
        :class:`TextCoalescer` (flush it when the request ends)."""
        stream = TextCoalescer(
            lambda wire: self.protocol.notify(CHAT_EVENT_METHOD, to_wire(wire)), foreground=self.session.foreground
        )

        def forward(event: Event) -> None:
            self.observe(event)
            wire = chat_event(chat_id, event)
            if wire is not None:
                stream(wire)

        return forward, stream

    def task_workspace(self, document_uri: str | None) -> Path | None:
        """The workspace folder a task works in: the one holding ``document_uri``, else the first."""
        folders = [Path(uris.to_fs_path(f.uri) or "") for f in self.workspace.folders.values()]
        if not folders and self.workspace.root_path:
            folders = [Path(self.workspace.root_path)]
        if document_uri:
            path = Path(uris.to_fs_path(document_uri) or "")
            for folder in folders:
                if path.is_relative_to(folder):
                    return folder
        return folders[0] if folders else None

    # -- infrastructure ----------------------------------------------------------------------------
    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log server errors to stderr instead of a pop-up per error (no error storms); expected
        error responses and the client's mistakes are not server errors; a body that is not JSON
        is answered with ParseError."""
        if isinstance(error, (*EXPECTED_ERRORS, *CLIENT_ERRORS)):
            return
        if isinstance(self.protocol, DirectorProtocol) and self.protocol.reject_unreadable(error):
            return
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)

    def show_once(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """``window/showMessage`` unless the same message was already shown in this session."""
        if message in self._shown:
            return
        self._shown.add(message)
        log.warning("%s", message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    async def ask_client(self, message: str, actions: Sequence[str]) -> str | None:
        """``window/showMessageRequest`` (info) with ``actions``; the title chosen, or ``None``."""
        params = types.ShowMessageRequestParams(
            type=types.MessageType.Info, message=message, actions=[types.MessageActionItem(title=a) for a in actions]
        )
        chosen = await self.window_show_message_request_async(params)
        return chosen.title if chosen is not None else None

    async def show_document(self, uri: str, external: bool) -> bool:
        """``window/showDocument``; whether the client showed it."""
        result = await self.window_show_document_async(types.ShowDocumentParams(uri=uri, external=external))
        return bool(result.success)

    def send_status(self, status: StatusParams | None) -> None:
        """Notify ``codingDirector/status`` (callers pass ``None`` when nothing changed)."""
        if status is not None:
            self.protocol.notify(STATUS_METHOD, to_wire(status))

    def spawn(self, coro: Coroutine[Any, Any, Any] | None) -> None:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        if coro is None:
            return
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def apply_settings(self, section: Any, *, initial: bool = False) -> bool:
        """Layer the editor's section ``codingDirector`` over the base settings. Returns whether
        anything changed; a bad value is shown once and forgotten (the settings in force stay)."""
        try:
            changed, closing = self.session.apply_editor_settings(editor_layer(section), initial=initial)
        except SettingsError as exc:
            self.show_once(f"Coding Director: {exc}. The previous settings stay in force.")
            return False
        self.spawn(closing)
        return changed

    async def pull_configuration(self) -> bool:
        """Fetch section ``codingDirector`` with ``workspace/configuration`` (when the client
        supports it) and apply it. Returns whether the settings changed."""
        caps = self.client_capabilities.workspace
        if caps is None or not caps.configuration:
            return False
        try:
            async with asyncio.timeout(5):
                values = await self.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section=CONFIG_SECTION)])
                )
        except Exception as exc:  # a client that cannot answer (or times out) keeps the settings in force
            log.warning("workspace/configuration failed: %s", exc)
            return False
        return self.apply_settings(convert.to_plain(values[0]) if values else None)

    async def show_answer(self, markdown: str, summary: str) -> None:
        """Show an answer: ``window/showDocument`` of a markdown file when the client supports it,
        else ``window/showMessage`` with ``summary`` (the answer text)."""
        window = self.client_capabilities.window
        if window is not None and window.show_document is not None and window.show_document.support:
            try:
                path = save_answer(markdown)
                async with asyncio.timeout(10):
                    shown = await self.window_show_document_async(
                        types.ShowDocumentParams(uri=path.as_uri(), take_focus=True)
                    )
                if shown.success:
                    return
            except Exception as exc:  # fall back to a message
                log.warning("showing the answer as a document failed: %s", exc)
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=summary))

    async def refresh_status(self) -> None:
        """Choose the team (the built-in runtime when no Ollama answers), run the doctor checks and
        publish the resulting status (once per change); once ready, warm up the completion model
        in the background (:func:`~coding_director.features.residency.warm_up`)."""
        notice = await self.session.settle_team()
        if notice and notice not in self._shown:
            self._shown.add(notice)
            self.spawn(offer_actions(notice, self.ask_client, self.show_document))
        status = await self.session.check_endpoint()
        if status.state == "endpointDown":
            self.show_once(f"Coding Director: {status.message}")
        self.send_status(self.session.status.set_idle(status))
        if status.state == "ready":
            self.spawn(warm_up_logged(self.session.director.settings, self.session.director.pool))

    def observe(self, event: Event) -> None:
        """Status-bar side of engine events (busy tier; one re-check of an unreachable endpoint)."""
        status, recheck = self.session.status.observe(event)
        self.send_status(status)
        if recheck:
            self.spawn(self.refresh_status())


def create_server(settings: Settings, config_path: Path | None = None) -> DirectorServer:
    """Build the server with every handler registered."""
    server = DirectorServer(settings, config_path)

    @server.feature(types.INITIALIZE)
    def initialize(ls: DirectorServer, params: types.InitializeParams) -> None:
        ls.apply_settings(params.initialization_options, initial=True)
        folders = params.workspace_folders or []
        root = folders[0].uri if folders else params.root_uri
        ls.session.director.workspace_root = path_of_uri(root) if root else None

    @server.feature(types.INITIALIZED)
    async def initialized(ls: DirectorServer, params: types.InitializedParams) -> None:
        starting = StatusParams(state="starting", message="Checking the model server...")
        ls.send_status(ls.session.status.set_idle(starting))
        await ls.pull_configuration()
        ls.session.feedback.workspace = ls.workspace.root_path
        ls.session.report_memory_problems_to(lambda message: ls.show_once(f"Coding Director: {message}"))
        ls.spawn(ls.refresh_status())
        ls.spawn(index_workspace(ls))
        ls.spawn(watch_files(ls))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: DirectorServer, params: types.DidChangeConfigurationParams) -> None:
        if await ls.pull_configuration():
            ls.spawn(ls.refresh_status())

    # -- document sync -----------------------------------------------------------------------------
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DirectorServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.session.store.open(doc.uri, doc.text, doc.version, doc.language_id)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DirectorServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.session.change_document(params.text_document.uri, params.text_document.version, convert.text_changes(params))
        doc = ls.session.store.get(params.text_document.uri)
        if doc is not None:
            ls.knowledge.changed(doc.uri, doc.text)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: DirectorServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.spawn(ls.knowledge.saved(params.text_document.uri))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: DirectorServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            ls.spawn(ls.knowledge.saved(change.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DirectorServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.session.close_document(params.text_document.uri)
        ls.spawn(ls.knowledge.closed(params.text_document.uri))

    # -- code actions ------------------------------------------------------------------------------
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[
                types.CodeActionKind.QuickFix,
                types.CodeActionKind.RefactorRewrite,
                types.CodeActionKind.Empty,
            ],
            resolve_provider=True,
        ),
    )
    def code_action(ls: DirectorServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        doc = ls.session.store.get(params.text_document.uri)
        if doc is None:
            return None
        r, diagnostics = params.range, params.context.diagnostics
        listed = list_code_actions(
            doc,
            (r.start.line, r.start.character),
            (r.end.line, r.end.character),
            [d.message for d in diagnostics],
        )
        return [convert.code_action(item, diagnostics) for item in listed]

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(ls: DirectorServer, action: types.CodeAction) -> types.CodeAction:
        if action.data is None:
            return action
        try:
            with invalid_params():
                data = parse(ActionData, convert.to_plain(action.data), "data")
                edit, assistance = await resolve_edit(
                    ls.session.director, ls.session.store, data, convert.WorkDoneProgress(ls), ls.observe, ls.knowledge
                )
        except StaleDocument as exc:
            raise JsonRpcContentModified(str(exc)) from exc
        except ActionError as exc:
            raise RequestFailed(str(exc)) from exc
        finally:
            ls.send_status(ls.session.status.idle())
        action.edit = convert.workspace_edit(edit)
        ls.session.edit_sent(edit, assistance)
        return action

    # -- chat --------------------------------------------------------------------------------------
    @server.feature(CHAT_METHOD)
    async def chat(ls: DirectorServer, params: Any) -> dict[str, Any]:
        with invalid_params():
            request = parse(ChatParams, convert.to_plain(params))
        forward, stream = ls.chat_forwarder(request.chat_id or str(ls.protocol.msg_id))
        try:
            with invalid_params():
                session, workspace = ls.session, ls.workspace.root_path
                return to_wire(
                    await run_chat(session.director, session.store, request, forward, ls.knowledge, workspace=workspace)
                )
        finally:
            stream.flush()
            ls.send_status(ls.session.status.idle())

    @server.feature(TASK_METHOD)
    async def task(ls: DirectorServer, params: Any) -> dict[str, Any]:
        with invalid_params():
            request = parse(ChatParams, convert.to_plain(params))
        workspace = ls.task_workspace(request.text_document.uri if request.text_document else None)
        if workspace is None:
            raise RequestFailed("a task needs a workspace folder: open a folder first")
        forward, stream = ls.chat_forwarder(request.chat_id or str(ls.protocol.msg_id))
        try:
            result = await run_task_in_editor(ls.session.director, ls.session.store, workspace, request.prompt, forward)
        finally:
            stream.flush()
            ls.send_status(ls.session.status.idle())
        if result.edits:
            edit = convert.task_workspace_edit(result.edits, f"Coding Director task: {request.prompt[:60]}")
            proposal = types.ApplyWorkspaceEditParams(edit=edit, label="Coding Director task")
            ls.spawn(ls.workspace_apply_edit_async(proposal))
        return to_wire(result.assistance)

    # -- inline completions ------------------------------------------------------------------------
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: DirectorServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        pos, uri, feedback = params.position, params.text_document.uri, ls.session.feedback
        feedback.completion_requested(uri)
        session = ls.session
        result = await complete_at(
            session.store, session.completer, session.settings, uri, pos.line, pos.character, session.completion_shown
        )
        if result is None:
            return None
        item = types.InlineCompletionItem(insert_text=result.text, range=types.Range(start=pos, end=pos))
        request_id = feedback.shown_for(uri)
        if request_id is not None:  # LSP 3.18: the editor runs it when the user accepts the completion
            item.command = types.Command(title="", command=COMPLETION_ACCEPTED_COMMAND, arguments=[request_id])
        return types.InlineCompletionList(items=[item])

    # -- feedback (team memory) --------------------------------------------------------------------
    @server.feature(FEEDBACK_METHOD)
    def feedback(ls: DirectorServer, params: Any) -> None:
        with invalid_params():
            ls.session.feedback.record(parse(FeedbackParams, convert.to_plain(params)))

    @server.feature(STATS_METHOD)
    async def stats(ls: DirectorServer, params: Any) -> dict[str, Any]:
        with invalid_params():
            request = parse(StatsParams, convert.to_plain(params) or {})
            try:
                report = await memory_stats(ls.session.memory, request.since, frontier=ls.session.director.frontier)
            except ValueError as exc:
                raise InvalidRequest(str(exc).replace("--since", "since")) from None
            except StatsUnavailable as exc:
                raise RequestFailed(str(exc)) from None
        return to_wire(report)

    @server.command(COMPLETION_ACCEPTED_COMMAND)
    def completion_accepted(ls: DirectorServer, *args: Any) -> None:
        if args and isinstance(args[0], str):
            ls.session.feedback.completion_accepted(args[0])

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: DirectorServer, params: Any) -> None:
        ls.session.close()

    # -- commands ----------------------------------------------------------------------------------
    @server.command(ASK_IN_CHAT_COMMAND)
    async def ask_in_chat(ls: DirectorServer, *args: Any) -> dict[str, Any]:
        try:
            with invalid_params():
                request = parse_argument(ChatParams, args, ASK_IN_CHAT_COMMAND)
                session, workspace = ls.session, ls.workspace.root_path
                result = await ask(
                    session.director, session.store, request, convert.WorkDoneProgress(ls), ls.observe, workspace
                )
        finally:
            ls.send_status(ls.session.status.idle())
        await ls.show_answer(answer_markdown(request, result), result.answer or "No answer.")
        return to_wire(result)

    @server.command(PULL_MODELS_COMMAND)
    async def pull(ls: DirectorServer, *args: Any) -> dict[str, Any]:
        session = ls.session
        result = await pull_models(session.settings, session.director.pool, convert.WorkDoneProgress(ls), ls.show_once)
        await ls.refresh_status()
        return to_wire(result)

    @server.command(SHOW_STATS_COMMAND)
    def show_stats(ls: DirectorServer, *args: Any) -> dict[str, Any]:
        return to_wire(ls.session.stats())

    @server.command(RESET_ENGINE_COMMAND)
    async def reset_engine(ls: DirectorServer, *args: Any) -> dict[str, Any]:
        ls.spawn(ls.session.reset_engine())
        await ls.refresh_status()
        return to_wire(ls.session.stats())

    return server


def run_stdio(settings: Settings, config_path: Path | None = None) -> int:
    """Serve over stdin/stdout until the client exits. Returns the exit code."""
    from coding_director.logs import install_file_log

    install_file_log()
    server = create_server(settings, config_path)
    for name in ("pygls.protocol.json_rpc", "pygls.server", "pygls.io_"):
        logging.getLogger(name).addFilter(ExpectedErrorFilter())
    # pygls logs every message body at INFO ("Sending data: ..."): the user's code and the answers
    # would go to the log file, and formatting them costs the event loop time on every token.
    logging.getLogger("pygls.protocol.json_rpc").setLevel(logging.WARNING)
    # httpx logs every request at INFO ("HTTP Request: POST .../api/generate 200 OK"): one line per
    # keystroke's completion and per chat attempt, which rotated the log out of its useful lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not serve_stdio(server):  # a terminal or a file: pygls's thread-based reader
        with contextlib.suppress(KeyboardInterrupt):
            server.start_io()
    return 0
