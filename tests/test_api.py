"""The OpenAI-compatible API, run as a user runs it (``coding-director api`` in a subprocess), driven
by the official ``openai`` client (and httpx for what that client cannot send), against the Ollama
emulator."""

from __future__ import annotations

import asyncio
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.api_process import ApiProcess, api_process
from tests.emulator import OllamaEmulator, ScriptedModel, ScriptRequest
from tests.helpers import BAD_PY, GOOD_PY, TIER_MODELS, add_team, closed_port_url

ADD_PROMPT = "Write a Python function that adds two numbers."
FIM_MODEL = "fim-m:latest"
SLOW = {"reply": GOOD_PY, "tokens_per_chunk": 1, "chunk_delay_ms": 400}


def write_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    """A config file whose tiers are the emulator's ``<tier>-m`` models plus a FIM tier."""
    tiers = "".join(f'[tiers.{tier}]\nmodel = "{model}"\n' for tier, model in TIER_MODELS.items())
    text = (
        f'[ollama]\nhost = "{url}"\n{tiers}[tiers.fim]\nmodel = "{FIM_MODEL}"\n'
        f'[routing]\nrouter = "offline"\n[completion]\ntier = "fim"\n{extra}'
    )
    path = tmp_path / "coding-director.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def api(ollama_emulator: OllamaEmulator, tmp_path: Path) -> Iterator[ApiProcess]:
    """The API in front of the emulator (models are added by each test before the first request)."""
    with api_process(write_config(tmp_path, ollama_emulator.url)) as server:
        yield server


def client(server: ApiProcess, api_key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=api_key, max_retries=0, timeout=60)


def info(obj: Any) -> dict[str, Any]:
    """The ``coding_director`` extra field of an openai response object."""
    extra = obj.model_extra or {}
    assert "coding_director" in extra, obj
    value: dict[str, Any] = extra["coding_director"]
    return value


