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


async def test_no_backend_builds_a_tls_context_of_its_own(
    ollama_emulator: OllamaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every client of a backend (the model calls and ``health``'s ``GET /api/version``) uses the
    process's shared TLS context: building one costs 50-60 ms of blocked event loop."""
    import ssl

    from coding_director.backends.embedded import ollama_answers
    from coding_director.backends.transport import shared_ssl_context

    shared_ssl_context()
    built: list[object] = []
    library = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: built.append(a) or library(*a, **k))
    ollama = OllamaBackend(ollama_emulator.url)
    compat = OpenAICompatBackend(f"{ollama_emulator.url}/v1")
    try:
        assert "Ollama" in await ollama.health()
        await compat.health()
        assert await ollama_answers(ollama_emulator.url, 2.0)  # the built-in team's check at start
    finally:
        await ollama.aclose()
        await compat.aclose()
    assert built == []


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


def _raised_through(backend: OllamaBackend | OpenAICompatBackend, exc: Exception) -> BaseException:
    """What ``backend._translate("m")`` turns ``exc`` into."""
    with pytest.raises(BaseException) as caught, backend._translate("m"):
        raise exc
    return caught.value


def test_translate_maps_the_clients_exceptions_before_the_common_ones() -> None:
    """The client's own mapping wins (httpx's ConnectError is also a transport error), then the
    common one (a broken connection, a parsing failure); anything else passes unchanged."""
    import httpx
    import httpx2
    import ollama
    import openai
    from coding_director.backends import errors

    ollama_backend = OllamaBackend("http://127.0.0.1:1")
    request = httpx2.Request("POST", "http://o/v1/chat/completions")
    limited = openai.RateLimitError("slow", response=httpx2.Response(429, headers={"retry-after": "3"},
                                                                      request=request), body=None)
    other = RuntimeError("a bug of ours")
    cases: list[tuple[OllamaBackend | OpenAICompatBackend, Exception, type[BaseException]]] = [
        (ollama_backend, ollama.ResponseError("model not found", 404), ModelNotFound),
        (ollama_backend, httpx.ConnectError("refused"), EndpointUnreachable),
        (ollama_backend, httpx.ReadTimeout("slow"), errors.BackendTimeout),
        (ollama_backend, httpx.RemoteProtocolError("cut"), errors.StreamInterrupted),
        (ollama_backend, ValueError("not JSON"), errors.MalformedResponse),
        (ollama_backend, other, RuntimeError),
        (OpenAICompatBackend("http://o/v1"), limited, errors.RateLimited),
        (OpenAICompatBackend("http://o/v1"), openai.APIConnectionError(request=request), EndpointUnreachable),
        (OpenAICompatBackend("http://o/v1"), httpx2.RemoteProtocolError("cut"), errors.StreamInterrupted),
        (OpenAICompatBackend("http://o/v1"), KeyError("choices"), errors.MalformedResponse),
        (OpenAICompatBackend("http://o/v1"), other, RuntimeError),
    ]
    for backend, exc, expected in cases:
        raised = _raised_through(backend, exc)
        assert type(raised) is expected, (exc, raised)
        assert raised is exc if expected is RuntimeError else raised.__cause__ is exc
    rate_limited = _raised_through(OpenAICompatBackend("http://o/v1"), limited)
    assert isinstance(rate_limited, errors.RateLimited) and rate_limited.retry_after_s == 3.0
    assert _raised_through(ollama_backend, ollama.ResponseError("x", 404)).fix == "ollama pull m"  # type: ignore[attr-defined]
