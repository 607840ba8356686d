"""The API's requests in the team memory, and ``GET /metrics`` showing the figures of ``stats``
(issues 12 and 14): ``coding-director api`` in a subprocess, the official ``openai`` client, the
Ollama emulator, and ``coding-director stats --json`` on the same database."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api_process import api_process
from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import BAD_PY, add_team
from tests.test_api import ADD_PROMPT, FIM_MODEL, client, info, write_config
from tests.test_cli import run


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def stats_json(config: Path) -> dict[str, Any]:
    proc = run("stats", "--config", str(config), "--json")
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def stats_when(config: Path, requests: int) -> dict[str, Any]:
    """``stats --json`` once ``requests`` requests are recorded (the writer thread commits them
    moments after they end), or after 20 s whatever there is."""
    report = stats_json(config)
    deadline = time.monotonic() + 20
    while report["requests"] < requests and time.monotonic() < deadline:
        time.sleep(0.2)
        report = stats_json(config)
    return report


def test_api_requests_are_recorded_and_metrics_show_the_figures_of_stats(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator, lead=BAD_PY)
    ollama_emulator.add_model(ScriptedModel(name=FIM_MODEL, reply="a + b", capabilities=["completion", "insert"]))
    config = write_config(tmp_path, ollama_emulator.url)
    with api_process(config) as api:
        openai_client = client(api)
        messages: Any = [{"role": "user", "content": ADD_PROMPT}]
        first = openai_client.chat.completions.create(model="coding-director", messages=messages)
        assert [a["outcome"] for a in info(first)["attempts"]] == ["rejected", "accepted"]
        calls = len(ollama_emulator.calls("/api/chat"))
        second = info(openai_client.chat.completions.create(model="coding-director", messages=messages))
        for _ in range(50):  # the first answer enters the cache moments after it is recorded
            if second["cached"]:
                break
            time.sleep(0.1)
            second = info(openai_client.chat.completions.create(model="coding-director", messages=messages))
        assert second["cached"] is True and second["attempts"] == []
        answered = len(ollama_emulator.calls("/api/chat")) - calls  # calls before the cache had the answer
        completion = openai_client.completions.create(model="coding-director", prompt="x = ", suffix="\n")
        assert completion.choices[0].text == "a + b"
        asked = 2 + answered // 2 + 1  # chats that called the team (2 attempts each), the cached one, the completion
        report = stats_when(config, asked)
        metrics = httpx.get(api.url + "/metrics", timeout=30)
        assert metrics.status_code == 200
        wide = httpx.get(api.url + "/metrics", params={"since": "30d"}, timeout=30)
        bad = httpx.get(api.url + "/metrics", params={"since": "forever"}, timeout=30)

    # Recorded with source "api": the chats and the completion (intent "complete").
    assert report["requests"] == asked and report["bySource"] == {"api": asked}
    assert report["cacheHits"] == 1 and report["cacheHitRate"] == round(1 / (asked - 1), 4)
    assert report["routerDecisions"] == {"api": {"offline": asked - 2}}
    tiers = {t["tier"]: t for t in report["tiers"]}
    assert tiers["lead"]["outcomes"] == {"rejected": asked - 2}
    assert tiers["senior"]["outcomes"] == {"accepted": asked - 2} and tiers["fim"]["outcomes"] == {"accepted": 1}

    # /metrics: the same figures, from the same report.
    got = samples(metrics.text)

    def value(name: str, **labels: str) -> float | None:
        return got.get((f"coding_director_stats_{name}", tuple(sorted(labels.items()))))

    start = value("window_start_seconds")
    assert start is not None and abs(start - report["since"]) < 60  # both "7 days before now", moments apart
    assert value("requests", source="api") == asked
    for tier, t in tiers.items():
        for outcome, n in t["outcomes"].items():
            assert value("attempts", tier=tier, outcome=outcome) == n, (tier, outcome)
        assert value("acceptance_ratio", tier=tier) == t["acceptanceRate"]
        for quantile, key in (("0.5", "p50"), ("0.95", "p95")):
            ms = t["latencyMs"][key]
            assert value("attempt_latency_seconds", tier=tier, quantile=quantile) == ms / 1000
            ttft = t["firstTokenMs"][key]
            assert value("first_token_seconds", tier=tier, quantile=quantile) == (None if ttft is None else ttft / 1000)
        assert value("decode_tokens_per_second", tier=tier) == t["tokensPerS"]
        for reason, n in t["reasons"].items():
            assert value("attempt_reasons", tier=tier, reason=reason) == n
    for route in report["routes"]:
        assert value("route_requests", route=route["route"]) == route["requests"]
        assert value("escalation_ratio", route=route["route"]) == route["escalationRate"]
    assert value("router_decisions", source="api", decided_by="offline") == asked - 2
    assert value("cache_hits") == 1 and value("cache_hit_ratio") == report["cacheHitRate"]
    assert value("completions_shown") == 0 and value("completion_acceptance_ratio") is None  # no editor here
    # The process counters are still there, counting only what this process served.
    assert got[("coding_director_attempts_total", (("outcome", "rejected"), ("tier", "lead")))] == asked - 2
    assert samples(wide.text)[("coding_director_stats_requests", (("source", "api"),))] == asked
    assert bad.status_code == 400 and "since" in bad.json()["error"]["message"]


def test_metrics_without_memory_has_only_the_process_counters(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    add_team(ollama_emulator)
    with api_process(write_config(tmp_path, ollama_emulator.url, "[memory]\nenabled = false\n")) as api:
        messages: Any = [{"role": "user", "content": "hi"}]
        reply = client(api).chat.completions.create(model="coding-director", messages=messages)
        assert info(reply)["cached"] is False
        text = httpx.get(api.url + "/metrics", timeout=30).text
    assert "coding_director_attempts_total" in text and "coding_director_stats_" not in text
