"""The Ollama emulator speaks the wire format the real clients (ollama 0.6.3, openai) expect."""

from __future__ import annotations

import base64
import json
import math
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from tests.emulator import OllamaEmulator, RecordedRequest, ScriptedError, ScriptedModel, ScriptRequest

REPO = Path(__file__).resolve().parent.parent
REPLY = "def add(a, b):\n    return a + b\n"
REFUSAL = "I'm sorry, but I can't help with that."


def _models() -> list[ScriptedModel]:
    return [
        ScriptedModel(name="lead-bad:latest", reply="```python\ndef f(:\n```", capabilities=["completion"]),
        ScriptedModel(name="coder:fim", reply=REPLY, capabilities=["completion", "insert"]),
        ScriptedModel(name="refuser", reply=REFUSAL),
        ScriptedModel(name="empty", reply=""),
        ScriptedModel(name="flaky", reply="one two three four", error_after_chunks=2, error_message="boom"),
        ScriptedModel(name="down", status=500, http_error="runner crashed"),
        ScriptedModel(name="slow", reply="tick " * 200, chunk_delay_ms=20),
        ScriptedModel(name="embedder", capabilities=["embedding"], embedding_dim=32),
    ]


@pytest.fixture
def emu() -> Iterator[OllamaEmulator]:
    with OllamaEmulator(_models(), pullable=[ScriptedModel(name="fresh:7b", reply="hi")]) as e:
        yield e


@pytest.fixture
async def client(emu: OllamaEmulator) -> AsyncIterator[ollama.AsyncClient]:
    c = ollama.AsyncClient(host=emu.url, timeout=10)
    yield c
    await c.close()


@pytest.fixture
async def oai(emu: OllamaEmulator) -> AsyncIterator[openai.AsyncOpenAI]:
    c = openai.AsyncOpenAI(base_url=emu.url + "/v1", api_key="ollama", max_retries=0, timeout=10)
    yield c
    await c.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- plain endpoints


def test_root_version_and_content_types(emu: OllamaEmulator) -> None:
    assert emu.url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=emu.url, timeout=10) as h:
        r = h.get("/")
        assert (r.status_code, r.text) == (200, "Ollama is running")
        assert h.get("/api/version").json()["version"]
        r = h.post("/api/generate", json={"model": "coder:fim", "prompt": "x"})
        assert r.headers["content-type"].startswith("application/x-ndjson")
        assert r.headers.get("transfer-encoding") == "chunked"
        lines = [json.loads(x) for x in r.text.splitlines()]
        assert all(not x["done"] for x in lines[:-1]) and lines[-1]["done"] is True
        r = h.post("/api/generate", json={"model": "coder:fim", "prompt": "x", "stream": False})
        assert r.headers["content-type"].startswith("application/json")
        r = h.post("/v1/chat/completions", json={"model": "coder:fim", "messages": [], "stream": True})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_bad_bodies(emu: OllamaEmulator) -> None:
    with httpx.Client(base_url=emu.url, timeout=10) as h:
        for path in ("/api/generate", "/api/chat", "/api/show", "/api/embed", "/api/pull"):
            r = h.post(path)
            assert r.status_code == 400, path
            assert r.json() == {"error": "missing request body"}
        r = h.post("/api/generate", content=b"{not json")
        assert r.status_code == 400 and "error" in r.json()
        r = h.post("/api/generate", json={"prompt": "x"})
        assert r.status_code == 400 and r.json() == {"error": "model is required"}


# ---------------------------------------------------------------- ollama client


