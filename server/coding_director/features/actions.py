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

from tree_sitter import Node

from coding_director.context import Document, DocumentStore, EnclosingDefinition, FocusCode, check_splice, extract
from coding_director.context.chunks import file_facts
from coding_director.context.extract import probe_offset
from coding_director.context.related import definition_text
from coding_director.context.symbols import enclosing_chain
from coding_director.engine import CodingDirector
from coding_director.features.completion_post import block_end
from coding_director.features.knowledge import KnowledgeService
from coding_director.features.progress import Progress, shown
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
            data = ActionData(action=action, uri=uri, version=version, range=selection, diagnostics=messages)
            fixes = action == "fix" and bool(diagnostics)
            result.append(ListedAction(action, title, "quickfix" if fixes else kind, data=data, with_diagnostics=fixes))
        else:
            ask = ChatParams(
                prompt=PROMPTS[action], intent=action, text_document=TextDocumentIdentifier(uri=uri), range=selection
            )
            result.append(ListedAction(action, title, kind, ask=ask))
    return result


@dataclass(frozen=True, slots=True)
class EditUnit:
    """The lines a Fix or docstring edit replaces: ``[start_line, end_line)`` (0-based, end
    exclusive), the definition's ``name`` (``None`` for plain lines) and whether the unit was
    bounded lexically because the syntax tree has errors there (``reader_bounded``)."""

    start_line: int
    end_line: int
    name: str | None
    reader_bounded: bool = False


