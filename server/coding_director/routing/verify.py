"""Verification: the checks an answer must pass before it is accepted.

Each check takes the answer and a :class:`Target` and returns a reason (a one-line string that
the next tier and the user see) or ``None``. Checks run in order and the first reason rejects:

1. :func:`check_empty`: nothing but white space;
2. :func:`check_refusal`: the answer opens with a refusal and offers no code;
3. :func:`check_loop`: the answer is a generation loop (the same lines or phrase over and over);
4. :func:`check_echo`: the answer copies the request (its code context) back instead of answering;
5. :func:`check_code`: for code-producing intents, a fenced code block must exist and each block in
   a language we can parse must parse (tree-sitter, :func:`coding_director.context.check_syntax`);
6. ``Target.extra_checks``: callers add checks, e.g. the language server's "the fix spliced into
   the file keeps it parseable";
7. ``Target.async_checks``: slower checks run by the escalation only when every check above passed
   (undefined names and unresolved imports of Python answers, :mod:`coding_director.routing.pycheck`).

Checks that can decide before the answer is complete also run on the stream as it arrives
(:class:`StreamMonitor`): a generation loop, an echo of the request, a refusal that goes on without
code, and a runaway length. The escalation cancels the model call the moment one fails.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

from coding_director.results import CODE_INTENTS

Check = Callable[[str], str | None]
#: An asynchronous check: ``await check(answer)`` -> reason or ``None``; must bound its own time.
AsyncCheck = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class Target:
    """What an answer is checked against: the request's ``intent``, the target ``language`` (one
    of :func:`coding_director.context.detect_language`'s names, or ``None`` when unknown) and
    ``prompt_text``, what the model was given (rendered code context and request; ``""`` when
    unknown, which disables :func:`check_echo`). ``async_checks`` run after every other check passed."""

    intent: str
    language: str | None = None
    extra_checks: Sequence[Check] = field(default_factory=tuple)
    prompt_text: str = ""
    async_checks: Sequence[AsyncCheck] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """A fenced code block of an answer. ``tag`` is the fence's info word (lower case, may be
    empty); ``closed`` is False when the answer ended inside the block (truncated).
    ``start_line``/``end_line``: the block's lines in the answer (0-based, end exclusive, the
    fence lines included; lines split on ``\\n``)."""

    tag: str
    code: str
    closed: bool
    start_line: int = 0
    end_line: int = 0


#: CommonMark parser (markdown-it-py): fences per the spec, also inside lists and quotes.
_MARKDOWN = MarkdownIt("commonmark")
_FENCE_LINE = re.compile(r"^[ \t>]*(`{3,}|~{3,})[ \t]*$")

_TAG_LANGUAGES = {
    "python": "python",
    "py": "python",
    "python3": "python",
    "py3": "python",
    "javascript": "javascript",
    "js": "javascript",
    "jsx": "javascript",
    "node": "javascript",
    "mjs": "javascript",
    "typescript": "typescript",
    "ts": "typescript",
    "tsx": "tsx",
    "go": "go",
    "golang": "go",
    "rust": "rust",
    "rs": "rust",
    "java": "java",
    "c": "c",
    "h": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cc": "cpp",
    "cxx": "cpp",
    "hpp": "cpp",
}

_MENTION_RULES = tuple(
    (language, re.compile(pattern, re.IGNORECASE))
    for language, pattern in (
        ("typescript", r"\btypescript\b|\bts\b"),
        ("javascript", r"\bjavascript\b|\bnode(\.js)?\b|\bexpress\b|\bjs\b"),
        ("python", r"\bpython\b|\bflask\b|\bdjango\b|\bfastapi\b|\bpandas\b|\bnumpy\b|\bpytest\b"),
        ("rust", r"\brust\b|\bcargo\b"),
        ("go", r"\bgolang\b|\bin go\b"),
        ("java", r"\bjava\b(?!script)"),
        ("cpp", r"\bc\+\+|\bcpp\b"),
        ("c", r"\bin c\b|\bansi c\b"),
    )
)

_REFUSAL_RE = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry,|i cannot|i can'?t|i can not|i won'?t|i will not|i am unable|"
    r"i'?m unable|i'?m not able|i am not able|as an ai|i apologi[sz]e,? but|unfortunately,? i (can|am))",
    re.IGNORECASE,
)


def language_of_tag(tag: str) -> str | None:
    """The parser name for a fence info word (``py`` -> ``python``), ``None`` when unknown."""
    return _TAG_LANGUAGES.get(tag.lower())


def language_mentioned(prompt: str) -> str | None:
    """The programming language a prompt names ("... in Python", "a Flask endpoint"), if any."""
    for language, pattern in _MENTION_RULES:
        if pattern.search(prompt):
            return language
    return None


def code_blocks(answer: str) -> list[CodeBlock]:
    """The fenced code blocks of a markdown ``answer``, in order, as CommonMark reads them
    (markdown-it-py); an unterminated block runs to the end of the answer (or of its list item or
    quote) and counts, with ``closed=False``. The only fence parser of the project: the inline
    completion's :func:`~coding_director.features.completion_post.strip_fences` uses it too."""
    lines = answer.split("\n")
    blocks = []
    for token in _MARKDOWN.parse(answer):
        if token.type != "fence" or token.map is None:
            continue
        start, end = token.map
        body = token.content[:-1] if token.content.endswith("\n") else token.content
        last = _FENCE_LINE.match(lines[end - 1]) if start < end - 1 < len(lines) else None
        closed = last is not None and last.group(1)[0] == token.markup[0] and len(last.group(1)) >= len(token.markup)
        tag = token.info.split()[0].lower() if token.info.strip() else ""
        blocks.append(CodeBlock(tag=tag, code=body, closed=closed, start_line=start, end_line=end))
    return blocks