async def test_generate_streamed(client: ollama.AsyncClient, emu: OllamaEmulator) -> None:
    parts = [p async for p in await client.generate("coder:fim", "write add", stream=True)]
    assert len(parts) > 2
    assert "".join(p.response or "" for p in parts) == REPLY
    assert all(p.done is False for p in parts[:-1])
    last = parts[-1]
    assert last.done is True and last.done_reason == "stop" and last.response == ""
    assert last.context and all(isinstance(t, int) for t in last.context)
    assert last.eval_count == len(parts) - 1
    assert last.prompt_eval_count and last.prompt_eval_count > 0
    for field in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        value = getattr(last, field)
        assert isinstance(value, int) and value > 0, field
    assert last.total_duration >= last.eval_duration  # type: ignore[operator]
    (rec,) = emu.calls("/api/generate")
    # The client can read the last line before the server's write_eof returns: wait for the record to settle.
    assert await emu.wait_for_async(lambda: rec.completed)
    assert rec.streamed and not rec.closed_early and rec.status == 200
    assert rec.chunks_sent == len(parts) - 1


async def test_generate_not_streamed(client: ollama.AsyncClient) -> None:
    r = await client.generate("lead-bad", "x", options={"temperature": 0.0})
    assert r.response == "```python\ndef f(:\n```"
    assert r.done is True and r.done_reason == "stop" and r.model == "lead-bad:latest"
    assert r.eval_count and r.eval_duration and r.total_duration and r.context


async def test_refusal_and_empty_replies(client: ollama.AsyncClient) -> None:
    assert (await client.generate("refuser", "x")).response == REFUSAL
    parts = [p async for p in await client.generate("empty", "x", stream=True)]
    assert len(parts) == 1 and parts[0].done and parts[0].response == "" and parts[0].eval_count == 0


async def test_empty_prompt_loads_and_keep_alive_zero_unloads(client: ollama.AsyncClient) -> None:
    r = await client.generate("coder:fim", "")
    assert r.done and r.done_reason == "load"
    assert [m.model for m in (await client.ps()).models] == ["coder:fim"]
    r = await client.generate("coder:fim", "", keep_alive=0)
    assert r.done_reason == "unload"
    assert (await client.ps()).models == []


async def test_chat_streamed_and_not(client: ollama.AsyncClient) -> None:
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    parts = [p async for p in await client.chat("refuser", messages=msgs, stream=True)]
    assert "".join(p.message.content or "" for p in parts) == REFUSAL
    assert all(p.message.role == "assistant" for p in parts)
    assert parts[-1].done and parts[-1].done_reason == "stop" and parts[-1].eval_count == len(parts) - 1
    r = await client.chat("refuser", messages=msgs)
    assert r.message.content == REFUSAL and r.done_reason == "stop" and r.eval_duration


async def test_callable_reply_sees_the_request(emu: OllamaEmulator, client: ollama.AsyncClient) -> None:
    seen: list[ScriptRequest] = []

    def route(req: ScriptRequest) -> str:
        seen.append(req)
        return "coder" if "function" in req.prompt else "chat"

    emu.add_model(ScriptedModel(name="router", reply=route))
    r = await client.generate("router", "write a function", system="classify", options={"num_ctx": 4096})
    assert r.response == "coder"
    assert seen[-1].endpoint == "generate" and seen[-1].system == "classify"
    assert seen[-1].options == {"num_ctx": 4096} and seen[-1].model == "router:latest"
    r2 = await client.chat("router", messages=[{"role": "user", "content": "hello"}])
    assert r2.message.content == "chat" and seen[-1].endpoint == "chat" and seen[-1].prompt == "hello"
    emu.add_model(ScriptedModel(name="chunky", reply=lambda req: ["a", "b", "c"]))
    parts = [p.response async for p in await client.generate("chunky", "x", stream=True)]
    assert parts == ["a", "b", "c", ""]


async def test_scripted_error_from_callable(emu: OllamaEmulator, client: ollama.AsyncClient) -> None:
    calls: list[int] = []

    def fail_once(req: ScriptRequest) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ScriptedError("busy", status=503)
        return "ok"

    emu.add_model(ScriptedModel(name="fail-once", reply=fail_once))
    with pytest.raises(ollama.ResponseError) as info:
        await client.generate("fail-once", "x")
    assert info.value.status_code == 503 and info.value.error == "busy"
    assert (await client.generate("fail-once", "x")).response == "ok"


