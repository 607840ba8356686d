"""The ``coding-director index`` and ``coding-director search`` subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from coding_director.wire import to_wire

__all__ = ["add_knowledge_commands", "run_index", "run_search"]


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {number}")
    return number


def add_knowledge_commands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``index --workspace DIR [--json]`` and ``search --workspace DIR [--top-k K] [--mode M]
    [--json] QUERY`` to ``subparsers`` (``common`` carries ``--config``/``--verbose``)."""
    index = subparsers.add_parser("index", parents=[common], help="index a workspace folder (incremental)")
    index.add_argument("--workspace", required=True, type=Path, help="the folder to index")
    index.add_argument("--json", action="store_true", help="print the IndexSummary as JSON")
    index.set_defaults(func=run_index, is_async=False)

    search = subparsers.add_parser("search", parents=[common], help="search a workspace folder's index")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--workspace", required=True, type=Path, help="the indexed folder (indexed first if needed)")
    search.add_argument("--top-k", type=_positive, default=10, help="number of results (default 10)")
    search.add_argument("--mode", choices=("hybrid", "bm25", "vector"), default="hybrid")
    search.add_argument("--json", action="store_true",
                        help='print [{"path", "startLine", "endLine", "name", "score"}], best first')
    search.set_defaults(func=run_search, is_async=False)


def _open(args: argparse.Namespace) -> object:
    from coding_director.knowledge.index import WorkspaceIndex
    from coding_director.settings import load_settings

    workspace: Path = args.workspace
    if not workspace.is_dir():
        print(f"coding-director {args.command}: --workspace: not a folder: {workspace}", file=sys.stderr)
        return None
    return WorkspaceIndex(workspace, load_settings(args.config))


def run_index(args: argparse.Namespace) -> int:
    """Index ``--workspace``; prints the summary (files, chunks, seconds). 0 ok, 2 bad folder."""
    from coding_director.knowledge.index import WorkspaceIndex

    index = _open(args)
    if not isinstance(index, WorkspaceIndex):
        return 2
    try:
        summary = index.update()
    finally:
        index.close()
    if args.json:
        sys.stdout.write(json.dumps(to_wire(summary)) + "\n")
    else:
        sys.stdout.write(f"{summary.files} files, {summary.chunks} chunks ({summary.indexed} indexed, "
                         f"{summary.unchanged} unchanged, {summary.removed} removed) in {summary.seconds:.2f} s\n")
    return 0


def run_search(args: argparse.Namespace) -> int:
    """Bring the index of ``--workspace`` up to date, then print the best chunks for QUERY."""
    from coding_director.knowledge.index import WorkspaceIndex

    index = _open(args)
    if not isinstance(index, WorkspaceIndex):
        return 2
    try:
        index.update()
        hits = index.search(args.query, args.top_k, args.mode)
    finally:
        index.close()
    if args.json:
        sys.stdout.write(json.dumps([to_wire(hit) for hit, _chunk in hits], ensure_ascii=False) + "\n")
    else:
        for hit, _chunk in hits:
            sys.stdout.write(f"{hit.score:.4f}  {hit.path}:{hit.start_line}-{hit.end_line}  {hit.name}\n")
    return 0
