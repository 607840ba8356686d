"""``codingDirector/task`` over stdio: role steps stream as chat events, the tests run for real, and
the change is proposed with ``workspace/applyEdit`` whose edits need the user's confirmation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from coding_director.lsp.convert import to_plain
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.emulator import OllamaEmulator
from tests.helpers import alive
from tests.lsp.conftest import LspFactory
from tests.test_task import CALC, CODER_BUGGY, CODER_GOOD, DEBUGGER, TEST_CALC, TESTER, scripted_team


async def test_task_streams_roles_runs_tests_and_proposes_an_edit_needing_confirmation(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "calc.py").write_text(CALC, encoding="utf-8")
    (tmp_path / "tests" / "test_calc.py").write_text(TEST_CALC, encoding="utf-8")
    scripted_team(emu, {"lead": {"coder": [CODER_BUGGY]}, "senior": {"tester": [TESTER], "debugger": [DEBUGGER]}})
    session = await lsp(emu.url)
    proposals: list[Any] = []
    received = asyncio.Event()

    @session.client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls: LanguageClient, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        proposals.append(params)
        received.set()
        return types.ApplyWorkspaceEditResult(applied=False)  # the user discards the preview

    result = await session.client.protocol.send_request_async(
        "codingDirector/task", {"chatId": "t1", "prompt": "Add multiply(a, b) to calc.py with a test."}
    )
    answer = to_plain(result)
    assert answer["accepted"] is True, answer
    assert "**Tests**" in answer["answer"] and "2 passed, 0 failed" in answer["answer"]
    tiers = [a["tier"] for a in answer["attempts"]]
    assert tiers[:3] == ["planner · principal", "coder · lead", "tester · senior"]
    events = [to_plain(e) for e in session.received("codingDirector/chatEvent")]
    started = [e["tier"] for e in events if e["kind"] == "attemptStarted"]
    assert started.count("tests") == 2  # the failing run and the one after the debugger's fix
    test_text = "".join(e["text"] or "" for e in events if e["kind"] == "text" and e["tier"] == "tests")
    assert "assert 13 == 12" in test_text  # the real pytest output, streamed to the panel

    await asyncio.wait_for(received.wait(), 30)
    (proposal,) = proposals
    edit = proposal.edit
    annotation = edit.change_annotations["codingDirector.task"]
    assert annotation.needs_confirmation is True
    files = {Path(c.text_document.uri).name: c for c in edit.document_changes}
    assert set(files) == {"calc.py", "test_calc.py"}
    calc = files["calc.py"]
    (text_edit,) = calc.edits
    assert text_edit.annotation_id == "codingDirector.task"
    assert "def multiply(a, b):\n    return a * b\n" in text_edit.new_text
    assert (text_edit.range.end.line, text_edit.range.end.character) == (2, 0)
    # nothing was written: the preview decides
    assert (tmp_path / "calc.py").read_text(encoding="utf-8") == CALC


async def test_task_with_bad_params_is_invalid_params(lsp: LspFactory, emu: OllamaEmulator) -> None:
    session = await lsp(emu.url)
    try:
        await session.client.protocol.send_request_async("codingDirector/task", {"prompt": ""})
    except Exception as exc:
        assert "prompt" in str(exc) and getattr(exc, "code", None) == -32602
    else:
        raise AssertionError("an empty prompt was accepted")


async def test_cancelling_a_task_kills_its_test_run_and_answers_cancelled(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    (tmp_path / "calc.py").write_text(CALC, encoding="utf-8")
    pid_file = tmp_path / "child.pid"
    scripted_team(emu, {"lead": {"coder": [CODER_GOOD]}, "senior": {"tester": ["NO CHANGES"]}})
    session = await lsp(emu.url, extra_toml=f'[task]\ntest_command = "sleep 300 & echo $! > {pid_file}; wait"\n')
    request = asyncio.ensure_future(
        session.client.protocol.send_request_async(
            "codingDirector/task", {"chatId": "t2", "prompt": "Add multiply"}, msg_id="task-to-cancel"
        )
    )
    for _ in range(600):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.1)
    child = int(pid_file.read_text())
    assert alive(child)
    session.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="task-to-cancel"))
    with pytest.raises(Exception, match=r"(?i)cancel"):
        await asyncio.wait_for(request, 30)
    for _ in range(100):
        if not alive(child):
            break
        await asyncio.sleep(0.1)
    assert not alive(child)  # the test command's whole process group was killed
