"""Model residency against the Ollama emulator: keep_alive per tier, the completion model never
unloaded by a chat request, the least recently used chat tier unloaded when a model would not fit,
the warm-up at start. Memory is injected (``residency.ram_bytes``): no decision depends on this
machine's RAM."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

import pytest
from coding_director.backends import BackendPool, GenerateOptions, Message
from coding_director.backends.residency import (
    Residency,
    Resident,
    full_name,
    plan_room,
    residency_config,
    team_fit,
)
from coding_director.durations import keep_alive_seconds
from coding_director.features.residency import completion_num_ctx, warm_up
from coding_director.settings import Settings, load_settings

from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import TIER_MODELS, team_settings

GB = 1_000_000_000
LEAD = TIER_MODELS["lead"]  # the completion tier's model (completion.tier = "lead")
#: Disk size (``/api/tags``) per tier; once loaded a model takes 1.2 times that (``/api/ps``), which is
#: also the policy's estimate before it has seen the model loaded (``residency.load_factor``).
DISK = {"router": 4 * GB, "math": 4 * GB, "lead": 8 * GB, "senior": 4 * GB, "principal": 4 * GB}


def team_models() -> list[ScriptedModel]:
    return [
        ScriptedModel(
            name=TIER_MODELS[tier],
            reply="ok",
            size=DISK[tier],
            memory_size=DISK[tier] * 12 // 10,
            capabilities=["completion", "insert"] if tier == "lead" else ["completion"],
        )
        for tier in TIER_MODELS
    ]


@pytest.fixture
def emu() -> Iterator[OllamaEmulator]:
    """A CPU-only emulated Ollama with room for every model, so that only our policy unloads."""
    with OllamaEmulator(team_models(), vram_bytes=0, max_loaded_models=0) as emulator:
        yield emulator


def settings_for(url: str, ram_bytes: int = 20 * GB, tiers: dict[str, object] | None = None,
                 **residency: object) -> Settings:
    """The five tiers on the emulator (``tiers`` overrides), ``ram_bytes`` of memory for models, no
    VRAM, no count limit."""
    policy = {"ram_bytes": ram_bytes, "vram_bytes": 0, "max_loaded_models": 0, **residency}
    return team_settings(url, residency=policy, tiers=tiers or {})


async def chat(pool: BackendPool, tier: str) -> None:
    spec = pool.settings.tier(tier)
    stream = pool.for_tier(tier).chat_stream(spec.model, [Message(role="user", content="hi")], GenerateOptions())
    async for _ in stream:
        pass


def unload_requests(emu: OllamaEmulator) -> list[str]:
    """Models of the ``keep_alive: 0`` requests the emulator received, in order."""
    loads = [r for r in emu.calls(path="/api/generate") if r.load_only]
    return [full_name(r.json["model"]) for r in loads if r.json.get("keep_alive") == 0]


def ps_bytes(emu: OllamaEmulator) -> int:
    return sum(runner.size for runner, _ in emu.scheduler.ps())


# -- against the emulator -----------------------------------------------------------------------------
async def test_chat_requests_never_unload_the_completion_model(emu: OllamaEmulator) -> None:
    settings = settings_for(emu.url)
    pool = BackendPool(settings)
    try:
        assert (await warm_up(settings, pool)).outcome == "loaded"
        for tier in ["math", "senior", "principal", "router", "math", "senior"]:
            await chat(pool, tier)
            assert LEAD in emu.loaded, f"after a chat on {tier}"
            assert ps_bytes(emu) <= 20 * GB
    finally:
        await pool.aclose()
    # Lead was loaded first, so it is the least recently used model throughout: only the chat tiers go.
    chat_models = [TIER_MODELS[t] for t in ("math", "senior", "principal", "router")]
    assert unload_requests(emu) == chat_models
    assert emu.scheduler.unloaded == chat_models and LEAD not in emu.scheduler.unloaded


async def test_the_least_recently_used_chat_tier_is_unloaded_first(emu: OllamaEmulator) -> None:
    pool = BackendPool(settings_for(emu.url))
    try:
        await warm_up(pool.settings, pool)
        await chat(pool, "math")
        await chat(pool, "senior")
        await chat(pool, "math")  # math is now the more recent of the two
        assert unload_requests(emu) == []  # lead + math + senior = 19.2 GB fit in 20 GB
        await chat(pool, "principal")  # 4.8 GB more: one of them must go
        assert unload_requests(emu) == [TIER_MODELS["senior"]]
        assert set(emu.loaded) == {LEAD, TIER_MODELS["math"], TIER_MODELS["principal"]}
    finally:
        await pool.aclose()


def ollama_victim(emu: OllamaEmulator, *names: str) -> str:
    """The model Ollama's own scheduler unloads among idle ``names`` of equal keep_alive (by model path)."""
    return min(names, key=lambda n: emu.models[n].digest)


