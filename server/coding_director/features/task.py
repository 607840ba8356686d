"""Use case: work a task end to end with the team's roles (``coding-director task``).

:func:`run_task` is what every entry point calls; :func:`add_task_command` registers the CLI::

    coding-director task --workspace DIR [--test-command CMD] [--apply] [--json] PROMPT

Without ``--apply`` the workspace is untouched and the unified diff is printed (stdout), progress
goes to stderr. ``--json`` prints :class:`~coding_director.agents.workflow.TaskResult`. Exit codes:
0 the task finished and its tests pass (or none were found), 1 it did not, 2 bad usage or settings,
3 the model server is unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coding_director.agents.scratch import ScratchError
from coding_director.agents.workflow import ProgressFn, TaskProgress, TaskResult, TaskRunner
from coding_director.results import Assistance, Attempt, RouteDecision
from coding_director.routing.escalation import AttemptFinished, AttemptStarted, Event, TextDelta
from coding_director.settings import Settings

if TYPE_CHECKING:
    from coding_director.context import DocumentStore
    from coding_director.engine import CodingDirector

#: Test output shown in the chat panel per run (its tail), in characters.
PANEL_OUTPUT_CHARS = 3000


async def run_task(
    settings: Settings,
    workspace: Path,
    prompt: str,
    *,
    test_command: str | None = None,
    apply: bool = False,
    progress: ProgressFn | None = None,
) -> TaskResult:
    """Run ``prompt`` as a task on ``workspace`` with a fresh :class:`CodingDirector` (closed after)
    and the team memory of ``settings`` (each role's request is recorded with source ``task``; a
    memory problem is reported once through ``progress`` as a note and the task goes on without it).

    Raises :class:`~coding_director.agents.scratch.ScratchError` when the workspace cannot be copied.
    """
    import asyncio

    from coding_director.engine import CodingDirector
    from coding_director.memory import open_memory

    def problem(message: str) -> None:
        if progress is not None:
            progress(TaskProgress("note", f"warning: {message}"))

    memory = await asyncio.to_thread(open_memory, settings, problem)
    director = CodingDirector(settings, memory)
    try:
        return await TaskRunner(director, progress).run(workspace, prompt, test_command=test_command, apply=apply)
    finally:
        await director.aclose()
        if memory is not None:
            await asyncio.to_thread(memory.close)


@dataclass(frozen=True, slots=True)
class FileEdit:
    """Replace all of ``uri``'s text (from 0:0 to ``end_line``:``end_character``, LSP positions,
    UTF-16 columns) with ``new_text``. ``version`` is the open document's version (``None`` when the
    file is not open in the editor); ``create`` marks a file the task adds."""

    uri: str
    version: int | None
    create: bool
    end_line: int
    end_character: int
    new_text: str


@dataclass(frozen=True, slots=True)
class EditorTask:
    """A task run for the editor: the chat-shaped ``assistance`` (a markdown summary as its answer,
    every role attempt as its attempts), the full ``task`` result, and the ``edits`` to propose
    (empty when nothing changed, the task failed, or ``stale`` names files the user changed since)."""

    assistance: Assistance
    task: TaskResult
    edits: list[FileEdit]
    stale: list[str]


def _end_of(text: str) -> tuple[int, int]:
    """The LSP position (line, UTF-16 column) of the end of ``text``."""
    last = text.split("\n")[-1]
    return text.count("\n"), len(last.encode("utf-16-le")) // 2


def _relabel(role: str, event: Event) -> Event:
    """``event`` with its tier shown as ``"<role> · <tier>"`` (how the chat panel labels a task's steps)."""
    if isinstance(event, AttemptStarted):
        return AttemptStarted(f"{role} · {event.tier}", event.model)
    if isinstance(event, TextDelta):
        return TextDelta(f"{role} · {event.tier}", event.text)
    if isinstance(event, AttemptFinished):
        return AttemptFinished(event.attempt.model_copy(update={"tier": f"{role} · {event.attempt.tier}"}))
    return event


async def run_task_in_editor(
    director: CodingDirector,
    store: DocumentStore,
    workspace: Path,
    prompt: str,
    on_event: Callable[[Event], None],
) -> EditorTask:
    """Run ``prompt`` as a task on ``workspace`` for the editor; ``on_event`` sees each role's
    attempts (tiers labelled ``"<role> · <tier>"``) and each test run (tier ``"tests"``) as it happens.

    The edits replace whole files and are computed against the text the task started from; a file
    that is open in ``store`` with other text (unsaved edits) makes the result ``stale`` and no edit is
    proposed: an edit computed for old text is never applied to new text. Cancelling the calling task
    stops the current model stream and kills a running test command.
    """

    def progress(event: TaskProgress) -> None:
        run = event.run
        if run is None:
            return
        on_event(AttemptStarted("tests", run.command))
        on_event(TextDelta("tests", f"```\n{run.output[-PANEL_OUTPUT_CHARS:].strip()}\n```\n"))
        on_event(
            AttemptFinished(
                Attempt(
                    tier="tests",
                    model=run.command,
                    outcome="accepted" if run.ok else "rejected",
                    reason=None if run.ok else event.text,
                    latency_ms=run.duration_ms,
                )
            )
        )

    runner = TaskRunner(director, progress, lambda role, event: on_event(_relabel(role, event)))
    result = await runner.run(workspace, prompt)
    edits: list[FileEdit] = []
    stale: list[str] = []
    if result.error is None:
        for rel, (before, after) in sorted(runner.changes.items()):
            uri = (workspace / rel).resolve().as_uri()
            doc = store.get(uri)
            if doc is not None and doc.text != (before or ""):
                stale.append(rel)
            end_line, end_character = _end_of(before or "")
            edits.append(FileEdit(uri, doc.version if doc else None, before is None, end_line, end_character, after))
    if stale:
        edits = []
    return EditorTask(_summary_assistance(result, stale), result, edits, stale)


def _summary_assistance(result: TaskResult, stale: list[str]) -> Assistance:
    """The chat panel's view of a task: a markdown summary and every role attempt."""
    lines: list[str] = []
    if result.plan is not None:
        lines.append("**Plan**")
        lines.extend(f"{i}. {step}" for i, step in enumerate(result.plan.steps, start=1))
    tests = result.tests
    if tests is not None:
        verdict = "timed out" if tests.timed_out else ("passed" if tests.ok else f"failed (exit {tests.exit_code})")
        counts = f": {tests.passed} passed, {tests.failed} failed" if tests.passed is not None else ""
        lines.append(f"\n**Tests** `{tests.command}` {verdict}{counts}")
    else:
        lines.append("\n**Tests**: no test command was found; the change is untested.")
    if result.review:
        lines.append("\n**Review**")
        lines.extend(f"- {f.severity}: {f.file or '(general)'}: {f.message}" for f in result.review)
    if result.error:
        lines.append(f"\n**Stopped**: {result.error}")
    if result.patch:
        lines.append(f"\n```diff\n{result.patch}```")
        if stale:
            lines.append(f"\nNot proposed: {', '.join(stale)} changed in the editor while the task ran.")
        elif result.error is None:
            lines.append("\nReview the change in the Refactor Preview; nothing is applied until you accept it.")
    else:
        lines.append("\nNo change was made.")
    attempts = [
        Attempt(tier=f"{s.role} · {s.tier}", model=s.model, outcome=s.outcome, reason=s.reason, latency_ms=s.latency_ms)
        for s in result.steps
    ]
    accepted = result.error is None and (tests is None or tests.ok)
    final = next((s for s in reversed(result.steps) if s.outcome == "accepted"), None)
    return Assistance(
        answer="\n".join(lines),
        route=RouteDecision(domain="general", intent="generate", confidence=1.0, decided_by="caller", reason="task"),
        attempts=attempts,
        final_tier=f"{final.role} · {final.tier}" if final else None,
        accepted=accepted,
    )


def add_task_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``task`` on the CLI's subparsers ``sub``; ``common`` holds ``--config``/``-v``."""
    task = sub.add_parser("task", parents=[common], help="work a task with the team's roles on a scratch copy")
    task.add_argument("prompt", metavar="PROMPT")
    task.add_argument("--workspace", type=Path, default=Path.cwd(), help="the project folder (default: .)")
    task.add_argument("--test-command", default=None, help="shell command that runs the tests (default: detected)")
    task.add_argument("--apply", action="store_true", help="write the change into the workspace when its tests pass")
    task.add_argument("--json", action="store_true", help="print the TaskResult as JSON")
    task.set_defaults(func=_task, is_async=True)


async def _task(args: argparse.Namespace) -> int:
    from coding_director.settings import load_settings
    from coding_director.wire import to_wire

    if not args.workspace.is_dir():
        _note(f"error: --workspace {args.workspace} is not a directory")
        return 2
    settings = load_settings(args.config)

    def progress(event: TaskProgress) -> None:
        _note(event.text)

    try:
        result = await run_task(
            settings, args.workspace, args.prompt, test_command=args.test_command, apply=args.apply, progress=progress
        )
    except ScratchError as exc:
        _note(f"error: {exc}")
        return 2
    if args.json:
        sys.stdout.write(json.dumps(to_wire(result), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(result.patch)
        if result.error:
            _note(f"task: {result.error}")
        elif result.applied:
            _note("task: done; the change was applied")
        else:
            _note("task: done; the change was not applied (use --apply)")
    attempts = [s for s in result.steps if s.outcome != "skipped"]
    if result.error and not result.patch and attempts and all(s.error_kind == "unreachable" for s in attempts):
        return 3
    tests_ok = result.tests is None or result.tests.ok
    return 0 if result.error is None and tests_ok else 1


def _note(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
