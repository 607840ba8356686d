"""stdin/stdout as the event loop's pipes (:mod:`coding_director.lsp.stdio`): framing edge cases
over a real pipe, and the fallback for terminals and files."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from coding_director.lsp.stdio import HEADER_LIMIT, is_pipe

from tests.emulator import OllamaEmulator
from tests.helpers import add_team
from tests.lsp.conftest import write_config
from tests.raw_client import RawClient, raw_server


@pytest.fixture
def raw(ollama_emulator: OllamaEmulator, tmp_path: Path) -> Iterator[RawClient]:
    add_team(ollama_emulator)
    with raw_server(write_config(tmp_path, ollama_emulator.url), tmp_path) as client:
        yield client


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
