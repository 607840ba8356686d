"""Placement learns from the team memory: every recorded request carries its complexity, the
threshold is learned from the memory's requests (not a second history), and ``stats`` shows where
the threshold stands and how it moved."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from coding_director.features.stats import memory_stats
from coding_director.memory import open_memory
from coding_director.memory.records import AttemptRecord, RequestRecord
from coding_director.results import RouteDecision
from coding_director.routing.complexity import ComplexityInput
from coding_director.routing.frontier import Frontier
from coding_director.settings import Settings, load_settings

from tests.emulator import OllamaEmulator
from tests.helpers import add_team
from tests.test_cli import config, run

NOW = 1_900_000_000.0


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        tiers={"frontier": {"model": "f", "provider": "openai", "base_url": "https://example.invalid/v1"}},
        routing={"frontier": "complex"},
        memory={"path": str(tmp_path / "memory.sqlite3")},
        placement={"ledger_path": str(tmp_path / "ledger.sqlite3"), "threshold": 0.85, "threshold_max": 0.95,
                   "min_samples": 20, "prices": {"f": {"input_usd_per_mtok": 1, "output_usd_per_mtok": 2}}},
    )  # fmt: skip


def _attempt(tier: str, outcome: str) -> AttemptRecord:
    return AttemptRecord(tier, "m", "ollama", outcome, None, None, 10.0, None, None, None, None)


def _record_history(settings: Settings) -> None:
    """30 requests at complexity 0.3 (27 accepted by the lead first try), 30 at 0.7 (6 accepted:
    the rest escalated), 10 frontier-first at 0.9 and a cancelled and a cached one that must not count."""
    memory = open_memory(settings)
    assert memory is not None
    n = 0

    def add(complexity: float, attempts: list[AttemptRecord], **extra: object) -> None:
        nonlocal n
        n += 1
        fields: dict[str, Any] = {"source": "chat", "domain": "general", "intent": "fix", **extra}
        memory.record(RequestRecord(id=f"r{n}", created_at=NOW - 3600 + n, complexity=complexity, attempts=attempts,
                                    **fields))

    for i in range(30):
        add(0.3, [_attempt("lead", "accepted" if i < 27 else "rejected"), _attempt("senior", "accepted")])
        escalated = [_attempt("lead", "rejected"), _attempt("senior", "error")]
        add(0.7, [_attempt("lead", "accepted")] if i < 6 else escalated)
    for _ in range(10):
        add(0.9, [_attempt("frontier", "accepted")])
    add(0.7, [_attempt("lead", "accepted")], cancelled=True)
    add(0.7, [], cached=True)
    add(0.7, [_attempt("lead", "skipped"), _attempt("senior", "accepted")], source="completion")
    assert memory.flush()
    memory.close()


async def test_the_threshold_learns_from_the_memory_and_stats_show_it(tmp_path: Path) -> None:
    """Acceptance (issue 15, item 3): low local first-try acceptance in one band, high in another,
    recorded in the team memory; the threshold moves the failing band to the frontier, every move
    is logged and ``stats`` reports it."""
    settings = _settings(tmp_path)
    _record_history(settings)
    memory = open_memory(settings)
    assert memory is not None
    history = memory.placement_history(settings.is_local)
    rows = history.placement_rows(0.0, 5000)
    assert len(rows) == 70  # cancelled, cached and completion requests left out
    assert sum(r.local_first for r in rows) == 60 and not any(r.local_first for r in rows if r.complexity == 0.9)
    frontier = Frontier(settings, history=history, clock=lambda: NOW)
    decision = RouteDecision(domain="general", intent="fix", confidence=0.9, decided_by="offline")
    placed, _, _ = await frontier.place(decision, ["lead", "senior"], ComplexityInput(prompt="Fix it", intent="fix"))
    assert frontier.last_state is not None and frontier.last_state.threshold == 0.6
    assert "similar requests accepted first try 33/60" in (placed.placement_reason or "")

    report = await memory_stats(memory, "30d", now=NOW, frontier=frontier)
    assert report.placement is not None
    assert (report.placement.mode, report.placement.threshold, report.placement.configured) == ("complex", 0.6, 0.85)
    assert [(c.old, c.new) for c in report.placement.changes] == [(0.85, 0.6)]
    bands = {(b.lower, b.upper): (b.accepted, b.samples, b.side) for b in report.placement.bands}
    assert bands[(0.2, 0.4)] == (27, 30, "local") and bands[(0.6, 0.8)] == (6, 30, "frontier")
    # The memory is the history: the engine's outcome is not written to the ledger a second time.
    await frontier.record(0.5, decision, [])
    assert frontier.ledger.placement_rows(0.0, 100) == []
    frontier.close()
    memory.close()


def test_every_request_records_its_complexity_and_cli_stats_show_placement(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(ollama_emulator, lead="Use a dict comprehension.")
    cfg = config(tmp_path, ollama_emulator.url)
    run("ask", "--config", str(cfg), "How do I invert a dict in Python?")
    report = json.loads(run("stats", "--config", str(cfg), "--json").stdout)
    assert report["requests"] == 1
    placement = report["placement"]
    assert placement["mode"] == "off" and "nothing leaves this machine" in placement["reason"]
    text = run("stats", "--config", str(cfg)).stdout
    assert "placement: routing.frontier = off" in text

    settings = load_settings(cfg)
    memory = open_memory(settings)
    assert memory is not None
    rows = memory.placement_history(settings.is_local).placement_rows(time.time() - 600, 10)
    memory.close()
    assert len(rows) == 1 and 0.0 <= rows[0].complexity <= 1.0
    assert rows[0].local_first and rows[0].accepted_first
    assert rows[0].intent == report["routes"][0]["route"].split("/")[1]
