"""The emulator's loaded models behave as Ollama's (``server/sched.go``, ``api/types.go``,
``routes.go``), seen through the official ``ollama`` client and raw HTTP: ``/api/ps``, sizes in
``/api/tags`` and ``/api/show``, ``keep_alive`` parsing and semantics, what is unloaded to make room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import ollama
import pytest
import pytest_asyncio

from tests.emulator import OllamaEmulator, ScriptedModel

GB = 1_000_000_000


def model(name: str, size_gb: float = 4.0, **fields: object) -> ScriptedModel:
    fields.setdefault("reply", "ok")
    return ScriptedModel(name=name, size=int(size_gb * GB), **fields)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[OllamaEmulator]:
    async with OllamaEmulator([model("a"), model("b"), model("c"), model("d")], vram_bytes=0) as emulator:
        yield emulator


@pytest_asyncio.fixture
async def client(emu: OllamaEmulator) -> AsyncIterator[ollama.AsyncClient]:
    c = ollama.AsyncClient(host=emu.url, timeout=10)
    yield c
    await c.close()  # type: ignore[no-untyped-call]


def remaining_s(expires_at: datetime | None) -> float:
    assert expires_at is not None
    return (expires_at - datetime.now(UTC)).total_seconds()


async def test_keep_alive_values_as_ollama_parses_them(client: ollama.AsyncClient) -> None:
    await client.generate("a", "x", keep_alive="1h30m")
    await client.generate("b", "x", keep_alive=90.9)  # a number is whole seconds
    await client.generate("c", "x", keep_alive=-1)  # negative: forever
    expiry = {m.model: remaining_s(m.expires_at) for m in (await client.ps()).models}
    assert 5390 < expiry["a:latest"] <= 5400 and 80 < expiry["b:latest"] <= 90
    assert expiry["c:latest"] > 100 * 365 * 24 * 3600
    # /api/ps lists the latest expiry first
    assert [m.model for m in (await client.ps()).models] == ["c:latest", "a:latest", "b:latest"]


@pytest.mark.parametrize(
    ("keep_alive", "message"),
    [
        ("300", 'time: missing unit in duration "300"'),
        ("5 minutes", 'time: unknown unit " minutes" in duration "5 minutes"'),
        ("", 'time: invalid duration ""'),
        (True, "Unsupported type: 'bool'"),
    ],
)
async def test_a_bad_keep_alive_is_a_400(emu: OllamaEmulator, keep_alive: object, message: str) -> None:
    async with httpx.AsyncClient(base_url=emu.url) as http:
        response = await http.post("/api/generate", json={"model": "a", "prompt": "x", "keep_alive": keep_alive})
    assert response.status_code == 400 and response.json() == {"error": message}
    assert emu.loaded == []


async def test_load_and_unload_requests(emu: OllamaEmulator) -> None:
    async with httpx.AsyncClient(base_url=emu.url) as http:
        load = await http.post("/api/generate", json={"model": "a", "keep_alive": "10m"})  # streams by default
        assert load.headers["content-type"].startswith("application/json")  # one object, not NDJSON
        assert load.json()["model"] == "a" and load.json()["done_reason"] == "load"  # the name as requested
        chat = await http.post("/api/chat", json={"model": "b", "messages": []})
        assert chat.json()["done_reason"] == "load" and chat.json()["message"] == {"role": "assistant", "content": ""}
        assert sorted(emu.loaded) == ["a:latest", "b:latest"]
        gone = await http.post("/api/chat", json={"model": "b", "messages": [], "keep_alive": 0})
        assert gone.json()["done_reason"] == "unload" and emu.loaded == ["a:latest"]
        again = await http.post("/api/generate", json={"model": "b", "keep_alive": "0s"})  # not loaded: fine
        assert again.json()["done_reason"] == "unload"
        missing = await http.post("/api/generate", json={"model": "nope", "keep_alive": 0})
        assert missing.status_code == 404


async def test_keep_alive_zero_on_a_request_unloads_after_the_answer(client: ollama.AsyncClient) -> None:
    r = await client.generate("a", "x", keep_alive=0)
    assert r.response == "ok" and (await client.ps()).models == []


async def test_a_request_without_keep_alive_keeps_the_loaded_models_duration(client: ollama.AsyncClient) -> None:
    await client.generate("a", "", keep_alive="2h")
    await client.generate("a", "x")  # useLoadedRunner: no keep_alive, the session duration stays
    (loaded,) = (await client.ps()).models
    assert remaining_s(loaded.expires_at) > 7000
    await client.generate("b", "x")  # a new load without keep_alive: OLLAMA_KEEP_ALIVE, 5 minutes
    b = next(m for m in (await client.ps()).models if m.model == "b:latest")
    assert 290 < remaining_s(b.expires_at) <= 300


async def test_sizes_in_tags_show_and_ps(emu: OllamaEmulator, client: ollama.AsyncClient) -> None:
    emu.add_model(model("big", 7.4, memory_size=int(8.5 * GB), parameter_size="13B", context_length=16384))
    tags = {m.model: m.size for m in (await client.list()).models}
    assert tags["big:latest"] == int(7.4 * GB)
    shown = await client.show("big")
    assert shown.modelinfo is not None and shown.modelinfo["general.parameter_count"] == 13 * GB
    await client.generate("big", "x", options={"num_ctx": 8192})
    (loaded,) = (await client.ps()).models
    assert (loaded.size, loaded.size_vram, loaded.context_length) == (int(8.5 * GB), 0, 8192)
    assert loaded.details is not None and loaded.details.parameter_size == "13B"


async def test_shortest_keep_alive_idle_model_is_unloaded_to_make_room() -> None:
    models = [model("a"), model("b"), model("c")]
    async with OllamaEmulator(models, vram_bytes=0, memory_bytes=9 * GB, max_loaded_models=0) as emu:
        c = ollama.AsyncClient(host=emu.url, timeout=10)
        await c.generate("a", "x", keep_alive="1h")
        await c.generate("b", "x", keep_alive="5m")
        await c.generate("c", "x", keep_alive="30m")  # 12 GB > 9 GB: b (shortest) goes
        assert sorted(emu.loaded) == ["a:latest", "c:latest"] and emu.scheduler.unloaded == ["b:latest"]
        await c.close()  # type: ignore[no-untyped-call]


async def test_ties_go_by_model_path_and_the_count_limit_applies() -> None:
    models = [model("a"), model("b"), model("c"), model("d")]
    async with OllamaEmulator(models, vram_bytes=0) as emu:  # OLLAMA_MAX_LOADED_MODELS: 3
        c = ollama.AsyncClient(host=emu.url, timeout=10)
        for name in ("a", "b", "c", "d"):
            await c.generate(name, "x")
        first = min(("a:latest", "b:latest", "c:latest"), key=lambda n: emu.models[n].digest)
        assert emu.scheduler.unloaded == [first] and len(emu.loaded) == 3
        await c.close()  # type: ignore[no-untyped-call]


async def test_a_busy_model_is_unloaded_only_when_its_request_ends() -> None:
    slow = model("slow", chunk_delay_ms=100, reply="one two three four five")
    async with OllamaEmulator([slow, model("b")], vram_bytes=0, memory_bytes=6 * GB) as emu:
        c = ollama.AsyncClient(host=emu.url, timeout=10)
        stream = await c.generate("slow", "x", stream=True)
        first = await anext(aiter(stream))
        assert first.response
        waiting = asyncio.ensure_future(c.generate("b", "x"))  # needs slow's memory
        await asyncio.sleep(0.15)
        assert not waiting.done() and emu.loaded == ["slow:latest"]
        assert "".join([p.response async for p in stream]).strip()
        assert (await waiting).response == "ok"
        assert emu.loaded == ["b:latest"] and emu.scheduler.unloaded == ["slow:latest"]
        await c.close()  # type: ignore[no-untyped-call]


async def test_model_larger_than_memory_and_partial_gpu_offload() -> None:
    models = [model("a"), model("b"), model("huge", 20)]
    async with OllamaEmulator(models, vram_bytes=6 * GB, memory_bytes=10 * GB) as emu:
        c = ollama.AsyncClient(host=emu.url, timeout=10)
        with pytest.raises(ollama.ResponseError) as info:
            await c.generate("huge", "x")
        assert info.value.status_code == 500
        assert "model requires more system memory (18.6 GiB) than is available (14.9 GiB)" in info.value.error
        await c.generate("a", "x")
        await c.generate("b", "x")
        vram = {m.model: m.size_vram for m in (await c.ps()).models}
        assert vram == {"a:latest": 4 * GB, "b:latest": 2 * GB}  # the GPU holds 6 GB: b is split
        await c.close()  # type: ignore[no-untyped-call]


async def test_another_num_ctx_reloads_the_model(emu: OllamaEmulator, client: ollama.AsyncClient) -> None:
    emu.add_model(model("ctx", load_ms=1))
    await client.generate("ctx", "", options={"num_ctx": 4096})
    await client.generate("ctx", "x", options={"num_ctx": 8192})
    (loaded,) = (await client.ps()).models
    assert loaded.context_length == 8192 and emu.scheduler.unloaded == ["ctx:latest"]
    assert remaining_s(loaded.expires_at) > 0
