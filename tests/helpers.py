"""Helpers shared by the tests: a scripted team of models on the emulator, and settings for it."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Union

from coding_director.settings import Settings, load_settings
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.emulator import OllamaEmulator, ScriptedModel

GOOD_PY = "Here it is:\n```python\ndef add(a, b):\n    return a + b\n```\nDone."
BAD_PY = "Here it is:\n```python\ndef add(a, b:\n    return a +\n```\n"
REFUSAL = "I'm sorry, but I can't help with that."

TIER_MODELS = {
    "router": "router-m:latest",
    "math": "math-m:latest",
    "lead": "lead-m:latest",
    "senior": "senior-m:latest",
    "principal": "principal-m:latest",
}


def team_settings(url: str, **overrides: Any) -> Settings:
    """Settings whose five tiers point at the emulator's models ``<tier>-m``; router offline unless
    ``routing`` overrides say otherwise. Keyword overrides are TOML-shaped nested dicts."""
    tiers: dict[str, Any] = {name: {"model": model} for name, model in TIER_MODELS.items()}
    for name, spec in overrides.pop("tiers", {}).items():
        tiers[name] = {**tiers.get(name, {}), **spec}
    routing = {"router": "offline", **overrides.pop("routing", {})}
    return load_settings(ollama={"host": url}, tiers=tiers, routing=routing, **overrides)


def add_team(emu: OllamaEmulator, **replies: Any) -> None:
    """Add ``<tier>-m`` models; ``replies[tier]`` is a reply text or a dict of ScriptedModel fields.
    Tiers given as ``None`` are left out (missing model)."""
    defaults = {tier: GOOD_PY for tier in TIER_MODELS if tier != "router"}
    defaults["router"] = "general"
    defaults.update(replies)
    for tier, spec in defaults.items():
        if spec is None:
            continue
        fields = spec if isinstance(spec, dict) else {"reply": spec}
        emu.add_model(ScriptedModel(name=TIER_MODELS[tier], **fields))


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def chat_calls(emu: OllamaEmulator, model: str) -> list[dict[str, Any]]:
    """Bodies of the ``/api/chat`` requests made to ``model``."""
    return [r.json for r in emu.calls(path="/api/chat", model=model)]


def fix_code_action_union(client: LanguageClient) -> None:
    """lsprotocol's client-side converter structures a CodeAction that carries a ``command`` as a
    Command (see STACK.md). In LSP a Command's ``command`` is a string and a CodeAction's is an
    object: decide on that. Editors are not affected; pytest-lsp clients need this."""
    converter = client.protocol._converter

    def structure(obj: Any, _type: Any) -> Any:
        if isinstance(obj, dict) and isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its new parent to reap it does not), from ``/proc``."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
