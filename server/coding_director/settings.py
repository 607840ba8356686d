"""Configuration: one pydantic-settings model for every entry point (CLI, API, language server).

Precedence, lowest first (each layer overrides only the keys it names):

1. defaults below (the seed design's team of models);
2. a TOML file: ``--config PATH`` or the ``CODING_DIRECTOR_CONFIG`` environment variable;
3. ``OLLAMA_HOST`` (the variable every Ollama client honours) for ``ollama.host``;
4. environment variables prefixed ``CODING_DIRECTOR_`` with ``__`` between nested keys
   (``CODING_DIRECTOR_ROUTING__ROUTER=offline``, ``CODING_DIRECTOR_TIERS__LEAD__MODEL=...``);
5. explicit overrides passed by the caller (the language server's editor settings).

Nothing else is read: no ``.env`` file and no other variable of the user's project (a project's
``.env`` with ``DATABASE_URL=...`` is not ours, and its secrets must not enter our configuration).

A malformed file or value raises :class:`SettingsError` whose message names the key; nothing is
ever half-configured.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from coding_director.durations import KeepAlive

CONFIG_ENV = "CODING_DIRECTOR_CONFIG"
ENV_PREFIX = "CODING_DIRECTOR_"
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
#: The endpoint name of tiers served by the built-in runtime (its port is chosen when it starts).
EMBEDDED_ENDPOINT = "embedded://llama.cpp"

Provider = Literal["ollama", "openai", "embedded"]
RouterMode = Literal["auto", "model", "offline"]
#: ``routing.frontier``: never use the frontier tier, add it after the local chain, or send requests
#: above the complexity threshold to it first (see :mod:`coding_director.routing.placement`).
FrontierMode = Literal["off", "fallback", "complex"]
#: The name of the frontier tier (``[tiers.frontier]``).
FRONTIER_TIER = "frontier"


class SettingsError(ValueError):
    """A configuration value or file is invalid. ``str(error)`` names the offending key(s)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TierSettings(_Section):
    """One member of the team: which model answers and where it is served.

    ``provider = "ollama"`` talks to ``base_url`` or, when unset, ``ollama.host``.
    ``provider = "openai"`` talks to any OpenAI-compatible server (llama.cpp, vLLM, LM Studio,
    OpenRouter) at ``base_url`` (required), with the API key read from the environment variable
    named by ``api_key_env``. ``provider = "embedded"`` is the built-in runtime (``[embedded]``,
    :mod:`coding_director.backends.embedded`); ``model`` is then a model alias it serves.
    """

    model: str = Field(min_length=1)
    provider: Provider = "ollama"
    base_url: str | None = None
    api_key_env: str | None = None
    max_ctx: int = Field(default=32768, ge=512, description="Upper bound for num_ctx, in tokens.")
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    num_predict: int = Field(default=1024, ge=1, description="Maximum tokens generated per attempt.")
    timeout_s: float | None = Field(default=None, gt=0, description="Per-attempt timeout; routing default.")
    keep_alive: KeepAlive | None = Field(
        default=None,
        description="Ollama keep_alive of this tier's model (e.g. '5m', '1h', -1 = forever); "
        "default: completion.keep_alive for the completion tier, else ollama.keep_alive.",
    )
    local: bool | None = Field(
        default=None,
        description="Whether this tier's server runs on this machine (local tiers get the context unfiltered). "
        "Default: the tier named 'frontier' never is; the built-in runtime always is; otherwise when "
        "its endpoint's host is a loopback address (localhost, 127.0.0.0/8, ::1).",
    )

    @model_validator(mode="after")
    def _openai_needs_url(self) -> TierSettings:
        if self.provider == "openai" and not self.base_url:
            raise ValueError("provider 'openai' needs base_url (e.g. http://127.0.0.1:8080/v1)")
        return self


DEFAULT_TIERS: dict[str, dict[str, Any]] = {
    "router": {"model": "openhermes:7b", "num_predict": 16, "temperature": 0.0},
    "math": {"model": "mathstral:7b"},
    "lead": {"model": "deepseek-coder-v2:16b-lite-instruct-q4_0"},
    "senior": {"model": "codellama:13b"},
    "principal": {"model": "wizardcoder:13b-python"},
}


