"""Shared pytest fixtures. Hypothesis profiles: see ``tests/hypothesis_profiles.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import tests.hypothesis_profiles  # noqa: F401 - registers and loads the profile
from tests.emulator import OllamaEmulator


@pytest.fixture(autouse=True)
def _builtin_runtime_off(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of the Ollama path never start the built-in runtime (no Ollama answers on this machine,
    so ``embedded.enabled = "auto"`` would); the ``realmodel`` tests choose it themselves."""
    if request.node.get_closest_marker("realmodel") is None:
        monkeypatch.setenv("CODING_DIRECTOR_EMBEDDED__ENABLED", "off")


#: Lines of figures recorded by the robustness suites (fuzz, malformed streams, load), by suite.
_FIGURES: dict[str, list[str]] = {}


@pytest.fixture
def suite_figures() -> Callable[[str, str], None]:
    """``record(suite, line)``: one line of a suite's figures, printed at the end of the run (also
    with ``-q``, so CI's log shows them; :func:`pytest_terminal_summary`)."""

    def record(suite: str, line: str) -> None:
        _FIGURES.setdefault(suite, []).append(line)

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures the suites recorded (:func:`suite_figures`), one section."""
    if not _FIGURES:
        return
    terminalreporter.write_sep("=", "figures of the robustness suites")
    for suite, lines in _FIGURES.items():
        for line in lines:
            terminalreporter.write_line(f"{suite}: {line}")


@pytest.fixture
def ollama_emulator() -> Iterator[OllamaEmulator]:
    """A started Ollama emulator (no models; add them with ``add_model``), stopped after the test."""
    with OllamaEmulator() as emu:
        yield emu


@pytest.fixture(autouse=True)
def _private_user_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own user data directory (platformdirs honours XDG_DATA_HOME), so the
    team memory and its response cache never leak between tests or into the real home."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))  # the server's log file
