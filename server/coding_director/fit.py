"""Whether the configured team fits the machine: the fit table of ``coding-director doctor``.

Per Ollama server: each active tier's model, its size (``/api/tags``, bytes on disk), the memory it
takes once loaded (``/api/ps`` when it is or was loaded, else size times ``residency.load_factor``),
whether it is loaded now, its ``keep_alive``; then whether the whole team fits the memory for
models (RAM from psutil or ``residency.ram_bytes``, VRAM as ``/api/ps`` reports it or
``residency.vram_bytes``) and, when it does not, which models take turns (:func:`team_fit`).
"""

from __future__ import annotations

import asyncio
import math

from pydantic import Field

from coding_director.backends import BackendError, BackendPool, ModelInfo
from coding_director.backends.residency import Residency, TeamFit, full_name, team_fit
from coding_director.durations import describe_seconds
from coding_director.settings import Settings
from coding_director.wire import WireModel


class Check(WireModel):
    """One check: ``name`` (e.g. ``tier lead model``), ``ok``, a human ``detail`` and, when not ok,
    the ``fix`` (a command or setting to change)."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


class FitRow(WireModel):
    """One tier: ``size_bytes`` on disk (``None``: not on the server), ``memory_bytes`` once loaded
    (measured by ``/api/ps`` when ``measured``, else estimated), ``loaded`` now (``vram_bytes`` of it
    on the GPU, ``until`` when Ollama unloads it), its ``keep_alive`` and ``role``."""

    tier: str
    model: str
    role: str
    size_bytes: int | None
    memory_bytes: int | None
    measured: bool = False
    loaded: bool = False
    vram_bytes: int | None = None
    until: str | None = None
    keep_alive: str


class FitTable(WireModel):
    """The fit of the team on one Ollama ``endpoint``; memory in bytes (``capacity_bytes``: RAM plus
    VRAM for models, ``None``: unknown). ``fits``: every model loaded at once; ``swapped``: models
    that take turns beside the completion model; ``evicts_completion``: models too big to load beside it."""

    endpoint: str
    rows: list[FitRow]
    ram_bytes: int | None
    vram_bytes: int
    capacity_bytes: int | None
    capacity_source: str
    team_bytes: int
    max_loaded_models: int
    fits: bool
    completion_fits: bool
    swapped: list[str] = Field(default_factory=list)
    evicts_completion: list[str] = Field(default_factory=list)
    summary: str


def gb(n: int | None) -> str:
    """Bytes in decimal gigabytes, as ``ollama ps`` shows them (``"4.1 GB"``; ``"?"`` for ``None``)."""
    return "?" if n is None else f"{n / 1e9:.1f} GB"


async def fit_tables(
    settings: Settings,
    pool: BackendPool,
    tiers: list[str],
    listings: dict[str, list[ModelInfo] | None],
    timeout_s: float,
) -> list[FitTable]:
    """A :class:`FitTable` for every reachable Ollama server among ``tiers`` (``listings``: its
    ``/api/tags`` models by endpoint, ``None`` when unreachable). ``/api/ps`` failing or taking more
    than ``timeout_s`` seconds leaves that server out."""
    tables = []
    by_endpoint: dict[str, list[str]] = {}
    for tier in tiers:
        if settings.tier(tier).provider == "ollama":
            by_endpoint.setdefault(settings.endpoint_of(tier), []).append(tier)
    for endpoint, names in by_endpoint.items():
        listing = listings.get(endpoint)
        residency = pool.residency_for(names[0])
        if listing is None or residency is None:
            continue
        try:
            async with asyncio.timeout(timeout_s):
                tables.append(await _table(residency, endpoint, names, listing, settings))
        except (BackendError, TimeoutError):
            continue
    return tables


async def _table(
    residency: Residency, endpoint: str, tiers: list[str], listing: list[ModelInfo], settings: Settings
) -> FitTable:
    resident = {r.model: r for r in await residency.snapshot()}
    disk = {full_name(m.name): m.size_bytes for m in listing}
    completion = residency.config.completion_model
    rows = []
    footprints: dict[str, int | None] = {}
    for tier in tiers:
        model = full_name(settings.tier(tier).model)
        loaded = resident.get(model)
        memory = await residency.footprint(model) if model in disk else None
        footprints[model] = memory
        rows.append(
            FitRow(
                tier=tier,
                model=model,
                role="completion" if model == completion else "chat",
                size_bytes=disk.get(model),
                memory_bytes=memory,
                measured=loaded is not None or model in residency.measured,
                loaded=loaded is not None,
                vram_bytes=loaded.vram_bytes if loaded else None,
                until=(f"in {describe_seconds(loaded.expires_in_s)}" if math.isfinite(loaded.expires_in_s)
                       else "forever") if loaded else None,
                keep_alive=residency.keep_alive_of(model),
            )
        )
    capacity = residency.capacity()
    max_loaded = residency.config.policy.max_loaded_models
    fit = team_fit(footprints, completion, capacity.total_bytes, max_loaded)
    return FitTable(
        endpoint=endpoint, rows=rows, team_bytes=fit.total_bytes, max_loaded_models=max_loaded,
        ram_bytes=capacity.ram_bytes, vram_bytes=capacity.vram_bytes,
        capacity_bytes=capacity.total_bytes, capacity_source=capacity.source,
        fits=fit.fits, completion_fits=fit.completion_fits,
        swapped=list(fit.swapped), evicts_completion=list(fit.evicts_completion),
        summary=_summary(fit, completion, _tier_names(rows), max_loaded, endpoint),
    )


def _tier_names(rows: list[FitRow]) -> dict[str, str]:
    """Model -> the tiers it serves (``"lead"``, ``"senior/principal"``)."""
    names: dict[str, list[str]] = {}
    for row in rows:
        names.setdefault(row.model, []).append(row.tier)
    return {model: "/".join(tiers) for model, tiers in names.items()}


def _summary(fit: TeamFit, completion: str | None, tiers: dict[str, str], max_loaded: int, endpoint: str) -> str:
    models = len(tiers)
    need = f"{models} model{'s' if models != 1 else ''} need {gb(fit.total_bytes)}"
    if fit.capacity_bytes is None:
        return f"{need}; the memory of the Ollama at {endpoint} is unknown (set residency.ram_bytes)"
    if fit.fits:
        return f"the team fits: {need} of {gb(fit.capacity_bytes)}; nothing is swapped"
    parts = [f"the team does not fit at once: {need} of {gb(fit.capacity_bytes)}"]
    if max_loaded and models > max_loaded:
        parts.append(f"Ollama keeps at most {max_loaded} loaded (OLLAMA_MAX_LOADED_MODELS)")
    if completion and not fit.completion_fits:
        parts.append(f"the completion model ({tiers[completion]}: {completion}) alone does not fit")
    elif completion:
        parts.append(f"the completion model ({tiers[completion]}: {completion}) stays loaded")
    if fit.swapped:
        turns = ", ".join(tiers[m] for m in fit.swapped)
        parts.append(f"{turns} take turns beside it (the least recently used chat tier is unloaded first)")
    if fit.evicts_completion:
        evicting = ", ".join(tiers[m] for m in fit.evicts_completion)
        parts.append(f"{evicting} cannot load beside the completion model: Ollama unloads it for them")
    return "; ".join(parts)


def fit_check(table: FitTable) -> Check:
    """The doctor check of ``table``: fails when the completion model cannot stay loaded (alone, or
    beside one of the chat tiers)."""
    ok = table.completion_fits and not table.evicts_completion
    fix = None if ok else (
        "use a smaller model for the tiers named, free memory, or set residency.ram_bytes / residency.vram_bytes "
        "if the memory for models was measured wrong"
    )
    return Check(name=f"model residency {table.endpoint}", ok=ok, detail=table.summary, fix=fix)


def render_fit_table(table: FitTable) -> list[str]:
    """The text lines ``doctor`` prints for ``table``."""
    ram = gb(table.ram_bytes)
    lines = [f"Model residency on {table.endpoint}: {gb(table.capacity_bytes)} for models (RAM {ram}, "
             f"VRAM {gb(table.vram_bytes)}; {table.capacity_source})"]
    header = ("tier", "model", "size", "in memory", "loaded", "keep_alive")
    cells = [header]
    for row in table.rows:
        memory = gb(row.memory_bytes) + ("" if row.measured or row.memory_bytes is None else " (est.)")
        if row.loaded:
            on_gpu = f", {gb(row.vram_bytes)} VRAM" if row.vram_bytes else ""
            loaded = f"yes{on_gpu}, {row.until}"
        else:
            loaded = "no"
        tier = row.tier + (" *" if row.role == "completion" else "")
        cells.append((tier, row.model, gb(row.size_bytes), memory, loaded, row.keep_alive))
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines += ["  " + "  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells]
    lines.append("  * the completion model: kept loaded, never unloaded to make room")
    return lines
