"""Coding Director: a local-first AI coding assistant.

Every request is classified (``math`` or ``general`` plus an intent), sent to the first tier of the
matching chain of local models, and escalated to the next tier when the answer fails a check
(transport error, timeout, missing model, empty answer, refusal, unparsable code)::

    from coding_director import CodingDirector

    director = CodingDirector()
    result = director.get_assistance("Provide a Python implementation of the Black-Scholes formula.")
    print(result.answer)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Assistance", "CodingDirector", "Settings", "SettingsError", "load_settings"]

if TYPE_CHECKING:
    from coding_director.engine import CodingDirector
    from coding_director.results import Assistance
    from coding_director.settings import Settings, SettingsError, load_settings


def __getattr__(name: str) -> Any:
    # Lazy: the language server and the CLI import only what they use (start-up time matters).
    if name == "CodingDirector":
        from coding_director.engine import CodingDirector

        return CodingDirector
    if name == "Assistance":
        from coding_director.results import Assistance

        return Assistance
    if name in ("Settings", "SettingsError", "load_settings"):
        from coding_director import settings

        return getattr(settings, name)
    raise AttributeError(name)
