"""Secret redaction before anything is written: detect-secrets' plugins, plus a few patterns it
has no plugin for (a whole PEM private key block, ``Authorization: Bearer`` tokens).

Each secret found is replaced by ``[REDACTED:<type>]``. Regex-based plugins (AWS, GitHub, OpenAI,
Slack, Stripe, JWT ...) are matched with their own deny-list patterns so the whole token is
replaced; the keyword and high-entropy plugins report the secret value, which is replaced where
it occurs on its line. detect-secrets' default entropy limits apply (base64 4.5, hex 3.0).
"""

from __future__ import annotations

import re
import threading
import time
from functools import lru_cache
from typing import Any

#: Patterns detect-secrets 1.5 has no plugin for (its PrivateKeyDetector matches only the header line).
EXTRA_PATTERNS: dict[str, re.Pattern[str]] = {
    "PrivateKeyBlock": re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----", re.S
    ),
    "BearerToken": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{16,}=*"),
}

#: Cheap necessary conditions for the two slow plugins (about 90% of the scan time on code): the
#: keyword plugin only fires on a line naming a key, password or secret (its deny-list terms:
#: ``api_key``, ``password``, ``passwd``, ``pwd``, ``secret``, ``contraseña`` ...); the base64 entropy
#: plugin only on a quoted run of at least 20 base64 characters (below that no string reaches its
#: 4.5 bits per character limit).
PREFILTERS: dict[str, re.Pattern[str]] = {
    "KeywordDetector": re.compile(r"(?i)key|pass|pwd|secret|contrase"),
    "Base64HighEntropyString": re.compile(r"""['"`][A-Za-z0-9+/=_\-]{20,}"""),
}

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _plugins() -> tuple[Any, ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import default_settings

    with _lock, default_settings():
        classes: list[Any] = list(get_mapping_from_secret_type_to_class().values())
        return tuple(cls() for cls in classes)


def redact(text: str) -> str:
    """``text`` with every secret detect-secrets (or :data:`EXTRA_PATTERNS`) finds replaced by
    ``[REDACTED:<type>]``. Lines keep their count; about 1.5 ms per 200 characters of prose and
    10 ms per kilobyte of code here (pure Python: it runs on the memory's writer thread and gives
    the GIL away between lines)."""
    from detect_secrets.plugins.base import RegexBasedDetector

    for name, pattern in EXTRA_PATTERNS.items():
        text = pattern.sub(f"[REDACTED:{name}]", text)
    out: list[str] = []
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        time.sleep(0)  # let the event loop's thread take the GIL between lines (we run on the writer thread)
        if len(line) < 6:
            out.append(line)
            continue
        for plugin in _plugins():
            name = type(plugin).__name__
            gate = PREFILTERS.get(name)
            if gate is not None and not gate.search(line):
                continue
            label = f"[REDACTED:{name.removesuffix('Detector')}]"
            if isinstance(plugin, RegexBasedDetector):
                for pattern in plugin.denylist:
                    line = pattern.sub(label, line)
            else:
                for secret in plugin.analyze_line(filename="memory.txt", line=line, line_number=number):
                    value = secret.secret_value
                    if value and len(value) >= 4:
                        line = line.replace(value, label)
        out.append(line)
    return "".join(out)


def redact_optional(text: str | None) -> str | None:
    """:func:`redact` that passes ``None`` through."""
    return None if text is None else redact(text)
