"""Shared pytest fixtures. Hypothesis profiles: see ``tests/hypothesis_profiles.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.hypothesis_profiles  # noqa: F401 - registers and loads the profile
from tests.emulator import OllamaEmulator


@pytest.fixture
def ollama_emulator() -> Iterator[OllamaEmulator]:
    """A started Ollama emulator (no models; add them with ``add_model``), stopped after the test."""
    with OllamaEmulator() as emu:
        yield emu