def prose_lines(answer: str) -> list[str]:
    """The lines of ``answer`` outside its fenced code blocks (:func:`code_blocks`), in order."""
    lines = answer.split("\n")
    inside = {index for block in code_blocks(answer) for index in range(block.start_line, block.end_line)}
    return [line for index, line in enumerate(lines) if index not in inside]


def check_empty(answer: str, target: Target) -> str | None:
    """Reject an answer that is empty or white space."""
    return "empty answer" if not answer.strip() else None


def check_refusal(answer: str, target: Target) -> str | None:
    """Reject an answer that opens with a refusal ("I'm sorry, but I can't ...") and has no code."""
    head = answer.lstrip()[:300]
    if _REFUSAL_RE.match(head) and not code_blocks(answer):
        first_line = head.splitlines()[0] if head else ""
        return f"refusal: {first_line[:100]!r}"
    return None


#: :func:`check_loop`: lines of at least this many non-blank characters are counted...
LOOP_LINE_CHARS = 4
#: ...when there are at least this many of them...
LOOP_MIN_LINES = 8
#: ...and a loop is at most this share of distinct lines among them.
LOOP_DISTINCT_SHARE = 0.25
#: :func:`check_loop`: answers of at least this many UTF-8 bytes are also judged by compression...
LOOP_MIN_BYTES = 400
#: ...and a loop compresses (zlib, level 6) to less than this share of its size. Prose and code
#: compress to 25-50%; a phrase repeated until the token limit to a few percent.
LOOP_COMPRESSED_SHARE = 0.1


def check_loop(answer: str, target: Target) -> str | None:
    """Reject a generation loop: the same lines, or one phrase, repeated until the token limit (the
    typical failure of small and base models, which an HTTP status never shows).

    Two measures: among the lines with at least :data:`LOOP_LINE_CHARS` non-blank characters (at
    least :data:`LOOP_MIN_LINES` of them), at most :data:`LOOP_DISTINCT_SHARE` are distinct; or an
    answer of at least :data:`LOOP_MIN_BYTES` bytes compresses below :data:`LOOP_COMPRESSED_SHARE`
    of its size. The reason quotes the most repeated line.
    """
    lines = [line.strip() for line in answer.splitlines() if len(line.strip()) >= LOOP_LINE_CHARS]
    if len(lines) >= LOOP_MIN_LINES:
        top, count = Counter(lines).most_common(1)[0]
        distinct = len(set(lines))
        if distinct <= LOOP_DISTINCT_SHARE * len(lines):
            return f"generation loop: only {distinct} distinct of {len(lines)} lines ({top[:60]!r} {count} times)"
    data = answer.encode("utf-8", "surrogatepass")
    if len(data) >= LOOP_MIN_BYTES:
        share = len(zlib.compress(data, 6)) / len(data)
        if share < LOOP_COMPRESSED_SHARE:
            return f"generation loop: the answer repeats itself (compresses to {share:.0%} of its size)"
    return None


#: :func:`check_echo`: lines of at least this many non-blank characters are compared...
ECHO_LINE_CHARS = 12
#: ...when the answer has at least this many of them outside code blocks...
ECHO_MIN_LINES = 3
#: ...and the answer is an echo when at least this share of them is copied from the prompt.
ECHO_SHARE = 0.5


