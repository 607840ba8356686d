"""The ``coding-director`` command line.

Subcommands: ``ask`` (stream an answer; ``--json`` prints the Assistance), ``route`` (classify
only; ``--jsonl`` reads prompts from stdin), ``doctor`` (check endpoints, models, FIM, memory fit),
``models pull`` (fetch missing tier models), ``context`` (print the code context at a position),
``schemas`` (write or check ``shared-schemas/``), ``serve`` (the language server over stdio) and
``api`` (the OpenAI-compatible HTTP API, :mod:`coding_director.api`).
``runtime install`` (the built-in runtime's environment).

Exit codes: 0 success; 1 no accepted answer / a doctor check failed; 2 bad usage or settings;
3 the model server is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coding_director.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from coding_director.results import Assistance

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    return load_settings(args.config, **overrides)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {number}")
    return number


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


# -- ask ------------------------------------------------------------------------------------------
async def _ask(args: argparse.Namespace) -> int:
    from coding_director.engine import CodingDirector
    from coding_director.routing.escalation import AttemptFinished, AttemptStarted, Finished, TextDelta
    from coding_director.wire import to_wire

    settings = _settings(args)
    context = None
    if args.file:
        from coding_director.context import extract_from_file

        try:
            context = extract_from_file(str(args.file), args.line or 1, 1, token_budget=settings.context.token_budget)
        except OSError as exc:
            _note(f"error: --file {args.file}: {exc.strerror or exc}")
            return EXIT_USAGE
        except ValueError as exc:
            _note(f"error: --line {args.line}: {exc}")
            return EXIT_USAGE
    from coding_director.memory import open_memory

    memory = open_memory(settings, lambda message: _note(f"warning: {message}"))
    director = CodingDirector(settings, memory)
    stream = (not args.json and sys.stdout.isatty()) or args.stream
    result = None
    try:
        team = await director.ensure_team()
        if team.runtime == "embedded":
            _note(f"{team.reason}: using the built-in small model ({director.settings.embedded.model_alias})")
        async for event in director.stream_assistance(
            args.prompt, context, source="cli", workspace=str(Path.cwd()), use_cache=not args.no_cache
        ):
            if isinstance(event, Finished):
                result = event.assistance
            elif args.json:
                continue
            elif isinstance(event, AttemptStarted):
                _note(f"{event.tier} ({event.model}) is answering...")
            elif isinstance(event, TextDelta) and stream:
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, AttemptFinished):
                a = event.attempt
                if a.outcome != "accepted":
                    if stream and a.outcome != "skipped":
                        sys.stdout.write("\n")
                    discarded = "; its text above is discarded" if a.stopped_early else ""
                    _note(f"{a.tier} {a.outcome}: {a.reason}{discarded}")
                if a.cost_usd is not None:
                    _note(f"{a.tier} cost ${a.cost_usd:.6f} ({a.prompt_tokens or 0} prompt + "
                          f"{a.completion_tokens or 0} completion tokens)")
        spent = await director.frontier.spent_today() if result is not None and result.cost_usd is not None else None
    finally:
        await director.aclose()
        if memory is not None:
            memory.close()
    assert result is not None
    if result.cached:
        _note(f"served from the cache (an answer of {result.final_tier}; --no-cache asks the team again)")
    if args.json:
        _print_json(to_wire(result))
    else:
        if not stream:
            sys.stdout.write(result.answer)
        sys.stdout.write("\n")
        route = result.route
        trail = " -> ".join(f"{a.tier}:{a.outcome}" for a in result.attempts)
        _note(f"route {route.domain}/{route.intent} ({route.decided_by}, {route.confidence:.2f}); {trail}")
        if route.placement_reason:
            _note(f"placement {route.placement}: {route.placement_reason}")
    for line in withheld_lines(result):
        _note(line)
    if result.cost_usd is not None:
        cap = director.settings.placement.daily_budget_usd
        today = f"; today ${spent:.4f} of ${cap:.2f}" if spent is not None else ""
        _note(f"frontier cost of this answer: ${result.cost_usd:.6f}{today}")
    unreachable = [a for a in result.attempts if a.error_kind == "unreachable"]
    if not result.answer and unreachable and len(unreachable) == len(result.attempts):
        first = unreachable[0]
        _note(f"error: {first.reason}" + (f"\nfix: {first.fix}" if first.fix else ""))
        return EXIT_UNREACHABLE
    return EXIT_OK if result.accepted else EXIT_FAILED


def withheld_lines(result: Assistance) -> list[str]:
    """What was kept from the non-local tiers, one line each (for stderr and answer documents)."""
    if not result.withheld:
        return []
    lines = ["withheld from non-local tiers (local tiers got everything):"]
    lines += [f"  {w.source}: {w.action} ({w.reason})" for w in result.withheld]
    return lines


def _note(message: str) -> None:
    """Progress notes go to stderr so that stdout holds only the answer (or JSON)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# -- route ----------------------------------------------------------------------------------------