class OllamaSettings(_Section):
    """Where the default Ollama server lives and how the client talks to it."""

    host: str = DEFAULT_OLLAMA_HOST
    keep_alive: KeepAlive = Field(
        default="5m",
        description="Ollama keep_alive of the chat tiers: how long a model stays loaded after a request "
        "(Ollama's own default, 5 minutes). Per tier: tiers.<name>.keep_alive.",
    )
    connect_timeout_s: float = Field(default=3.0, gt=0)

    @field_validator("host")
    @classmethod
    def _normalise_host(cls, value: str) -> str:
        return normalise_ollama_host(value)


class RoutingSettings(_Section):
    """How requests are classified and escalated."""

    router: RouterMode = "auto"
    router_tier: str = "router"
    general_chain: list[str] = Field(default_factory=lambda: ["lead", "senior", "principal"], min_length=1)
    math_chain: list[str] = Field(default_factory=lambda: ["math", "senior", "principal"], min_length=1)
    confidence_threshold: float = Field(
        default=0.895,
        ge=0.0,
        le=1.0,
        description="In 'auto' mode the router model is asked below this calibrated confidence "
        "(default: chosen by scripts/train_router.py on training CV, about 12% of requests).",
    )
    router_timeout_s: float = Field(default=10.0, gt=0)
    attempt_timeout_s: float = Field(default=120.0, gt=0)
    request_timeout_s: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=4, ge=1)
    frontier: FrontierMode = Field(
        default="off",
        description="'off': nothing leaves this machine; 'fallback': the frontier tier after the local chain; "
        "'complex': requests at or above the complexity threshold go to the frontier tier first "
        "(the others as with 'fallback'). Needs [tiers.frontier].",
    )


class ModelPrice(_Section):
    """What a model costs, in US dollars per million tokens (the unit OpenRouter and OpenAI list)."""

    input_usd_per_mtok: float = Field(ge=0, description="USD per million prompt tokens.")
    output_usd_per_mtok: float = Field(ge=0, description="USD per million completion tokens.")


#: Files never sent to a non-local tier (gitignore patterns, matched against the path inside its
#: workspace folder): environment files and private-key / credential stores.
DEFAULT_WITHHOLD = (
    ".env*", "*.pem", "*.key", "*.p12", "*.pfx", "*.p8", "*.jks", "*.keystore", "*.ppk", "*.kdbx",
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".netrc", ".pgpass", ".htpasswd",
)


class PlacementSettings(_Section):
    """Where requests run: the complexity threshold and how it learns, the frontier tier's daily
    budget and the models' prices, and what never leaves this machine
    (:mod:`coding_director.routing.placement`, :mod:`coding_director.context.secrets`).

    ``threshold``: complexity (0-1) at or above which ``routing.frontier = "complex"`` sends a request
    to the frontier tier first; with ``learn`` it moves within ``[threshold_min, threshold_max]`` from
    the local chain's first-try acceptance per complexity band (``bands`` equal bands; a band counts
    once it has ``min_samples`` outcomes within ``history_days``; it belongs to the frontier when its
    acceptance is below ``target_acceptance``). ``daily_budget_usd``: spend cap per UTC day over every
    priced model (``prices``, keyed by model name); a request that could exceed it is skipped with
    reason "budget". ``ledger_path``: the spend and placement ledger (SQLite; default:
    ``placement.sqlite3`` in the user data directory). ``withhold``: gitignore patterns of files never
    sent to a non-local tier, besides the files git ignores.
    """

    threshold: float = Field(default=0.65, ge=0.0, le=1.0)
    threshold_min: float = Field(default=0.4, ge=0.0, le=1.0)
    threshold_max: float = Field(default=0.9, ge=0.0, le=1.0)
    learn: bool = True
    bands: int = Field(default=5, ge=2, le=20)
    min_samples: int = Field(default=20, ge=1)
    target_acceptance: float = Field(default=0.6, ge=0.0, le=1.0)
    history_days: int = Field(default=30, ge=1)
    daily_budget_usd: float = Field(default=1.0, ge=0.0)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    ledger_path: str | None = None
    withhold: list[str] = Field(default_factory=lambda: list(DEFAULT_WITHHOLD))

    @model_validator(mode="after")
    def _bounds(self) -> PlacementSettings:
        if not self.threshold_min <= self.threshold <= self.threshold_max:
            raise ValueError(
                f"threshold {self.threshold:g} must lie within threshold_min {self.threshold_min:g} "
                f"and threshold_max {self.threshold_max:g}"
            )
        return self