def check_echo(answer: str, target: Target) -> str | None:
    """Reject an answer that copies the request back (base models continue the prompt instead of
    answering it): among the answer's lines outside code blocks with at least
    :data:`ECHO_LINE_CHARS` non-blank characters (at least :data:`ECHO_MIN_LINES`), a share of at
    least :data:`ECHO_SHARE` appears verbatim as a line of ``target.prompt_text``. Code blocks are
    not compared: a fix rightly repeats most of the code it fixes.
    """
    if not target.prompt_text:
        return None
    prose = [line.strip() for line in prose_lines(answer) if len(line.strip()) >= ECHO_LINE_CHARS]
    if len(prose) < ECHO_MIN_LINES:
        return None
    given = {line.strip() for line in target.prompt_text.splitlines()}
    copied = sum(line in given for line in prose)
    if copied >= ECHO_SHARE * len(prose):
        return f"the answer echoes the request: {copied} of {len(prose)} lines outside code blocks are copied from it"
    return None


def check_code(answer: str, target: Target) -> str | None:
    """For code-producing intents (:data:`~coding_director.results.CODE_INTENTS`): demand a code
    block (except for ``docs``) and reject the first block that does not parse.

    A block's language comes from its fence tag, else from ``target.language``; blocks in other
    languages (shell, JSON, ...) are not checked. The reason names the language, the 1-based line
    and column of the first syntax problem, and the offending line.
    """
    if target.intent not in CODE_INTENTS:
        return None
    blocks = code_blocks(answer)
    if not blocks:
        return None if target.intent == "docs" else "no code block in the answer"
    from coding_director.context import check_syntax

    for index, block in enumerate(blocks, start=1):
        language = language_of_tag(block.tag) if block.tag else target.language
        if language is None:
            continue
        problems = check_syntax(block.code, language)
        if problems:
            first = problems[0]
            lines = block.code.splitlines()
            offending = lines[first.line].strip() if 0 <= first.line < len(lines) else ""
            truncated = "" if block.closed else " (the block is unterminated: answer cut off?)"
            where = f"code block {index}" if len(blocks) > 1 else "code block"
            return (
                f"{language} {where} does not parse: {first.message} at line {first.line + 1}, "
                f"column {first.column + 1}: {offending[:80]!r}{truncated}"
            )
    return None


CHECKS: tuple[Callable[[str, Target], str | None], ...] = (
    check_empty,
    check_refusal,
    check_loop,
    check_echo,
    check_code,
)


#: :class:`StreamMonitor`: the compression measure of :func:`check_loop` is re-run after at least
#: this many new characters (line counts are updated on every completed line)...
STREAM_CHECK_CHARS = 256
#: ...on at most this many trailing bytes of the answer so far (bounds the cost of one run).
STREAM_LOOP_WINDOW_BYTES = 16384
#: An echo is decided early when at least this many prose lines of at least
#: :data:`ECHO_LINE_CHARS` characters arrived...
STREAM_ECHO_MIN_LINES = 6
#: ...and at least this share of them is copied from the request (stricter than :data:`ECHO_SHARE`,
#: since the rest of the answer could still dilute it).
STREAM_ECHO_SHARE = 0.75
#: A refusal is decided early when the answer opened with one and this many characters came
#: without a code fence (a refusal followed by code is accepted, see :func:`check_refusal`).
STREAM_REFUSAL_CHARS = 800
#: Runaway length: more characters than this many per token of ``num_predict`` (BPE tokens of
#: code and prose average 3-4 characters; a server that honours ``num_predict`` cannot exceed this).
RUNAWAY_CHARS_PER_TOKEN = 16
#: Runaway length: more stream chunks than ``num_predict`` plus this slack (Ollama and
#: OpenAI-compatible servers stream one token per chunk, so only a server ignoring the limit does).
RUNAWAY_CHUNK_SLACK = 16

_FENCE_LINE_RE = re.compile(r"^[ \t]*(```+|~~~+)")


