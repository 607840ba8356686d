"""Prompt embeddings for the semantic cache: WordLlama ``l2_supercat`` (256-d), offline.

The wheel ships the weights and the tokenizer, but its loader looks in ``tokenizer/`` while the
wheel has ``tokenizers/`` and then tries to download (STACK.md); loading with
``cache_dir = <package dir>`` and ``disable_download = True`` works offline. Load about 0.1-0.3 s
(once per process, lazily); about 15-300 us per short text on this machine.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_lock = threading.Lock()
_model: Any = None


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            from pathlib import Path

            import wordllama
            from wordllama import WordLlama

            _model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
        return _model


def embed(text: str) -> np.ndarray:
    """The L2-normalised embedding of ``text``: float32 array of shape ``(256,)``."""
    vector = _load().embed([text], norm=True)[0]
    return np.ascontiguousarray(vector, dtype=np.float32)


def warm_up() -> None:
    """Load the model now (the language server does this in the background at start)."""
    _load()
