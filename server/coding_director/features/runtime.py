"""The language server's side of the built-in runtime: choose the team once, replace the
completer when the team's settings differ, and tell the user once, with two actions.

Nothing here imports pygls: the server passes in how to ask (``window/showMessageRequest``) and
how to show a document (``window/showDocument``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from coding_director.engine import CodingDirector
from coding_director.features.completion import Completer
from coding_director.messages import OLLAMA_INSTALL_URI, OPEN_SETTINGS_URI

log = logging.getLogger(__name__)

#: The one-time message when no Ollama answers and the built-in team takes over.
BUILTIN_NOTICE = "No Ollama found: using the built-in small model"
OPEN_SETTINGS_ACTION = "Open settings"
INSTALL_OLLAMA_ACTION = "Install Ollama"
#: Message action title -> (``window/showDocument`` URI, ``external``).
NOTICE_ACTIONS: dict[str, tuple[str, bool]] = {
    OPEN_SETTINGS_ACTION: (OPEN_SETTINGS_URI, False),
    INSTALL_OLLAMA_ACTION: (OLLAMA_INSTALL_URI, True),
}


@dataclass(frozen=True)
class TeamUpdate:
    """What choosing the team changed: a ``completer`` to use instead of the current one (the
    team's settings differ), and the ``notice`` to show once (``None``: nothing to say)."""

    completer: Completer | None
    notice: str | None


async def settle_team(director: CodingDirector, completer: Completer) -> TeamUpdate:
    """Choose ``director``'s team (one probe of Ollama at most) and say what changed.

    ``completer`` is replaced when it was built on other settings than the team's. The notice
    names the model: ``No Ollama found: using the built-in small model (smollm2-135m-instruct, ...)``.
    Only ``auto`` mode (no Ollama answered) gives a notice; ``embedded.enabled = "on"`` was asked for.
    """
    team = await director.ensure_team()
    replacement = None
    if completer.settings is not director.settings or completer.pool is not director.pool:
        replacement = Completer(director.settings, director.pool, foreground=completer.foreground)
    notice = None
    if team.runtime == "embedded" and director.settings.embedded.enabled == "auto":
        notice = f"{BUILTIN_NOTICE} ({director.settings.embedded.model_alias}; {team.reason})."
    return TeamUpdate(completer=replacement, notice=notice)


async def offer_actions(
    notice: str,
    ask: Callable[[str, Sequence[str]], Awaitable[str | None]],
    show_document: Callable[[str, bool], Awaitable[bool]],
) -> str | None:
    """Show ``notice`` with the actions of :data:`NOTICE_ACTIONS` through ``ask`` (the title
    chosen, or ``None``), then open what the chosen action names through ``show_document(uri,
    external)``. Returns the chosen title. Failures of the client are logged, never raised."""
    try:
        chosen = await ask(notice, list(NOTICE_ACTIONS))
        if chosen in NOTICE_ACTIONS:
            uri, external = NOTICE_ACTIONS[chosen]
            if not await show_document(uri, external):
                log.info("the client could not show %s", uri)
        return chosen
    except Exception as exc:  # a client that cannot show messages keeps working
        log.warning("could not offer the built-in runtime notice: %s", exc)
        return None
