"""The language server end to end: a pytest-lsp client over stdio, models on the Ollama emulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from coding_director.context import check_syntax
from coding_director.lsp.convert import to_plain
from coding_director.messages import ActionData, ChatParams
from lsprotocol import types

from tests.emulator import OllamaEmulator, RecordedRequest, ScriptedModel
from tests.helpers import GOOD_PY, TIER_MODELS, add_team, closed_port_url
from tests.lsp.conftest import LspFactory, Session

#: Everyday (general) code: since issue 10 code actions route by the code, and numerical code
#: (``NUMPY_SOURCE`` below) goes to the math chain.
#: The broken unit is plain string code too: alone, a one-line `x * factor` is a coin toss for the
#: router (P(math) about 0.5), and these tests are about the Fix edit, not the route.
SOURCE = """import os


def greet(name):
    return "Hello, " + name + os.linesep


def shout(text, suffix:
    return text.upper() + suffix
"""
FIXED = (
    "Fixed:\n```python\ndef shout(text, suffix):\n    return text.upper() + suffix\n```\nA parenthesis was missing."
)
STILL_BROKEN = "```python\ndef shout(text, suffix:\n    return text.upper() + suffix\n```"
DOCUMENTED = (
    '```python\ndef greet(name):\n    """The greeting line for ``name``."""\n'
    '    return "Hello, " + name + os.linesep\n```'
)


def open_doc(session: Session, tmp_path: Path, text: str = SOURCE, name: str = "greeting.py", version: int = 1) -> str:
    uri = (tmp_path / name).as_uri()
    session.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )
    return uri


def completions(emu: OllamaEmulator) -> list[RecordedRequest]:
    """The completion requests of the lead (the warm-up at start, an empty ``/api/generate``, is not one)."""
    return [r for r in emu.calls(path="/api/generate", model=TIER_MODELS["lead"]) if r.inference]


def rng(a: int, b: int, c: int, d: int) -> types.Range:
    return types.Range(start=types.Position(line=a, character=b), end=types.Position(line=c, character=d))


async def list_actions(
    session: Session, uri: str, selection: types.Range, diagnostics: list[types.Diagnostic] | None = None
) -> list[Any]:
    result = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=selection,
            context=types.CodeActionContext(diagnostics=diagnostics or []),
        )
    )
    return list(result or [])


def by_title(actions: list[Any], word: str) -> Any:
    return next(a for a in actions if word in a.title)


def apply(text: str, edit: types.TextEdit) -> str:
    lines = text.splitlines(keepends=True)
    start = sum(len(x) for x in lines[: edit.range.start.line]) + edit.range.start.character
    end = sum(len(x) for x in lines[: edit.range.end.line]) + edit.range.end.character
    return text[:start] + edit.new_text + text[end:]


async def chat(session: Session, **params: Any) -> dict[str, Any]:
    result = await session.client.protocol.send_request_async("codingDirector/chat", params)
    return to_plain(result)  # type: ignore[no-any-return]


async def test_code_actions_are_listed_without_any_model_call(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu)
    session = await lsp(emu.url)
    uri = open_doc(session, tmp_path)
    actions = await list_actions(session, uri, rng(3, 0, 4, 0))
    assert [a.title for a in actions] == [
        "Fix with Coding Director",
        "Explain with Coding Director",
        "Add docstring with Coding Director",
        "Generate tests with Coding Director",
    ]
    assert by_title(actions, "Fix").kind == "refactor.rewrite"
    diagnostic = types.Diagnostic(range=rng(7, 0, 7, 20), message="'(' was never closed")
    with_diag = await list_actions(session, uri, rng(7, 0, 8, 0), [diagnostic])
    assert by_title(with_diag, "Fix").kind == "quickfix"
    explain = by_title(actions, "Explain")
    assert explain.command.command == "codingDirector.askInChat"
    assert to_plain(explain.command.arguments[0])["intent"] == "explain"
    # Every shape on the wire is a schema model: the command's argument is a ChatParams, the
    # data of an edit action an ActionData.
    ask = ChatParams.model_validate(to_plain(explain.command.arguments[0]))
    assert ask.text_document is not None and ask.text_document.uri == uri and ask.chat_id is None
    data = ActionData.model_validate(to_plain(by_title(actions, "Fix").data))
    assert (data.action, data.range.start.line, data.range.end.line) == ("fix", 3, 4)
    assert not [r for r in emu.requests if r.inference]


async def test_fix_resolves_to_a_versioned_edit_after_escalation(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead=STILL_BROKEN, senior=FIXED)
    session = await lsp(emu.url)
    uri = open_doc(session, tmp_path, version=3)
    fix = by_title(await list_actions(session, uri, rng(7, 0, 8, 0)), "Fix")
    resolved = await session.client.code_action_resolve_async(fix)
    (change,) = resolved.edit.document_changes
    assert change.text_document.version == 3 and change.text_document.uri == uri
    fixed_text = apply(SOURCE, change.edits[0])
    assert "def shout(text, suffix):" in fixed_text and "def greet(name):" in fixed_text
    assert check_syntax(fixed_text, "python") == []
    # The lead's fix did not parse; the senior was told why.
    senior = emu.calls(path="/api/chat", model=TIER_MODELS["senior"])[0].json["messages"][-1]["content"]
    assert "does not parse" in senior
    events = session.received("codingDirector/status")
    assert any(to_plain(e)["state"] == "busy" for e in events)


NUMPY_SOURCE = """import numpy as np


def zscore(x):
    mu = np.mean(x)
    sigma = np.std(x, ddof=1
    return (x - mu) / sigma
"""
NUMPY_FIXED = (
    "```python\ndef zscore(x):\n    mu = np.mean(x)\n    sigma = np.std(x, ddof=1)\n    return (x - mu) / sigma\n```"
)


async def test_fix_on_numpy_code_is_answered_by_the_math_tier(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead=STILL_BROKEN, math=NUMPY_FIXED)
    session = await lsp(emu.url)
    uri = open_doc(session, tmp_path, text=NUMPY_SOURCE, name="stats.py")
    fix = by_title(await list_actions(session, uri, rng(3, 0, 6, 0)), "Fix")
    resolved = await session.client.code_action_resolve_async(fix)
    fixed_text = apply(NUMPY_SOURCE, resolved.edit.document_changes[0].edits[0])
    assert "np.std(x, ddof=1)" in fixed_text and check_syntax(fixed_text, "python") == []
    # The route came from the code (numpy import, numerical focus code): the math tier answered
    # and the lead was never asked.
    assert emu.calls(path="/api/chat", model=TIER_MODELS["math"])
    assert not emu.calls(path="/api/chat", model=TIER_MODELS["lead"])


async def test_add_docstring_replaces_the_enclosing_function(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead=DOCUMENTED)
    session = await lsp(emu.url)
    uri = open_doc(session, tmp_path, text=SOURCE.replace("def shout(text, suffix:", "def shout(text, suffix):"))
    action = by_title(await list_actions(session, uri, rng(4, 4, 4, 4)), "docstring")
    resolved = await session.client.code_action_resolve_async(action)
    edit = resolved.edit.document_changes[0].edits[0]
    assert (edit.range.start.line, edit.range.end.line) == (3, 5)  # exactly `def greet` (lines 4-5)
    assert '"""The greeting line for ``name``."""' in edit.new_text


async def test_fix_for_version_n_is_refused_when_the_document_is_at_n_plus_1(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead={"reply": FIXED, "first_token_delay_ms": 800})
    session = await lsp(emu.url, "[memory]\ncache = false\n")  # the same Fix twice: the team must work twice
    uri = open_doc(session, tmp_path, version=1)
    fix = by_title(await list_actions(session, uri, rng(7, 0, 8, 0)), "Fix")
    # The user types after the action was listed: its selection no longer means the same lines.
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangePartial(range=rng(0, 0, 0, 0), text="# units: m\n")],
        )
    )
    with pytest.raises(Exception, match="changed since this action was offered") as refused:
        await session.client.code_action_resolve_async(fix)
    assert getattr(refused.value, "code", None) == types.LSPErrorCodes.ContentModified
    assert not emu.calls(path="/api/chat")  # refused before any model call
    # Listed again at version 2, it works, with the unit found at its new place.
    fix = by_title(await list_actions(session, uri, rng(8, 0, 9, 0)), "Fix")
    resolved = await session.client.code_action_resolve_async(fix)
    change = resolved.edit.document_changes[0]
    assert change.text_document.version == 2 and change.edits[0].range.start.line == 8
    # Now the user types while the team works: the edit is refused, never applied to version 3.
    fix = by_title(await list_actions(session, uri, rng(8, 0, 9, 0)), "Fix")
    task = asyncio.ensure_future(session.client.code_action_resolve_async(fix))
    await asyncio.sleep(0.3)
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
            content_changes=[types.TextDocumentContentChangePartial(range=rng(0, 0, 0, 0), text="#\n")],
        )
    )
    with pytest.raises(Exception, match="changed while the fix was computed"):
        await task


async def test_fix_that_no_tier_gets_right_fails_with_the_reasons_and_no_edit(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead=STILL_BROKEN, senior=STILL_BROKEN, principal="no code, sorry")
    session = await lsp(emu.url)
    uri = open_doc(session, tmp_path)
    fix = by_title(await list_actions(session, uri, rng(7, 0, 8, 0)), "Fix")
    with pytest.raises(Exception) as failed:
        await session.client.code_action_resolve_async(fix)
    # LSP's RequestFailed, with a message for the user (no Python class path, no traceback).
    assert getattr(failed.value, "code", None) == types.LSPErrorCodes.RequestFailed
    message = str(failed.value)
    assert message.startswith("no tier produced a fix") and "coding_director" not in message
    assert "lead: " in message and "senior: " in message and "principal: no code block" in message
    assert not session.client.messages  # no pop-up from the server: the client shows the error


async def test_chat_streams_events_with_tiers_and_returns_assistance(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead="```python\ndef f(:\n```", senior=GOOD_PY)
    session = await lsp(emu.url)
    uri = open_doc(session, tmp_path)
    result = await chat(
        session,
        chatId="c1",
        prompt="Write a Python add function",
        textDocument={"uri": uri},
        range={"start": {"line": 3, "character": 0}, "end": {"line": 4, "character": 0}},
    )
    assert result["finalTier"] == "senior" and result["answer"] == GOOD_PY
    assert [a["outcome"] for a in result["attempts"]] == ["rejected", "accepted"]
    events = [to_plain(e) for e in session.received("codingDirector/chatEvent")]
    assert all(e["chatId"] == "c1" for e in events)
    kinds = [(e["kind"], e["tier"]) for e in events if e["kind"] != "text"]
    assert kinds == [
        ("attemptStarted", "lead"),
        ("attemptFinished", "lead"),
        ("attemptStarted", "senior"),
        ("attemptFinished", "senior"),
    ]
    assert "".join(e["text"] for e in events if e["kind"] == "text" and e["tier"] == "senior") == GOOD_PY
    lead_prompt = emu.calls(path="/api/chat", model=TIER_MODELS["lead"])[0].json["messages"][-1]["content"]
    assert "def greet(name):" in lead_prompt  # the code context of the range went to the model


async def test_chat_cancellation_closes_the_model_stream(lsp: LspFactory, emu: OllamaEmulator) -> None:
    add_team(emu, lead={"reply": "word " * 400, "chunk_delay_ms": 25})
    session = await lsp(emu.url)
    task = asyncio.ensure_future(
        session.client.protocol.send_request_async(
            "codingDirector/chat", {"chatId": "c2", "prompt": "Explain it"}, msg_id="chat-to-cancel"
        )
    )
    for _ in range(200):
        if any(to_plain(e)["kind"] == "text" for e in session.received("codingDirector/chatEvent")):
            break
        await asyncio.sleep(0.02)
    # What an editor sends when the user presses Stop.
    session.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="chat-to-cancel"))
    with pytest.raises(Exception, match=r"(?i)cancel"):
        await task
    call = emu.calls(path="/api/chat", model=TIER_MODELS["lead"])[0]
    assert await emu.wait_for_async(lambda: call.closed_early, within=5)
    assert not call.completed
    assert call.chunks_sent < 400


async def test_bad_chat_params_are_rejected_clearly(lsp: LspFactory, emu: OllamaEmulator) -> None:
    add_team(emu)
    session = await lsp(emu.url)
    with pytest.raises(Exception, match="prompt"):
        await session.client.protocol.send_request_async("codingDirector/chat", {"chatId": "x"})


async def complete(session: Session, uri: str, line: int, character: int) -> Any:
    return await session.client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
    )


CODE = "def add(a, b):\n    return \n\n\nprint(add(1, 2))\n"


async def test_inline_completion_uses_fim_when_the_model_has_insert(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead={"reply": "a + b", "capabilities": ["completion", "insert"]})
    session = await lsp(emu.url, "[completion]\ndebounce_ms = 10\n")
    uri = open_doc(session, tmp_path, text=CODE, name="add.py")
    result = await complete(session, uri, 1, 11)
    assert result is not None and result.items[0].insert_text == "a + b"
    body = completions(emu)[0].json
    assert body["prompt"].endswith("def add(a, b):\n    return")  # the space after `return` is healed
    assert "print(add(1, 2))" in body["suffix"]


async def test_inline_completion_without_fim_sends_no_suffix(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead={"reply": "a + b", "capabilities": ["completion"]})
    session = await lsp(emu.url, "[completion]\ndebounce_ms = 10\n")
    uri = open_doc(session, tmp_path, text=CODE, name="add.py")
    result = await complete(session, uri, 1, 11)
    assert result is not None and result.items[0].insert_text == "a + b"
    body = completions(emu)[0].json
    assert not body.get("suffix") and body["prompt"].endswith("    return")


async def test_typing_burst_reaches_the_model_at_most_twice(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead={"reply": "x", "capabilities": ["completion", "insert"]})
    # Keystrokes 30 ms apart; a debounce of 600 ms (not the default 150) so that a scheduler stall
    # on a loaded machine cannot split the burst into three.
    session = await lsp(emu.url, configuration={"completion": {"debounce_ms": 600}})
    uri = open_doc(session, tmp_path, text="def f(a):\n    \n", name="burst.py")
    tasks = []
    typed = "return a * 2 + 1 #x"  # 20 keystrokes
    for i, ch in enumerate(typed):
        session.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2 + i),
                content_changes=[types.TextDocumentContentChangePartial(range=rng(1, 4 + i, 1, 4 + i), text=ch)],
            )
        )
        tasks.append(asyncio.ensure_future(complete(session, uri, 1, 5 + i)))
        await asyncio.sleep(0.03)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    generate_calls = completions(emu)
    assert 1 <= len(generate_calls) <= 2
    last = results[-1]
    assert not isinstance(last, BaseException) and last is not None and last.items


async def test_completions_can_be_disabled_through_workspace_configuration(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead={"reply": "a + b", "capabilities": ["completion", "insert"]})
    session = await lsp(emu.url, configuration={"completion": {"enabled": False}})
    uri = open_doc(session, tmp_path, text=CODE, name="add.py")
    await asyncio.sleep(0.2)
    assert await complete(session, uri, 1, 11) is None
    assert not emu.calls(path="/api/generate")


async def test_dead_endpoint_is_reported_once(lsp: LspFactory, tmp_path: Path) -> None:
    session = await lsp(closed_port_url())
    uri = open_doc(session, tmp_path)
    for _ in range(100):
        if any(to_plain(s)["state"] == "endpointDown" for s in session.received("codingDirector/status")):
            break
        await asyncio.sleep(0.05)
    statuses = [to_plain(s) for s in session.received("codingDirector/status")]
    assert statuses[-1]["state"] == "endpointDown" and "ollama serve" in statuses[-1]["message"]
    result = await chat(session, chatId="d", prompt="Explain recursion")
    assert result["answer"] == "" and "cannot reach" in result["attempts"][0]["reason"]
    for _ in range(3):
        await complete(session, uri, 4, 4)
    await chat(session, chatId="e", prompt="Explain recursion")
    await asyncio.sleep(0.3)
    shown = [m.message for m in session.client.messages]
    assert len([m for m in shown if "Cannot reach" in m]) == 1, shown
    assert len(shown) == 1


async def test_bad_setting_is_shown_once_and_defaults_stay(lsp: LspFactory, emu: OllamaEmulator) -> None:
    add_team(emu)
    session = await lsp(emu.url, init_options={"routing": {"router": "sometimes"}})
    result = await chat(session, chatId="s", prompt="Explain recursion")
    assert result["finalTier"] == "lead"
    await asyncio.sleep(0.2)
    messages = [m.message for m in session.client.messages]
    assert len(messages) == 1 and "routing.router" in messages[0]


async def test_pull_models_command_reports_progress(lsp: LspFactory, emu: OllamaEmulator) -> None:
    add_team(emu, principal=None)
    emu.add_pullable(ScriptedModel(name=TIER_MODELS["principal"]))
    session = await lsp(emu.url)
    result = to_plain(
        await session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codingDirector.pullModels")
        )
    )
    assert result["pulled"] == [TIER_MODELS["principal"]] and result["failed"] == []
    reports = [r for values in session.client.progress_reports.values() for r in values]
    assert any(isinstance(r, types.WorkDoneProgressReport) and r.percentage is not None for r in reports)
    stats = to_plain(
        await session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codingDirector.showStats")
        )
    )
    assert json.dumps(stats) and "completions" in stats


async def test_reset_engine_clears_cooldowns(lsp: LspFactory, emu: OllamaEmulator) -> None:
    add_team(emu, lead=None)
    session = await lsp(emu.url, "[health]\nallowed_fails = 0\ncooldown_s = 600\n[memory]\ncache = false\n")
    await chat(session, chatId="r1", prompt="Explain recursion")
    second = await chat(session, chatId="r2", prompt="Explain recursion")
    assert second["attempts"][0]["outcome"] == "skipped"  # the lead is cooling down
    stats = to_plain(
        await session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codingDirector.resetEngine")
        )
    )
    assert stats["cooldowns"] == {}
    add_team(emu, lead=GOOD_PY, router=None, math=None, senior=None, principal=None)
    third = await chat(session, chatId="r3", prompt="Explain recursion")
    assert third["attempts"][0] == {**third["attempts"][0], "tier": "lead", "outcome": "accepted"}


async def test_fix_at_the_cursor_on_a_broken_function_replaces_the_whole_function(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    add_team(emu, lead=FIXED)
    session = await lsp(emu.url)
    uri = open_doc(session, tmp_path)
    fix = by_title(await list_actions(session, uri, rng(7, 4, 7, 4)), "Fix")  # cursor only, no selection
    resolved = await session.client.code_action_resolve_async(fix)
    edit = resolved.edit.document_changes[0].edits[0]
    assert (edit.range.start.line, edit.range.end.line) == (7, 9)  # both lines of the broken `shout`
    fixed_text = apply(SOURCE, edit)
    assert fixed_text.count("return text.upper() + suffix") == 1 and check_syntax(fixed_text, "python") == []


SLUGIFY = '''import re

def slugify(text):
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()
    return text.strip("-")


def main():
    print(slugify("Hello World"))
'''
SLUGIFY_FIXED = 'def slugify(text):\n    text = re.sub(r"[^a-z0-9]+", "-", text.lower())\n    return text.strip("-")\n'


async def test_fix_on_an_unclosed_bracket_touches_only_the_broken_function(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    # The review's example: tree-sitter's error recovery stretches `slugify` to the end of the
    # file; the Fix must replace lines 3-5 only and leave `main` byte-identical.
    add_team(emu, lead=f"```python\n{SLUGIFY_FIXED}```")
    session = await lsp(emu.url)
    uri = open_doc(session, tmp_path, text=SLUGIFY, name="slug.py")
    fix = by_title(await list_actions(session, uri, rng(3, 8, 3, 8)), "Fix")
    resolved = await session.client.code_action_resolve_async(fix)
    edit = resolved.edit.document_changes[0].edits[0]
    assert (edit.range.start.line, edit.range.end.line) == (2, 5)
    fixed_text = apply(SLUGIFY, edit)
    assert fixed_text == SLUGIFY.replace(SLUGIFY.split("\n\n\n")[0].split("\n\n", 1)[1] + "\n", SLUGIFY_FIXED)
    assert fixed_text.endswith('\n\n\ndef main():\n    print(slugify("Hello World"))\n')
    assert check_syntax(fixed_text, "python") == []
    prompt = emu.calls(path="/api/chat", model=TIER_MODELS["lead"])[0].json["messages"][-1]["content"]
    assert "(lines 3-5)" in prompt and "lines 3-9" not in prompt and "lines 4-9" not in prompt


async def test_fix_that_rewrites_a_neighbour_escalates_and_main_stays(
    lsp: LspFactory, emu: OllamaEmulator, tmp_path: Path
) -> None:
    rewrites_main = f"```python\n{SLUGIFY_FIXED}\n\ndef main():\n    pass\n```"
    add_team(emu, lead=rewrites_main, senior=f"```python\n{SLUGIFY_FIXED}```")
    session = await lsp(emu.url)
    uri = open_doc(session, tmp_path, text=SLUGIFY, name="slug.py")
    fix = by_title(await list_actions(session, uri, rng(3, 8, 3, 8)), "Fix")
    resolved = await session.client.code_action_resolve_async(fix)
    fixed_text = apply(SLUGIFY, resolved.edit.document_changes[0].edits[0])
    assert fixed_text.endswith('\n\n\ndef main():\n    print(slugify("Hello World"))\n')
    assert fixed_text.count("def main") == 1
    senior = emu.calls(path="/api/chat", model=TIER_MODELS["senior"])[0].json["messages"][-1]["content"]
    assert "outside the unit" in senior  # the senior was told why the lead's edit was refused


async def test_reset_engine_lets_a_running_chat_finish(lsp: LspFactory, emu: OllamaEmulator) -> None:
    add_team(emu, lead={"reply": GOOD_PY, "chunk_delay_ms": 40})
    session = await lsp(emu.url)
    chat_task = asyncio.ensure_future(chat(session, chatId="long", prompt="Write a Python add function"))
    for _ in range(200):
        if any(to_plain(e)["kind"] == "text" for e in session.received("codingDirector/chatEvent")):
            break
        await asyncio.sleep(0.02)
    await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codingDirector.resetEngine")
    )
    result = await chat_task
    # The chat finished on the old pool: its stream was not cut by the reset.
    assert result["finalTier"] == "lead" and result["answer"] == GOOD_PY
    assert [a["outcome"] for a in result["attempts"]] == ["accepted"]
    call = emu.calls(path="/api/chat", model=TIER_MODELS["lead"])[0]
    # completed is recorded after the emulator's write_eof, which may follow the client's return
    assert await emu.wait_for_async(lambda: call.completed or call.closed_early)
    assert call.completed and not call.closed_early


async def test_the_log_file_never_holds_the_messages_the_server_sends(lsp: LspFactory, emu: OllamaEmulator) -> None:
    """pygls logs every message body at INFO ("Sending data: ..."); the server's log file is at INFO,
    so answers (and the code they quote) went to disk with every streamed token. Not any more; nor
    httpx's line per model request ("HTTP Request: POST ...")."""
    import os

    import platformdirs

    answer = "A palindrome reads the same backwards: compare s with s[::-1] (marker 7Q4Z)."
    add_team(emu, lead=answer, math=answer)  # whichever chain the router picks
    session = await lsp(emu.url)
    result = await chat(session, chatId="c1", prompt="How do I test for a palindrome?")
    assert result["answer"] == answer
    log_file = platformdirs.user_log_path("coding-director", appauthor=False) / "server.log"
    assert os.environ.get("XDG_STATE_HOME", "") in str(log_file)  # the test's own directory
    assert log_file.is_file()
    text = log_file.read_text(encoding="utf-8")
    assert "7Q4Z" not in text and "Sending data" not in text
    assert emu.calls(path="/api/chat") and "HTTP Request" not in text
