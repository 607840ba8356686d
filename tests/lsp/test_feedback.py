"""Editor feedback recorded in the team memory, over stdio with a real LSP client (issue 12)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from coding_director.lsp.convert import to_plain
from coding_director.memory.db import connect
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.emulator import OllamaEmulator
from tests.helpers import add_team
from tests.lsp.conftest import LspFactory, Session
from tests.lsp.test_server import CODE, FIXED, SOURCE, STILL_BROKEN, apply, by_title, complete, list_actions, open_doc
from tests.lsp.test_server import rng as lsp_range


def memory_toml(db: Path) -> str:
    return f'[completion]\ndebounce_ms = 10\n[memory]\npath = "{db}"\n'


def feedback_of(db: Path) -> list[tuple[str, str, str]]:
    """(request source, request id, feedback kind) rows, oldest first."""
    conn = connect(db)
    try:
        return [
            (str(s), str(i), str(k))
            for s, i, k in conn.execute(
                "SELECT r.source, r.id, f.kind FROM feedback f JOIN requests r ON r.id = f.request_id ORDER BY f.id"
            )
        ]
    finally:
        conn.close()


def change_to(session: Session, uri: str, version: int, text: str) -> None:
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def rows_when(db: Path, done: Any) -> list[tuple[str, str, str]]:
    """The feedback rows once ``done(rows)`` holds (the writer thread commits within moments), or
    after 20 s whatever is there."""
    rows: list[tuple[str, str, str]] = []
    for _ in range(200):
        rows = feedback_of(db) if db.exists() else []  # noqa: ASYNC240
        if done(rows):
            break
        await asyncio.sleep(0.1)
    return rows


async def completion_session(lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path) -> tuple[Session, Path, str]:
    """A server whose lead completes ``a + b`` (FIM), its memory database, and ``add.py`` open in it."""
    add_team(emu, lead={"reply": "a + b", "capabilities": ["completion", "insert"]})
    db = tmp_path / "memory.sqlite3"
    session = await lsp(emu.url, memory_toml(db))
    return session, db, open_doc(session, tmp_path, text=CODE, name="add.py")


async def test_accepted_inline_completion_is_recorded(lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path) -> None:
    session, db, uri = await completion_session(lsp, emu, tmp_path)
    first = await complete(session, uri, 1, 11)
    assert first is not None
    (item,) = first.items
    assert item.command is not None and item.command.command == "codingDirector.completionAccepted"
    (request_id,) = item.command.arguments or []
    await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
    )
    change_to(session, uri, 2, CODE.replace("return \n", "return a + b\n"))
    rows = await rows_when(db, lambda rows: ("completion", request_id, "accepted") in rows)
    assert ("completion", request_id, "shown") in rows and ("completion", request_id, "accepted") in rows
    assert ("completion", request_id, "dismissed") not in rows


async def test_completion_not_accepted_before_the_next_request_is_dismissed(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    session, db, uri = await completion_session(lsp, emu, tmp_path)
    first = await complete(session, uri, 1, 11)
    assert first is not None and first.items[0].command is not None
    (request_id,) = first.items[0].command.arguments or []
    await complete(session, uri, 4, 0)
    rows = await rows_when(db, lambda rows: ("completion", request_id, "dismissed") in rows)
    assert ("completion", request_id, "dismissed") in rows


async def test_undone_fix_is_recorded(lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path) -> None:
    add_team(emu, lead=STILL_BROKEN, senior=FIXED)
    db = tmp_path / "memory.sqlite3"
    session = await lsp(emu.url, memory_toml(db))
    uri = open_doc(session, tmp_path, version=1)
    fix = by_title(await list_actions(session, uri, lsp_range(7, 0, 8, 0)), "Fix")
    resolved = await session.client.code_action_resolve_async(fix)
    (change,) = resolved.edit.document_changes
    fixed = apply(SOURCE, change.edits[0])
    change_to(session, uri, 2, fixed)  # the editor applies the edit
    change_to(session, uri, 3, SOURCE)  # ... and the user undoes it
    rows = await rows_when(db, lambda rows: len([r for r in rows if r[0] == "code_action"]) >= 2)
    kinds = [kind for source, _id, kind in rows if source == "code_action"]
    assert kinds == ["applied", "undone"], rows
    conn = connect(db)
    (attempts,) = conn.execute("SELECT count(*) FROM attempts a JOIN requests r ON r.id = a.request_id"
                               " WHERE r.source = 'code_action'").fetchone()  # fmt: skip
    assert attempts == 2  # lead rejected, senior accepted


async def test_chat_feedback_is_recorded_and_evicts_the_cached_answer(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu)
    db = tmp_path / "memory.sqlite3"
    session = await lsp(emu.url, memory_toml(db))

    async def ask(**extra: Any) -> dict[str, Any]:
        params = {"chatId": "c1", "prompt": "What does a Python decorator do?", **extra}
        return to_plain(await session.client.protocol.send_request_async("codingDirector/chat", params))  # type: ignore[no-any-return]

    first = await ask()
    assert first["requestId"] and not first["cached"]
    second = await ask()
    for _ in range(100):  # the first answer is cached by the writer thread moments after it is recorded
        if second["cached"]:
            break
        await asyncio.sleep(0.1)
        second = await ask()
    assert second["cached"] and second["answer"] == first["answer"]
    calls = len(emu.calls(path="/api/chat"))
    regenerated = await ask(noCache=True)
    assert not regenerated["cached"] and len(emu.calls(path="/api/chat")) == calls + 1
    session.client.protocol.notify("codingDirector/feedback", {"requestId": second["requestId"], "kind": "unhelpful"})
    rows = await rows_when(db, lambda rows: ("chat", second["requestId"], "unhelpful") in rows)
    assert ("chat", second["requestId"], "unhelpful") in rows
    assert not (await ask())["cached"]


async def test_dashboard_stats_request_returns_the_figures_of_stats(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    """``codingDirector/stats`` (the dashboard's data) is ``coding-director stats --json`` of the same database."""
    session, db, uri = await completion_session(lsp, emu, tmp_path)
    await session.client.protocol.send_request_async("codingDirector/chat", {"chatId": "c1", "prompt": "What is add?"})
    first = await complete(session, uri, 1, 11)
    assert first is not None
    send = session.client.protocol.send_request_async
    report: dict[str, Any] = {}
    for _ in range(100):  # the writer thread commits moments after each request
        report = to_plain(await send("codingDirector/stats", {"since": "7d"}))
        if report["requests"] >= 2:
            break
        await asyncio.sleep(0.1)
    assert report["bySource"] == {"chat": 1, "completion": 1} and report["completionsShown"] == 1
    assert report["placement"]["mode"] == "off" and "nothing leaves this machine" in report["placement"]["reason"]
    cli_config = tmp_path / "cli.toml"
    cli_config.write_text(f'[memory]\npath = "{db}"\n', encoding="utf-8")
    command = [sys.executable, "-m", "coding_director", "stats", "--config", str(cli_config), "--json"]
    proc = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cli = json.loads(proc.stdout)
    assert abs(cli.pop("since") - report.pop("since")) < 60  # both "7 days before now"
    assert cli == report
    assert to_plain(await send("codingDirector/stats", {}))["requests"] == 2  # since defaults to 7d
    try:
        await send("codingDirector/stats", {"since": "forever"})
        raise AssertionError("a bad since was accepted")
    except JsonRpcException as exc:
        assert exc.code == -32602 and "since" in str(exc.message)


async def test_dashboard_stats_request_without_memory_fails_with_the_reason(
    lsp: LspFactory, emu: OllamaEmulator
) -> None:
    add_team(emu)
    session = await lsp(emu.url, "[memory]\nenabled = false\n")
    try:
        await session.client.protocol.send_request_async("codingDirector/stats", {"since": "7d"})
        raise AssertionError("stats without memory did not fail")
    except JsonRpcException as exc:
        assert exc.code == -32803 and "[memory] enabled = false" in str(exc.message)
