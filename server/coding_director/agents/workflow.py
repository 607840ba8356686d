"""A task worked end to end by the team's roles, on a scratch copy of the workspace.

The workflow (seeds 002/003; the shape of aider's architect/editor pair with real test runs):

1. **planner**: a JSON plan (files, steps, how to test), checked against :class:`~.roles.Plan`
   (when no tier gives one, a default plan on the files the task names);
2. **coder**: search/replace edits (:mod:`.edits`) that must apply exactly and leave every touched
   file parseable (tree-sitter), or the coder's answer is rejected and the next tier told why;
3. **tester**: tests for the change, same format (or ``NO CHANGES``);
4. the **test command** runs in the scratch copy (:mod:`.testrun`); while it fails, the
   **debugger** gets its real output, at most ``task.max_debug_rounds`` times;
5. **reviewer**: JSON findings on the final diff; a ``blocking`` one sends the coder back once
   (then the tests run again);
6. **documenter**: docstrings/README where the change calls for it; its edits are dropped if they
   make the tests fail.

Each role runs along its tier's chain (``roles.<name>.tier``, :meth:`Settings.chain_from`) with the
usual checks and escalation. The user's files are untouched unless ``apply`` is set and the tests
pass (or there are none); the result carries the unified diff either way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coding_director.agents.edits import NO_CHANGES, EditError, apply_edits, parse_edits
from coding_director.agents.roles import SYSTEM_PROMPTS, Finding, Plan, parse_findings, parse_plan
from coding_director.agents.scratch import Scratch, ScratchError
from coding_director.agents.testrun import TestRun, detect_test_command, run_tests, workspace_python
from coding_director.context import check_syntax, detect_language
from coding_director.engine import CodingDirector
from coding_director.results import Attempt
from coding_director.routing.escalation import AttemptFinished, Event, Finished
from coding_director.wire import WireModel

#: Characters of test output shown to the debugger (its tail, where the failures are summarised).
DEBUG_OUTPUT_CHARS = 6000


class TaskStep(Attempt):
    """One model attempt within a task: the :class:`~coding_director.results.Attempt` (tier, model,
    outcome, reason, wall time in milliseconds, tokens, cost) and the ``role`` it served."""

    role: str


class TaskResult(WireModel):
    """What ``coding-director task --json`` prints.

    ``plan``: the accepted plan (``None`` when the planner failed); ``steps``: every attempt, in
    order; ``patch``: the unified diff of the scratch copy against the workspace (``""`` when
    nothing changed); ``tests``: the last test run (``None`` when no test command was found);
    ``test_runs``: every run; ``review``: the reviewer's findings; ``applied``: whether the patch
    was written into the workspace; ``error``: why the task stopped early or was not applied.
    """

    plan: Plan | None = None
    steps: list[TaskStep]
    patch: str = ""
    tests: TestRun | None = None
    test_runs: list[TestRun]
    review: list[Finding]
    applied: bool = False
    error: str | None = None
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class TaskProgress:
    """A progress event: ``kind`` is ``role`` (a role started on ``tier``), ``tests`` (a test run
    ended: ``run`` holds it) or ``note``; ``text`` is one line for a person."""

    kind: str
    text: str
    run: TestRun | None = None


ProgressFn = Callable[[TaskProgress], None]
#: Sees every engine event of every role's request, with the role's name.
RoleEventFn = Callable[[str, Event], None]


class _RoleFailed(Exception):
    def __init__(self, role: str, reasons: Sequence[str]) -> None:
        super().__init__(f"{role}: no tier gave a usable answer ({'; '.join(reasons) or 'no tier was asked'})")


class TaskRunner:
    """Runs one task; create one per task. ``director`` provides the models and their settings."""

    def __init__(
        self, director: CodingDirector, progress: ProgressFn | None = None, on_event: RoleEventFn | None = None
    ) -> None:
        self.director = director
        self.settings = director.settings
        self.progress = progress or (lambda _event: None)
        self.on_event = on_event or (lambda _role, _event: None)
        self.steps: list[TaskStep] = []
        #: After :meth:`run`: ``{path: (text before, text after)}`` of every changed file
        #: (``None`` before: a new file).
        self.changes: dict[str, tuple[str | None, str]] = {}
        #: The workspace of the running task (recorded in the team memory with each role's request).
        self.workspace: str | None = None

    async def run(
        self, workspace: Path, prompt: str, *, test_command: str | None = None, apply: bool = False
    ) -> TaskResult:
        """Work ``prompt`` on a scratch copy of ``workspace``; see the module docstring.

        Bounded by ``task.timeout_s`` overall, each model attempt by its tier's timeout, each test
        run by ``task.test_timeout_s``. Cancelling the calling task stops the current model stream
        and kills the running test command. Raises :class:`ScratchError` only when the scratch copy
        cannot be made; every other failure is reported in :attr:`TaskResult.error`.
        """
        started = time.perf_counter()
        self.workspace = str(workspace)
        test_runs: list[TestRun] = []
        review: list[Finding] = []
        plan: Plan | None = None
        error: str | None = None
        applied = False
        async with await Scratch.create(workspace) as scratch:
            try:
                async with asyncio.timeout(self.settings.task.timeout_s):
                    plan, review = await self._work(scratch, prompt, test_command, test_runs)
            except _RoleFailed as exc:
                error = str(exc)
            except TimeoutError:
                error = f"the task's time limit of {self.settings.task.timeout_s:g} s was reached"
            patch = scratch.diff()
            self.changes = {rel: (scratch.original(rel), text) for rel, text in scratch.changes().items()}
            last = test_runs[-1] if test_runs else None
            if apply and error is None and patch:
                if last is not None and not last.ok:
                    error = "not applied: the tests still fail"
                else:
                    try:
                        written = scratch.apply_to_workspace()
                        applied = True
                        self.progress(TaskProgress("note", f"applied to {', '.join(written)}"))
                    except ScratchError as exc:
                        error = str(exc)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return TaskResult(plan=plan, steps=self.steps, patch=patch, tests=last, test_runs=test_runs, review=review,
                          applied=applied, error=error, duration_ms=duration_ms)

    async def _work(
        self, scratch: Scratch, prompt: str, test_command: str | None, test_runs: list[TestRun]
    ) -> tuple[Plan, list[Finding]]:
        task = self.settings.task
        overview = self._overview(scratch, prompt)
        try:
            plan = parse_plan(await self._ask("planner", f"Task: {prompt}\n\n{overview}", _parses(parse_plan)))
        except _RoleFailed as failed:
            plan = self._default_plan(scratch, prompt, failed)
        plan_text = _render_plan(plan)

        await self._edit("coder", scratch, f"Task: {prompt}\n\n{plan_text}\n\n{self._files(scratch, plan.files)}")
        await self._edit(
            "tester",
            scratch,
            f"Task: {prompt}\n\n{plan_text}\n\nThe change so far:\n```diff\n{scratch.diff()}```\n\n"
            f"{self._files(scratch, self._test_files(scratch))}",
            allow_no_changes=True,
        )

        command = (
            test_command or task.test_command or detect_test_command(scratch.root, workspace_python(scratch.workspace))
        )
        if command is None:
            self.progress(TaskProgress("note", "no test command found: the change is not tested"))
        await self._test_and_debug(scratch, prompt, command, test_runs, task.max_debug_rounds)

        reviewed = await self._ask(
            "reviewer", f"Task: {prompt}\n\nThe diff:\n```diff\n{scratch.diff()}```", _parses(parse_findings)
        )
        review = parse_findings(reviewed)
        blocking = [f for f in review if f.severity == "blocking"]
        if blocking:
            findings = "\n".join(f"- {f.file or '(general)'}: {f.message}" for f in blocking)
            changed_files = self._files(scratch, sorted(scratch.changes()))
            self.progress(TaskProgress("note", f"{len(blocking)} blocking review finding(s): back to the coder"))
            await self._edit(
                "coder",
                scratch,
                f"Task: {prompt}\n\n{plan_text}\n\nThe reviewer found blocking problems in your change:\n"
                f"{findings}\n\nThe change so far:\n```diff\n{scratch.diff()}```\n\n{changed_files}",
            )
            await self._test_and_debug(scratch, prompt, command, test_runs, task.max_debug_rounds)

        before_docs = scratch.changes()
        readme = [f for f in scratch.files if f.lower() == "readme.md"]
        changed = await self._edit(
            "documenter",
            scratch,
            f"Task: {prompt}\n\nThe change:\n```diff\n{scratch.diff()}```\n\n"
            f"{self._files(scratch, [*sorted(before_docs), *readme])}",
            allow_no_changes=True,
            required=False,
        )
        if changed and command is not None:
            run = await self._run_tests(scratch, command, test_runs)
            if not run.ok:
                for rel in changed:
                    scratch.restore(rel, before_docs.get(rel, scratch.original(rel)))
                self.progress(TaskProgress("note", "the documenter's edits broke the tests and were dropped"))
                await self._run_tests(scratch, command, test_runs)
        return plan, review

    async def _test_and_debug(
        self, scratch: Scratch, prompt: str, command: str | None, test_runs: list[TestRun], rounds: int
    ) -> None:
        if command is None:
            return
        run = await self._run_tests(scratch, command, test_runs)
        for _ in range(rounds):
            if run.ok:
                return
            output = run.output[-DEBUG_OUTPUT_CHARS:]
            await self._edit(
                "debugger",
                scratch,
                f"Task: {prompt}\n\nTest command: {command}\nExit code: {run.exit_code}"
                f"{' (killed at its timeout)' if run.timed_out else ''}\nOutput (tail):\n```\n{output}\n```\n\n"
                f"The change so far:\n```diff\n{scratch.diff()}```\n\n"
                f"{self._files(scratch, [*sorted(scratch.changes()), *self._test_files(scratch)])}",
            )
            run = await self._run_tests(scratch, command, test_runs)

    async def _run_tests(self, scratch: Scratch, command: str, test_runs: list[TestRun]) -> TestRun:
        task = self.settings.task
        self.progress(TaskProgress("note", f"running {command}"))
        run = await run_tests(
            command, scratch.root, timeout_s=task.test_timeout_s, output_cap_bytes=task.output_cap_bytes
        )
        test_runs.append(run)
        verdict = "timed out" if run.timed_out else ("passed" if run.ok else f"failed (exit {run.exit_code})")
        counts = f" ({run.passed} passed, {run.failed} failed)" if run.passed is not None else ""
        self.progress(TaskProgress("tests", f"tests {verdict}{counts}", run))
        return run

    async def _edit(
        self, role: str, scratch: Scratch, prompt: str, *, allow_no_changes: bool = False, required: bool = True
    ) -> list[str]:
        """Ask ``role`` for edits, check that they apply and parse, write them; return the paths changed.
        Raises :class:`_RoleFailed` when no tier's edits were usable and ``required``."""
        pending: dict[str, dict[str, str]] = {}

        def edits_check(answer: str) -> str | None:
            if allow_no_changes and NO_CHANGES in answer.upper() and "<<<<<<< SEARCH" not in answer:
                pending[answer] = {}
                return None
            try:
                blocks = parse_edits(answer)
                if not blocks:
                    return "the answer holds no search/replace edit block"
                texts = apply_edits(blocks, scratch.read)
            except EditError as exc:
                return str(exc)
            for path, text in texts.items():
                language = detect_language(path=path)
                problems = check_syntax(text, language) if language else []
                if problems:
                    first = problems[0]
                    return f"{path} does not parse after the edit: {first.message} at line {first.line + 1}"
            pending[answer] = texts
            return None

        try:
            answer = await self._ask(role, prompt, edits_check)
        except _RoleFailed:
            if required:
                raise
            return []
        texts = pending.get(answer, {})
        for path, text in texts.items():
            scratch.write(path, text)
        return sorted(texts)

    async def _ask(self, role: str, prompt: str, check: Callable[[str], str | None]) -> str:
        """Run ``role``'s request along its chain; return the accepted answer. Raises
        :class:`_RoleFailed` with every tier's reason when none was accepted."""
        tier = self.settings.roles[role].tier
        chain = self.settings.chain_from(tier)
        self.progress(TaskProgress("role", f"{role} ({tier}) is working"))
        result = None
        async for event in self.director.stream_role(
            prompt, system=SYSTEM_PROMPTS[role], chain=chain, extra_checks=[check], workspace=self.workspace
        ):
            self.on_event(role, event)
            if isinstance(event, AttemptFinished):
                attempt = event.attempt
                self.steps.append(TaskStep(role=role, **dict(attempt)))
                why = f": {attempt.reason}" if attempt.reason else ""
                self.progress(TaskProgress("note", f"{role} on {attempt.tier}: {attempt.outcome}{why}"))
            elif isinstance(event, Finished):
                result = event.assistance
        assert result is not None
        if not result.accepted:
            raise _RoleFailed(role, [f"{a.tier}: {a.reason}" for a in result.attempts if a.reason])
        return result.answer

    def _overview(self, scratch: Scratch, prompt: str) -> str:
        """The workspace as the planner sees it: every file's path, then the text of the files the
        prompt names and of small files, within ``task.context_chars``."""
        listing = "\n".join(scratch.files[:500])
        named = _named_files(scratch, prompt)
        small = [f for f in scratch.files if f not in named and (scratch.root / f).stat().st_size <= 4000]
        return f"Files in the workspace:\n{listing}\n\n{self._files(scratch, [*named, *small])}"

    def _default_plan(self, scratch: Scratch, prompt: str, failed: _RoleFailed) -> Plan:
        """The plan when no planner answer was usable: the task itself as the one step, on the files the
        task names (:func:`_named_files`). A small model often cannot write the planner's JSON but
        can still edit a named file. Re-raises ``failed`` when the task names no file."""
        named = _named_files(scratch, prompt)
        if not named:
            raise failed
        self.progress(TaskProgress("note", f"{failed}; going on with a default plan on {', '.join(named)}"))
        return Plan(files=named, steps=[prompt])

    def _test_files(self, scratch: Scratch) -> list[str]:
        return [f for f in scratch.files if "test" in Path(f).name.lower()][:20]

    def _files(self, scratch: Scratch, paths: Sequence[str]) -> str:
        """The text of ``paths`` (existing, UTF-8) as fenced blocks, each at most ``task.file_chars``,
        together at most ``task.context_chars``."""
        task = self.settings.task
        parts: list[str] = []
        used = 0
        for rel in dict.fromkeys(paths):
            text = scratch.read(rel)
            if text is None:
                continue
            shown = text[: task.file_chars]
            cut = "\n[... cut]" if len(text) > task.file_chars else ""
            block = f"{rel}\n```{detect_language(path=rel) or ''}\n{shown}{cut}\n```"
            if used + len(block) > task.context_chars:
                break
            parts.append(block)
            used += len(block)
        return "Current files:\n\n" + "\n\n".join(parts) if parts else ""


def _named_files(scratch: Scratch, prompt: str) -> list[str]:
    """The workspace files ``prompt`` names, by relative path or by file name."""
    return [f for f in scratch.files if f in prompt or Path(f).name in prompt]


def _parses(parse: Callable[[str], object]) -> Callable[[str], str | None]:
    """A check for :meth:`TaskRunner._ask`: the ``ValueError`` message of ``parse(answer)``, or ``None``."""

    def check(answer: str) -> str | None:
        try:
            parse(answer)
        except ValueError as exc:
            return str(exc)
        return None

    return check


def _render_plan(plan: Plan) -> str:
    steps = "\n".join(f"{i}. {step}" for i, step in enumerate(plan.steps, start=1))
    return f"Plan:\nFiles: {', '.join(plan.files) or '(none named)'}\nSteps:\n{steps}\nTesting: {plan.test}"