async def test_ollama_alone_unloads_by_name_the_policy_by_recent_use() -> None:
    """Without the policy, an Ollama short of memory unloads the idle model with the shortest
    keep_alive, ties by model path: here the chat tier used last. With it, the least recently used."""
    math_m, senior_m = TIER_MODELS["math"], TIER_MODELS["senior"]
    results = {}
    for enabled in (False, True):
        with OllamaEmulator(team_models(), vram_bytes=0, memory_bytes=20 * GB, max_loaded_models=0) as emulator:
            recent = ollama_victim(emulator, math_m, senior_m)  # use this one last: Ollama would drop it
            older = senior_m if recent == math_m else math_m
            pool = BackendPool(settings_for(emulator.url, enabled=enabled))
            try:
                await warm_up(pool.settings, pool)
                for model in (older, recent, older, recent):
                    await chat(pool, next(t for t, m in TIER_MODELS.items() if m == model))
                await chat(pool, "principal")
            finally:
                await pool.aclose()
            results[enabled] = (emulator.scheduler.unloaded, recent, older)
    unloaded, recent, older = results[False]
    assert unloaded == [recent]  # Ollama's rule: the model just used goes
    unloaded, recent, older = results[True]
    assert unloaded == [older]  # ours: the least recently used goes, before Ollama has to choose


async def test_max_loaded_models_unloads_the_lru_chat_tier(emu: OllamaEmulator) -> None:
    pool = BackendPool(settings_for(emu.url, ram_bytes=100 * GB, max_loaded_models=3))
    try:
        await warm_up(pool.settings, pool)
        await chat(pool, "router")
        await chat(pool, "math")
        await chat(pool, "senior")  # a fourth model where Ollama keeps three (OLLAMA_MAX_LOADED_MODELS)
    finally:
        await pool.aclose()
    assert unload_requests(emu) == [TIER_MODELS["router"]]
    assert LEAD in emu.loaded and len(emu.loaded) == 3


async def test_keep_alive_per_model_is_sent(emu: OllamaEmulator) -> None:
    pool = BackendPool(settings_for(emu.url, tiers={"principal": {"keep_alive": "20m"}}))
    try:
        for tier in ("lead", "math", "principal"):
            await chat(pool, tier)
    finally:
        await pool.aclose()
    sent = {full_name(r.json["model"]): r.json["keep_alive"] for r in emu.calls(path="/api/chat")}
    assert sent == {LEAD: "1h", TIER_MODELS["math"]: "5m", TIER_MODELS["principal"]: "20m"}
    expiry = {runner.model.name: expires for runner, expires in emu.scheduler.ps()}
    assert expiry[LEAD] > expiry[TIER_MODELS["principal"]] > expiry[TIER_MODELS["math"]]


