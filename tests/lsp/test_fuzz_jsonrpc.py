"""Fuzzing ``coding-director serve`` with random and schema-derived malformed JSON-RPC messages.

One server (raw pipes, :mod:`tests.raw_client`) receives, one after the other: requests to each
method with random JSON params, ``codingDirector/chat`` params and ``codeAction/resolve`` data
drawn from ``shared-schemas/`` by hypothesis-jsonschema and then broken (a key dropped, a value
replaced, an unknown key added), random notifications, and bodies that are not JSON. Every request
must get a response that is a result or a client error (never -32603 InternalError: that would be
an unhandled exception), with a one-line message and no ``data``; the server must stay up.

The example count is bounded (``FUZZ_EXAMPLES``) so that the suite runs in CI in well under a minute.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from tests.emulator import OllamaEmulator
from tests.helpers import add_team
from tests.lsp.conftest import write_config
from tests.raw_client import frame, raw_server

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))
SCHEMAS = Path(__file__).resolve().parents[2] / "shared-schemas"
SOURCE = "def area(r):\n    return 3.14 * r * r\n\n\ndef scale(x, factor:\n    return x * factor\n"
#: Error codes a request may be answered with (JSON-RPC's and LSP's), never InternalError.
CLIENT_ERROR_CODES = {-32700, -32600, -32601, -32602, -32800, -32801, -32803}
REQUESTS = [
    "codingDirector/chat",
    "codeAction/resolve",
    "textDocument/codeAction",
    "textDocument/inlineCompletion",
    "workspace/executeCommand",
]
NOTIFICATIONS = ["textDocument/didOpen", "textDocument/didChange", "textDocument/didClose", "codingDirector/x"]


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    return loaded


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def broken(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A schema-valid object with one thing broken (or, sometimes, left valid)."""
    value = draw(valid)
    if not isinstance(value, dict) or not value:
        return value
    key = draw(st.sampled_from(sorted(value)))
    how = draw(st.sampled_from(["drop", "replace", "unknown", "valid", "nest"]))
    if how == "drop":
        del value[key]
    elif how == "replace":
        value[key] = draw(json_values)
    elif how == "unknown":
        value[draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in value))] = draw(json_values)
    elif how == "nest" and isinstance(value[key], dict) and value[key]:
        inner = draw(st.sampled_from(sorted(value[key])))
        value[key][inner] = draw(json_values)
    return value


def chat_params(uri: str) -> st.SearchStrategy[Any]:
    valid = from_schema(schema("ChatParams"))

    def aim(value: Any) -> Any:  # half of them about the open document
        if isinstance(value, dict) and value.get("textDocument") is not None:
            value["textDocument"] = {"uri": uri}
        return value

    return broken(valid.map(aim))


def resolve_params(uri: str) -> st.SearchStrategy[Any]:
    def aim(data: Any) -> Any:
        if isinstance(data, dict):
            data.update(uri=uri, version=1)
        return data

    data = broken(from_schema(schema("ActionData")).map(aim))
    return st.builds(lambda d, t: {"title": t, "data": d}, data, st.text(max_size=10)) | json_values


def messages(uri: str) -> st.SearchStrategy[tuple[str, Any]]:
    """``(kind, payload)``: ``request`` (method, params), ``notify`` (method, params) or ``bytes``."""
    requests = st.tuples(st.sampled_from(REQUESTS), json_values)
    chats = st.tuples(st.just("codingDirector/chat"), chat_params(uri))
    resolves = st.tuples(st.just("codeAction/resolve"), resolve_params(uri))
    commands = st.tuples(
        st.just("workspace/executeCommand"),
        st.fixed_dictionaries(
            {"command": st.sampled_from(["codingDirector.askInChat", "codingDirector.showStats", "x"])},
            optional={"arguments": st.lists(chat_params(uri) | json_values, max_size=2)},
        ),
    )
    unknown = st.tuples(st.text(max_size=20), json_values)
    notifications = st.tuples(st.sampled_from(NOTIFICATIONS), json_values)
    not_json = st.binary(min_size=1, max_size=40).filter(lambda b: not _is_json(b))
    return st.one_of(
        st.tuples(st.just("request"), requests | chats | resolves | commands | unknown),
        st.tuples(st.just("notify"), notifications),
        st.tuples(st.just("bytes"), not_json),
    )


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def check_response(response: dict[str, Any], sent: Any) -> str:
    """Assert ``response`` is a result or a one-line client error without ``data``; returns
    ``"result"`` or the error code (as text)."""
    assert set(response) & {"result", "error"}, (sent, response)
    error = response.get("error")
    if error is None:
        return "result"
    assert error["code"] in CLIENT_ERROR_CODES, (sent, error)
    assert "\n" not in error["message"] and error.get("data") is None, (sent, error)
    return str(error["code"])


def test_fuzzed_messages_all_get_answers_and_the_server_stays_up(
    ollama_emulator: OllamaEmulator, tmp_path: Path, suite_figures: Callable[[str, str], None]
) -> None:
    add_team(ollama_emulator)
    cfg = write_config(tmp_path, ollama_emulator.url, "[completion]\ndebounce_ms = 0\ntimeout_ms = 500\n")
    with raw_server(cfg, tmp_path) as raw:
        uri = raw.open(tmp_path / "geometry.py", SOURCE)
        counts = {"request": 0, "notify": 0, "bytes": 0}
        answers: Counter[str] = Counter()
        started = time.perf_counter()

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        )
        @given(message=messages(uri))
        def fuzz(message: tuple[str, Any]) -> None:
            kind, payload = message
            counts[kind] += 1
            if kind == "request":
                method, params = payload
                answers[check_response(raw.request(method, params, timeout=30), payload)] += 1
            elif kind == "notify":
                raw.notify(*payload)
            else:
                raw.send_bytes(frame(payload))
                answers[check_response(raw.wait_response(None, timeout=30), payload)] += 1
            assert raw.alive(), "".join(raw.stderr_lines[-30:])

        fuzz()
        # Still serving: a valid chat about the open document is answered.
        ok = raw.request("codingDirector/chat", {"prompt": "Explain this", "textDocument": {"uri": uri}})
        assert "result" in ok and ok["result"]["answer"], ok
        assert counts["request"] > counts["bytes"] > 0 and counts["notify"] > 0, counts
        stderr = "".join(raw.stderr_lines)
        assert "Traceback" not in stderr, stderr[-3000:]
        assert "ERROR" not in stderr, [line for line in stderr.splitlines() if "ERROR" in line][:5]
    errors = ", ".join(f"{code}: {n}" for code, n in sorted(answers.items()) if code != "result")
    suite_figures(
        "fuzz",
        f"{sum(counts.values())} messages in {time.perf_counter() - started:.1f} s ({counts['request']} requests, "
        f"{counts['bytes']} bodies that are not JSON-RPC, {counts['notify']} notifications); "
        f"all {answers.total()} requests and bodies answered: {answers['result']} results, "
        f"errors by code {{{errors}}}, none -32603; the server still answers a chat",
    )
