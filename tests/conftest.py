"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.emulator import OllamaEmulator

# Property tests draw the same examples on every run: a red CI must come from a change, not a new
# random draw. Explore new draws locally with HYPOTHESIS_PROFILE=explore.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _builtin_runtime_off(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of the Ollama path never start the built-in runtime (no Ollama answers on this machine,
    so ``embedded.enabled = "auto"`` would); the ``realmodel`` tests choose it themselves."""
    if request.node.get_closest_marker("realmodel") is None:
        monkeypatch.setenv("CODING_DIRECTOR_EMBEDDED__ENABLED", "off")


@pytest.fixture
def ollama_emulator() -> Iterator[OllamaEmulator]:
    """A started Ollama emulator (no models; add them with ``add_model``), stopped after the test."""
    with OllamaEmulator() as emu:
        yield emu