async def test_num_predict_and_stop(client: ollama.AsyncClient) -> None:
    r = await client.generate("coder:fim", "x", options={"num_predict": 2})
    assert r.done_reason == "length" and r.eval_count == 2 and r.response == "def add(a,"
    r = await client.generate("coder:fim", "x", options={"stop": ["return"]})
    assert r.done_reason == "stop" and r.response == "def add(a, b):\n    "


async def test_show_capabilities(client: ollama.AsyncClient) -> None:
    fim = await client.show("coder:fim")
    assert fim.capabilities == ["completion", "insert"]
    assert fim.details and fim.details.family and fim.modelinfo and fim.template
    plain = await client.show("lead-bad")
    assert plain.capabilities == ["completion"]
    with pytest.raises(ollama.ResponseError) as info:
        await client.show("nope")
    assert info.value.status_code == 404 and info.value.error == "model 'nope' not found"


async def test_list_tags(client: ollama.AsyncClient) -> None:
    listed = await client.list()
    names = [m.model for m in listed.models]
    assert "coder:fim" in names and "lead-bad:latest" in names and "fresh:7b" not in names
    m = next(m for m in listed.models if m.model == "coder:fim")
    assert m.size and m.digest and len(m.digest) == 64 and m.modified_at and m.details
    assert m.details.quantization_level


async def test_pull_progress_then_listed(client: ollama.AsyncClient) -> None:
    progress = [p async for p in await client.pull("fresh:7b", stream=True)]
    statuses = [p.status for p in progress]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layer = [p for p in progress if (p.status or "").startswith("pulling ") and p.digest]
    assert len(layer) >= 4
    assert all(p.digest.startswith("sha256:") and p.total for p in layer if p.digest)
    first = [p.completed for p in layer if p.digest == layer[0].digest]
    assert first == sorted(first) and first[-1] == layer[0].total
    assert "fresh:7b" in [m.model for m in (await client.list()).models]
    r = await client.generate("fresh:7b", "x")
    assert r.response == "hi"


async def test_pull_not_streamed_and_unknown(client: ollama.AsyncClient, emu: OllamaEmulator) -> None:
    emu.add_pullable(ScriptedModel(name="other"))
    assert (await client.pull("other")).status == "success"
    assert emu.get_model("other") is not None
    with pytest.raises(ollama.ResponseError) as info:
        [p async for p in await client.pull("no-such-model", stream=True)]
    assert info.value.error == "pull model manifest: file does not exist" and info.value.status_code == -1
    with pytest.raises(ollama.ResponseError) as info:
        await client.pull("no-such-model")
    assert info.value.status_code == 500


async def test_embed_deterministic(client: ollama.AsyncClient) -> None:
    a = await client.embed("embedder", input=["hello", "world"])
    b = await client.embed("embedder", input="hello")
    assert len(a.embeddings) == 2 and len(a.embeddings[0]) == 32
    assert list(a.embeddings[0]) == list(b.embeddings[0]) != list(a.embeddings[1])
    assert math.isclose(math.sqrt(sum(x * x for x in a.embeddings[0])), 1.0, rel_tol=1e-9)
    assert a.total_duration and a.prompt_eval_count == 2
    with pytest.raises(ollama.ResponseError) as info:
        await client.embed("missing", input="x")
    assert info.value.status_code == 404