class StreamMonitor:
    """The checks that can reject an answer while it streams, fed one piece at a time.

    ``feed(text)`` returns a reason the moment the answer so far fails: the reason has the same
    form as the final checks' (``generation loop: ...``, ``the answer echoes the request: ...``,
    ``refusal: ...``) or starts with ``runaway length:``. Each check is at least as strict as the
    check on the complete answer: an early rejection means the text so far would be rejected too.

    Cost: lines are counted incrementally (each completed line once); the zlib measure of
    :func:`check_loop` runs every :data:`STREAM_CHECK_CHARS` new characters on at most
    :data:`STREAM_LOOP_WINDOW_BYTES` bytes; the echo and refusal measures are O(1) per line.
    ``max_tokens`` is the attempt's ``num_predict`` (tokens), ``None`` to skip the runaway check.
    ``chunks`` counts the pieces with text (about one token each); ``chars`` their characters.
    """

    def __init__(self, target: Target, max_tokens: int | None = None) -> None:
        self.target = target
        self.max_tokens = max_tokens
        self.chunks = 0
        self.chars = 0
        self._parts: list[str] = []
        self._pending = ""  # the current, incomplete line
        self._lines: Counter[str] = Counter()
        self._line_total = 0
        self._in_fence = False
        self._fence_seen = False
        self._prose = 0
        self._copied = 0
        self._given = {line.strip() for line in target.prompt_text.splitlines()} if target.prompt_text else set()
        self._next_zlib = LOOP_MIN_BYTES
        self._refusal: bool | None = None

    def feed(self, text: str) -> str | None:
        """Add the next piece of the answer; a reason when the answer so far is rejected, else ``None``."""
        if not text:
            return None
        self.chunks += 1
        self.chars += len(text)
        self._parts.append(text)
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            reason = self._line(line)
            if reason:
                return reason
        if self._refusal is None:
            head = self.text.lstrip()
            if len(head) >= 40 or "\n" in head:  # enough to match the opening words
                self._refusal = bool(_REFUSAL_RE.match(head[:300]))
        if (
            self._refusal
            and self.chars >= STREAM_REFUSAL_CHARS
            and not self._fence_seen
            and not _FENCE_LINE_RE.match(self._pending)
        ):
            first = self.text.lstrip().splitlines()[0]
            return f"refusal: {first[:100]!r} and no code after {self.chars} characters"
        if self.chars >= self._next_zlib:
            self._next_zlib = self.chars + STREAM_CHECK_CHARS
            reason = self._compression()
            if reason:
                return reason
        return self._runaway()

    @property
    def text(self) -> str:
        """The answer so far."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def _line(self, raw: str) -> str | None:
        stripped = raw.strip()
        if _FENCE_LINE_RE.match(raw):
            self._in_fence = not self._in_fence
            self._fence_seen = True
        elif not self._in_fence and self._given and len(stripped) >= ECHO_LINE_CHARS:
            self._prose += 1
            self._copied += stripped in self._given
            if self._prose >= STREAM_ECHO_MIN_LINES and self._copied >= STREAM_ECHO_SHARE * self._prose:
                return (
                    f"the answer echoes the request: {self._copied} of {self._prose} lines outside code "
                    "blocks are copied from it"
                )
        if len(stripped) >= LOOP_LINE_CHARS:
            self._lines[stripped] += 1
            self._line_total += 1
            distinct = len(self._lines)
            if self._line_total >= LOOP_MIN_LINES and distinct <= LOOP_DISTINCT_SHARE * self._line_total:
                top, count = self._lines.most_common(1)[0]
                return (
                    f"generation loop: only {distinct} distinct of {self._line_total} lines "
                    f"({top[:60]!r} {count} times)"
                )
        return None

    def _compression(self) -> str | None:
        data = self.text.encode("utf-8", "surrogatepass")[-STREAM_LOOP_WINDOW_BYTES:]
        if len(data) < LOOP_MIN_BYTES:
            return None
        share = len(zlib.compress(data, 6)) / len(data)
        if share < LOOP_COMPRESSED_SHARE:
            return f"generation loop: the answer repeats itself (compresses to {share:.0%} of its size)"
        return None

    def _runaway(self) -> str | None:
        if self.max_tokens is None:
            return None
        if self.chunks > self.max_tokens + RUNAWAY_CHUNK_SLACK:
            return (
                f"runaway length: {self.chunks} chunks streamed, more than num_predict = {self.max_tokens} "
                "(the server ignores the token limit)"
            )
        if self.chars > self.max_tokens * RUNAWAY_CHARS_PER_TOKEN:
            return (
                f"runaway length: {self.chars} characters, more than {RUNAWAY_CHARS_PER_TOKEN} per token "
                f"of num_predict = {self.max_tokens}"
            )
        return None


def verify(answer: str, target: Target) -> str | None:
    """Run every check in order; the first reason found rejects the answer. ``None`` accepts it."""
    for check in CHECKS:
        reason = check(answer, target)
        if reason:
            return reason
    for extra in target.extra_checks:
        reason = extra(answer)
        if reason:
            return reason
    return None