class HealthSettings(_Section):
    """Cooldown policy (after LiteLLM's router: ``allowed_fails`` then ``cooldown_time``)."""

    allowed_fails: int = Field(default=2, ge=0, description="Consecutive errors tolerated before cooldown.")
    cooldown_s: float = Field(default=30.0, ge=0)


class CompletionSettings(_Section):
    """Inline (ghost-text) completions."""

    enabled: bool = True
    tier: str = "lead"
    debounce_ms: int = Field(default=150, ge=0)
    timeout_ms: int = Field(default=2500, ge=50)
    max_tokens: int = Field(default=96, ge=1)
    keep_alive: KeepAlive = Field(
        default="1h",
        description="Ollama keep_alive of the completion model: kept loaded longer than the chat tiers.",
    )


class ResidencySettings(_Section):
    """Which models Ollama keeps loaded (:mod:`coding_director.backends.residency`).

    ``enabled``: before a request would load a model that does not fit beside the loaded ones, the
    least recently used chat tier is unloaded (``keep_alive: 0``), never the completion model.
    ``warm_up``: load the completion model when the language server starts. Memory in **bytes**:
    ``ram_bytes`` (default: the machine's total RAM from psutil minus ``reserve_bytes``, for an
    Ollama on this machine), ``vram_bytes`` (default: the most VRAM ``/api/ps`` has reported in use;
    on macOS VRAM is part of RAM). ``load_factor``: a model not seen loaded yet takes its
    ``/api/tags`` size times this (weights plus context cache). ``max_loaded_models``: Ollama's
    ``OLLAMA_MAX_LOADED_MODELS`` (default 3 per GPU, or 3 on CPU); 0 = no limit.
    """

    enabled: bool = True
    warm_up: bool = True
    warm_up_timeout_s: float = Field(default=300.0, gt=0, description="Longest wait for the warm-up load.")
    timeout_s: float = Field(default=5.0, gt=0, description="Bound of the /api/ps check and unloads before a request.")
    ram_bytes: int | None = Field(default=None, ge=0, description="Memory for models, in bytes.")
    reserve_bytes: int = Field(default=4 * 1024**3, ge=0, description="RAM left to everything else, in bytes.")
    vram_bytes: int | None = Field(default=None, ge=0, description="GPU memory for models, in bytes.")
    load_factor: float = Field(default=1.2, ge=1.0, le=4.0)
    max_loaded_models: int = Field(default=3, ge=0)


class ContextSettings(_Section):
    """Code context extraction."""

    max_file_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    token_budget: int = Field(default=3000, ge=64)


class ChecksSettings(_Section):
    """Verification beyond parsing (see ``routing/verify.py`` and ``routing/pycheck.py``).

    ``stream``: run the checks that can decide early (loop, echo, refusal, runaway length) on the
    stream and close it the moment one fails. ``python``: check Python answers with ruff's pyflakes
    rules (``reject_rules``) and resolve their imports in ``python_interpreter`` (default: the
    workspace's ``.venv``, else this setting, else the server's own interpreter). Timeouts in seconds.
    """

    stream: bool = True
    python: bool = True
    python_interpreter: str | None = None
    reject_rules: list[str] = Field(
        default_factory=lambda: ["F821", "F822", "F823", "F701", "F702", "F704", "F706", "F707"]
    )
    ruff_timeout_s: float = Field(default=10.0, gt=0)
    import_timeout_s: float = Field(default=15.0, gt=0)

