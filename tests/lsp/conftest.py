"""A real LSP client (pytest-lsp) driving ``coding-director serve`` over stdio, with the server's
model endpoint on the Ollama emulator."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.emulator import OllamaEmulator
from tests.helpers import TIER_MODELS, fix_code_action_union


def write_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    """A TOML file pointing the five tiers at the emulator's ``<tier>-m`` models, router offline."""
    tiers = "".join(f'[tiers.{tier}]\nmodel = "{model}"\n' for tier, model in TIER_MODELS.items())
    path = tmp_path / "server.toml"
    path.write_text(f'[ollama]\nhost = "{url}"\n{tiers}[routing]\nrouter = "offline"\n{extra}', encoding="utf-8")
    return path


class Session:
    """A started client plus what it received: custom notifications by method."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.notifications: dict[str, list[Any]] = {}

    def received(self, method: str) -> list[Any]:
        return self.notifications.setdefault(method, [])


LspFactory = Callable[..., Any]


@pytest_asyncio.fixture
async def lsp(tmp_path: Path) -> AsyncIterator[LspFactory]:
    """Factory: ``await lsp(url, extra_toml="", init_options=None, configuration=None, workspace=None)``
    starts a server and an initialized VS Code-like client (``workspace``: its one workspace folder,
    default the test's temporary folder as root); every session is shut down after the test.
    ``extra_toml`` is appended inside the ``[routing]`` table of :func:`write_config`."""
    sessions: list[Session] = []

    async def start(
        url: str,
        extra_toml: str = "",
        init_options: dict[str, Any] | None = None,
        configuration: dict[str, Any] | None = None,
        workspace: Path | None = None,
    ) -> Session:
        cfg = write_config(tmp_path, url, extra_toml)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
        config = ClientServerConfig(
            server_command=[sys.executable, "-m", "coding_director", "serve", "--config", str(cfg)], server_env=env
        )
        client = await config.start()
        fix_code_action_union(client)
        session = Session(client)
        for method in ("codingDirector/chatEvent", "codingDirector/status"):

            def handler(ls: LanguageClient, params: Any, method: str = method) -> None:
                session.received(method).append(params)

            client.feature(method)(handler)
        if configuration is not None:
            client.set_configuration(configuration, section="codingDirector")
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                initialization_options=init_options,
                root_uri=(workspace or tmp_path).as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)]
                if workspace is not None else None,
            )
        )
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        await session.client.shutdown_session()
        await session.client.stop()


@pytest.fixture
def emu(ollama_emulator: OllamaEmulator) -> OllamaEmulator:
    return ollama_emulator