async def test_warm_up_loads_the_completion_model_once(emu: OllamaEmulator) -> None:
    settings = settings_for(emu.url)
    pool = BackendPool(settings)
    try:
        first = await warm_up(settings, pool)
        second = await warm_up(settings, pool)
    finally:
        await pool.aclose()
    assert first.outcome == "loaded" and LEAD in first.message and second.outcome == "skipped"
    (load,) = [r for r in emu.calls(path="/api/generate") if r.load_only]
    assert full_name(load.json["model"]) == LEAD and load.json["prompt"] == "" and load.json["keep_alive"] == "1h"
    assert load.json["options"]["num_ctx"] == completion_num_ctx(settings) == 4096
    (runner, _), = emu.scheduler.ps()
    assert runner.model.name == LEAD and runner.num_ctx == 4096


async def test_warm_up_makes_room_and_is_skipped_without_completions(emu: OllamaEmulator) -> None:
    pool = BackendPool(settings_for(emu.url, ram_bytes=15 * GB))
    try:
        await chat(pool, "math")
        await chat(pool, "senior")  # 9.6 GB loaded: the 9.6 GB completion model needs one to go
        assert (await warm_up(pool.settings, pool)).outcome == "loaded"
    finally:
        await pool.aclose()
    assert unload_requests(emu) == [TIER_MODELS["math"]]
    off = team_settings(emu.url, completion={"enabled": False})
    pool = BackendPool(off)
    try:
        assert (await warm_up(off, pool)).outcome == "skipped"
    finally:
        await pool.aclose()
    assert len([r for r in emu.requests if r.load_only]) == 2  # the unload and the one warm-up


async def test_vram_reported_by_ps_adds_to_the_memory_for_models() -> None:
    models = team_models()
    router = next(m for m in models if m.name == TIER_MODELS["router"])
    router.size, router.memory_size = 2_500_000_000, 3 * GB
    with OllamaEmulator(models, vram_bytes=6 * GB, max_loaded_models=0) as emulator:
        settings = team_settings(emulator.url, residency={"ram_bytes": 12 * GB, "max_loaded_models": 0})
        pool = BackendPool(settings)
        try:
            await warm_up(settings, pool)  # 9.6 GB: 6 GB of it on the GPU
            await chat(pool, "math")  # /api/ps now shows 6 GB in VRAM: 18 GB for models
            await chat(pool, "router")  # 9.6 + 4.8 + 3 = 17.4 GB: fits only with the VRAM counted
            residency = pool.residency_for("lead")
            assert residency is not None
            capacity = residency.capacity()
            assert (capacity.ram_bytes, capacity.vram_bytes) == (12 * GB, 6 * GB) and "/api/ps" in capacity.source
        finally:
            await pool.aclose()
        assert unload_requests(emulator) == [] and len(emulator.loaded) == 3
        assert [r.vram for r, _ in emulator.scheduler.ps() if r.model.name == LEAD] == [6 * GB]


async def test_a_residency_check_that_times_out_never_fails_the_request(emu: OllamaEmulator) -> None:
    pool = BackendPool(settings_for(emu.url, ram_bytes=1 * GB, timeout_s=1e-6))  # nothing fits in 1 GB
    try:
        for tier in ("math", "senior", "principal"):
            hi = [Message(role="user", content="hi")]
            stream = pool.for_tier(tier).chat_stream(pool.settings.tier(tier).model, hi, GenerateOptions())
            assert "".join([c.text async for c in stream]) == "ok"
    finally:
        await pool.aclose()
    assert unload_requests(emu) == [] and len(emu.loaded) == 3  # the check gave up: Ollama decides alone


# -- the policy, pure ---------------------------------------------------------------------------------
def resident(model: str, gb: float, expires_in_s: float = 300.0) -> Resident:
    return Resident(model=model, size_bytes=int(gb * GB), expires_in_s=expires_in_s)