async def test_not_found_streamed_and_not(client: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        await client.generate("ghost", "x")
    assert info.value.status_code == 404 and info.value.error == "model 'ghost' not found"
    with pytest.raises(ollama.ResponseError) as info:
        msgs = [{"role": "user", "content": "x"}]
        [p async for p in await client.chat("ghost", messages=msgs, stream=True)]
    assert info.value.status_code == 404


async def test_error_mid_stream(client: ollama.AsyncClient, emu: OllamaEmulator) -> None:
    got: list[str] = []
    with pytest.raises(ollama.ResponseError) as info:
        async for p in await client.generate("flaky", "x", stream=True):
            got.append(p.response or "")
    assert info.value.status_code == -1 and info.value.error == "boom"
    assert got == ["one", " two"]
    with pytest.raises(ollama.ResponseError) as info:
        await client.chat("flaky", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 500
    rec = emu.calls("/api/generate", model="flaky")[0]
    assert rec.status == 200 and rec.chunks_sent == 2


async def test_http_error_status(client: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        await client.generate("down", "x")
    assert info.value.status_code == 500 and info.value.error == "runner crashed"
    with pytest.raises(ollama.ResponseError) as info:
        [p async for p in await client.generate("down", "x", stream=True)]
    assert info.value.status_code == 500


async def test_suffix_requires_insert(client: ollama.AsyncClient, emu: OllamaEmulator) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        await client.generate("lead-bad", "def f(", suffix="\n")
    assert info.value.status_code == 400
    assert info.value.error == "lead-bad:latest does not support insert"
    r = await client.generate("coder:fim", "def add(", suffix="\nprint(add(1, 2))")
    assert r.response == REPLY
    assert emu.calls("/api/generate", model="coder:fim")[-1].json["suffix"] == "\nprint(add(1, 2))"


async def test_connection_refused() -> None:
    c = ollama.AsyncClient(host=f"http://127.0.0.1:{_free_port()}", timeout=5)
    try:
        with pytest.raises(ConnectionError):
            await c.generate("x", "y")
        with pytest.raises(httpx.ConnectError):
            [p async for p in await c.generate("x", "y", stream=True)]
    finally:
        await c.close()


async def test_stopping_a_slow_stream_reaches_the_server(client: ollama.AsyncClient, emu: OllamaEmulator) -> None:
    stream = await client.generate("slow", "x", stream=True)
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert await emu.wait_for_async(lambda: emu.calls("/api/generate", model="slow")[0].closed_early)
    rec = emu.calls("/api/generate", model="slow")[0]
    assert not rec.completed and rec.chunks_sent < 200


async def test_cancelling_a_request_task_reaches_the_server(emu: OllamaEmulator) -> None:
    import asyncio

    emu.add_model(ScriptedModel(name="sleepy", reply="late", first_token_delay_ms=60_000))
    c = ollama.AsyncClient(host=emu.url, timeout=120)
    try:
        task = asyncio.create_task(c.generate("sleepy", "x"))
        assert await emu.wait_for_async(lambda: bool(emu.calls("/api/generate", model="sleepy")))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await c.close()
    assert await emu.wait_for_async(lambda: emu.calls("/api/generate", model="sleepy")[0].closed_early)


# ---------------------------------------------------------------- OpenAI-compatible endpoints


async def test_openai_models(oai: openai.AsyncOpenAI) -> None:
    ids = [m.id async for m in oai.models.list()]
    assert "coder:fim" in ids and "refuser:latest" in ids


async def test_openai_chat_not_streamed(oai: openai.AsyncOpenAI) -> None:
    r = await oai.chat.completions.create(model="refuser", messages=[{"role": "user", "content": "hi"}])
    assert r.object == "chat.completion" and r.model == "refuser:latest"
    assert r.choices[0].message.content == REFUSAL and r.choices[0].finish_reason == "stop"
    assert r.usage and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


async def test_openai_chat_streamed(oai: openai.AsyncOpenAI, emu: OllamaEmulator) -> None:
    stream = await oai.chat.completions.create(
        model="coder:fim",
        messages=[{"role": "user", "content": "add"}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=100,
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    rec = emu.calls("/v1/chat/completions")[0]
    assert await emu.wait_for_async(lambda: rec.completed)
    assert rec.streamed and rec.json["max_tokens"] == 100


async def test_openai_completions(oai: openai.AsyncOpenAI) -> None:
    r = await oai.completions.create(model="coder:fim", prompt="def add(", suffix="\n")
    assert r.choices[0].text == REPLY and r.choices[0].finish_reason == "stop" and r.usage
    stream = await oai.completions.create(model="coder:fim", prompt="def add(", stream=True, max_tokens=2)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].text for c in chunks) == "def add(a,"
    assert chunks[-1].choices[0].finish_reason == "length"
    with pytest.raises(openai.BadRequestError):
        await oai.completions.create(model="lead-bad", prompt="def f(", suffix="\n")


async def test_openai_errors(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        await oai.chat.completions.create(model="ghost", messages=[{"role": "user", "content": "x"}])
    assert nf.value.status_code == 404
    assert isinstance(nf.value.body, dict) and nf.value.body["type"] == "not_found_error"
    with pytest.raises(openai.NotFoundError):
        await oai.chat.completions.create(model="ghost", messages=[{"role": "user", "content": "x"}], stream=True)
    with pytest.raises(openai.InternalServerError):
        await oai.chat.completions.create(model="down", messages=[{"role": "user", "content": "x"}])
    stream = await oai.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "x"}], stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError, match="boom"):
        async for c in stream:
            got.append(c.choices[0].delta.content or "")
    assert got == ["one", " two"]


async def test_openai_embeddings(oai: openai.AsyncOpenAI, client: ollama.AsyncClient) -> None:
    r = await oai.embeddings.create(model="embedder", input=["hello", "world"])
    assert [d.index for d in r.data] == [0, 1] and len(r.data[0].embedding) == 32
    native = await client.embed("embedder", input="hello")
    assert r.data[0].embedding == pytest.approx(list(native.embeddings[0]), rel=1e-6)
    f = await oai.embeddings.create(model="embedder", input="hello", encoding_format="float")
    assert f.data[0].embedding == pytest.approx(list(native.embeddings[0]), rel=1e-6)


def test_openai_base64_wire_format(emu: OllamaEmulator) -> None:
    body = {"model": "embedder", "input": "hello", "encoding_format": "base64"}
    r = httpx.post(emu.url + "/v1/embeddings", json=body, timeout=10).json()
    raw = base64.b64decode(r["data"][0]["embedding"])
    assert len(struct.unpack(f"<{len(raw) // 4}f", raw)) == 32


async def test_openai_stream_closed_early(oai: openai.AsyncOpenAI, emu: OllamaEmulator) -> None:
    stream = await oai.chat.completions.create(model="slow", messages=[{"role": "user", "content": "x"}], stream=True)
    async for _ in stream:
        break
    await stream.close()
    assert await emu.wait_for_async(lambda: emu.calls("/v1/chat/completions")[0].closed_early)


def test_server_stop_is_not_a_client_close() -> None:
    emu = OllamaEmulator([ScriptedModel(name="slow", reply="tick " * 200, chunk_delay_ms=20)]).start()
    body = {"model": "slow", "prompt": "x"}
    with httpx.Client(timeout=10) as h, h.stream("POST", emu.url + "/api/generate", json=body) as r:
        lines = r.iter_lines()
        assert json.loads(next(lines))["response"] == "tick"
        emu.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)
    (rec,) = emu.requests
    assert not rec.completed and not rec.closed_early


