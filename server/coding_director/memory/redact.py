"""Secret redaction before anything is written to the team memory: the same detect-secrets scan as
the outbound filter (:func:`coding_director.context.secrets.redact_secrets`: every plugin, whole
regex matches, private key blocks from ``BEGIN`` to ``END``, ``Authorization: Bearer`` tokens), each
secret replaced by ``[REDACTED:<plugin>]`` (``[REDACTED:AWSKey]``). One wrapper of detect-secrets for
the whole program: its configuration is process-wide, so two differently configured callers on two
threads would race. Runs on the memory's writer thread, never on the event loop.
"""

from __future__ import annotations

from functools import lru_cache

from coding_director.context.secrets import plugin_label, redact_secrets


@lru_cache(maxsize=32)
def redact(text: str) -> str:
    """``text`` with every secret detect-secrets finds replaced by ``[REDACTED:<plugin>]``; lines
    keep their count. The last 32 results are kept: one request's answer is stored three times
    (the request, its accepted attempt, the cache entry), and each scan of a 2 KB answer costs
    milliseconds of the writer thread's time."""
    return redact_secrets(text, "memory.txt", label=plugin_label)[0]


def redact_optional(text: str | None) -> str | None:
    """:func:`redact` that passes ``None`` through."""
    return None if text is None else redact(text)
