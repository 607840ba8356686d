"""Ollama emulator for tests: an aiohttp server speaking Ollama's wire format with scripted models.

Quick use::

    from tests.emulator import OllamaEmulator, ScriptedModel

    fim = ScriptedModel("coder:fim", reply="x = 1", capabilities=["completion", "insert"])
    with OllamaEmulator([fim]) as emu:
        client = ollama.AsyncClient(host=emu.url, timeout=10)
        ...
        assert emu.calls("/api/generate", model="coder:fim")[0].closed_early is False

Which models are loaded (``/api/ps``), ``keep_alive`` and what is unloaded to make room follow Ollama's
scheduler (``scheduler.py``; ``OllamaEmulator(memory_bytes=..., vram_bytes=..., max_loaded_models=...)``).
Delays in this API are milliseconds; durations on the wire are nanoseconds. See ``server.OllamaEmulator``,
``models.ScriptedModel`` and ``models.RecordedRequest``; the CLI is ``python -m tests.emulator --help``.
"""

from .models import RecordedRequest, ScriptedError, ScriptedModel, ScriptRequest, embed_text, split_reply
from .server import OllamaEmulator

__all__ = [
    "OllamaEmulator",
    "RecordedRequest",
    "ScriptRequest",
    "ScriptedError",
    "ScriptedModel",
    "embed_text",
    "split_reply",
]