# ---------------------------------------------------------------- recording, fixture, run modes


def test_recording_and_filters(emu: OllamaEmulator) -> None:
    with httpx.Client(base_url=emu.url, timeout=10) as h:
        h.post("/api/generate", json={"model": "coder:fim", "prompt": "a", "stream": False})
        h.post("/api/chat", json={"model": "refuser", "messages": [{"role": "user", "content": "b"}]})
        h.get("/api/tags")
        h.get("/nowhere")
    recs = emu.requests
    assert [r.path for r in recs] == ["/api/generate", "/api/chat", "/api/tags", "/nowhere"]
    assert isinstance(recs[0], RecordedRequest) and recs[0].method == "POST" and recs[0].body["prompt"] == "a"
    assert recs[0].timestamp <= recs[1].timestamp and recs[3].status == 404
    assert [r.path for r in emu.calls(model="refuser")] == ["/api/chat"]
    assert emu.calls(model="refuser:latest") == emu.calls(path="/api/chat")
    assert emu.calls(method="GET", path="/api/tags")[0].body is None
    emu.reset_requests()
    assert emu.requests == []


def test_fixture(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.add_model(ScriptedModel(name="m", reply="fixture works"))
    r = httpx.post(ollama_emulator.url + "/api/generate", json={"model": "m", "prompt": "p", "stream": False})
    assert r.json()["response"] == "fixture works"


def test_sync_ollama_client_and_restart() -> None:
    emu = OllamaEmulator([ScriptedModel(name="m", reply="sync")]).start()
    client = ollama.Client(host=emu.url, timeout=10)
    try:
        assert client.generate("m", "p").response == "sync"
    finally:
        emu.stop()
    emu.stop()  # idempotent
    try:
        with pytest.raises(ConnectionError):
            client.generate("m", "p")
    finally:
        client.close()


async def test_async_mode_on_the_running_loop() -> None:
    async with OllamaEmulator([ScriptedModel(name="m", reply="same loop")]) as emu:
        c = ollama.AsyncClient(host=emu.url, timeout=10)
        assert (await c.generate("m", "p")).response == "same loop"
        await c.close()


def test_cli_serves_a_scenario(tmp_path: Path) -> None:
    scenario: list[dict[str, Any]] = [
        {"name": "lead-bad:latest", "reply": "```python\ndef f(:\n```"},
        {"name": "coder:fim", "reply": "x", "capabilities": ["completion", "insert"], "chunk_delay_ms": 1},
        {"name": "later", "pull_only": True},
    ]
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0", "--scenario", str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = ollama.Client(host=url, timeout=10)
        assert sorted(m.model or "" for m in client.list().models) == ["coder:fim", "lead-bad:latest"]
        assert client.show("coder:fim").capabilities == ["completion", "insert"]
        assert client.pull("later").status == "success"
        client.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "listening on http://127.0.0.1:" in err


def test_scenario_reply_by_system_picks_the_reply_by_the_system_message() -> None:
    from tests.emulator.__main__ import load_scenario
    from tests.emulator.models import ScriptRequest

    (model,), _ = load_scenario(
        [{"name": "m", "reply": "default", "reply_by_system": [["You are the planner", "a plan"], ["coder", "code"]]}]
    )
    planner = ScriptRequest(endpoint="chat", model="m:latest", system="You are the planner.")
    assert "".join(model.render_chunks(planner)) == "a plan"
    assert "".join(model.render_chunks(ScriptRequest(endpoint="chat", model="m:latest", system="other"))) == "default"
    with pytest.raises(ValueError, match="reply_by_system"):
        load_scenario([{"name": "m", "reply_by_system": {"x": "y"}}])


async def test_request_log_endpoint_shows_a_stream_closed_early(
    client: ollama.AsyncClient, emu: OllamaEmulator
) -> None:
    """``GET /_emulator/requests`` lets a test in another process (the e2e tests) see that a stream was
    closed; it does not appear in the log itself."""
    stream = await client.chat("slow", [{"role": "user", "content": "tick"}], stream=True)
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    (rec,) = emu.calls("/api/chat")
    assert await emu.wait_for_async(lambda: rec.closed_early)
    async with httpx.AsyncClient(base_url=emu.url) as http:
        log = (await http.get("/_emulator/requests")).json()
        again = (await http.get("/_emulator/requests")).json()
    assert log == again and [e["path"] for e in log] == ["/api/chat"]
    assert log[0]["model"] == "slow" and log[0]["streamed"] and log[0]["closed_early"] and not log[0]["completed"]
