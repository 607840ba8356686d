"""The one token estimator: characters to tokens without a tokenizer.

``estimate_tokens(text) = ceil(len(text) / 3.5)`` (characters = code points). OpenAI's rule of
thumb is about 4 characters per token for English prose; source code (punctuation, indentation,
short identifiers) tokenizes denser with the BPE vocabularies of code models (Llama, DeepSeek,
Qwen average 3.5-4 characters per token on code), so 3.5 errs on the side of over-estimating.
Used to fit context sections into a token budget (``context.budget``) and to size Ollama's
``num_ctx`` (``backends.base.num_ctx_for``, which adds its own headroom).
"""

from __future__ import annotations

__all__ = ["CHARS_PER_TOKEN", "chars_for_tokens", "estimate_tokens", "estimate_tokens_of_chars"]

CHARS_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text``: ``ceil(len(text) / 3.5)``, in integer arithmetic."""
    return estimate_tokens_of_chars(len(text))


def estimate_tokens_of_chars(chars: int) -> int:
    """:func:`estimate_tokens` of a text of ``chars`` characters."""
    return (chars * 2 + 6) // 7


def chars_for_tokens(tokens: int) -> int:
    """The most characters whose estimate stays within ``tokens`` (inverse of :func:`estimate_tokens`)."""
    return max(0, (tokens * 7) // 2)
