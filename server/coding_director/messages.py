"""Custom LSP messages between the extension and the server (``codingDirector/*``).

Each shape is defined once here, exported to ``shared-schemas/`` and validated on the server side;
the extension's TypeScript types are generated from those schemas. Positions follow LSP:
0-based lines, character offsets in UTF-16 code units.

Methods:

- request ``codingDirector/chat``: params :class:`ChatParams`, result
  :class:`~coding_director.results.Assistance`. While it runs the server sends
  ``codingDirector/chatEvent`` notifications (:class:`ChatEvent`) carrying the ``chatId`` the client
  chose. ``$/cancelRequest`` stops generation at once.
- notification ``codingDirector/status`` (server -> client): :class:`StatusParams`.
- command ``codingDirector.askInChat`` with one :class:`ChatParams` argument: code actions such as
  *Explain* carry it. The VS Code extension streams the answer into its chat panel.
- ``codeAction/resolve``: a listed Fix / *Add docstring* action carries :class:`ActionData` as its
  ``data``.
- commands ``codingDirector.pullModels`` (result :class:`PullResult`), ``codingDirector.showStats``
  and ``codingDirector.resetEngine`` (result :class:`ServerStats`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from coding_director.results import Assistance, Attempt, Intent
from coding_director.wire import WireModel

ActionKind = Literal["fix", "explain", "docs", "test"]

CHAT_METHOD = "codingDirector/chat"
CHAT_EVENT_METHOD = "codingDirector/chatEvent"
#: A multi-role task (params: :class:`ChatParams`, result: :class:`Assistance` whose answer is the
#: task's summary); streams ``codingDirector/chatEvent`` like a chat and then proposes its change with
#: ``workspace/applyEdit`` whose edits need confirmation (VS Code shows its refactor preview).
TASK_METHOD = "codingDirector/task"
STATUS_METHOD = "codingDirector/status"
#: ``window/showDocument`` target meaning "open the built-in runtime's settings"; the extension's
#: ``showDocument`` middleware opens VS Code's settings UI for it (other clients report failure).
OPEN_SETTINGS_URI = "coding-director://settings/embedded"
#: Where Ollama is installed from (``window/showDocument`` with ``external: true``).
OLLAMA_INSTALL_URI = "https://ollama.com/download"
ASK_IN_CHAT_COMMAND = "codingDirector.askInChat"
PULL_MODELS_COMMAND = "codingDirector.pullModels"
SHOW_STATS_COMMAND = "codingDirector.showStats"
#: Restart the engine inside the running process (fresh connections, no cooldowns, empty completion
#: cache) and re-check the endpoint. Restarting the process itself is the extension's
#: ``codingDirector.restartServer``.
RESET_ENGINE_COMMAND = "codingDirector.resetEngine"


class Position(WireModel):
    """LSP position: 0-based ``line``; ``character`` in UTF-16 code units."""

    line: int = Field(ge=0)
    character: int = Field(ge=0)


class Range(WireModel):
    """LSP range, end exclusive."""

    start: Position
    end: Position


class TextDocumentIdentifier(WireModel):
    """LSP text document identifier (``file:///...`` URI)."""

    uri: str


class ChatMessage(WireModel):
    """One turn of earlier conversation, oldest first."""

    role: Literal["user", "assistant"]
    content: str


class ChatParams(WireModel):
    """Params of ``codingDirector/chat``.

    ``chat_id`` is chosen by the client and echoed in every ``codingDirector/chatEvent``; when it
    is missing the server uses the JSON-RPC request id (as a string).
    ``text_document`` and ``range`` name the code the question is about (the selection, or the
    cursor when ``start == end``); the server extracts the code context from its own copy of the
    document. ``intent`` forces the intent (Explain, Add docstring ...) instead of classifying it.
    ``no_cache`` asks the team even when the answer is cached (the *Regenerate* button).
    """

    chat_id: str | None = Field(default=None, min_length=1)
    prompt: str = Field(min_length=1)
    text_document: TextDocumentIdentifier | None = None
    range: Range | None = None
    history: list[ChatMessage] = Field(default_factory=list)
    intent: Intent | None = None
    no_cache: bool = False


class ChatEvent(WireModel):
    """Params of ``codingDirector/chatEvent``: one step of a chat request as it happens.

    - ``attemptStarted``: ``tier`` and ``model`` start answering (the text so far is discarded by
      the client when a later tier starts);
    - ``text``: ``text`` is the next piece of ``tier``'s answer;
    - ``attemptFinished``: ``attempt`` holds the outcome, e.g. rejected with its reason.
      ``discarded`` is true when a check stopped the stream early (``attempt.stopped_early``): the
      text streamed for this attempt is discarded and never becomes the answer; clients show it as
      discarded with ``attempt.reason`` rather than deleting it silently.
    """

    chat_id: str
    kind: Literal["attemptStarted", "text", "attemptFinished"]
    tier: str
    model: str | None = None
    text: str | None = None
    attempt: Attempt | None = None
    discarded: bool = False


class StatusParams(WireModel):
    """Params of ``codingDirector/status`` for the status bar.

    ``state``: ``starting`` | ``ready`` | ``busy`` (``busy_tier`` is answering) | ``endpointDown``
    (``endpoint`` unreachable) | ``modelsMissing`` (``missing_models`` not present on the endpoint).
    ``message`` is a one-line human description, including the fix when there is one.
    ``runtime_kind`` says which kind of server answers the tiers (``ollama``, ``openai``:
    OpenAI-compatible, ``embedded``: the built-in runtime, ``mixed``), ``runtime`` names it for the
    status bar (``built-in smollm2-135m-instruct (llama.cpp)``, ``Ollama at http://...``).
    """

    state: Literal["starting", "ready", "busy", "endpointDown", "modelsMissing"]
    message: str
    endpoint: str | None = None
    busy_tier: str | None = None
    missing_models: list[str] = Field(default_factory=list)
    completions_enabled: bool = True
    runtime_kind: Literal["ollama", "openai", "embedded", "mixed"] | None = None
    runtime: str | None = None


class ActionData(WireModel):
    """What a listed Fix / *Add docstring* code action carries to ``codeAction/resolve`` (its
    ``data``).

    ``version`` is the document version the action was listed for; ``range`` is the selection
    (LSP positions: 0-based lines, UTF-16 columns). ``diagnostics`` are the messages of the
    diagnostics in the range (they go into the prompt).
    """

    action: ActionKind
    uri: str
    version: int
    range: Range
    diagnostics: list[str] = Field(default_factory=list)


class PullResult(WireModel):
    """Result of ``codingDirector.pullModels``.

    ``pulled``: models now present; ``failed``: ``"<model>: <reason>"`` lines; ``unreachable``: the
    endpoints that did not answer (then nothing was pulled).
    """

    pulled: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    unreachable: list[str] = Field(default_factory=list)


class CompletionStats(WireModel):
    """Inline-completion counters since the
    :class:`~coding_director.features.completion.Completer` was created (read by the stats command
    and benchmarks).

    ``requests``: calls of ``Completer.complete``. ``model_calls``: generate requests started.
    ``cache_hits``: requests answered from the cache (typing-through included). ``debounced``:
    requests dropped because a newer one for the same document arrived during the debounce.
    ``cancelled``: requests whose model call a newer request cancelled. ``timeouts``: requests
    whose model call exceeded ``completion.timeout_ms``. ``errors``: requests ended by a transport
    or model error. ``rejected``: model answers that postprocessing turned into nothing (prose,
    empty, duplicate of the suffix).
    """

    requests: int = 0
    model_calls: int = 0
    cache_hits: int = 0
    debounced: int = 0
    cancelled: int = 0
    timeouts: int = 0
    errors: int = 0
    rejected: int = 0


class ServerStats(WireModel):
    """Result of ``codingDirector.showStats`` and ``codingDirector.resetEngine``.

    ``cooldowns``: tier -> why it is cooling down; ``open_documents``: documents the server
    holds; ``status``: the last ``codingDirector/status`` sent (``None`` before the first).
    """

    completions: CompletionStats
    cooldowns: dict[str, str] = Field(default_factory=dict)
    open_documents: int = 0
    status: StatusParams | None = None


__all__ = [
    "ASK_IN_CHAT_COMMAND",
    "CHAT_EVENT_METHOD",
    "CHAT_METHOD",
    "OLLAMA_INSTALL_URI",
    "OPEN_SETTINGS_URI",
    "PULL_MODELS_COMMAND",
    "RESET_ENGINE_COMMAND",
    "SHOW_STATS_COMMAND",
    "STATUS_METHOD",
    "ActionData",
    "ActionKind",
    "Assistance",
    "ChatEvent",
    "ChatMessage",
    "ChatParams",
    "CompletionStats",
    "Position",
    "PullResult",
    "Range",
    "ServerStats",
    "StatusParams",
    "TextDocumentIdentifier",
]
