"""Placement: the complexity estimate, the routing.frontier policy, and the threshold that learns from
recorded history (pure functions, and the ledger that logs every move)."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from coding_director.results import RouteDecision
from coding_director.routing.complexity import ComplexityInput, code_shape, estimate_complexity
from coding_director.routing.frontier import Frontier
from coding_director.routing.ledger import Ledger
from coding_director.routing.placement import HistoryRow, band_stats, history_row, learn_threshold, place_chain
from coding_director.settings import PlacementSettings, SettingsError, load_settings

NESTED = '''\
def settle(orders, ledger):
    for order in orders:
        if order.paid:
            for line in order.lines:
                while line.pending:
                    if line.amount > 0 and ledger.open or order.rush:
                        ledger.post(line)
                    line.pending -= 1
        elif order.cancelled:
            try:
                ledger.void(order)
            except KeyError:
                pass
'''
FLAT = "def add(a, b):\n    return a + b\n"


def test_code_shape_counts_nesting_and_decisions_with_tree_sitter() -> None:
    assert code_shape(FLAT, "python") == (0, 0)
    nesting, decisions = code_shape(NESTED, "python")
    # for > if > for > while > if is five deep; decisions: for, if, for, while, if, and/or (one
    # boolean_operator node each), elif, except.
    assert nesting == 5 and decisions == 9
    js = "function f(x){ if (x && y) { for (;;) { return x ? 1 : 2 } } }"
    assert code_shape(js, "javascript") == (2, 4)
    # Unsupported languages: indentation and branch keywords.
    assert code_shape("if a:\n    if b:\n        if c:\n            x()\n", None) == (2, 3)


def test_complexity_orders_requests_as_expected() -> None:
    trivial = estimate_complexity(ComplexityInput(prompt="Add a docstring", intent="docs", code=FLAT,
                                                  language="python", context_tokens=20, files=1))
    hard = estimate_complexity(ComplexityInput(
        prompt="The settlement job double-posts under load: find the race between the ledger and the retry "
               "worker across these modules and propose a design that makes posting idempotent.",
        intent="debug", code=NESTED, language="python", context_tokens=3500, files=4))
    assert 0.0 <= trivial.score < 0.3 < 0.7 < hard.score <= 1.0
    assert "intent" in hard.explain() and hard.explain().startswith(f"complexity {hard.score:.2f}")


def test_team_memory_moves_the_estimate_within_bounds() -> None:
    base = ComplexityInput(prompt="Fix the off-by-one", intent="fix", code=FLAT, language="python")
    alone = estimate_complexity(base).score
    failing = estimate_complexity(_with(base, (0, 1000))).score
    passing = estimate_complexity(_with(base, (1000, 1000))).score
    few = estimate_complexity(_with(base, (0, 2))).score
    assert passing < alone < few < failing
    assert failing - alone == pytest.approx(0.3 * (0.5 - 5 / 1010), abs=1e-3)  # at most +0.15


def _with(request: ComplexityInput, similar: tuple[int, int]) -> ComplexityInput:
    return replace(request, similar=similar)


def test_policy_per_mode() -> None:
    chain = ["lead", "senior", "principal"]
    assert place_chain("off", 0.99, 0.5, chain)[:2] == ("local", chain)
    assert place_chain("fallback", 0.99, 0.5, chain)[:2] == ("local", [*chain, "frontier"])
    assert place_chain("complex", 0.7, 0.5, chain)[:2] == ("frontier", ["frontier", *chain])
    assert place_chain("complex", 0.3, 0.5, chain)[:2] == ("local", [*chain, "frontier"])
    assert place_chain("complex", 0.5, 0.5, chain)[0] == "frontier"  # at the threshold: frontier
    assert place_chain("fallback", 0.1, 0.5, ["lead", "frontier"])[1] == ["lead", "frontier"]  # not twice


def rows(band_rates: dict[float, tuple[int, int]], seed: int = 7) -> list[HistoryRow]:
    """Synthetic recorded history: for each band centre, (accepted, total) first-try local outcomes,
    in shuffled order, plus requests that went to the frontier first (they must not count)."""
    out: list[HistoryRow] = []
    for centre, (accepted, total) in band_rates.items():
        out += [HistoryRow(centre, "general", "fix", True, i < accepted, float(i)) for i in range(total)]
        out += [HistoryRow(centre, "general", "fix", False, False, float(i)) for i in range(5)]
    random.Random(seed).shuffle(out)
    return out


def test_threshold_moves_a_failing_band_to_the_frontier_and_keeps_a_passing_band_local() -> None:
    """Acceptance: low local first-try acceptance in one band, high in another (deterministic)."""
    settings = PlacementSettings(threshold=0.85, threshold_min=0.3, threshold_max=0.95, min_samples=20)
    history = rows({0.3: (27, 30), 0.7: (6, 30)})  # band 0.2-0.4: 90 %; band 0.6-0.8: 20 %
    state = learn_threshold(history, settings)
    assert state.threshold == 0.6 and state.configured == 0.85
    assert place_chain("complex", 0.7, state.threshold, ["lead"])[0] == "frontier"
    assert place_chain("complex", 0.3, state.threshold, ["lead"])[0] == "local"
    sides = {(b.lower, b.upper): (b.samples, b.accepted, b.side) for b in state.bands}
    assert sides[(0.2, 0.4)] == (30, 27, "local") and sides[(0.6, 0.8)] == (30, 6, "frontier")
    assert sides[(0.0, 0.2)] == (0, 0, None)  # frontier-first rows never count as local outcomes
    assert "0 on the wrong side" in state.reason
    # Deterministic: the same history in any order gives the same threshold.
    assert all(learn_threshold(rows({0.3: (27, 30), 0.7: (6, 30)}, seed), settings).threshold == 0.6
               for seed in range(5))


def test_threshold_stays_within_the_user_bounds() -> None:
    history = rows({0.3: (27, 30), 0.7: (6, 30)})
    high = PlacementSettings(threshold=0.85, threshold_min=0.75, threshold_max=0.95)
    assert learn_threshold(history, high).threshold == 0.75  # as low as allowed; band 0.6-0.8 stays local
    failing_everywhere = rows({0.1: (0, 40), 0.5: (1, 40), 0.9: (2, 40)})
    bounded = PlacementSettings(threshold=0.6, threshold_min=0.4, threshold_max=0.9)
    assert learn_threshold(failing_everywhere, bounded).threshold == 0.4
    passing_everywhere = rows({0.1: (40, 40), 0.5: (39, 40), 0.9: (38, 40)})
    assert learn_threshold(passing_everywhere, bounded).threshold == 0.9


def test_without_enough_history_or_learning_the_configured_threshold_applies() -> None:
    settings = PlacementSettings(threshold=0.65, min_samples=20)
    sparse = learn_threshold(rows({0.7: (0, 19)}), settings)
    assert sparse.threshold == 0.65 and "no band has 20" in sparse.reason
    fixed = learn_threshold(rows({0.7: (0, 50)}), PlacementSettings(learn=False))
    assert fixed.threshold == 0.65 and "learn is off" in fixed.reason
    assert [b.samples for b in band_stats([], settings)] == [0] * 5


async def test_every_move_of_the_threshold_is_logged_and_reported(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for row in rows({0.3: (27, 30), 0.7: (6, 30)}):
        ledger.record(HistoryRow(row.complexity, row.domain, row.intent, row.local_first, row.accepted_first, 1000.0))
    settings = load_settings(
        tiers={"frontier": {"model": "f", "provider": "openai", "base_url": "https://example.invalid/v1"}},
        routing={"frontier": "complex"},
        placement={"ledger_path": str(ledger.path), "threshold": 0.85, "threshold_max": 0.95,
                   "prices": {"f": {"input_usd_per_mtok": 1, "output_usd_per_mtok": 2}}},
    )
    frontier = Frontier(settings, clock=lambda: 2000.0)
    decision = RouteDecision(domain="general", intent="fix", confidence=0.9, decided_by="offline")
    placed, tiers, _ = await frontier.place(decision, ["lead"], ComplexityInput(prompt="Fix it", intent="fix"))
    assert frontier.last_state is not None and frontier.last_state.threshold == 0.6
    report = await frontier.report()
    assert report.threshold == 0.6 and report.configured == 0.85 and report.mode == "complex"
    assert [(c.old, c.new) for c in report.changes] == [(0.85, 0.6)]
    assert "learned from 60 requests" in report.changes[0].reason
    # Learning again from the same history is no move, so nothing more is logged.
    await frontier.place(decision, ["lead"], ComplexityInput(prompt="Fix it", intent="fix"))
    assert len(ledger.threshold_changes()) == 1
    # The similar requests (same route) lowered the local chain's standing: the estimate moved up.
    assert placed.complexity is not None and "similar requests accepted first try 33/60" in (
        placed.placement_reason or "")
    assert tiers in (["lead", "frontier"], ["frontier", "lead"])
    frontier.close()
    ledger.close()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"routing": {"frontier": "fallback"}}, "routing.frontier: 'fallback' needs a tier named 'frontier'"),
        ({"routing": {"frontier": "complex"}, "tiers": {"frontier": {"model": "m"}}},
         "the frontier tier must be 'openai'"),
        ({"routing": {"frontier": "fallback"},
          "tiers": {"frontier": {"model": "m", "provider": "openai", "base_url": "https://x.invalid/v1"}}},
         "placement.prices: no price for the frontier model 'm'"),
        ({"placement": {"threshold": 0.95}}, "threshold 0.95 must lie within threshold_min 0.4 and threshold_max 0.9"),
    ],
)
def test_bad_placement_settings_are_reported_by_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(**overrides)


def test_a_zero_budget_needs_no_price_and_the_frontier_is_never_local() -> None:
    settings = load_settings(
        tiers={"frontier": {"model": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1"},
               "gpu": {"model": "g", "base_url": "http://192.168.1.20:11434"},
               "box": {"model": "b", "provider": "openai", "base_url": "http://localhost:8080/v1"},
               "trusted": {"model": "t", "base_url": "http://10.0.0.2:11434", "local": True}},
        routing={"frontier": "fallback"},
        placement={"daily_budget_usd": 0},
    )
    assert not settings.is_local("frontier")  # even on a loopback address: it is the frontier
    assert not settings.is_local("gpu") and settings.is_local("box") and settings.is_local("trusted")
    assert settings.is_local("lead")  # the default Ollama host is 127.0.0.1


def test_history_rows_from_recorded_attempts() -> None:
    """The adapter the team memory feeds: (tier, outcome) pairs in order, the first asked tier decides."""
    local = {"lead": True, "senior": True, "frontier": False}.__getitem__
    row = history_row(0.4, "general", "fix", [("lead", "skipped"), ("senior", "accepted")], local, 5.0)
    assert row == HistoryRow(0.4, "general", "fix", True, True, 5.0)
    first_frontier = history_row(0.8, "math", "arch", [("frontier", "rejected"), ("lead", "accepted")], local, 6.0)
    assert first_frontier is not None and not first_frontier.local_first and not first_frontier.accepted_first
    assert history_row(0.1, "general", "fix", [("lead", "skipped")], local, 7.0) is None
    gone = history_row(0.1, "general", "fix", [("removed-tier", "accepted")], local, 8.0)  # tier no longer configured
    assert gone is not None and gone.local_first is False


def test_a_frontier_tier_does_not_stop_the_built_in_team_from_serving_the_local_tiers() -> None:
    from coding_director.backends.embedded import endpoint_configured

    frontier = {"frontier": {"model": "m", "provider": "openai", "base_url": "https://openrouter.ai/api/v1"}}
    assert not endpoint_configured(load_settings(tiers=frontier))
    assert endpoint_configured(load_settings(tiers={**frontier, "lead": {"model": "x", "base_url": "http://gpu:1"}}))


def test_the_ledger_gives_the_latest_rows_since_a_time_oldest_first(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for at in (100.0, 300.0, 200.0, 400.0, 50.0):
        ledger.record(HistoryRow(0.5, "general", "fix", True, True, at))
    assert [r.at for r in ledger.placement_rows(100.0, 10)] == [100.0, 200.0, 300.0, 400.0]
    assert [r.at for r in ledger.placement_rows(100.0, 2)] == [300.0, 400.0]  # the latest two