def split_lines(text: str) -> list[str]:
    """``text`` split after each ``\\n`` (the store's and tree-sitter's line breaks), ends kept."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def reader_end(lines: Sequence[str], start: int, language: str | None) -> int:
    """Exclusive end line of the block that line ``start`` opens, bounded the way a reader bounds
    broken code (:func:`block_end` without trusting brackets: the next line at the same or lower
    indentation ends it). Trailing blank lines are not part of the block."""
    text = "".join(lines[start:])
    cut = block_end(text, "", language, trust_brackets=False)
    end = min(len(lines), start + text[:cut].count("\n") + 1)
    while end - 1 > start and not lines[end - 1].strip():
        end -= 1
    return end


def _trusted(node: Node | None) -> bool:
    """Whether a definition's tree extent can be taken as it is: no error inside it and none
    right after it (a definition cut short by an error is followed by the ERROR node holding the
    rest of its body)."""
    if node is None or node.has_error:
        return False
    following = node.next_sibling
    return following is None or not (following.is_error or following.is_missing)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _definition_unit(doc: Document, lines: Sequence[str], first: int, last: int) -> EditUnit | int | None:
    """The innermost definition of ``doc`` containing lines ``first``-``last`` (inclusive): its
    tree extent when :func:`_trusted`, else its :func:`reader_end`.

    Definitions are looked for around the first code byte of line ``first``, then of each line a
    reader takes for the header of the block holding it (the nearest line above that is indented
    less, and so on up to the top level, then the top-level lines above up to the first one in a
    definition): error recovery may have ended the definition before the selection, or made the
    selection part of an ERROR node. When only definitions that end (as a reader bounds them) before ``first`` were
    found, returns the line after the last of them (the tree swallowed the code after a broken
    unit); ``None`` when no definition applies.
    """
    if doc.tree is None or first >= len(lines):
        return None
    swallowed: int | None = None
    reference: int | None = None
    for row in range(first, -1, -1):
        if not lines[row].strip():
            continue
        width = _indent(lines[row])
        if reference is not None and width >= reference and not (width == reference == 0):
            continue
        reference = width
        line_start = doc.lines.starts[row]
        probe, _blank = probe_offset(doc.data, line_start, line_start)  # the line's first code byte
        chain = enclosing_chain(doc, probe)
        for definition in reversed(chain):
            start = doc.lines.line_of(definition_text(definition)[0])
            if _trusted(definition.node):
                end, bounded = definition.end_row + 1, False
            else:
                end, bounded = reader_end(lines, definition.start_row, doc.language), True
            if start <= first and last < end:
                return EditUnit(start, end, definition.name, bounded)
            if end <= first:
                swallowed = max(swallowed or 0, end)
        if swallowed is not None or (width == 0 and chain):
            break  # else: the top-level lines above, up to the first definition
    return swallowed


def find_unit(doc: Document, first: int, last: int) -> EditUnit:
    """The unit a Fix/docstring edit of lines ``first``-``last`` (0-based, inclusive) replaces.

    The innermost definition that contains the lines. Where the syntax tree has errors (an
    unclosed bracket, string or block), tree-sitter's error recovery may stretch a definition to
    the end of the file or swallow the definitions after it; there the unit is bounded the way a
    reader bounds it (:func:`reader_end`), and when the lines lie after such a broken unit, the
    text after it is parsed on its own to find theirs. Without a definition: the selected lines
    and the block the first opens (bounded the same way).
    """
    lines = split_lines(doc.text)
    offset = 0
    current = doc
    for _round in range(8):  # each round skips one broken unit before the selection (and parses the rest)
        found = _definition_unit(current, lines[offset:], first - offset, last - offset)
        if isinstance(found, EditUnit):
            return EditUnit(found.start_line + offset, found.end_line + offset, found.name,
                            found.reader_bounded or offset > 0)
        if found is None or found <= 0:
            break
        offset += found
        current = DocumentStore().open(doc.uri, "".join(lines[offset:]), 0, doc.language)
    end = max(last + 1, reader_end(lines, first, doc.language)) if first < len(lines) else last + 1
    return EditUnit(first, end, None, doc.tree is not None and doc.tree.root_node.has_error)


def target_lines(store: DocumentStore, data: ActionData) -> tuple[int, int, str | None]:
    """The lines a Fix/docstring edit replaces: ``(start_line, end_line_exclusive, unit name)``
    (see :func:`find_unit`; a selection ending at column 0 does not include that line).
    Raises :class:`ActionError` when the document is not open.
    """
    doc = store.get(data.uri)
    if doc is None:
        raise ActionError(f"{data.uri} is not open")
    start, end = data.range.start, data.range.end
    last = end.line - 1 if end.character == 0 and end.line > start.line else end.line
    unit = find_unit(doc, start.line, max(last, start.line))
    return unit.start_line, unit.end_line, unit.name


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


def defined_names(code: str, language: str | None) -> set[str]:
    """Names of the outline-level definitions in ``code`` parsed on its own (empty when the
    language has no grammar)."""
    if language is None:
        return set()
    doc = DocumentStore().open("untitled:unit", code, 0, language)
    if doc.tree is None:
        return set()
    return {d.name for d in file_facts(doc).definitions()}


def check_unit_only(text: str, start: int, end: int, replacement: str, language: str | None,
                    own_names: set[str]) -> str | None:
    """Reject an edit that changes anything outside the unit ``text[start:end]`` (``str``
    indices) when ``replacement`` takes its place; ``None`` when it stays inside.

    Outside means: the text before ``start`` or after ``end`` is not byte-identical in the edited
    file, or the replacement defines a name that is defined outside the unit and not by the unit
    itself (``own_names``): the model rewrote a neighbour (``main`` below ``slugify``) or returned
    the whole file, and splicing that in would duplicate or shadow code the user did not ask to
    change. The reason names the definitions.
    """
    new_text = text[:start] + replacement + text[end:]
    if new_text[:start] != text[:start] or not new_text.endswith(text[end:]):
        return "the edit changes text outside the unit"
    if language is None:
        return None
    outside = defined_names(text[:start] + text[end:], language)
    foreign = sorted((defined_names(replacement, language) & outside) - own_names)
    if foreign:
        names = ", ".join(f"`{name}`" for name in foreign[:5])
        return f"the fix rewrites {names}, outside the unit to change: return only the unit"
    return None


async def stream_edit(
    director: CodingDirector, store: DocumentStore, data: ActionData, knowledge: KnowledgeService | None = None
) -> AsyncGenerator[Event | tuple[LineEdit, Assistance]]:
    """Run a Fix or *Add docstring* through the team, yielding the engine's events, then
    ``(LineEdit, Assistance)`` for the document's current version.

    The unit is :func:`find_unit`'s; the model is shown only that unit as the code to change.
    The answer must contain a code block that keeps the whole file parseable once spliced in and
    changes nothing outside the unit (:func:`check_unit_only`): two extra verification checks, so
    a failing answer escalates to the next tier. Raises :class:`ActionError` when no tier produced
    a usable edit, and :class:`StaleDocument` when the document is no longer at ``data.version``
    (the selection's coordinates would be wrong) or changed while the team was working: an edit is
    never applied to a newer version. Raises
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
    check_lines(doc, "data.range.start.line", data.range.start.line)
    check_lines(doc, "data.range.end.line", data.range.end.line)
    version, text, language = doc.version, doc.text, doc.language
    start, end, unit = target_lines(store, data)
    lines = split_lines(text)
    end = min(end, len(lines))
    original = "".join(lines[start:end])
    first = lines[start] if start < len(lines) else ""
    indent = first[: len(first) - len(first.lstrip(" \t"))]
    end_line, end_character = end, 0
    if end == len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
        # The unit is the file's last line and has no newline: end at the end of that line.
        end_line, end_character = end - 1, len(lines[-1].encode("utf-16-le")) // 2
    trailing_newline = original.endswith("\n")
    unit_start = sum(len(line) for line in lines[:start])
    unit_end = unit_start + len(original)
    own_names = defined_names(original, language) | ({unit} if unit else set())

    def replacement_of(answer: str) -> str | None:
        code = replacement_from_answer(answer, language, indent)
        return None if code is None else code + ("\n" if trailing_newline else "")

    def splice_check(answer: str) -> str | None:
        replacement = replacement_of(answer)
        if replacement is None:
            return "no code block to splice into the file"
        problems = check_splice(text, start, 0, end_line, end_character, replacement, language or "")
        if problems:
            p = problems[0]
            return f"the fix spliced into the file does not parse: {p.message} at line {p.line + 1}"
        return None

    def unit_check(answer: str) -> str | None:
        replacement = replacement_of(answer)
        if replacement is None:
            return "no code block to splice into the file"
        return check_unit_only(text, unit_start, unit_end, replacement, language, own_names)

    ctx = extract(
        store,
        data.uri,
        (data.range.start.line, data.range.start.character),
        (data.range.end.line, data.range.end.character),
        diagnostics=None,
        token_budget=director.settings.context.token_budget,
    )
    # The model sees the unit it may change as the focus, never the lines after it.
    focus = FocusCode(kind="definition" if unit else "window", name=unit, start_line=start + 1,
                      end_line=max(start + 1, end), text=original.rstrip("\n"))
    enclosing = [e for e in ctx.enclosing if e.kind == "module"]
    if unit:
        kind = next((e.kind for e in reversed(ctx.enclosing) if e.name == unit), "definition")
        enclosing.append(EnclosingDefinition(kind=kind, name=unit, start_line=start + 1, end_line=max(start + 1, end)))
    # Outline entries starting inside the unit are the tree's view of it, which may run past it.
    outline = [o for o in ctx.outline if not start + 1 <= o.start_line <= end]
    ctx = ctx.model_copy(update={"focus": focus, "enclosing": enclosing, "outline": outline})
    prompt = PROMPTS[data.action]
    if unit:
        prompt += f" The unit to change is `{unit}` (lines {start + 1}-{end}); return all of it and nothing else."
    else:
        prompt += f" Change only lines {start + 1}-{end} and return all of them."
    if data.diagnostics:
        prompt += "\nDiagnostics:\n" + "\n".join(f"- {d}" for d in data.diagnostics)
    intent: Intent = "fix" if data.action == "fix" else "docs"
    gathered = None
    if knowledge is not None:  # the definitions the unit uses and its callers (see features/knowledge.py)
        gathered = await knowledge.gather(prompt, intent=intent, store=store, uri=data.uri,
                                          focus=(ctx.focus.start_line, ctx.focus.end_line))
    assistance: Assistance | None = None
    event: Event
    async for event in director.stream_assistance(
        prompt, ctx, intent=intent, language=language, extra_checks=(splice_check, unit_check),
        extra_context=gathered.parts if gathered else None, source="code_action",
    ):
        yield event
        if isinstance(event, Finished):
            assistance = event.assistance
    assert assistance is not None
    if gathered is not None and gathered.sources:
        assistance = assistance.model_copy(update={"sources": gathered.sources})
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
    new_text = replacement_of(assistance.answer)
    assert new_text is not None  # the splice check accepted it
    yield (LineEdit(data.uri, version, start, end_line, end_character, new_text), assistance)


async def resolve_edit(
    director: CodingDirector,
    store: DocumentStore,
    data: ActionData,
    progress: Progress,
    on_event: Callable[[Event], None],
    knowledge: KnowledgeService | None = None,
) -> tuple[LineEdit, Assistance]:
    """The edit of a Fix / *Add docstring* action (see :func:`stream_edit`), reporting each tier's
    work to ``progress`` and every engine event to ``on_event``.

    Raises :class:`ActionError` / :class:`StaleDocument` as :func:`stream_edit` does.
    """
    result: tuple[LineEdit, Assistance] | None = None
    async with shown(progress, ACTIONS[data.action][0], on_event) as observe:
        async for item in stream_edit(director, store, data, knowledge):
            if isinstance(item, tuple):
                result = item
            else:
                observe(item)
    assert result is not None  # stream_edit either yields the edit last or raises
    return result


def diagnostics_messages(messages: Sequence[str]) -> list[str]:
    """Diagnostics messages as carried in :class:`ActionData` (at most 10, one line each)."""
    return [m.splitlines()[0][:200] for m in messages[:10] if m.strip()]