async def _route(args: argparse.Namespace) -> int:
    from coding_director.backends import BackendPool
    from coding_director.routing.router import route
    from coding_director.wire import to_wire

    overrides: dict[str, object] = {"routing": {"router": "offline"}} if args.offline else {}
    settings = _settings(args, **overrides)
    pool = BackendPool(settings)
    keys = ("domain", "intent", "confidence", "decidedBy")
    try:
        if args.jsonl:
            for line in sys.stdin:
                prompt = line.rstrip("\n")
                if not prompt.strip():
                    continue
                wire = to_wire(await route(settings, pool, prompt))
                _print_json({k: wire[k] for k in keys})
            return EXIT_OK
        if not args.prompt:
            _note("error: give a PROMPT or --jsonl")
            return EXIT_USAGE
        decision = await route(settings, pool, args.prompt)
        # Placement's modules are imported here, not for --jsonl: the memory's alone (sqlite-vec,
        # apsw) took about 0.35 s of the 400-prompt run's interpreter start.
        from coding_director.memory import open_memory
        from coding_director.routing.complexity import ComplexityInput
        from coding_director.routing.escalation import chain_for
        from coding_director.routing.frontier import Frontier

        # The memory is the placement history; with the frontier off placement reads no history.
        on = settings.routing.frontier != "off"
        memory = open_memory(settings, lambda message: _note(f"warning: {message}")) if on else None
        frontier = Frontier(settings, memory=memory)
        try:
            decision, tiers, _ = await frontier.place(decision, chain_for(settings, decision),
                                                      ComplexityInput(prompt=args.prompt, intent=decision.intent))
            state = to_wire(await frontier.report())
        finally:
            frontier.close()
            if memory is not None:
                memory.close()
    finally:
        await pool.aclose()
    if args.json:
        _print_json({**to_wire(decision), "chain": tiers, "thresholds": state})
    else:
        print(
            f"{decision.domain}/{decision.intent} confidence {decision.confidence:.2f} "
            f"decided by {decision.decided_by}: {decision.reason or ''}"
        )
        print(f"complexity {decision.complexity:.2f}, placement {decision.placement}: {decision.placement_reason}")
    return EXIT_OK


# -- doctor and models ----------------------------------------------------------------------------
async def _doctor(args: argparse.Namespace) -> int:
    from coding_director.backends import BackendPool
    from coding_director.backends.embedded import choose_team
    from coding_director.doctor import diagnose
    from coding_director.fit import render_fit_table
    from coding_director.wire import to_wire

    team = await choose_team(_settings(args))
    settings = team.settings
    if team.runtime == "embedded" and not args.json:
        print(f"[ok] team: {team.reason}: the built-in team answers ({settings.embedded.model_alias})")
    pool = BackendPool(settings)
    try:
        report = await diagnose(settings, pool, fit=True)
    finally:
        await pool.aclose()
    if args.json:
        _print_json(to_wire(report))
    else:
        for check in report.checks:
            print(f"[{'ok' if check.ok else '!!'}] {check.name}: {check.detail}")
            if check.fix:
                print(f"     fix: {check.fix}")
        for table in report.fit:
            print("\n".join(render_fit_table(table)))
    if report.unreachable:
        return EXIT_UNREACHABLE
    return EXIT_OK if report.ok else EXIT_FAILED


async def _models_pull(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

    from coding_director.backends import BackendPool
    from coding_director.doctor import diagnose, pull_missing

    settings = _settings(args)
    pool = BackendPool(settings)
    try:
        report = await diagnose(settings, pool)
        if report.unreachable:
            _note(f"error: cannot reach {', '.join(report.unreachable)}")
            return EXIT_UNREACHABLE
        if not report.missing_models:
            print("every tier model is present")
            return EXIT_OK
        tasks: dict[str, TaskID] = {}
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=None, transient=False) as progress:

            def on_progress(model: str, status: str, completed: int | None, total: int | None) -> None:
                task = tasks.get(model)
                if task is None:
                    task = tasks[model] = progress.add_task(model, total=None)
                progress.update(task, description=f"{model}: {status}", completed=completed or 0, total=total or None)
                if status == "success":
                    progress.update(task, completed=1, total=1)

            failed = await pull_missing(settings, pool, report, on_progress)
    finally:
        await pool.aclose()
    for line in failed:
        _note(f"error: {line}")
    return EXIT_FAILED if failed else EXIT_OK


