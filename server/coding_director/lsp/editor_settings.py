"""Map the editor's settings onto the shape of :class:`~coding_director.settings.Settings`.

VS Code sends section ``codingDirector`` as nested camelCase objects
(``{"routing": {"generalChain": [...]}, "completions": {"debounceMs": 150}, "server": {...}}``);
the server's settings use the TOML file's snake_case keys. Empty values (``""``, ``null``) mean
"not set here" and leave the lower layers (file, environment, defaults) in force.
"""

from __future__ import annotations

import re
from typing import Any

#: Editor-only keys the server ignores (the extension uses them to start the server).
EDITOR_ONLY = frozenset({"server", "trace"})
#: Editor key -> settings key where the names differ beyond camelCase.
RENAMED = {"completions": "completion"}

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(key: str) -> str:
    """``generalChain`` -> ``general_chain``; ``debounceMs`` -> ``debounce_ms``."""
    return _CAMEL.sub(r"_\1", key).lower()


def _convert(value: Any, top: bool) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if top and key in EDITOR_ONLY:
                continue
            name = snake(key)
            name = RENAMED.get(name, name) if top else name
            converted = _convert(item, False)
            if converted is None or converted == "" or converted == {}:
                continue
            out[name] = converted
        return out
    return value


def editor_overrides(section: dict[str, Any]) -> dict[str, Any]:
    """The ``codingDirector`` section (or ``initializationOptions``) as settings overrides.

    Tier names (``tiers.<name>``) keep their spelling apart from camelCase conversion. Unknown keys
    are passed on, so that validation names them.
    """
    result = _convert(section, True)
    return result if isinstance(result, dict) else {}