class IndexSettings(_Section):
    """The workspace index (``coding_director.knowledge``): what is indexed and which embedder.

    ``embedder``: ``wordllama`` (offline, inside its wheel; the default), ``ollama`` (``/api/embed``
    at ``base_url`` or ``ollama.host``) or ``openai`` (any OpenAI-compatible ``/v1/embeddings`` at
    ``base_url``, key from the variable named by ``api_key_env``). ``model`` names the embedding
    model for the last two. ``cache_dir``: where the per-folder SQLite files live (default: the
    user cache directory from platformdirs).
    """

    enabled: bool = True
    embedder: Literal["wordllama", "ollama", "openai"] = "wordllama"
    model: str = Field(default="nomic-embed-text", description="Embedding model for ollama/openai.")
    base_url: str | None = None
    api_key_env: str | None = None
    cache_dir: Path | None = None
    max_file_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger files are not indexed.")
    max_files: int = Field(default=50_000, ge=1)
    chunk_lines: int = Field(default=60, ge=8, description="Longest chunk, in lines, before a split.")
    debounce_ms: int = Field(default=400, ge=0, description="Delay before an edit re-indexes its file.")
    top_k: int = Field(default=8, ge=1, le=100)
    token_budget: int = Field(default=1500, ge=64, description="Tokens of retrieved snippets per request.")
    timeout_s: float = Field(default=30.0, gt=0, description="Per-call timeout of a remote embedder.")

    @model_validator(mode="after")
    def _openai_needs_url(self) -> IndexSettings:
        if self.embedder == "openai" and not self.base_url:
            raise ValueError("embedder 'openai' needs base_url (e.g. http://127.0.0.1:8080/v1)")
        return self

class ApiSettings(_Section):
    """The OpenAI-compatible HTTP API (``coding-director api``).

    ``host``/``port``: where it listens (``--host``/``--port`` override them). A bind address other
    than loopback is refused unless a bearer token is configured: the environment variable named by
    ``token_env`` holds it (an unset or empty variable means no token). Pick a name without the
    ``CODING_DIRECTOR_`` prefix: a ``.env`` file is read for that prefix and an unknown key there is
    an error. ``max_body_bytes``: larger request bodies get 413. ``max_concurrency``: model requests
    (chat and completions) served at once; one more gets 429. ``cors_origins``: origins allowed by
    CORS (empty: CORS off).
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    token_env: str | None = Field(default=None, description="Name of the env var holding the bearer token.")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_concurrency: int = Field(default=64, ge=1)
    cors_origins: list[str] = Field(default_factory=list)


EmbeddedMode = Literal["auto", "on", "off"]


class EmbeddedSettings(_Section):
    """The built-in runtime: a llama.cpp OpenAI-compatible server that Coding Director starts itself
    (see :mod:`coding_director.backends.embedded`).

    ``enabled``: ``auto`` uses it when no Ollama answers and no endpoint is configured; ``on``
    always serves the Ollama tiers from it; ``off`` never. ``model_file``: a GGUF path (default:
    the SmolLM2-135M-Instruct GGUF bundled in the runtime's environment); ``python``: the runtime
    environment's interpreter (default: ``.venv-runtime`` beside the running environment, else
    the user data directory); ``threads``: CPU threads (default: half the cores, at least 1);
    ``n_ctx``: context window in tokens; ``num_predict``: tokens per chat answer of the built-in team.
    """

    enabled: EmbeddedMode = "auto"
    model_file: str | None = None
    model_alias: str = Field(default="smollm2-135m-instruct", min_length=1)
    chat_format: str | None = Field(default=None, description="llama.cpp chat format; default: the GGUF's template.")
    python: str | None = None
    threads: int | None = Field(default=None, ge=1)
    n_ctx: int = Field(default=4096, ge=512)
    num_predict: int = Field(default=384, ge=1)
    startup_timeout_s: float = Field(default=90.0, gt=0)
    probe_timeout_s: float = Field(default=1.5, gt=0, description="How long auto waits for Ollama to answer.")


class MemorySettings(_Section):
    """The team's memory (:mod:`coding_director.memory`): a local SQLite store of every request,
    attempt and piece of feedback, and the response cache built on it.

    ``path`` defaults to ``memory.sqlite3`` in the platform's user data directory (platformdirs).
    With ``store_text = false`` no prompt or answer text is written (and the response cache, which
    needs answers, is off). ``retention_days``: rows older than this are pruned when the store opens.
    ``cache_ttl_s`` and ``cache_max_entries`` bound the response cache; ``semantic_threshold`` is the
    cosine similarity a semantic hit needs; ``semantic_for_code`` allows semantic hits for intents
    that change code (off: only exact hits for fix/generate/test/refactor/docs).
    """

    enabled: bool = True
    path: str | None = None
    store_text: bool = True
    retention_days: int = Field(default=90, ge=1)
    cache: bool = True
    semantic_cache: bool = True
    semantic_threshold: float = Field(default=0.93, ge=0.0, le=1.0)
    semantic_for_code: bool = False
    cache_ttl_s: float = Field(default=7 * 86400.0, gt=0)
    cache_max_entries: int = Field(default=10000, ge=1)
    busy_timeout_ms: int = Field(default=2000, ge=0)
    undo_window_s: float = Field(
        default=30.0, gt=0, description="An edit reverted within this many seconds counts as undone."
    )


#: The roles of a task (``coding-director task``) and the tier each one uses by default
#: (seed 003's team: the strongest model plans, the lead codes, the senior tests, debugs and reviews,
#: the router-sized model documents).
ROLE_NAMES = ("planner", "coder", "tester", "debugger", "reviewer", "documenter", "refactorer")
DEFAULT_ROLE_TIERS: dict[str, str] = {
    "planner": "principal",
    "coder": "lead",
    "tester": "senior",
    "debugger": "senior",
    "reviewer": "senior",
    "documenter": "router",
    "refactorer": "lead",
}


class RoleSettings(_Section):
    """One role of a task: which tier answers for it. When that tier fails, the role escalates along
    the tier's chain (the tiers after it in ``routing.general_chain`` or ``routing.math_chain``)."""

    tier: str = Field(min_length=1)