# -- schemas and serve ----------------------------------------------------------------------------
def _schemas(args: argparse.Namespace) -> int:
    from coding_director.schemas import write_schemas

    stale = write_schemas(args.dir, check=args.check, report=print)
    if args.check and stale:
        _note("stale schema files: " + ", ".join(stale) + " (run: coding-director schemas)")
        return EXIT_FAILED
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from coding_director.lsp.server import run_stdio

    settings = _settings(args)
    return run_stdio(settings, args.config)


def _api(args: argparse.Namespace) -> int:
    from coding_director.api.server import run_api

    return run_api(_settings(args), args.host, args.port, verbose=args.verbose)


# -- parser ---------------------------------------------------------------------------------------
#: Subcommands defined in this module; a command line that names one of them builds the parser
#: without the other modules' subcommands (whose imports cost a few hundred ms at start).
CORE_COMMANDS = frozenset({"ask", "route", "doctor", "models", "schemas", "serve", "api"})


def build_parser(*, extensions: bool = True) -> argparse.ArgumentParser:
    """The argument parser of every subcommand (``--config`` is accepted by each); with
    ``extensions=False`` only the :data:`CORE_COMMANDS` (context, runtime, knowledge and task
    commands are left out)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, default=None, help="TOML settings file (default: $CODING_DIRECTOR_CONFIG)"
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")

    parser = argparse.ArgumentParser(prog="coding-director", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", parents=[common], help="ask the team; streams the answer")
    ask.add_argument("prompt", metavar="PROMPT")
    ask.add_argument("--file", type=Path, help="give the code around --line of this file as context")
    ask.add_argument("--line", type=_positive, help="1-based line in --file (default 1)")
    ask.add_argument("--json", action="store_true", help="print the Assistance object as JSON")
    ask.add_argument("--stream", action="store_true", help="stream text even when stdout is not a terminal")
    ask.add_argument("--no-cache", action="store_true", help="ask the team even when the answer is cached")
    ask.set_defaults(func=_ask, is_async=True)

    rte = sub.add_parser("route", parents=[common], help="classify prompts (domain, intent)")
    rte.add_argument("prompt", metavar="PROMPT", nargs="?")
    rte.add_argument("--offline", action="store_true", help="never ask the router model")
    rte.add_argument("--json", action="store_true", help="print the decision as JSON")
    rte.add_argument("--jsonl", action="store_true", help="read one prompt per stdin line, print JSON lines")
    rte.set_defaults(func=_route, is_async=True)

    doc = sub.add_parser(
        "doctor", parents=[common], help="check endpoints, models, FIM support and whether the team fits in memory"
    )
    doc.add_argument("--json", action="store_true")
    doc.set_defaults(func=_doctor, is_async=True)

    models = sub.add_parser("models", help="manage the tiers' models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    pull = models_sub.add_parser("pull", parents=[common], help="pull missing tier models")
    pull.set_defaults(func=_models_pull, is_async=True)

    sch = sub.add_parser("schemas", parents=[common], help="write shared-schemas/ from the models")
    sch.add_argument("--check", action="store_true", help="only check; exit 1 when a file is stale")
    sch.add_argument("--dir", type=Path, default=None)
    sch.set_defaults(func=_schemas, is_async=False)

    srv = sub.add_parser("serve", parents=[common], help="run the language server over stdio")
    srv.set_defaults(func=_serve, is_async=False)

    api = sub.add_parser("api", parents=[common], help="serve the OpenAI-compatible HTTP API")
    api.add_argument("--host", default=None, help="bind address (default: [api] host, 127.0.0.1)")
    api.add_argument("--port", type=int, default=None, help="TCP port, 0 for a free one (default: [api] port, 8765)")
    api.set_defaults(func=_api, is_async=False)

    if not extensions:
        return parser

    from coding_director.backends.embedded_install import add_runtime_command
    from coding_director.context.cli import add_context_command

    add_context_command(sub)
    add_runtime_command(sub)

    from coding_director.knowledge.cli import add_knowledge_commands

    add_knowledge_commands(sub, common)

    from coding_director.memory.cli import add_memory_commands

    add_memory_commands(sub, common)

    from coding_director.features.task import add_task_command

    add_task_command(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``coding-director``; returns the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    command = next((word for word in words if not word.startswith("-")), None)
    parser = build_parser(extensions=command not in CORE_COMMANDS)
    args = parser.parse_args(words)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if getattr(args, "is_async", False):
            return int(asyncio.run(args.func(args)))
        return int(args.func(args))
    except SettingsError as exc:
        _note(f"error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
