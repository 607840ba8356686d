"""The memory's subcommands of ``coding-director``: ``stats``, ``export``, ``forget``, ``feedback``.

Registered by :func:`add_memory_commands` from :mod:`coding_director.cli`. Exit codes as there:
0 ok, 1 nothing done (unknown request), 2 bad usage or settings, 4 the memory is off or unusable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, get_args

from coding_director.memory.models import DEFAULT_SINCE, FeedbackKind, StatsReport

if TYPE_CHECKING:
    import apsw

    from coding_director.memory.store import Memory
    from coding_director.settings import Settings

T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_MEMORY = 0, 1, 2, 4


def _note(message: str) -> None:
    sys.stderr.write(message + "\n")


def _open(args: argparse.Namespace, settings: Settings | None = None):  # type: ignore[no-untyped-def]
    from coding_director.memory import open_memory
    from coding_director.settings import load_settings

    settings = settings if settings is not None else load_settings(args.config)
    if not settings.memory.enabled:
        _note("error: memory is disabled ([memory] enabled = false)")
        return None
    return open_memory(settings, lambda message: _note(f"error: {message}"))


def _since(args: argparse.Namespace) -> float | None:
    from coding_director.memory.stats import parse_since

    try:
        return parse_since(args.since)
    except ValueError as exc:
        _note(f"error: {exc}")
        return None


def _with_memory(args: argparse.Namespace, use: Callable[[Settings, Memory, float], T]) -> T | int:
    """``use(settings, memory, since)`` on the settings and memory of ``args`` (``--config``,
    ``--since``), the memory closed after; an exit code instead when ``--since`` is bad or there is
    no memory."""
    from coding_director.settings import load_settings

    since = _since(args)
    if since is None:
        return EXIT_USAGE
    settings = load_settings(args.config)
    memory = _open(args, settings)
    if memory is None:
        return EXIT_NO_MEMORY
    try:
        return use(settings, memory, since)
    finally:
        memory.close()


def _read_since(args: argparse.Namespace, query: Callable[[apsw.Connection, float], T]) -> T | int:
    """``query(conn, since)`` on the memory of ``args``, as :func:`_with_memory`."""
    return _with_memory(args, lambda _settings, memory, since: memory.read_sync(lambda conn: query(conn, since)))


def _stats(args: argparse.Namespace) -> int:
    from coding_director.features.stats import placement_report
    from coding_director.memory.stats import compute_stats

    def figures(settings: Settings, memory: Memory, since: float) -> StatsReport:
        report = memory.read_sync(lambda conn: compute_stats(conn, since))
        placement = asyncio.run(placement_report(settings, memory))
        return report.model_copy(update={"placement": placement})

    report = _with_memory(args, figures)
    if isinstance(report, int):
        return report
    return _print_stats(report, args.json)


def _print_stats(report: StatsReport, as_json: bool) -> int:
    from coding_director.memory.stats import render_text
    from coding_director.wire import to_wire

    if as_json:
        sys.stdout.write(json.dumps(to_wire(report), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(report) + "\n")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from coding_director.memory.export import export_lines

    lines = _read_since(args, lambda conn, since: list(export_lines(conn, args.format, since)))
    if isinstance(lines, int):
        return lines
    text = "".join(line + "\n" for line in lines)
    if str(args.output) == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    _note(f"wrote {len(lines)} {args.format} lines to {args.output}")
    return EXIT_OK


def _forget(args: argparse.Namespace) -> int:
    if not args.all and args.workspace is None:
        _note("error: give --workspace DIR or --all")
        return EXIT_USAGE
    memory = _open(args)
    if memory is None:
        return EXIT_NO_MEMORY
    try:
        workspace = None if args.all else str(Path(args.workspace).resolve())
        count = memory.forget(workspace)
    finally:
        memory.close()
    _note(f"forgot {count} requests" + ("" if workspace is None else f" of {workspace}"))
    return EXIT_OK


def _feedback(args: argparse.Namespace) -> int:
    memory = _open(args)
    if memory is None:
        return EXIT_NO_MEMORY
    try:
        request_id = args.request
        if request_id == "last":
            row = memory.read_sync(
                lambda conn: conn.execute(
                    "SELECT id FROM requests WHERE source != 'completion' ORDER BY created_at DESC LIMIT 1"
                ).fetchone()
            )
            request_id = str(row[0]) if row else None
        known = request_id is not None and memory.read_sync(
            lambda conn: conn.execute("SELECT 1 FROM requests WHERE id = ?", (request_id,)).fetchone() is not None
        )
        if not known:
            _note(f"error: no request {args.request!r} in the memory")
            return EXIT_FAILED
        assert request_id is not None
        memory.feedback(request_id, args.kind, args.detail)
    finally:
        memory.close()
    return EXIT_OK


def add_memory_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Register ``stats``, ``export``, ``forget`` and ``feedback`` on ``sub``."""
    stats = sub.add_parser("stats", parents=[common], help="what the memory says about the team")
    stats.add_argument("--since", default=DEFAULT_SINCE, help="a duration: 7d (default), 12h, 30m, 2w")
    stats.add_argument("--json", action="store_true", help="print the StatsReport as JSON")
    stats.set_defaults(func=_stats, is_async=False)

    export = sub.add_parser("export", parents=[common], help="training data: SFT or DPO JSON lines")
    export.add_argument("--format", choices=["sft", "dpo"], required=True)
    export.add_argument("--since", default="3650d", help="a duration (default: everything)")
    export.add_argument("--output", required=True, help="the JSONL file to write ('-': stdout)")
    export.set_defaults(func=_export, is_async=False)

    forget = sub.add_parser("forget", parents=[common], help="delete remembered requests")
    forget.add_argument("--workspace", type=Path, help="only the requests made in this directory")
    forget.add_argument("--all", action="store_true", help="everything")
    forget.set_defaults(func=_forget, is_async=False)

    feedback = sub.add_parser("feedback", parents=[common], help="mark an answer helpful or unhelpful")
    feedback.add_argument("request", metavar="REQUEST_ID", help="Assistance.requestId, or 'last'")
    feedback.add_argument("kind", choices=list(get_args(FeedbackKind)))
    feedback.add_argument("--detail", default=None)
    feedback.set_defaults(func=_feedback, is_async=False)