class TaskSettings(_Section):
    """Bounds of a multi-role task (``coding-director task``)."""

    test_command: str | None = Field(default=None, description="Shell command that runs the tests; detected if unset.")
    test_timeout_s: float = Field(default=300.0, gt=0, description="Wall-clock limit of one test run, in seconds.")
    output_cap_bytes: int = Field(default=65536, ge=1024, description="Test output kept (its tail), in bytes.")
    max_debug_rounds: int = Field(default=2, ge=0, description="Debugger rounds after a failing test run.")
    timeout_s: float = Field(default=1800.0, gt=0, description="Wall-clock limit of the whole task, in seconds.")
    file_chars: int = Field(default=12000, ge=1000, description="Characters of one file shown to a role.")
    context_chars: int = Field(default=40000, ge=2000, description="Characters of workspace files shown to a role.")


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_settings`, which applies the precedence
    documented in this module and turns validation errors into :class:`SettingsError`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=None,
        extra="forbid",
        validate_assignment=True,
    )

    ollama: OllamaSettings = Field(default_factory=OllamaSettings)
    tiers: dict[str, TierSettings] = Field(default_factory=dict, validate_default=True)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    completion: CompletionSettings = Field(default_factory=CompletionSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    residency: ResidencySettings = Field(default_factory=ResidencySettings)
    checks: ChecksSettings = Field(default_factory=ChecksSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    placement: PlacementSettings = Field(default_factory=PlacementSettings)

    api: ApiSettings = Field(default_factory=ApiSettings)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    roles: dict[str, RoleSettings] = Field(default_factory=dict, validate_default=True)
    task: TaskSettings = Field(default_factory=TaskSettings)

    @field_validator("tiers", mode="before")
    @classmethod
    def _merge_default_tiers(cls, value: Any) -> Any:
        """Named tiers merge key by key over the defaults, so ``[tiers.lead] model = "x"`` keeps
        the other tiers and the lead's other keys."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {name: dict(spec) for name, spec in DEFAULT_TIERS.items()}
        for name, spec in value.items():
            if isinstance(spec, TierSettings):
                spec = spec.model_dump()
            if isinstance(spec, dict) and name in merged:
                merged[name] = {**merged[name], **spec}
            else:
                merged[name] = spec
        return merged

    @field_validator("roles", mode="before")
    @classmethod
    def _merge_default_roles(cls, value: Any) -> Any:
        """Roles merge over :data:`DEFAULT_ROLE_TIERS`; only the seven known role names are accepted."""
        if not isinstance(value, dict):
            return value
        unknown = [name for name in value if name not in ROLE_NAMES]
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r}; roles: {', '.join(ROLE_NAMES)}")
        merged: dict[str, Any] = {name: {"tier": tier} for name, tier in DEFAULT_ROLE_TIERS.items()}
        for name, spec in value.items():
            if isinstance(spec, RoleSettings):
                spec = spec.model_dump()
            merged[name] = {**merged[name], **spec} if isinstance(spec, dict) else spec
        return merged

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        known = set(self.tiers)
        for key, names in (
            ("routing.general_chain", self.routing.general_chain),
            ("routing.math_chain", self.routing.math_chain),
            ("routing.router_tier", [self.routing.router_tier]),
            ("completion.tier", [self.completion.tier]),
            *((f"roles.{name}.tier", [role.tier]) for name, role in self.roles.items()),
        ):
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ValueError(f"{key}: unknown tier {unknown[0]!r}; known tiers: {', '.join(sorted(known))}")
        self._check_frontier()
        return self

    def _check_frontier(self) -> None:
        """``routing.frontier`` other than ``off`` needs an OpenAI-compatible ``[tiers.frontier]``
        with a price when a budget is set (the cap cannot be kept without one)."""
        mode = self.routing.frontier
        if mode == "off":
            return
        tier = self.tiers.get(FRONTIER_TIER)
        if tier is None:
            raise ValueError(
                f"routing.frontier: {mode!r} needs a tier named {FRONTIER_TIER!r} "
                '([tiers.frontier] provider = "openai", base_url, model, api_key_env)'
            )
        if tier.provider != "openai":
            raise ValueError(f"tiers.frontier.provider: the frontier tier must be 'openai' (got {tier.provider!r})")
        if self.placement.daily_budget_usd > 0 and tier.model not in self.placement.prices:
            raise ValueError(
                f"placement.prices: no price for the frontier model {tier.model!r}, needed to keep "
                f"placement.daily_budget_usd (add [placement.prices.\"{tier.model}\"] "
                "input_usd_per_mtok = ..., output_usd_per_mtok = ...)"
            )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: explicit overrides > our environment variables > OLLAMA_HOST > TOML (> defaults).
        # No dotenv and no file secrets: the working directory belongs to the user's project.
        return (
            init_settings,
            env_settings,
            _OllamaHostSource(settings_cls),
            TomlConfigSettingsSource(settings_cls, toml_file=_toml_path.get()),
        )

    def tier(self, name: str) -> TierSettings:
        """Return the tier called ``name``. Raises ``KeyError`` if it is not configured."""
        return self.tiers[name]

    def chain_from(self, tier: str) -> list[str]:
        """``tier`` followed by the tiers after it in ``routing.general_chain`` (or, when it is not
        there, ``routing.math_chain``); just ``[tier]`` when it is in neither. Used by task roles."""
        for chain in (self.routing.general_chain, self.routing.math_chain):
            if tier in chain:
                return chain[chain.index(tier) :]
        return [tier]

    def is_local(self, name: str) -> bool:
        """Whether tier ``name`` runs on this machine (``TierSettings.local``, else: the frontier tier
        never, the built-in runtime always, others when their endpoint's host is loopback)."""
        tier = self.tiers[name]
        if tier.local is not None:
            return tier.local
        if name == FRONTIER_TIER:
            return False
        if tier.provider == "embedded":
            return True
        return is_loopback_url(self.endpoint_of(name))

    def endpoint_of(self, name: str) -> str:
        """Base URL the tier ``name`` is served from (``ollama.host`` for Ollama tiers without one)."""
        tier = self.tiers[name]
        if tier.provider == "embedded":
            return EMBEDDED_ENDPOINT
        if tier.base_url:
            return tier.base_url.rstrip("/")
        return self.ollama.host


# The TOML path for the Settings being built. pydantic-settings builds its sources inside the
# constructor, so a context variable hands the path over without a global.
_toml_path: ContextVar[Path | None] = ContextVar("coding_director_toml_path", default=None)


class _OllamaHostSource(PydanticBaseSettingsSource):
    """``OLLAMA_HOST`` sets ``ollama.host`` (below ``CODING_DIRECTOR_OLLAMA__HOST``)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        host = os.environ.get("OLLAMA_HOST", "").strip()
        return {"ollama": {"host": host}} if host else {}


def normalise_ollama_host(value: str) -> str:
    """Turn an ``OLLAMA_HOST``-style value into a URL.

    Accepts what the Ollama CLI accepts: ``host``, ``host:port``, ``:port``, ``scheme://host[:port]``.
    The default port is 11434 and the default scheme ``http`` (as in ollama's ``_parse_host``).
    ``0.0.0.0`` (a listen address) is reached as ``127.0.0.1``.
    """
    value = value.strip().rstrip("/")
    if not value:
        return DEFAULT_OLLAMA_HOST
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "http", value
    host, colon, port = rest.rpartition(":") if ":" in rest and not rest.endswith("]") else (rest, "", "")
    if not colon:
        host, port = rest, ""
    if not host or host == "0.0.0.0":
        host = "127.0.0.1"
    if not port:
        port = "443" if scheme == "https" else "11434"
    return f"{scheme}://{host}:{port}"


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is ``localhost`` or a loopback address (127.0.0.0/8, ``::1``)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_toml(path: Path) -> dict[str, Any]:
    """Parse the TOML file at ``path``. Raises :class:`SettingsError` naming the file and the line."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc


def _describe(error: ValidationError, origin: str) -> str:
    lines = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        value = item.get("input")
        shown = "" if item["type"] in ("extra_forbidden", "missing") or isinstance(value, dict) else f" (got {value!r})"
        key = ".".join(str(part) for part in item["loc"])
        lines.append(f"{key}: {message}{shown}" if key else f"{message}{shown}")
    return f"invalid settings{origin}: " + "; ".join(lines)


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from defaults < TOML < ``OLLAMA_HOST`` < ``CODING_DIRECTOR_*`` < overrides.

    ``config`` is the TOML path; when ``None`` the ``CODING_DIRECTOR_CONFIG`` variable is used if set.
    ``overrides`` are nested dicts in the same shape as the TOML file.

    Raises :class:`SettingsError` with every offending key named (``routing.router: Input should be
    'auto', 'model' or 'offline' (got 'sometimes')``).
    """
    chosen = config if config is not None else os.environ.get(CONFIG_ENV) or None
    path = Path(chosen).expanduser() if chosen else None
    if path is not None:
        read_toml(path)  # report a missing or malformed file before anything else
    origin = f" in {path}" if path else ""
    token = _toml_path.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, origin)) from None
    finally:
        _toml_path.reset(token)


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, key by key: nested dicts merge, any other value of ``top`` replaces."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class EditorLayers:
    """The editor's two settings layers over the file/environment base: ``initializationOptions``,
    then the client's ``workspace/configuration`` section (both in the TOML file's shape).

    :meth:`apply` validates a new layer together with the other one; a rejected layer is not kept
    (it is reported by the caller once and forgotten), so the next valid change applies.
    """

    def __init__(self, config: str | Path | None = None) -> None:
        self.config = config
        self.initial: dict[str, Any] = {}
        self.workspace: dict[str, Any] = {}

    def apply(self, overrides: dict[str, Any], *, initial: bool = False) -> Settings:
        """Settings with ``overrides`` as the initialization layer (``initial``) or the workspace
        layer. Raises :class:`SettingsError` (and keeps both layers unchanged) when invalid."""
        first, second = (overrides, self.workspace) if initial else (self.initial, overrides)
        settings = load_settings(self.config, **deep_merge(first, second))
        self.initial, self.workspace = first, second
        return settings


def editor_layer(section: Any) -> dict[str, Any]:
    """An editor's settings section (``initializationOptions`` or the ``workspace/configuration``
    section ``codingDirector``) as a settings layer.

    The section has the TOML file's shape and names (``{"completion": {"debounce_ms": 100}}``,
    tier names as written); the VS Code extension maps its own setting names to these (in
    ``extension/src/settings/mapping.ts``), so names are converted in that one place only. Empty
    values (``null``, ``""``, ``{}``) mean "not set here" and are dropped, so lower layers stay in
    force. ``None`` is an empty layer. Raises :class:`SettingsError` when ``section`` is not an
    object.
    """
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise SettingsError(f"editor settings: expected an object, got {type(section).__name__}")
    return _drop_empty(section)


def _drop_empty(section: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in section.items():
        if isinstance(value, dict):
            value = _drop_empty(value)
        if value is None or value == "" or value == {}:
            continue
        result[key] = value
    return result