def test_plan_room_never_picks_protected_or_busy_models() -> None:
    loaded = [resident("lead", 9.6, 3600), resident("math", 4.8), resident("senior", 4.8)]
    chats = {"math", "senior", "principal"}
    plan = plan_room("principal", int(4.8 * GB), loaded, 20 * GB, chat_models=chats, protected={"lead"},
                     last_used={"math": 2.0, "senior": 1.0})
    assert plan.unload == ("senior",) and plan.fits
    busy = plan_room("principal", int(4.8 * GB), loaded, 20 * GB, chat_models=chats, protected={"lead"},
                     last_used={"math": 2.0, "senior": 1.0}, busy={"senior"})
    assert busy.unload == ("math",) and busy.fits
    stuck = plan_room("principal", int(4.8 * GB), loaded, 20 * GB, chat_models=chats, protected={"lead"},
                      busy={"math", "senior"})
    assert stuck.unload == () and not stuck.fits
    huge = plan_room("principal", 15 * GB, loaded, 20 * GB, chat_models=chats, protected={"lead"})
    assert huge.unload == ("math", "senior") and not huge.fits  # never the completion model, even then


def test_plan_room_orders_never_used_models_by_expiry_and_respects_the_count() -> None:
    loaded = [resident("a", 1, 200), resident("b", 1, 100), resident("c", 1, 50)]
    plan = plan_room("d", GB, loaded, None, chat_models={"a", "b", "c"}, last_used={"c": 5.0}, max_loaded=3)
    assert plan.unload == ("b",)  # a and b never used here: b expires sooner; c was used
    assert plan_room("a", GB, loaded, None, chat_models={"a"}).reason == "a is already loaded"
    assert plan_room("d", GB, loaded, 10 * GB, chat_models={"a", "b", "c"}).unload == ()


def test_team_fit_says_what_is_swapped() -> None:
    sizes = {"lead": 10 * GB, "math": 5 * GB, "senior": 5 * GB, "huge": 12 * GB, "gone": None}
    fit = team_fit(sizes, "lead", 21 * GB)
    assert not fit.fits and fit.completion_fits
    assert fit.swapped == ("math", "senior") and fit.evicts_completion == ("huge",) and fit.unknown == ("gone",)
    assert team_fit({"lead": 10 * GB, "math": 5 * GB}, "lead", 21 * GB).fits
    assert not team_fit({"lead": 10 * GB, "math": 5 * GB}, "lead", 21 * GB, max_loaded=1).fits
    assert team_fit({"lead": 10 * GB}, "lead", None).fits


def test_keep_alive_of_a_model_is_the_longest_of_its_tiers(emu: OllamaEmulator) -> None:
    tiers = {tier: {"model": model} for tier, model in TIER_MODELS.items()}
    tiers["senior"] = {"model": LEAD, "keep_alive": -1}
    tiers["principal"]["keep_alive"] = "90s"
    settings = load_settings(ollama={"host": emu.url, "keep_alive": 600}, tiers=tiers)
    config = residency_config(settings, emu.url)
    assert config.keep_alive[LEAD] == "-1s"  # senior shares the completion model and keeps it forever
    assert config.keep_alive[TIER_MODELS["principal"]] == "90s"
    assert config.keep_alive[TIER_MODELS["math"]] == config.default_keep_alive == "600s"
    assert config.completion_model == LEAD and LEAD not in config.chat_models
    assert math.isinf(keep_alive_seconds("-1s")) and keep_alive_seconds("1h30m") == 5400


def test_capacity_from_total_ram_minus_reserve_and_for_a_remote_ollama() -> None:
    settings = team_settings("http://127.0.0.1:11434", residency={"reserve_bytes": 4 * GB})
    pool = BackendPool(settings)
    backend = pool.for_tier("lead")
    local = Residency(backend, residency_config(settings, settings.ollama.host), total_ram=lambda: 24 * GB)
    assert (local.capacity().ram_bytes, local.capacity().vram_bytes) == (20 * GB, 0)
    assert "psutil" in local.capacity().source
    unified = replace(residency_config(settings, settings.ollama.host), unified_memory=True)
    assert "unified" in Residency(backend, unified, total_ram=lambda: 24 * GB).capacity().source
    remote = team_settings("http://gpu-box:11434")
    config = residency_config(remote, remote.ollama.host)
    assert not config.local and Residency(backend, config, total_ram=lambda: 24 * GB).capacity().total_bytes is None
