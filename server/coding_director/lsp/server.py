"""The language server: pygls over stdio, handlers a few lines each over :mod:`coding_director.features`.

Protocol notes:

- Positions are UTF-16 code units (LSP's default and VS Code's only encoding); the server declines
  other encodings a client may prefer, because its document store counts UTF-16 columns.
- Settings: ``serve --config F`` (and the environment) give the base; ``initializationOptions``
  and the client's ``workspace/configuration`` section ``codingDirector`` override it, validated by
  the same :class:`~coding_director.settings.Settings`. A bad value is reported once
  (``window/showMessage``) and the previous settings stay in force.
- Custom messages: see :mod:`coding_director.messages` (validated on arrival).
- stdout carries the protocol; logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from coding_director import __version__
from coding_director.context import DocumentStore, TextChange, fim_window
from coding_director.doctor import diagnose, pull_missing
from coding_director.engine import CodingDirector
from coding_director.features.actions import (
    EDIT_ACTIONS,
    PROMPTS,
    ActionData,
    ActionError,
    StaleDocument,
    diagnostics_messages,
    list_actions,
    stream_edit,
)
from coding_director.features.chat import chat_event, run_chat
from coding_director.features.completion import Completer, CompletionRequest
from coding_director.features.runtime import offer_actions, settle_team
from coding_director.features.status import StatusTracker, status_from_report
from coding_director.lsp.editor_settings import editor_overrides
from coding_director.messages import (
    ASK_IN_CHAT_COMMAND,
    CHAT_EVENT_METHOD,
    CHAT_METHOD,
    STATUS_METHOD,
    ChatParams,
    StatusParams,
)
from coding_director.routing.escalation import AttemptFinished, AttemptStarted, Event
from coding_director.settings import Settings, SettingsError, load_settings
from coding_director.wire import to_wire

log = logging.getLogger(__name__)


class RequestFailed(JsonRpcException):
    """LSP's ``RequestFailed`` error (-32803, LSP 3.17): the request was valid but could not be
    carried out, e.g. no tier produced a usable fix. The message is written for the user."""

    CODE = int(types.LSPErrorCodes.RequestFailed)


#: Error responses that report an expected outcome to the user, not a bug of the server.
EXPECTED_ERRORS = (RequestFailed, JsonRpcContentModified)


class _ExpectedErrorFilter(logging.Filter):
    """pygls logs every error response with a traceback; keep one line for :data:`EXPECTED_ERRORS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, EXPECTED_ERRORS):
            record.msg, record.args, record.exc_info = "request answered with an error: %s", (error,), None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


PULL_MODELS_COMMAND = "codingDirector.pullModels"
SHOW_STATS_COMMAND = "codingDirector.showStats"
#: Restart the engine inside the running process (fresh connections, no cooldowns, empty completion
#: cache) and re-check the endpoint. Restarting the process itself is the extension's
#: ``codingDirector.restartServer``.
RESET_ENGINE_COMMAND = "codingDirector.resetEngine"
CONFIG_SECTION = "codingDirector"
#: Prefix/suffix windows handed to completions (tokens, estimated).
FIM_PREFIX_TOKENS, FIM_SUFFIX_TOKENS = 1500, 500


class _Protocol(LanguageServerProtocol):
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        """Keep positions in UTF-16 whatever the client prefers (see the module docstring)."""
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            general.position_encodings = [types.PositionEncodingKind.Utf16]
        result: types.InitializeResult = yield from super().lsp_initialize(params)
        return result


def to_plain(value: Any) -> Any:
    """pygls hands custom params over as nested namedtuples; turn them into dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: to_plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


class DirectorServer(LanguageServer):
    """The Coding Director language server: documents, the engine, completions and status."""

    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        super().__init__("coding-director", __version__, protocol_cls=_Protocol)
        self.config_path = config_path
        self.settings = settings
        self.store = DocumentStore(max_file_bytes=settings.context.max_file_bytes)
        self.director = CodingDirector(settings)
        self.completer = Completer(settings, self.director.pool)
        self.status = StatusTracker()
        self._shown: set[str] = set()
        self._init_overrides: dict[str, Any] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # -- infrastructure ----------------------------------------------------------------------------
    def report_server_error(self, error: Exception, source: Any) -> None:
        """Log server errors to stderr instead of a pop-up per error (no error storms); expected
        error responses (:data:`EXPECTED_ERRORS`) are not server errors."""
        if isinstance(error, EXPECTED_ERRORS):
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

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- settings ----------------------------------------------------------------------------------
    def apply_settings(self, editor: dict[str, Any] | None, *, initial: bool = False) -> bool:
        """Validate the editor's settings over the base ones and switch to them.

        Returns whether anything changed. A bad value is shown once and the settings in force stay.
        """
        try:
            overrides = editor_overrides(editor or {})
            if initial:
                self._init_overrides = overrides
            merged = _deep_merge(self._init_overrides, overrides)
            new = load_settings(self.config_path, **merged)
        except SettingsError as exc:
            self.show_once(f"Coding Director: {exc}. The previous settings stay in force.")
            return False
        if new == self.settings:
            return False
        self.settings = new
        self.store.max_file_bytes = new.context.max_file_bytes
        self.reset_engine()
        return True

    def reset_engine(self) -> None:
        """Replace the engine and the completer with fresh ones (same settings): new connection
        pools, no cooldowns, an empty completion cache. The old ones are closed in the background."""
        old_director, old_completer = self.director, self.completer
        self.director = CodingDirector(self.settings)
        self.completer = Completer(self.settings, self.director.pool)

        async def close_old() -> None:
            await old_completer.aclose()
            await old_director.aclose()

        self.spawn(close_old())

    async def refresh_status(self) -> None:
        """Choose the team (the built-in runtime when no Ollama answers), run the doctor checks and
        publish the resulting status (once per change)."""
        update = await settle_team(self.director, self.completer)
        if update.completer is not None:
            old, self.completer = self.completer, update.completer
            self.spawn(old.aclose())
        if update.notice and update.notice not in self._shown:
            self._shown.add(update.notice)
            self.spawn(offer_actions(update.notice, self.ask_client, self.show_document))
        report = await diagnose(self.director.settings, self.director.pool, timeout_s=5.0)
        status = status_from_report(self.director.settings, report)
        if status.state == "endpointDown":
            self.show_once(f"Coding Director: {status.message}")
        self.send_status(self.status.set_idle(status))

    def observe(self, event: Event) -> None:
        """Status-bar side of engine events: busy tier; an endpoint found unreachable triggers one
        re-check (none while the status already says the endpoint is down)."""
        if isinstance(event, AttemptStarted):
            self.send_status(self.status.busy(event.tier))
        elif (
            isinstance(event, AttemptFinished)
            and event.attempt.outcome == "error"
            and event.attempt.error_kind == "unreachable"
            and self.status.idle_state != "endpointDown"
        ):
            self.spawn(self.refresh_status())


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def create_server(settings: Settings, config_path: Path | None = None) -> DirectorServer:
    """Build the server with every handler registered."""
    server = DirectorServer(settings, config_path)

    @server.feature(types.INITIALIZE)
    def initialize(ls: DirectorServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        ls.apply_settings(options if isinstance(options, dict) else None, initial=True)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: DirectorServer, params: types.InitializedParams) -> None:
        ls.send_status(ls.status.set_idle(StatusParams(state="starting", message="Checking the model server...")))
        await pull_configuration(ls)
        ls.spawn(ls.refresh_status())

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: DirectorServer, params: types.DidChangeConfigurationParams) -> None:
        if await pull_configuration(ls):
            ls.spawn(ls.refresh_status())

    # -- document sync -----------------------------------------------------------------------------
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DirectorServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.store.open(doc.uri, doc.text, doc.version, doc.language_id)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DirectorServer, params: types.DidChangeTextDocumentParams) -> None:
        changes = [
            TextChange.edit(
                c.range.start.line, c.range.start.character, c.range.end.line, c.range.end.character, c.text
            )
            if isinstance(c, types.TextDocumentContentChangePartial)
            else TextChange.replace_all(c.text)
            for c in params.content_changes
        ]
        ls.store.change(params.text_document.uri, params.text_document.version, changes)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DirectorServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.store.close(params.text_document.uri)
        ls.completer.forget(params.text_document.uri)

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
        doc = ls.store.get(params.text_document.uri)
        if doc is None:
            return None
        return code_actions_for(doc.version, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(ls: DirectorServer, action: types.CodeAction) -> types.CodeAction:
        try:
            return await resolve_edit(ls, action)
        except StaleDocument as exc:
            raise JsonRpcContentModified(str(exc)) from exc
        except ActionError as exc:
            raise RequestFailed(str(exc)) from exc

    # -- chat --------------------------------------------------------------------------------------
    @server.feature(CHAT_METHOD)
    async def chat(ls: DirectorServer, params: Any) -> dict[str, Any]:
        request = ChatParams.model_validate(to_plain(params))

        def forward(event: Event) -> None:
            ls.observe(event)
            wire = chat_event(request.chat_id, event)
            if wire is not None:
                ls.protocol.notify(CHAT_EVENT_METHOD, to_wire(wire))

        try:
            return to_wire(await run_chat(ls.director, ls.store, request, forward))
        finally:
            ls.send_status(ls.status.idle())

    # -- inline completions ------------------------------------------------------------------------
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: DirectorServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        return await complete_inline(ls, params)

    # -- commands ----------------------------------------------------------------------------------
    @server.command(PULL_MODELS_COMMAND)
    async def pull_models(ls: DirectorServer, *args: Any) -> dict[str, Any]:
        return await pull_with_progress(ls)

    @server.command(SHOW_STATS_COMMAND)
    def show_stats(ls: DirectorServer, *args: Any) -> dict[str, Any]:
        return stats(ls)

    @server.command(RESET_ENGINE_COMMAND)
    async def reset_engine(ls: DirectorServer, *args: Any) -> dict[str, Any]:
        ls.reset_engine()
        await ls.refresh_status()
        return stats(ls)

    return server


async def pull_configuration(ls: DirectorServer) -> bool:
    """Fetch section ``codingDirector`` with ``workspace/configuration`` (when the client supports it)
    and apply it. Returns whether the settings changed."""
    caps = ls.client_capabilities.workspace
    if caps is None or not caps.configuration:
        return False
    try:
        async with asyncio.timeout(5):
            values = await ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=CONFIG_SECTION)])
            )
    except Exception as exc:  # a client that cannot answer (or times out) keeps the settings in force
        log.warning("workspace/configuration failed: %s", exc)
        return False
    value = to_plain(values[0]) if values else None
    return ls.apply_settings(value if isinstance(value, dict) else None)


def code_actions_for(version: int, params: types.CodeActionParams) -> list[types.CodeAction]:
    """The listed actions for ``params`` (no model call): edits are resolved later, chat actions
    carry the client-side ``codingDirector.askInChat`` command."""
    rng = params.range
    diagnostics = list(params.context.diagnostics)
    actions = []
    for action, title, kind in list_actions(bool(diagnostics)):
        data = ActionData(
            action=action,
            uri=params.text_document.uri,
            version=version,
            start_line=rng.start.line,
            start_character=rng.start.character,
            end_line=rng.end.line,
            end_character=rng.end.character,
            diagnostics=diagnostics_messages([d.message for d in diagnostics]),
        )
        code_action = types.CodeAction(title=title, kind=kind, data=to_wire(data))
        if action == "fix" and diagnostics:
            code_action.diagnostics = diagnostics
        if action not in EDIT_ACTIONS:
            ask = {
                "prompt": PROMPTS[action],
                "intent": action,
                "textDocument": {"uri": params.text_document.uri},
                "range": {
                    "start": {"line": rng.start.line, "character": rng.start.character},
                    "end": {"line": rng.end.line, "character": rng.end.character},
                },
            }
            code_action.command = types.Command(title=title, command=ASK_IN_CHAT_COMMAND, arguments=[ask])
            code_action.data = None
        actions.append(code_action)
    return actions


async def resolve_edit(ls: DirectorServer, action: types.CodeAction) -> types.CodeAction:
    """Compute the edit of a Fix / Add docstring action, reporting the team's work as progress.

    Raises :class:`ActionError` (sent to the client as an error response) when no tier produced a
    usable edit or the document changed meanwhile.
    """
    if action.data is None:
        return action
    data = ActionData.model_validate(to_plain(action.data))
    token = f"coding-director/{uuid.uuid4()}"
    progress = await _begin_progress(ls, token, action.title)
    result = None
    try:
        async for item in stream_edit(ls.director, ls.store, data):
            if isinstance(item, tuple):
                result = item
                continue
            ls.observe(item)
            if progress and isinstance(item, AttemptStarted):
                ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=f"{item.tier} is working..."))
            elif progress and isinstance(item, AttemptFinished) and item.attempt.outcome != "accepted":
                a = item.attempt
                ls.work_done_progress.report(
                    token, types.WorkDoneProgressReport(message=f"{a.tier} {a.outcome}: {a.reason}")
                )
    finally:
        if progress:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
        ls.send_status(ls.status.idle())
    assert result is not None
    edit, assistance = result
    text_edit = types.TextEdit(
        range=types.Range(
            start=types.Position(line=edit.start_line, character=0),
            end=types.Position(line=edit.end_line, character=edit.end_character),
        ),
        new_text=edit.new_text,
    )
    action.edit = types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=edit.uri, version=edit.version),
                edits=[text_edit],
            )
        ]
    )
    log.info("%s resolved by %s", action.title, assistance.final_tier)
    return action


async def _begin_progress(ls: DirectorServer, token: str, title: str) -> bool:
    window = ls.client_capabilities.window
    if window is None or not window.work_done_progress:
        return False
    try:
        async with asyncio.timeout(2):
            await ls.work_done_progress.create_async(token)
    except Exception as exc:  # progress is a nicety: never fail the action for it
        log.debug("work done progress refused: %s", exc)
        return False
    ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=False))
    return True


async def complete_inline(
    ls: DirectorServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    """Ghost text at the cursor, or ``None`` (disabled, unknown document, no completion in time)."""
    if not ls.settings.completion.enabled:
        return None
    uri, pos = params.text_document.uri, params.position
    doc = ls.store.get(uri)
    if doc is None:
        return None
    prefix, suffix = fim_window(ls.store, uri, pos.line, pos.character, FIM_PREFIX_TOKENS, FIM_SUFFIX_TOKENS)
    request = CompletionRequest(uri=uri, version=doc.version, language=doc.language, prefix=prefix, suffix=suffix)
    result = await ls.completer.complete(request)
    current = ls.store.get(uri)
    if result is None or current is None or current.version != request.version:
        return None  # nothing, or computed for a version the user has already changed
    item = types.InlineCompletionItem(insert_text=result.text, range=types.Range(start=pos, end=pos))
    return types.InlineCompletionList(items=[item])


async def pull_with_progress(ls: DirectorServer) -> dict[str, Any]:
    """Pull the missing tier models with a work done progress in percent; returns what happened."""
    report = await diagnose(ls.settings, ls.director.pool)
    if report.unreachable:
        ls.show_once(f"Coding Director: cannot reach {', '.join(report.unreachable)}; nothing was pulled.")
        return {"pulled": [], "failed": [], "unreachable": report.unreachable}
    token = f"coding-director/pull/{uuid.uuid4()}"
    progress = await _begin_progress(ls, token, "Pulling models")

    def on_progress(model: str, status: str, completed: int | None, total: int | None) -> None:
        if not progress:
            return
        percent = int(completed * 100 / total) if completed and total else None
        ls.work_done_progress.report(
            token, types.WorkDoneProgressReport(message=f"{model}: {status}", percentage=percent)
        )

    try:
        failed = await pull_missing(ls.settings, ls.director.pool, report, on_progress)
    finally:
        if progress:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))
    for line in failed:
        ls.show_once(f"Coding Director: pull failed: {line}", types.MessageType.Error)
    await ls.refresh_status()
    pulled = [m for _, m in report.missing_models if not any(f.startswith(m + ":") for f in failed)]
    return {"pulled": pulled, "failed": failed, "unreachable": []}


def stats(ls: DirectorServer) -> dict[str, Any]:
    """Counters for ``codingDirector.showStats``: completions, cooldowns, open documents."""
    return {
        "completions": to_wire(ls.completer.stats),
        "cooldowns": ls.director.health.snapshot(),
        "openDocuments": len(ls.store),
        "status": to_wire(ls.status.current) if ls.status.current else None,
    }


def run_stdio(settings: Settings, config_path: Path | None = None) -> int:
    """Serve over stdin/stdout until the client exits. Returns the exit code."""
    server = create_server(settings, config_path)
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_ExpectedErrorFilter())
    with contextlib.suppress(KeyboardInterrupt):
        server.start_io()
    return 0
