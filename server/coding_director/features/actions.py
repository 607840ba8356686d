"""Code actions: which actions a selection offers (no model involved) and the edit a Fix or an
*Add docstring* computes (the model runs only here, in ``codeAction/resolve``).

Positions are LSP's: 0-based lines, UTF-16 columns. An edit always replaces whole lines: the
smallest enclosing syntactic unit (the innermost definition around the selection, from the
context engine), or the selected lines when there is none.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from coding_director.context import Document, DocumentStore, check_splice, extract
from coding_director.engine import CodingDirector
from coding_director.features.progress import Progress, report_event
from coding_director.features.validation import check_lines
from coding_director.messages import ActionData, ActionKind, ChatParams, Position, Range, TextDocumentIdentifier
from coding_director.results import Assistance, Intent
from coding_director.routing.escalation import Event, Finished
from coding_director.routing.verify import code_blocks, language_of_tag

#: (title, LSP code action kind when there are no diagnostics) per action; a Fix with diagnostics
#: is a ``quickfix``.
ACTIONS: dict[ActionKind, tuple[str, str]] = {
    "fix": ("Fix with Coding Director", "refactor.rewrite"),
    "explain": ("Explain with Coding Director", "empty"),
    "docs": ("Add docstring with Coding Director", "refactor.rewrite"),
    "test": ("Generate tests with Coding Director", "empty"),
}

PROMPTS: dict[ActionKind, str] = {
    "fix": "Fix the problems in this code.",
    "explain": "Explain this code.",
    "docs": "Add a docstring (or doc comment) to this definition.",
    "test": "Generate unit tests for this code.",
}

#: Actions whose result is an edit of the document (the others answer in the chat panel).
EDIT_ACTIONS: frozenset[str] = frozenset({"fix", "docs"})


@dataclass(frozen=True, slots=True)
class LineEdit:
    """Replace the text from ``(start_line, 0)`` to ``(end_line, end_character)`` (LSP positions,
    UTF-16 columns; the end is the start of the next line, or the end of the file) of version
    ``version`` of ``uri`` with ``new_text``."""

    uri: str
    version: int
    start_line: int
    end_line: int
    end_character: int
    new_text: str


class ActionError(Exception):
    """A code action could not produce its result; ``str()`` is shown to the user."""


class StaleDocument(ActionError):
    """The document changed while the edit was computed, so the edit was not applied."""


@dataclass(frozen=True, slots=True)
class ListedAction:
    """One code action offered on a selection (LSP ``CodeAction`` fields).

    Edit actions (Fix, *Add docstring*) carry ``data`` and get their edit in ``codeAction/resolve``;
    the others carry ``ask``, the single argument of the ``codingDirector.askInChat`` command.
    ``with_diagnostics``: the action fixes the diagnostics it was listed with.
    """

    action: ActionKind
    title: str
    kind: str
    data: ActionData | None = None
    ask: ChatParams | None = None
    with_diagnostics: bool = False


def list_code_actions(
    doc: Document, start: tuple[int, int], end: tuple[int, int], diagnostics: Sequence[str]
) -> list[ListedAction]:
    """The actions offered on the selection ``start``-``end`` (``(line, UTF-16 column)``) of the
    current version of ``doc``, given the messages of the diagnostics in the range. Never calls a
    model. A Fix is a ``quickfix`` when there are diagnostics, else ``refactor.rewrite``. A binary
    document gets no actions (it is never sent to a model)."""
    if doc.binary:
        return []
    uri, version = doc.uri, doc.version
    selection = Range(
        start=Position(line=start[0], character=start[1]), end=Position(line=end[0], character=end[1])
    )
    messages = diagnostics_messages(diagnostics)
    result: list[ListedAction] = []
    for action, (title, kind) in ACTIONS.items():
        if action in EDIT_ACTIONS:
            data = ActionData(
                action=action,
                uri=uri,
                version=version,
                start_line=start[0],
                start_character=start[1],
                end_line=end[0],
                end_character=end[1],
                diagnostics=messages,
            )
            fixes = action == "fix" and bool(diagnostics)
            result.append(ListedAction(action, title, "quickfix" if fixes else kind, data=data, with_diagnostics=fixes))
        else:
            ask = ChatParams(
                prompt=PROMPTS[action], intent=action, text_document=TextDocumentIdentifier(uri=uri), range=selection
            )
            result.append(ListedAction(action, title, kind, ask=ask))
    return result


def target_lines(store: DocumentStore, data: ActionData) -> tuple[int, int, str | None]:
    """The lines a Fix/docstring edit replaces: ``(start_line, end_line_exclusive, unit name)``.

    The innermost enclosing definition that contains the selection (context engine), else the
    selected lines (a selection ending at column 0 does not include that line).
    Raises :class:`ActionError` when the document is not open.
    """
    doc = store.get(data.uri)
    if doc is None:
        raise ActionError(f"{data.uri} is not open")
    ctx = extract(
        store, data.uri, (data.start_line, data.start_character), (data.end_line, data.end_character), token_budget=200
    )
    if ctx.focus.kind == "definition":
        return ctx.focus.start_line - 1, ctx.focus.end_line, ctx.focus.name
    end = data.end_line if data.end_character == 0 and data.end_line > data.start_line else data.end_line + 1
    return data.start_line, block_end(doc.text.splitlines(), data.start_line, end), None


_CLOSERS = ("}", ")", "]", "end")


def block_end(lines: list[str], start: int, end: int) -> int:
    """Extend the line range ``[start, end)`` over the block its first line opens.

    Used when no definition encloses the selection (typically because the code is broken and the
    parser found no definition node). Following lines belong to the block while they are blank or
    indented deeper than line ``start``; a line at the same indentation that starts with a closing
    bracket (``}``) is its last line. Returns the new exclusive end (0-based).
    """
    if start >= len(lines):
        return end

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip(" \t"))

    base = indent(lines[start])
    last = max(end - 1, start)
    for index in range(max(end, start + 1), len(lines)):
        line = lines[index]
        if not line.strip():
            continue
        if indent(line) > base:
            last = index
            continue
        if indent(line) == base and line.strip().startswith(_CLOSERS):
            last = index
        break
    return last + 1


def reindent(code: str, indent: str) -> str:
    """``code`` dedented, then indented with ``indent`` (blank lines stay empty)."""
    body = textwrap.dedent(code.strip("\n"))
    return textwrap.indent(body, indent) if indent else body


def replacement_from_answer(answer: str, language: str | None, indent: str) -> str | None:
    """The code to splice in: the first fenced block of the answer in ``language`` (or untagged),
    re-indented to ``indent``. ``None`` when the answer has no such block."""
    for block in code_blocks(answer):
        tagged = language_of_tag(block.tag) if block.tag else None
        if block.tag and tagged is not None and language is not None and tagged != language:
            continue
        if block.code.strip():
            return reindent(block.code, indent)
    return None


async def stream_edit(
    director: CodingDirector, store: DocumentStore, data: ActionData
) -> AsyncGenerator[Event | tuple[LineEdit, Assistance]]:
    """Run a Fix or *Add docstring* through the team, yielding the engine's events, then
    ``(LineEdit, Assistance)`` for the document's current version.

    The answer must contain a code block that keeps the whole file parseable once spliced in (an
    extra verification check, so a failing splice escalates to the next tier). Raises
    :class:`ActionError` when no tier produced a usable edit, and :class:`StaleDocument` when the
    document is no longer at ``data.version`` (the selection's coordinates would be wrong) or
    changed while the team was working: an edit is never applied to a newer version. Raises
    :class:`~coding_director.features.validation.InvalidRequest` before any model call when the
    selection lies outside the document.
    """
    doc = store.get(data.uri)
    if doc is None:
        raise ActionError(f"{data.uri} is not open")
    if doc.binary:
        raise ActionError(f"{data.uri} is a binary file; it is never sent to a model")
    if doc.version != data.version:
        # The selection is in the coordinates of the version the action was listed for.
        raise StaleDocument(
            f"the document changed since this action was offered (version {data.version}, "
            f"now {doc.version}): run the action again"
        )
    check_lines(doc, "data.startLine", data.start_line)
    check_lines(doc, "data.endLine", data.end_line)
    version, text, language = doc.version, doc.text, doc.language
    start, end, unit = target_lines(store, data)
    lines = text.splitlines(keepends=True)
    original = "".join(lines[start:end])
    first = lines[start] if start < len(lines) else ""
    indent = first[: len(first) - len(first.lstrip(" \t"))]
    end = min(end, len(lines))
    end_line, end_character = end, 0
    if end == len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
        # The unit is the file's last line and has no newline: end at the end of that line.
        end_line, end_character = end - 1, len(lines[-1].encode("utf-16-le")) // 2
    trailing_newline = original.endswith("\n")

    def splice_check(answer: str) -> str | None:
        code = replacement_from_answer(answer, language, indent)
        if code is None:
            return "no code block to splice into the file"
        replacement = code + ("\n" if trailing_newline else "")
        problems = check_splice(text, start, 0, end_line, end_character, replacement, language or "")
        if problems:
            p = problems[0]
            return f"the fix spliced into the file does not parse: {p.message} at line {p.line + 1}"
        return None

    ctx = extract(
        store,
        data.uri,
        (data.start_line, data.start_character),
        (data.end_line, data.end_character),
        diagnostics=None,
        token_budget=director.settings.context.token_budget,
    )
    prompt = PROMPTS[data.action]
    if unit:
        prompt += f" The unit to change is `{unit}` (lines {start + 1}-{end}); return all of it."
    if data.diagnostics:
        prompt += "\nDiagnostics:\n" + "\n".join(f"- {d}" for d in data.diagnostics)
    intent: Intent = "fix" if data.action == "fix" else "docs"
    assistance: Assistance | None = None
    event: Event
    async for event in director.stream_assistance(
        prompt, ctx, intent=intent, language=language, extra_checks=(splice_check,)
    ):
        yield event
        if isinstance(event, Finished):
            assistance = event.assistance
    assert assistance is not None
    if not assistance.accepted:
        reasons = "; ".join(f"{a.tier}: {a.reason}" for a in assistance.attempts if a.reason)
        raise ActionError(f"no tier produced a fix that keeps the file parseable ({reasons})")
    current = store.get(data.uri)
    if current is None or current.version != version:
        now = "closed" if current is None else f"at version {current.version}"
        raise StaleDocument(
            f"the document changed while the fix was computed (version {version}, now {now}); "
            "the edit was not applied: run the action again"
        )
    code = replacement_from_answer(assistance.answer, language, indent)
    assert code is not None  # the splice check accepted it
    new_text = code + ("\n" if trailing_newline else "")
    yield (LineEdit(data.uri, version, start, end_line, end_character, new_text), assistance)


async def resolve_edit(
    director: CodingDirector,
    store: DocumentStore,
    data: ActionData,
    progress: Progress,
    on_event: Callable[[Event], None],
) -> tuple[LineEdit, Assistance]:
    """The edit of a Fix / *Add docstring* action (see :func:`stream_edit`), reporting each tier's
    work to ``progress`` and every engine event to ``on_event``.

    Raises :class:`ActionError` / :class:`StaleDocument` as :func:`stream_edit` does.
    """
    await progress.begin(ACTIONS[data.action][0])
    result: tuple[LineEdit, Assistance] | None = None
    try:
        async for item in stream_edit(director, store, data):
            if isinstance(item, tuple):
                result = item
                continue
            on_event(item)
            report_event(progress, item)
    finally:
        progress.end()
    assert result is not None  # stream_edit either yields the edit last or raises
    return result


def diagnostics_messages(messages: Sequence[str]) -> list[str]:
    """Diagnostics messages as carried in :class:`ActionData` (at most 10, one line each)."""
    return [m.splitlines()[0][:200] for m in messages[:10] if m.strip()]
