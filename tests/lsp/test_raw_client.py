"""Acceptance with an independent client: raw JSON-RPC over the server's pipes (not pygls).

Review examples: bad params of ``codingDirector/chat`` and ``codeAction/resolve`` answered -32603
with pydantic's text and a server traceback in ``data``; a chat without ``params`` got no answer;
``didChange`` for an unopened URI raised KeyError; a position past the end of the file still
called the models; a client's mistake was logged at ERROR.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from coding_director.lsp.stdio import HEADER_LIMIT, is_pipe

from tests.emulator import OllamaEmulator
from tests.helpers import GOOD_PY, add_team
from tests.lsp.conftest import write_config
from tests.raw_client import RawClient, raw_server

SOURCE = "def area(r):\n    return 3.14 * r * r\n\n\ndef scale(x, factor:\n    return x * factor\n"
INVALID_PARAMS = -32602


@pytest.fixture
def raw(ollama_emulator: OllamaEmulator, tmp_path: Path) -> Iterator[RawClient]:
    add_team(ollama_emulator)
    with raw_server(write_config(tmp_path, ollama_emulator.url), tmp_path) as client:
        yield client


def model_calls(emu: OllamaEmulator) -> int:
    return len([r for r in emu.requests if r.inference])


def assert_invalid_params(response: dict[str, Any], field: str) -> None:
    """-32602 with a one-line message naming ``field``; no traceback, no ``data``."""
    assert "error" in response, response
    error = response["error"]
    assert error["code"] == INVALID_PARAMS, error
    assert field in error["message"], error
    assert "\n" not in error["message"] and "Traceback" not in error["message"], error
    assert ".py" not in error["message"], error
    assert "data" not in error or error["data"] is None, error


def fix_data(uri: str, line: int = 4, **fields: Any) -> dict[str, Any]:
    selection = {"start": {"line": line, "character": 0}, "end": {"line": line + 1, "character": 0}}
    data = {"action": "fix", "uri": uri, "version": 1, "range": selection}
    data.update(fields)
    return {"title": "Fix with Coding Director", "data": data}


def test_every_bad_input_gets_invalid_params_naming_the_field(
    raw: RawClient, ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    uri = raw.open(tmp_path / "geometry.py", SOURCE)
    chat = "codingDirector/chat"
    # Chat: empty prompt, wrong type, negative line, list params, unknown field.
    assert_invalid_params(raw.request(chat, {"chatId": "a", "prompt": ""}), "prompt")
    assert_invalid_params(raw.request(chat, {"chatId": "a", "prompt": 5}), "prompt")
    negative = {"start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}}
    assert_invalid_params(raw.request(chat, {"prompt": "Explain", "range": negative}), "range.start.line")
    assert_invalid_params(raw.request(chat, ["Explain this"]), "params")
    assert_invalid_params(raw.request(chat, {"prompt": "Explain", "temperature": 2}), "temperature")
    # A chat without params at all is answered (it used to get no answer).
    assert_invalid_params(raw.request(chat, omit_params=True), "prompt")
    # Positions outside the document: InvalidParams before any model call.
    before = model_calls(ollama_emulator)
    outside = {"start": {"line": 40, "character": 0}, "end": {"line": 41, "character": 0}}
    assert_invalid_params(
        raw.request(chat, {"prompt": "Explain", "textDocument": {"uri": uri}, "range": outside}), "range.start.line"
    )
    assert_invalid_params(raw.request("codeAction/resolve", fix_data(uri, line=99)), "data.range.start.line")
    assert model_calls(ollama_emulator) == before
    # codeAction/resolve with incomplete data.
    incomplete = fix_data(uri)
    del incomplete["data"]["version"]
    assert_invalid_params(raw.request("codeAction/resolve", incomplete), "data.version")
    assert_invalid_params(raw.request("codeAction/resolve", fix_data(uri, action="delete")), "data.action")
    # Standard requests with params that do not fit the LSP type.
    assert_invalid_params(raw.request("textDocument/codeAction", {"textDocument": {"uri": uri}}), "range")
    assert_invalid_params(raw.request("textDocument/inlineCompletion", 7), "params")
    # Unknown documents: logged once, ignored.
    ghost = (tmp_path / "ghost.py").as_uri()
    for version in (2, 3):
        change = {"textDocument": {"uri": ghost, "version": version}, "contentChanges": [{"text": "x = 1\n"}]}
        raw.notify("textDocument/didChange", change)
    raw.notify("textDocument/didClose", {"textDocument": {"uri": ghost}})
    # The server still works.
    ok = raw.request(chat, {"chatId": "after", "prompt": "Explain this", "textDocument": {"uri": uri}})
    assert ok["result"]["answer"] == GOOD_PY
    assert raw.alive()
    stderr = "".join(raw.stderr_lines)
    assert stderr.count(ghost) == 1, stderr  # logged once for the URI
    assert "ERROR" not in stderr and "Traceback" not in stderr, stderr  # client mistakes are warnings
    assert "WARNING" in stderr


def test_chat_without_chat_id_streams_with_the_request_id_and_answers(raw: RawClient) -> None:
    response = raw.request("codingDirector/chat", {"prompt": "Explain recursion"})
    assert response["result"]["answer"] == GOOD_PY
    events = raw.received("codingDirector/chatEvent")
    assert events and {e["chatId"] for e in events} == {str(response["id"])}
    assert "".join(e["text"] for e in events if e["kind"] == "text") == GOOD_PY


def test_messages_that_are_no_requests_are_answered_and_the_server_stays_up(raw: RawClient) -> None:
    raw.send_bytes(b"Content-Length: 9\r\n\r\n{not json")
    raw.send({"jsonrpc": "1.0", "id": 71, "method": "codingDirector/chat", "params": {"prompt": "x"}})
    raw.send([{"jsonrpc": "2.0", "id": 72, "method": "shutdown"}])  # type: ignore[arg-type]
    unknown = raw.request("codingDirector/nothing", {})
    assert unknown["error"]["code"] == -32601
    assert raw.wait_response(71)["error"]["code"] == -32600
    nulls = raw.wait_response(None), raw.wait_response(None)
    assert sorted(r["error"]["code"] for r in nulls) == [-32700, -32600]
    command = raw.request("workspace/executeCommand", {"command": "codingDirector.nothing"})
    assert command["error"]["code"] == INVALID_PARAMS and "codingDirector.nothing" in command["error"]["message"]
    assert raw.request("codingDirector/chat", {"prompt": "Explain recursion"})["result"]["answer"] == GOOD_PY
    stderr = "".join(raw.stderr_lines)
    assert "ERROR" not in stderr and "Traceback" not in stderr, stderr


def test_a_binary_document_is_never_sent_to_a_model(
    raw: RawClient, ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    blob = "PNG\x00\x00\x00IHDR secret-bytes\n" * 3
    uri = raw.open(tmp_path / "logo.py", blob)
    selection = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}
    actions = raw.request(
        "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": selection, "context": {"diagnostics": []}}
    )
    assert actions["result"] in (None, [])
    failed = raw.request("codeAction/resolve", fix_data(uri, line=0))
    assert failed["error"]["code"] == -32803 and "binary" in failed["error"]["message"]
    answer = raw.request("codingDirector/chat", {"prompt": "Explain this", "textDocument": {"uri": uri}})
    assert answer["result"]["answer"] == GOOD_PY
    completion = raw.request(
        "textDocument/inlineCompletion",
        {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 0}, "context": {"triggerKind": 2}},
    )
    assert completion["result"] is None
    sent = " ".join(str(r.json) for r in ollama_emulator.requests if r.inference)
    assert sent and "secret-bytes" not in sent


def explain_command(raw: RawClient, uri: str) -> dict[str, Any]:
    selection = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}
    listed = raw.request(
        "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": selection, "context": {"diagnostics": []}}
    )["result"]
    explain = next(a for a in listed if a["title"].startswith("Explain"))
    command: dict[str, Any] = explain["command"]
    assert command["title"] == explain["title"]
    return {"command": command["command"], "arguments": command["arguments"]}


def test_ask_in_chat_runs_on_the_server_and_opens_a_markdown_document(raw: RawClient, tmp_path: Path) -> None:
    """Review example: Explain and Generate tests carried a command only our extension handled;
    `workspace/executeCommand` answered "not defined", logged at ERROR."""
    uri = raw.open(tmp_path / "geometry.py", SOURCE)
    command = explain_command(raw, uri)
    assert command["command"] == "codingDirector.askInChat"
    response = raw.request("workspace/executeCommand", command)
    assert response["result"]["answer"] == GOOD_PY
    (shown,) = [p for m, p in raw.server_requests if m == "window/showDocument"]
    document = Path(shown["uri"].removeprefix("file://")).read_text(encoding="utf-8")
    assert document.startswith("# Explain this code.") and "def add(a, b):" in document
    # `area` is geometry, so the math tier answers (routing/README.md); the document names it.
    assert "Answered by **math**" in document
    kinds = [p["value"]["kind"] for p in raw.received("$/progress")]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    bad = raw.request("workspace/executeCommand", {"command": command["command"], "arguments": [{"prompt": ""}]})
    assert_invalid_params(bad, "arguments[0].prompt")
    none = raw.request("workspace/executeCommand", {"command": command["command"]})
    assert_invalid_params(none, "arguments")
    stderr = "".join(raw.stderr_lines)
    assert "ERROR" not in stderr, stderr


def test_ask_in_chat_without_show_document_shows_a_message(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator)
    capabilities = {"workspace": {"configuration": True}, "window": {"workDoneProgress": False}}
    with raw_server(write_config(tmp_path, ollama_emulator.url), tmp_path, capabilities=capabilities) as raw:
        uri = raw.open(tmp_path / "geometry.py", SOURCE)
        command = explain_command(raw, uri)
        response = raw.request("workspace/executeCommand", command)
        assert response["result"]["answer"] == GOOD_PY
        messages = [p["message"] for p in raw.received("window/showMessage")]
        assert messages == [GOOD_PY]
        assert not [m for m, _ in raw.server_requests if m in ("window/showDocument", "window/workDoneProgress/create")]


# -- stdin/stdout as the event loop's pipes (coding_director.lsp.stdio) ---------------------------
def test_an_overlong_header_line_is_skipped_and_the_next_message_answered(raw: RawClient) -> None:
    raw.send_bytes(b"X-Junk: " + b"a" * (HEADER_LIMIT + 10) + b"\r\n")
    response = raw.request("shutdown")
    assert "error" not in response, response
    assert response["result"] is None


def test_a_message_split_across_many_writes_is_read_whole(raw: RawClient) -> None:
    body = b'{"jsonrpc": "2.0", "id": 77, "method": "shutdown"}'
    framed = b"Content-Length: %d\r\n\r\n" % len(body) + body
    for i in range(len(framed)):
        raw.send_bytes(framed[i : i + 1])
    assert raw.wait_response(77)["result"] is None


def test_only_pipes_and_sockets_use_the_loop_reader(tmp_path: Path) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(b"")
    with path.open("rb") as regular:
        assert not is_pipe(regular)
    assert not is_pipe(io.BytesIO(b""))
