"""The ``coding-director context`` subcommand: print the CodeContext for a file position."""

from __future__ import annotations

import argparse
import json
import sys

from coding_director.context.extract import extract_from_file
from coding_director.context.render import render_context
from coding_director.wire import to_wire

__all__ = ["add_context_command", "run_context"]


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {number}")
    return number


def add_context_command(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``context --file PATH --line N [--column C] [--json] [--budget TOKENS]`` to ``subparsers``.

    Lines and columns are 1-based (columns in UTF-16 code units, i.e. characters for most text).
    The parsed namespace's ``func`` is :func:`run_context`.
    """
    parser = subparsers.add_parser(
        "context",
        help="show the code context extracted for a file position",
        description="Print the CodeContext (enclosing definitions, imports, outline, focus, FIM "
                    "prefix/suffix, related snippets) for a 1-based line and column.",
    )
    parser.add_argument("--file", required=True, help="path of the source file")
    parser.add_argument("--line", required=True, type=_positive, help="1-based line")
    parser.add_argument("--column", type=_positive, default=1, help="1-based column (default 1)")
    parser.add_argument("--json", action="store_true", help="print the CodeContext as JSON (camelCase)")
    parser.add_argument("--budget", type=_positive, default=3000, help="token budget (default 3000)")
    parser.set_defaults(func=run_context)


def run_context(args: argparse.Namespace) -> int:
    """Run the subcommand: 0 on success, 2 when the file cannot be read (message on stderr)."""
    try:
        ctx = extract_from_file(args.file, args.line, args.column, token_budget=args.budget)
    except OSError as error:
        reason = error.strerror or str(error)
        print(f"coding-director context: cannot read {args.file}: {reason}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"coding-director context: --line {args.line}: {error}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(to_wire(ctx), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_context(ctx))
    return 0
