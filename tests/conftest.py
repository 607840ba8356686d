"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulator import OllamaEmulator


@pytest.fixture
def ollama_emulator() -> Iterator[OllamaEmulator]:
    """A started Ollama emulator (no models; add them with ``add_model``), stopped after the test."""
    with OllamaEmulator() as emu:
        yield emu