# -- chat -----------------------------------------------------------------------------------------
def test_chat_escalation_trail(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    response = client(api).chat.completions.create(
        model="coding-director", messages=[{"role": "user", "content": ADD_PROMPT}]
    )
    assert response.object == "chat.completion"
    assert response.choices[0].message.content == GOOD_PY
    assert response.choices[0].finish_reason == "stop"
    trail = info(response)
    lead, senior = trail["attempts"]
    assert (lead["tier"], lead["outcome"]) == ("lead", "rejected") and "does not parse" in lead["reason"]
    assert (senior["tier"], senior["outcome"]) == ("senior", "accepted")
    assert trail["finalTier"] == "senior" and trail["accepted"] is True and trail["cached"] is False
    assert trail["route"]["domain"] == "general" and trail["route"]["intent"] == "generate"
    assert response.usage is not None and response.usage.completion_tokens > 0
    assert len(ollama_emulator.calls("/api/chat", model="lead-m")) == 1


def test_chat_streamed_buffers_rejected_attempts(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    stream = client(api).chat.completions.create(
        model="coding-director",
        messages=[{"role": "user", "content": ADD_PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == GOOD_PY  # the lead's rejected answer was never sent
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 1  # decided, then sent whole
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens > 0
    trail = info(last)
    assert [(a["tier"], a["outcome"]) for a in trail["attempts"]] == [("lead", "rejected"), ("senior", "accepted")]
    assert all("coding_director" not in (c.model_extra or {}) for c in chunks[:-1])


def test_stream_ends_with_done(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator)
    body = {"model": "coding-director", "stream": True, "messages": [{"role": "user", "content": ADD_PROMPT}]}
    response = httpx.post(api.url + "/v1/chat/completions", json=body, timeout=30)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert '"coding_director"' in events[-2] and '"finish_reason":"stop"' in events[-2]


def test_pinned_tier_is_a_one_tier_chain(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, senior=BAD_PY)
    response = client(api).chat.completions.create(
        model="coding-director/senior", messages=[{"role": "user", "content": ADD_PROMPT}]
    )
    trail = info(response)
    assert [a["tier"] for a in trail["attempts"]] == ["senior"]
    assert trail["accepted"] is False and trail["finalTier"] == "senior"  # the best answer, marked
    assert response.choices[0].message.content == BAD_PY
    assert not ollama_emulator.calls("/api/chat", model="lead-m")
    assert response.model == "coding-director/senior"


def test_sampling_options_reach_the_model(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator)
    client(api).chat.completions.create(
        model="coding-director",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is a closure?"},
            {"role": "assistant", "content": "A function with its environment."},
            {"role": "user", "content": ADD_PROMPT},
        ],
        max_tokens=40,
        temperature=0.55,
        stop=["<END>"],
    )
    (call,) = ollama_emulator.calls("/api/chat", model="lead-m")
    options = call.json["options"]
    assert options["num_predict"] == 40 and options["temperature"] == 0.55 and options["stop"] == ["<END>"]
    contents = [m["content"] for m in call.json["messages"]]
    assert "Be brief." in contents and "A function with its environment." in contents
    assert ADD_PROMPT in contents[-1]


def test_max_tokens_cuts_the_answer(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead="one two three four five six seven eight nine ten")
    response = client(api).chat.completions.create(
        model="coding-director/lead", messages=[{"role": "user", "content": "What is a closure?"}], max_tokens=3
    )
    assert response.choices[0].message.content == "one two three"


# -- completions and models -----------------------------------------------------------------------
def test_completion_with_suffix_uses_fim(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.add_model(
        ScriptedModel(name=FIM_MODEL, reply="return a + b\n\n\nprint('x')", capabilities=["completion", "insert"])
    )
    completion = client(api).completions.create(
        model="coding-director", prompt="def add(a, b):\n    ", suffix="\n\nprint(add(1, 2))\n", max_tokens=20
    )
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "return a + b"  # postprocessed: cut at the block's end
    (call,) = ollama_emulator.calls("/api/generate", model=FIM_MODEL)
    assert call.json["suffix"] == "\n\nprint(add(1, 2))\n" and call.json["options"]["num_predict"] == 20


def test_completion_streamed(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.add_model(ScriptedModel(name=FIM_MODEL, reply="a + b", capabilities=["completion", "insert"]))
    stream = client(api).completions.create(model="coding-director", prompt="x = ", suffix="\n", stream=True)
    assert "".join(c.choices[0].text for c in stream) == "a + b"


def test_models_lists_the_team_and_each_tier(api: ApiProcess) -> None:
    ids = [m.id for m in client(api).models.list()]
    assert ids[0] == "coding-director"
    assert {f"coding-director/{tier}" for tier in ("lead", "senior", "principal", "math", "fim")} <= set(ids)


# -- errors ---------------------------------------------------------------------------------------
def test_malformed_json_is_400(api: ApiProcess) -> None:
    response = httpx.post(
        api.url + "/v1/chat/completions",
        content=b'{"model": "coding-director", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_json"
    assert "could not parse the JSON body" in error["message"]


def test_invalid_field_is_400_naming_it(api: ApiProcess) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(api).chat.completions.create(
            model="coding-director", messages=[{"role": "user", "content": "hi"}], temperature=7
        )
    assert caught.value.status_code == 400 and caught.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as caught:
        client(api).chat.completions.create(model="coding-director", messages=[{"role": "assistant", "content": "x"}])
    assert "last message must be the user's" in caught.value.message


def test_unknown_model_is_404(api: ApiProcess) -> None:
    for name in ("gpt-4o", "coding-director/nobody"):
        with pytest.raises(openai.NotFoundError) as caught:
            client(api).chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "model_not_found" and caught.value.param == "model"
        assert "coding-director/lead" in caught.value.message


def test_unknown_path_and_body_too_large(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, ollama_emulator.url, "[api]\nmax_body_bytes = 2048\n")
    with api_process(config) as server:
        response = httpx.get(server.url + "/v2/anything")
        assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_url"
        big = {"model": "coding-director", "messages": [{"role": "user", "content": "x" * 5000}]}
        response = httpx.post(server.url + "/v1/chat/completions", json=big)
        assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
        assert not ollama_emulator.calls("/api/chat")


def test_token_required_when_configured(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator)
    config = write_config(tmp_path, ollama_emulator.url, '[api]\ntoken_env = "TEST_API_TOKEN"\n')
    with api_process(config, env={"TEST_API_TOKEN": "s3cret"}) as server:
        with pytest.raises(openai.AuthenticationError) as caught:
            client(server, "wrong").models.list()
        assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
        response = httpx.get(server.url + "/v1/models")  # no Authorization header at all
        assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"
        assert response.headers["www-authenticate"] == "Bearer"
        answer = client(server, "s3cret").chat.completions.create(
            model="coding-director", messages=[{"role": "user", "content": ADD_PROMPT}]
        )
        assert answer.choices[0].message.content == GOOD_PY


def test_non_loopback_bind_needs_a_token(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.api_process import REPO, clean_env

    proc = subprocess.run(
        [sys.executable, "-m", "coding_director", "api", "--config", str(write_config(tmp_path, ollama_emulator.url)),
         "--host", "0.0.0.0", "--port", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=60, env=clean_env(),
    )  # fmt: skip
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0" in proc.stderr and "token_env" in proc.stderr


def test_every_tier_down_is_503(tmp_path: Path) -> None:
    with api_process(write_config(tmp_path, closed_port_url())) as server:
        with pytest.raises(openai.InternalServerError) as caught:
            client(server).chat.completions.create(
                model="coding-director", messages=[{"role": "user", "content": ADD_PROMPT}]
            )
        assert caught.value.status_code == 503 and caught.value.code == "service_unavailable"
        assert "ollama serve" in caught.value.message  # the fix is named
        with pytest.raises(openai.InternalServerError):  # also before a stream starts
            list(
                client(server).chat.completions.create(
                    model="coding-director", messages=[{"role": "user", "content": ADD_PROMPT}], stream=True
                )
            )
        health = httpx.get(server.url + "/health", timeout=30)
        assert health.status_code == 503 and health.json()["status"] == "down"


def test_concurrency_limit_is_429(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=SLOW)
    config = write_config(tmp_path, ollama_emulator.url, "[api]\nmax_concurrency = 1\n")
    with api_process(config) as server:
        first = threading.Thread(
            target=lambda: client(server).chat.completions.create(
                model="coding-director", messages=[{"role": "user", "content": ADD_PROMPT}]
            )
        )
        first.start()
        assert ollama_emulator.wait_for(lambda: bool(ollama_emulator.calls("/api/chat")), within=30)
        with pytest.raises(openai.RateLimitError) as caught:
            client(server).chat.completions.create(
                model="coding-director", messages=[{"role": "user", "content": ADD_PROMPT}]
            )
        assert caught.value.status_code == 429 and caught.value.response.headers["retry-after"] == "1"
        assert httpx.get(server.url + "/v1/models").status_code == 200  # only model calls are limited
        first.join(60)


def test_cors_off_unless_configured(ollama_emulator: OllamaEmulator, tmp_path: Path, api: ApiProcess) -> None:
    preflight = {"Origin": "http://notebook.local", "Access-Control-Request-Method": "POST"}
    response = httpx.options(api.url + "/v1/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    config = write_config(tmp_path, ollama_emulator.url, '[api]\ncors_origins = ["http://notebook.local"]\n')
    with api_process(config) as server:
        response = httpx.options(server.url + "/v1/chat/completions", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://notebook.local"


# -- health and metrics ---------------------------------------------------------------------------
def test_health_and_metrics(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    ollama_emulator.add_model(ScriptedModel(name=FIM_MODEL, reply="1", capabilities=["completion", "insert"]))
    health = httpx.get(api.url + "/health", timeout=30).json()
    assert health["status"] == "ok"
    assert {t["name"]: t["model"] for t in health["tiers"]}["lead"] == "lead-m:latest"
    client(api).chat.completions.create(model="coding-director", messages=[{"role": "user", "content": ADD_PROMPT}])
    text = httpx.get(api.url + "/metrics").text
    assert re.search(r'coding_director_attempts_total\{outcome="rejected",tier="lead"\} 1\.0', text)
    assert re.search(r'coding_director_attempts_total\{outcome="accepted",tier="senior"\} 1\.0', text)
    assert re.search(r'coding_director_api_requests_total\{endpoint="/v1/chat/completions",status="200"\} 1\.0', text)
    count = r'coding_director_api_request_duration_seconds_count\{endpoint="/v1/chat/completions"\} 1\.0'
    assert re.search(count, text)
    assert 'coding_director_attempt_duration_seconds_bucket{le="+Inf",tier="senior"} 1.0' in text


# -- cancellation and shutdown --------------------------------------------------------------------
def test_client_disconnect_mid_stream_closes_the_model_stream(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead=SLOW)
    body = {"model": "coding-director", "stream": True, "messages": [{"role": "user", "content": ADD_PROMPT}]}
    with httpx.stream("POST", api.url + "/v1/chat/completions", json=body, timeout=30) as response:
        first = next(response.iter_lines())
        assert first.startswith("data: ") and '"role":"assistant"' in first
    # the client is gone: the model's stream must be closed early, long before its 14 chunks x 400 ms
    assert ollama_emulator.wait_for(lambda: ollama_emulator.calls("/api/chat")[0].closed_early, within=3)
    assert not ollama_emulator.calls("/api/chat")[0].completed


def test_client_disconnect_before_the_answer_closes_the_model_stream(
    api: ApiProcess, ollama_emulator: OllamaEmulator
) -> None:
    add_team(ollama_emulator, lead=SLOW)
    body = {"model": "coding-director", "messages": [{"role": "user", "content": ADD_PROMPT}]}

    async def run() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            request = asyncio.create_task(http.post(api.url + "/v1/chat/completions", json=body))
            started = await ollama_emulator.wait_for_async(
                lambda: any(c.chunks_sent for c in ollama_emulator.calls("/api/chat")), within=30
            )
            assert started and not request.done()
            request.cancel()  # the client gives up: httpx closes the connection
            with pytest.raises(asyncio.CancelledError):
                await request

    asyncio.run(run())
    assert ollama_emulator.wait_for(lambda: ollama_emulator.calls("/api/chat")[0].closed_early, within=3)


def test_sigterm_with_requests_in_flight(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator, lead=SLOW)
    outcomes: dict[str, BaseException | str] = {}
    with api_process(write_config(tmp_path, ollama_emulator.url)) as server:

        def streamed() -> None:
            try:
                stream = client(server).chat.completions.create(
                    model="coding-director", messages=[{"role": "user", "content": ADD_PROMPT}], stream=True
                )
                outcomes["stream"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            except BaseException as exc:
                outcomes["stream"] = exc

        def plain() -> None:
            try:
                client(server).chat.completions.create(
                    model="coding-director", messages=[{"role": "user", "content": ADD_PROMPT}]
                )
                outcomes["plain"] = "answered"
            except BaseException as exc:
                outcomes["plain"] = exc

        threads = [threading.Thread(target=streamed), threading.Thread(target=plain)]
        for thread in threads:
            thread.start()
        assert ollama_emulator.wait_for(
            lambda: len([c for c in ollama_emulator.calls("/api/chat") if c.chunks_sent]) == 2, within=30
        )
        time.sleep(0.2)  # the stream's role chunk is out
        server.proc.send_signal(signal.SIGTERM)
        code = server.finish(30)
        for thread in threads:
            thread.join(30)
    assert code == 0, server.stderr
    assert "Traceback" not in server.stderr and "ERROR" not in server.stderr, server.stderr
    stream_error = outcomes["stream"]
    assert isinstance(stream_error, openai.APIError) and "shutting down" in stream_error.message
    plain_error = outcomes["plain"]
    assert isinstance(plain_error, openai.InternalServerError) and plain_error.status_code == 503
    assert all(c.closed_early for c in ollama_emulator.calls("/api/chat"))


# -- load -----------------------------------------------------------------------------------------
def _numbered_reply(request: ScriptRequest) -> str:
    match = re.search(r"request number (\d+)", request.prompt)
    number = match.group(1) if match else "?"
    return f"Closures, explained for case {number}: a function that keeps the variables of its scope."


def test_fifty_concurrent_streamed_chats(api: ApiProcess, ollama_emulator: OllamaEmulator) -> None:
    add_team(ollama_emulator, lead={"reply": _numbered_reply})

    async def one(aclient: openai.AsyncOpenAI, number: int) -> tuple[str, dict[str, Any]]:
        stream = await aclient.chat.completions.create(
            model="coding-director",
            messages=[{"role": "user", "content": f"Explain closures in JavaScript, request number {number}"}],
            stream=True,
        )
        parts, trail = [], {}
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
            trail = (chunk.model_extra or {}).get("coding_director", trail)
        return "".join(parts), trail

    async def run() -> list[tuple[str, dict[str, Any]]]:
        aclient = openai.AsyncOpenAI(base_url=api.url + "/v1", api_key="x", max_retries=0, timeout=120)
        try:
            return await asyncio.gather(*(one(aclient, n) for n in range(50)))
        finally:
            await aclient.close()

    results = asyncio.run(run())
    for number, (text, trail) in enumerate(results):
        assert text == f"Closures, explained for case {number}: a function that keeps the variables of its scope."
        assert trail["accepted"] is True and [a["tier"] for a in trail["attempts"]] == ["lead"]
    assert len(ollama_emulator.calls("/api/chat", model="lead-m")) == 50
