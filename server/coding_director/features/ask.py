"""*Ask in chat* for any LSP client: answer a :class:`~coding_director.messages.ChatParams` (the
argument of the ``codingDirector.askInChat`` command that Explain and Generate tests carry) with
progress, and render the answer as a markdown document an editor can open.

The VS Code extension handles the command itself (its chat panel); other editors send it as
``workspace/executeCommand`` and get the answer through ``window/showDocument`` (a markdown file
written by :func:`save_answer`) or ``window/showMessage``.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from coding_director.context import DocumentStore
from coding_director.engine import CodingDirector
from coding_director.features.chat import run_chat
from coding_director.features.progress import Progress, shown
from coding_director.messages import ChatParams
from coding_director.results import Assistance
from coding_director.routing.escalation import Event

#: Answers older than this are deleted when a new one is saved (seconds).
KEEP_ANSWERS_S = 24 * 3600


async def ask(
    director: CodingDirector,
    store: DocumentStore,
    params: ChatParams,
    progress: Progress,
    on_event: Callable[[Event], None],
    workspace: str | None = None,
) -> Assistance:
    """Answer ``params`` like ``codingDirector/chat`` (see :func:`run_chat`; recorded in the team
    memory as a chat request of ``workspace``), reporting each tier's work to ``progress``. Raises
    what :func:`run_chat` raises."""
    async with shown(progress, f"Coding Director: {params.intent or 'answer'}", on_event) as observe:
        return await run_chat(director, store, params, observe, workspace=workspace)


def answer_markdown(params: ChatParams, assistance: Assistance) -> str:
    """The answer as a markdown document: the question as title, the answer, then which tier
    answered and why earlier tiers were not accepted."""
    lines = [f"# {params.prompt.strip().splitlines()[0]}", ""]
    if params.text_document is not None:
        where = params.text_document.uri
        if params.range is not None:
            where += f" (lines {params.range.start.line + 1}-{params.range.end.line + 1})"
        lines += [f"About: {where}", ""]
    lines += [assistance.answer.strip() or "*No answer.*", "", "---", ""]
    if assistance.accepted:
        lines.append(f"Answered by **{assistance.final_tier}**.")
    else:
        lines.append("No tier produced an accepted answer; the best one is shown.")
    for a in assistance.attempts:
        cost = f" (cost ${a.cost_usd:.6f})" if a.cost_usd is not None else ""
        lines.append(f"- {a.tier} ({a.model}): {a.outcome}{cost}" + (f": {a.reason}" if a.reason else ""))
    if assistance.withheld:
        lines += ["", "Withheld from non-local tiers (local tiers got everything):"]
        lines += [f"- {w.source}: {w.action} ({w.reason})" for w in assistance.withheld]
    return "\n".join(lines) + "\n"


def answers_dir() -> Path:
    """Where answers are written: ``<temp dir>/coding-director-answers``."""
    return Path(tempfile.gettempdir()) / "coding-director-answers"


def save_answer(markdown: str, directory: Path | None = None) -> Path:
    """Write ``markdown`` to a new ``answer-<time>-<id>.md`` in ``directory`` (default
    :func:`answers_dir`), deleting answers older than :data:`KEEP_ANSWERS_S`. Returns the path.
    Raises ``OSError`` when the directory cannot be written."""
    target = directory or answers_dir()
    target.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in target.glob("answer-*.md"):
        try:
            if now - old.stat().st_mtime > KEEP_ANSWERS_S:
                old.unlink()
        except OSError:
            continue
    path = target / f"answer-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.md"
    path.write_text(markdown, encoding="utf-8")
    return path
