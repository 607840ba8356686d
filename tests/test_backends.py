"""Both backends against the emulator: listing, capabilities, pull, embeddings, health, errors."""

from __future__ import annotations

import pytest
from coding_director.backends import (
    BadRequest,
    EndpointUnreachable,
    GenerateOptions,
    GeneratePrompt,
    ModelNotFound,
    NotSupported,
    num_ctx_for,
)
from coding_director.backends.ollama import OllamaBackend
from coding_director.backends.openai_compat import OpenAICompatBackend

from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import closed_port_url


async def test_ollama_models_capabilities_pull_and_embed(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.add_model(ScriptedModel(name="coder:1b", capabilities=["completion", "insert"]))
    ollama_emulator.add_model(ScriptedModel(name="embedder", capabilities=["embedding"], embedding_dim=16))
    ollama_emulator.add_pullable(ScriptedModel(name="later:7b"))
    backend = OllamaBackend(ollama_emulator.url)
    try:
        assert "Ollama" in await backend.health()
        assert {m.name for m in await backend.list_models()} == {"coder:1b", "embedder:latest"}
        assert "insert" in (await backend.show("coder:1b")).capabilities
        with pytest.raises(ModelNotFound) as missing:
            await backend.show("ghost")
        assert missing.value.fix == "ollama pull ghost"
        statuses = [p.status async for p in backend.pull("later:7b")]
        assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
        assert "later:7b" in {m.name for m in await backend.list_models()}
        vectors = await backend.embed("embedder", ["a", "b"])
        assert len(vectors) == 2 and len(vectors[0]) == 16
        with pytest.raises(BadRequest, match="does not support insert"):
            async for _ in backend.generate_stream("later:7b", GeneratePrompt("x", suffix="y"), GenerateOptions()):
                pass
    finally:
        await backend.aclose()


async def test_openai_compatible_listing_embed_and_no_pull(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.add_model(ScriptedModel(name="served:latest", reply="ok"))
    ollama_emulator.add_model(ScriptedModel(name="embedder", capabilities=["embedding"], embedding_dim=8))
    backend = OpenAICompatBackend(ollama_emulator.url + "/v1")
    try:
        assert "2 model(s)" in await backend.health()
        assert (await backend.show("served:latest")).capabilities == ["completion"]
        with pytest.raises(ModelNotFound):
            await backend.show("ghost")
        with pytest.raises(NotSupported):
            async for _ in backend.pull("served:latest"):
                pass
        assert len((await backend.embed("embedder", ["x"]))[0]) == 8
        stream = backend.generate_stream("served:latest", GeneratePrompt("p"), GenerateOptions())
        text = "".join([c.text async for c in stream])
        assert text == "ok"
    finally:
        await backend.aclose()


async def test_unreachable_endpoints_raise_endpoint_unreachable() -> None:
    for backend in (OllamaBackend(closed_port_url()), OpenAICompatBackend(closed_port_url() + "/v1")):
        with pytest.raises(EndpointUnreachable):
            await backend.health()
        await backend.aclose()


@pytest.mark.parametrize(
    ("chars", "num_predict", "expected"),
    [(0, 1024, 2048), (3000, 1024, 4096), (30000, 1024, 16384), (10**6, 1024, 32768)],
)
def test_num_ctx_is_sized_from_the_prompt(chars: int, num_predict: int, expected: int) -> None:
    assert num_ctx_for(chars, num_predict, 32768) == expected
