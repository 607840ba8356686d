"""Settings: defaults, precedence (defaults < TOML < OLLAMA_HOST < .env < environment < overrides),
and one clear error naming the key for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from coding_director.settings import DEFAULT_TIERS, SettingsError, load_settings, normalise_ollama_host


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OLLAMA_HOST", "CODING_DIRECTOR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    import os

    for name in list(os.environ):
        if name.startswith("CODING_DIRECTOR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_seed_team() -> None:
    s = load_settings()
    assert {k: v.model for k, v in s.tiers.items()} == {
        "router": "openhermes:7b",
        "math": "mathstral:7b",
        "lead": "deepseek-coder-v2:16b-lite-instruct-q4_0",
        "senior": "codellama:13b",
        "principal": "wizardcoder:13b-python",
    }
    assert s.routing.general_chain == ["lead", "senior", "principal"]
    assert s.routing.math_chain == ["math", "senior", "principal"]
    assert s.routing.router == "auto" and s.completion.tier == "lead"
    assert s.ollama.host == "http://127.0.0.1:11434"


def test_toml_overrides_only_what_it_names(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.toml",
        """
[ollama]
host = "http://gpu-box:11434"
[tiers.lead]
model = "qwen2.5-coder:7b"
[tiers.shared]
model = "Qwen/Qwen2.5-Coder-32B-Instruct"
provider = "openai"
base_url = "http://127.0.0.1:8000/v1"
api_key_env = "VLLM_KEY"
[routing]
general_chain = ["lead", "shared"]
router = "offline"
[completion]
tier = "lead"
""",
    )
    s = load_settings(cfg)
    assert s.tiers["lead"].model == "qwen2.5-coder:7b" and s.tiers["lead"].provider == "ollama"
    assert s.tiers["senior"].model == "codellama:13b"  # untouched default
    assert s.endpoint_of("shared") == "http://127.0.0.1:8000/v1" and s.endpoint_of("lead") == "http://gpu-box:11434"
    assert s.routing.general_chain == ["lead", "shared"] and s.routing.router == "offline"


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODING_DIRECTOR_CONFIG", str(write(tmp_path / "c.toml", '[routing]\nrouter = "model"\n')))
    assert load_settings().routing.router == "model"


def test_precedence_env_over_ollama_host_over_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "c.toml", '[ollama]\nhost = "http://from-toml:1"\n[tiers.lead]\nmodel = "toml-model"\n')
    assert load_settings(cfg).ollama.host == "http://from-toml:1"
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:2")
    assert load_settings(cfg).ollama.host == "http://127.0.0.1:2"
    monkeypatch.setenv("CODING_DIRECTOR_OLLAMA__HOST", "http://from-env:4")
    monkeypatch.setenv("CODING_DIRECTOR_TIERS__LEAD__MODEL", "env-model")
    s = load_settings(cfg)
    assert s.ollama.host == "http://from-env:4" and s.tiers["lead"].model == "env-model"
    assert s.tiers["lead"].provider == "ollama"
    s = load_settings(cfg, tiers={"lead": {"model": "override"}})
    assert s.tiers["lead"].model == "override"


def test_a_projects_dotenv_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review example: a `.env` with DATABASE_URL made every command fail with "unknown key", and
    prefixed lines in a project's `.env` changed our configuration."""
    write(
        tmp_path / ".env",
        "DATABASE_URL=postgres://user:secret@db/app\nCODING_DIRECTOR_ROUTING__ROUTER=sometimes\n"
        "CODING_DIRECTOR_TIERS__LEAD__MODEL=from-dotenv\n",
    )
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.routing.router == "auto" and s.tiers["lead"].model == DEFAULT_TIERS["lead"]["model"]
    assert "secret" not in s.model_dump_json()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "http://127.0.0.1:11434"),
        ("gpu-box", "http://gpu-box:11434"),
        ("gpu-box:8080", "http://gpu-box:8080"),
        (":9999", "http://127.0.0.1:9999"),
        ("https://ollama.example.org", "https://ollama.example.org:443"),
        ("http://10.0.0.5:11434/", "http://10.0.0.5:11434"),
    ],
)
def test_ollama_host_forms(value: str, expected: str) -> None:
    assert normalise_ollama_host(value) == expected


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[routing]\nrouter = "sometimes"\n', "routing.router"),
        ('[routing]\ngeneral_chain = ["lead", "ghost"]\n', "routing.general_chain: unknown tier 'ghost'"),
        ('[completion]\ntier = "ghost"\n', "completion.tier: unknown tier 'ghost'"),
        ("[routing]\nmax_attempts = 0\n", "routing.max_attempts"),
        ('[tiers.x]\nmodel = "m"\nprovider = "openai"\n', "tiers.x: provider 'openai' needs base_url"),
        ('[tiers.lead]\nmodel = ""\n', "tiers.lead.model"),
        ('[routing]\nrouterr = "auto"\n', "routing.routerr: unknown key"),
        ('[routing]\nrequest_timeout_s = "soon"\n', "routing.request_timeout_s"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, named: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(write(tmp_path / "bad.toml", toml))
    assert named in str(info.value) and "bad.toml" in str(info.value)


def test_malformed_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write(tmp_path / "broken.toml", "[routing\nrouter = 1"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODING_DIRECTOR_ROUTING__MAX_ATTEMPTS", "many")
    with pytest.raises(SettingsError, match=r"routing\.max_attempts"):
        load_settings()
