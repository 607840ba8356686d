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
- client-side command ``codingDirector.askInChat`` with one :class:`ChatParams`-shaped argument:
  code actions such as *Explain* carry it so that the answer streams into the chat panel.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from coding_director.results import Assistance, Attempt, Intent
from coding_director.wire import WireModel

CHAT_METHOD = "codingDirector/chat"
CHAT_EVENT_METHOD = "codingDirector/chatEvent"
STATUS_METHOD = "codingDirector/status"
#: ``window/showDocument`` target meaning "open the built-in runtime's settings"; the extension's
#: ``showDocument`` middleware opens VS Code's settings UI for it (other clients report failure).
OPEN_SETTINGS_URI = "coding-director://settings/embedded"
#: Where Ollama is installed from (``window/showDocument`` with ``external: true``).
OLLAMA_INSTALL_URI = "https://ollama.com/download"
ASK_IN_CHAT_COMMAND = "codingDirector.askInChat"


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

    ``chat_id`` is chosen by the client and echoed in every ``codingDirector/chatEvent``.
    ``text_document`` and ``range`` name the code the question is about (the selection, or the
    cursor when ``start == end``); the server extracts the code context from its own copy of the
    document. ``intent`` forces the intent (Explain, Add docstring ...) instead of classifying it.
    """

    chat_id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    text_document: TextDocumentIdentifier | None = None
    range: Range | None = None
    history: list[ChatMessage] = Field(default_factory=list)
    intent: Intent | None = None


class ChatEvent(WireModel):
    """Params of ``codingDirector/chatEvent``: one step of a chat request as it happens.

    - ``attemptStarted``: ``tier`` and ``model`` start answering (the text so far is discarded by
      the client when a later tier starts);
    - ``text``: ``text`` is the next piece of ``tier``'s answer;
    - ``attemptFinished``: ``attempt`` holds the outcome, e.g. rejected with its reason.
    """

    chat_id: str
    kind: Literal["attemptStarted", "text", "attemptFinished"]
    tier: str
    model: str | None = None
    text: str | None = None
    attempt: Attempt | None = None


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


__all__ = [
    "ASK_IN_CHAT_COMMAND",
    "CHAT_EVENT_METHOD",
    "CHAT_METHOD",
    "OLLAMA_INSTALL_URI",
    "OPEN_SETTINGS_URI",
    "STATUS_METHOD",
    "Assistance",
    "ChatEvent",
    "ChatMessage",
    "ChatParams",
    "Position",
    "Range",
    "StatusParams",
    "TextDocumentIdentifier",
]
