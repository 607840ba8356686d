"""A pytest-lsp client driving ``coding-director serve`` over stdio, shared by the LSP benchmarks
and ``scripts/real-model-demo``. Positions are LSP's: 0-based lines, UTF-16 columns."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import fix_code_action_union

#: Server notifications the client accepts without handling.
IGNORED_NOTIFICATIONS = ("codingDirector/status", "codingDirector/chatEvent")


async def start_server(config_toml: str, *, ignore: tuple[str, ...] = IGNORED_NOTIFICATIONS) -> LanguageClient:
    """Start ``python -m coding_director serve --config F`` with ``config_toml`` written to ``F``, in an
    environment without ``CODING_DIRECTOR_*``/``OLLAMA_*`` variables, and initialize the session as
    VS Code would. Notifications named in ``ignore`` are dropped; register handlers for others
    with ``client.feature(method)``. Stop it with ``shutdown_session()`` then ``stop()``."""
    config = Path(tempfile.mkdtemp()) / "coding-director.toml"
    config.write_text(config_toml, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    client: LanguageClient = await ClientServerConfig(
        server_command=[sys.executable, "-m", "coding_director", "serve", "--config", str(config)], server_env=env
    ).start()
    fix_code_action_union(client)
    for method in ignore:
        client.feature(method)(lambda *_args: None)
    await client.initialize_session(types.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    return client


def open_doc(client: Any, uri: str, text: str, language_id: str = "python") -> None:
    """``textDocument/didOpen`` at version 1."""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)
        )
    )


def insert(client: Any, uri: str, version: int, line: int, character: int, text: str) -> None:
    """``textDocument/didChange`` inserting ``text`` at ``(line, character)`` (new ``version``)."""
    pos = types.Position(line=line, character=character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=pos, end=pos), text=text)],
        )
    )


async def complete(client: Any, uri: str, line: int, character: int) -> types.InlineCompletionList | None:
    """``textDocument/inlineCompletion`` at ``(line, character)``, automatic trigger."""
    result: types.InlineCompletionList | None = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
    )
    return result
