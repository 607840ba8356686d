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
from pathlib import Path
from typing import Any

from coding_director.agents.scratch import ScratchError
from coding_director.agents.workflow import ProgressFn, TaskProgress, TaskResult, TaskRunner
from coding_director.settings import Settings


async def run_task(
    settings: Settings,
    workspace: Path,
    prompt: str,
    *,
    test_command: str | None = None,
    apply: bool = False,
    progress: ProgressFn | None = None,
) -> TaskResult:
    """Run ``prompt`` as a task on ``workspace`` with a fresh :class:`CodingDirector` (closed after).

    Raises :class:`~coding_director.agents.scratch.ScratchError` when the workspace cannot be copied.
    """
    from coding_director.engine import CodingDirector

    director = CodingDirector(settings)
    try:
        return await TaskRunner(director, progress).run(workspace, prompt, test_command=test_command, apply=apply)
    finally:
        await director.aclose()


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
