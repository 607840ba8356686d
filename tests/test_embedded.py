"""The built-in team's decisions, without starting the runtime: which team answers
(``embedded.enabled`` auto/on/off, configured endpoints), the settings of the built-in team, the
Ollama probe (against the emulator), and a missing runtime reported with its fix."""

from __future__ import annotations

import pytest
from coding_director.backends.embedded import (
    TEAM_COMPLETION_TIMEOUT_MS,
    RuntimeNotInstalled,
    builtin_team,
    choose_team,
    endpoint_configured,
    ollama_answers,
    resolve_spec,
)
from coding_director.settings import EMBEDDED_ENDPOINT, EmbeddedSettings, load_settings

from tests.emulator import OllamaEmulator


@pytest.fixture(autouse=True)
def _no_ollama_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OLLAMA_HOST", "CODING_DIRECTOR_CONFIG", "CODING_DIRECTOR_EMBEDDED__ENABLED"):
        monkeypatch.delenv(name, raising=False)


def test_builtin_team_keeps_tier_names_and_serves_them_from_the_runtime() -> None:
    team = builtin_team(load_settings())
    assert set(team.tiers) == {"router", "math", "lead", "senior", "principal"}
    assert {t.provider for t in team.tiers.values()} == {"embedded"}
    assert {t.model for t in team.tiers.values()} == {"smollm2-135m-instruct"}
    assert [team.tier(t).temperature for t in ("lead", "senior", "principal")] == [0.2, 0.6, 0.9]
    assert team.tier("router").num_predict == 16 and team.tier("lead").num_predict == 384
    assert team.routing.router == "offline"  # a 135M router is no better than chance
    assert team.completion.timeout_ms >= TEAM_COMPLETION_TIMEOUT_MS
    assert team.endpoint_of("lead") == EMBEDDED_ENDPOINT


def test_builtin_team_leaves_tiers_with_their_own_endpoint() -> None:
    settings = load_settings(
        tiers={"principal": {"model": "big", "provider": "openai", "base_url": "http://gpu:8000/v1"}},
        routing={"router": "model"},
    )
    team = builtin_team(settings)
    assert team.tier("principal").provider == "openai" and team.tier("principal").model == "big"
    assert team.tier("lead").provider == "embedded"
    assert team.routing.router == "model"  # asked for explicitly: kept


async def test_off_and_on_need_no_probe() -> None:
    off = await choose_team(load_settings(embedded={"enabled": "off"}))
    assert off.runtime == "configured" and off.settings.tier("lead").provider == "ollama"
    on = await choose_team(load_settings(embedded={"enabled": "on"}))
    assert on.runtime == "embedded" and on.settings.tier("lead").provider == "embedded"


async def test_auto_keeps_a_configured_endpoint_even_when_it_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    settings = load_settings()
    assert endpoint_configured(settings)
    choice = await choose_team(settings)
    assert choice.runtime == "configured" and choice.settings is settings


async def test_auto_without_ollama_uses_the_builtin_team() -> None:
    settings = load_settings()
    assert not endpoint_configured(settings)
    if await ollama_answers(settings.ollama.host, 1.0):
        pytest.skip(f"an Ollama answers at {settings.ollama.host}")
    choice = await choose_team(settings)
    assert choice.runtime == "embedded" and "no Ollama answers" in choice.reason
    assert choice.settings.tier("lead").provider == "embedded"


async def test_the_probe_asks_ollamas_version_endpoint(ollama_emulator: OllamaEmulator) -> None:
    assert await ollama_answers(ollama_emulator.url, 2.0)
    assert not await ollama_answers("http://127.0.0.1:9", 0.5)  # nothing listens on the discard port


async def test_auto_without_ollama_and_without_runtime_keeps_the_ollama_settings() -> None:
    settings = load_settings(embedded={"python": "/nonexistent/bin/python"})
    if await ollama_answers(settings.ollama.host, 1.0):
        pytest.skip(f"an Ollama answers at {settings.ollama.host}")
    choice = await choose_team(settings)
    assert choice.runtime == "configured" and "not installed" in choice.reason
    assert choice.settings.tier("lead").provider == "ollama"


def test_a_missing_runtime_is_reported_with_its_fix() -> None:
    with pytest.raises(RuntimeNotInstalled) as info:
        resolve_spec(EmbeddedSettings(python="/nonexistent/bin/python"))
    assert "not installed" in info.value.reason and "runtime install" in (info.value.fix or "")
