"""Postprocessing of raw inline completions: pure functions over strings.

Every length and offset here is in **characters** (Python ``str`` indices), never tokens. The input of
:func:`postprocess` is the raw model text that would be inserted at the cursor; ``prefix`` is the
document text before the cursor and ``suffix`` the text after it (any window of them: only the
current line of the prefix and the first lines of the suffix are read).

The steps, in order:

1. :func:`strip_fences` removes a markdown fence an instruct model may wrap code in.
2. :func:`looks_like_prose` rejects chat answers ("Sure, here is...", "This code...", an English
   sentence where code is expected), except where prose is legitimate (comments, strings, and
   documents without a grammar, e.g. markdown: the server passes ``language=None`` for them).
3. Single-line mode (the cursor is in the middle of a line, see :func:`wants_single_line`) keeps the
   first line only.
4. :func:`block_end` cuts at the end of the block the cursor is in. This is a lexical heuristic,
   not a parse: brackets are counted outside strings and comments (per language family), and for
   indentation languages (Python) a line indented less than the cursor's line ends the block.
   Tree-sitter is not used here on purpose: a completion is a fragment, which rarely parses on its
   own, and the heuristic costs microseconds per streamed chunk (the streaming loop calls it after
   every chunk to stop the model early).
5. :func:`remove_suffix_overlap` drops the end of the completion when it repeats what already
   follows the cursor (a closing ``)`` on the same line, or the next lines), but only when dropping
   it leaves no bracket or quote opened by the completion itself unclosed.
6. Trailing whitespace is trimmed; an empty result is ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from coding_director.routing.verify import code_blocks

__all__ = [
    "INDENT_LANGUAGES",
    "block_end",
    "bracket_depth",
    "in_comment_or_string",
    "looks_like_prose",
    "postprocess",
    "remove_suffix_overlap",
    "strip_fences",
    "wants_single_line",
]

#: Languages whose blocks are delimited by indentation.
INDENT_LANGUAGES = frozenset({"python", "cython", "nim", "coffeescript"})

_HASH_COMMENT_LANGUAGES = frozenset(
    [
        "python",
        "cython",
        "nim",
        "coffeescript",
        "ruby",
        "perl",
        "r",
        "shellscript",
        "bash",
        "sh",
        "zsh",
        "fish",
        "powershell",
        "yaml",
        "toml",
        "makefile",
        "dockerfile",
        "elixir",
        "julia",
    ]
)
_DASH_COMMENT_LANGUAGES = frozenset({"sql", "lua", "haskell", "elm", "ada"})

_OPENERS = "([{"
_CLOSERS = ")]}"
_CLOSING_PUNCT = frozenset(")]}>\"'`;:,. \t")
_CONTINUATION_KEYWORDS = ("else", "elif", "except", "finally")


@dataclass(frozen=True, slots=True)
class _Lexis:
    """Where strings and comments start in a language family (enough to skip them, not to parse)."""

    line_comments: tuple[str, ...]
    block_comment: tuple[str, str] | None
    quotes: str
    multiline_quotes: tuple[str, ...]
    lifetimes: bool = False


_C_LIKE = _Lexis(("//",), ("/*", "*/"), "\"'", ("`",))
_PYTHON = _Lexis(("#",), None, "\"'", ('"""', "'''"))
_HASH = _Lexis(("#",), None, "\"'", ())
_DASH = _Lexis(("--",), None, "\"'", ())
_RUST = _Lexis(("//",), ("/*", "*/"), '"', (), lifetimes=True)


def _lexis(language: str | None) -> _Lexis:
    if language in ("python", "cython"):
        return _PYTHON
    if language == "rust":
        return _RUST
    if language in _HASH_COMMENT_LANGUAGES:
        return _HASH
    if language in _DASH_COMMENT_LANGUAGES:
        return _DASH
    return _C_LIKE


def _skip_quoted(text: str, start: int, quote: str, *, multiline: bool) -> int:
    """Index just after the closing ``quote`` of a string whose body starts at ``start`` (backslash
    escapes honoured); ``len(text)`` when unterminated; for single-line strings, the newline."""
    i = start
    n = len(text)
    while i < n:
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(quote, i):
            return i + len(quote)
        if not multiline and text[i] == "\n":
            return i
        i += 1
    return n


def _code_chars(text: str, lexis: _Lexis) -> Iterator[tuple[int, str]]:
    """``(index, char)`` of every character of ``text`` outside strings and comments."""
    i = 0
    n = len(text)
    while i < n:
        if lexis.block_comment and text.startswith(lexis.block_comment[0], i):
            end = text.find(lexis.block_comment[1], i + len(lexis.block_comment[0]))
            i = n if end < 0 else end + len(lexis.block_comment[1])
            continue
        if any(text.startswith(marker, i) for marker in lexis.line_comments):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        long_quote = next((q for q in lexis.multiline_quotes if text.startswith(q, i)), None)
        if long_quote is not None:
            i = _skip_quoted(text, i + len(long_quote), long_quote, multiline=True)
            continue
        char = text[i]
        if char in lexis.quotes:
            i = _skip_quoted(text, i + 1, char, multiline=False)
            continue
        if char == "'" and lexis.lifetimes:
            # Rust: 'x' or '\n' is a char literal; 'a (no closing quote) is a lifetime.
            literal = re.match(r"'(?:\\.[^']*|[^'\\])'", text[i : i + 12])
            i += len(literal.group(0)) if literal else 1
            continue
        yield i, char
        i += 1


def bracket_depth(text: str, language: str | None) -> int:
    """Net bracket balance of ``text`` (opened minus closed ``([{``), ignoring strings and comments.

    Negative when ``text`` closes brackets it did not open.
    """
    depth = 0
    for _, char in _code_chars(text, _lexis(language)):
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
    return depth


def _current_line(prefix: str) -> str:
    return prefix[prefix.rfind("\n") + 1 :]


def _indent_width(line: str) -> int:
    stripped = line.lstrip(" \t")
    return len(line[: len(line) - len(stripped)].expandtabs(4))


def in_comment_or_string(prefix: str, language: str | None) -> bool:
    """Whether the cursor (the end of ``prefix``) is inside a comment or a string literal.

    Line comments and single-line strings are detected on the current line; block comments
    (``/* */``) and triple-quoted strings (Python) anywhere in ``prefix``.
    """
    lexis = _lexis(language)
    if lexis.block_comment is not None:
        opened = prefix.rfind(lexis.block_comment[0])
        if opened >= 0 and prefix.find(lexis.block_comment[1], opened + 2) < 0:
            return True
    for quote in lexis.multiline_quotes:
        if quote != "`" and prefix.count(quote) % 2 == 1:
            return True
    line = _current_line(prefix)
    position = 0
    for index, _ in _code_chars(line, lexis):
        if index != position:  # something was skipped: a string or comment
            skipped = line[position:index]
            if not _closed_span(skipped, lexis):
                return True
        position = index + 1
    tail = line[position:]
    return bool(tail) and not _closed_span(tail, lexis)


def _closed_span(span: str, lexis: _Lexis) -> bool:
    """Whether a skipped span (string or comment) is terminated before the end of ``span``."""
    if any(span.startswith(marker) for marker in lexis.line_comments):
        return False
    if lexis.block_comment and span.startswith(lexis.block_comment[0]):
        return span.endswith(lexis.block_comment[1]) and len(span) >= 4
    for quote in (*lexis.multiline_quotes, *lexis.quotes):
        if span.startswith(quote):
            return len(span) >= 2 * len(quote) and span.endswith(quote) and not span.endswith("\\" + quote)
    return True


def strip_fences(text: str) -> str:
    """Remove a markdown code fence an instruct model wrapped a completion in: when the first
    non-blank line opens a fenced block, that block's code; otherwise the text before the first
    fence (a fence opened after the code starts the model's commentary). Fences as
    :func:`~coding_director.routing.verify.code_blocks` reads them (CommonMark)."""
    blocks = code_blocks(text)
    if not blocks:
        return text
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if blocks[0].start_line == first:
        return blocks[0].code
    return "\n".join(lines[: blocks[0].start_line])


_PROSE_ANYWHERE = re.compile(
    r"^(?:sure\b|certainly\b|of course\b|absolutely\b|here(?:'s| is| are)\b|below is\b|the following\b"
    r"|as an ai\b|unfortunately\b|i(?:'m|'ll|'d|'ve| am| will| can| cannot| can't| would| think| have"
    r"| don't)\b|i apologi[sz]e|sorry\b)",
    re.IGNORECASE,
)
_PROSE_LINE_START = re.compile(
    r"^(?:this (?:code|function|method|class|snippet|program|script|will|is|completes)\b"
    r"|the (?:code|function|method|above|completed|missing|rest)\b|explanation\b|note:|to complete\b"
    r"|you can\b|let me\b|let's\b|in this\b)",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"^[A-Z][a-z']*(?:,? [A-Za-z][A-Za-z'-]*){3,}[.!?:]?$")


def looks_like_prose(text: str, prefix: str, language: str | None) -> bool:
    """Whether ``text`` is a chat-style answer rather than code to insert after ``prefix``.

    Checks the first non-blank line of ``text``: chat openers ("Sure", "Here is", "I'll", "As an
    AI") anywhere; explanation openers ("This code", "The function", "Note:") and a plain English
    sentence (capitalised, four or more words, no code punctuation) when the completion starts a
    line. Never prose when the cursor is in a comment or a string. The sentence test applies only
    to a known language (``language`` not ``None``; documents without a grammar, such as markdown
    or plain text, arrive as ``None``).
    """
    if in_comment_or_string(prefix, language):
        return False
    lines = text.split("\n")
    first_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first_index is None:
        return False
    first = lines[first_index].strip()
    if _PROSE_ANYWHERE.match(first):
        return True
    starts_line = first_index > 0 or not _current_line(prefix).strip()
    if not starts_line:
        return False
    if _PROSE_LINE_START.match(first):
        return True
    return language is not None and bool(_SENTENCE.match(first))


_TRAILING_BLANKS_RE = re.compile(r"(?<=\S)[ \t]+\Z")


def heal_prompt(prefix: str) -> tuple[str, str]:
    """``(prompt, removed)``: ``prefix`` without the spaces/tabs that end it after other text on
    the cursor's line (``"x = "`` -> ``("x =", " ")``), and what was removed.

    Why: BPE and SentencePiece tokenizers attach a word's leading space to the word's token
    (``"Ġvalue"``, ``"▁value"``). A prompt ending in a bare space token is a sequence the model rarely
    saw, and it answers badly: Gemma 3 270M completed ``USE_CLIENT_DEFAULT = `` with ``1`` but
    ``USE_CLIENT_DEFAULT =`` with `` _is_https_redirect(`` (measured by ``scripts/real-model-demo``).
    This is the simplest form of "token healing" (Microsoft Guidance; llama.cpp's
    ``--token-healing``). Indentation (only blanks on the cursor's line) is left alone: a model
    must see the indentation it continues. Undo with :func:`unheal_completion`.
    """
    match = _TRAILING_BLANKS_RE.search(prefix)
    if match is None:
        return prefix, ""
    return prefix[: match.start()], match.group()


def unheal_completion(text: str, removed: str) -> str:
    """The completion to insert after the blanks :func:`heal_prompt` ``removed`` from the prompt:
    ``text`` without those blanks at its start (the user typed them already), or without any
    leading blanks when the model wrote others."""
    if not removed:
        return text
    return text[len(removed) :] if text.startswith(removed) else text.lstrip(" \t")


def wants_single_line(suffix: str) -> bool:
    """Whether only one line should be completed: the rest of the cursor's line (``suffix`` up to
    the first newline) holds more than closing brackets, quotes and punctuation."""
    rest = suffix.split("\n", 1)[0]
    return any(char not in _CLOSING_PUNCT for char in rest)


def block_end(text: str, prefix: str, language: str | None, *, trust_brackets: bool = True) -> int:
    """Index in ``text`` where the block holding the cursor ends (``len(text)`` when it does not).

    The returned index is always ``len(text)`` or the index of a ``"\\n"`` in ``text``.

    With ``trust_brackets`` (a completion: fresh model text after the cursor):

    - brackets: the end of the first line of ``text`` whose running bracket depth, counted from the
      cursor, is negative (the completion closed the bracket or block the cursor is in);
    - indentation languages (:data:`INDENT_LANGUAGES`): the newline before the first non-blank line
      indented less than the cursor's line (the cursor line as completed by the first line of
      ``text``), or no more than it when that line opens a block (ends with ``:``); ``else``,
      ``elif``, ``except`` and ``finally`` at the same indentation continue the statement. Lines
      inside brackets the completion opened, lines starting with a closing bracket and lines
      starting inside a string or comment (a docstring's text, a ``#`` comment) are exempt.

    Without it (code that does not parse, bounded the way a reader would: the Fix of a broken
    unit): the first line of ``text`` is the unit's header and opens the block, in every language.
    The block ends before the next non-blank line at the header's indentation or less (a sibling
    or outer declaration), whatever brackets or strings were left open before it; only a string or
    comment that is closed further on exempts the lines inside it. A line starting with a closing
    bracket at the header's indentation is the block's last line once the brackets counted from the
    header balance, unless it opens again (``} else {``, ``):``); one indented less ends the block
    before it.
    """
    line_prefix = _current_line(prefix)
    offset = len(line_prefix)
    deltas = [0] * (len(text) + 1)
    code: set[int] = set()  # indices of text outside strings and comments
    for index, char in _code_chars(line_prefix + text, _lexis(language)):
        if index >= offset:
            code.add(index - offset)
            if char in "([{)]}":
                deltas[index - offset] = 1 if char in _OPENERS else -1
    last_code = max(code, default=-1)
    lines = text.split("\n")
    indentation = language in INDENT_LANGUAGES or not trust_brackets
    first = line_prefix + lines[0]
    base = _indent_width(first) if first.strip() else _indent_width(line_prefix)
    opens_block = not trust_brackets or first.split("#", 1)[0].rstrip().endswith(":")
    depth = 0
    start = 0
    for number, line in enumerate(lines):
        end = start + len(line)
        stripped = line.lstrip()
        closer = bool(stripped) and stripped[0] in _CLOSERS
        in_span = start not in code and (trust_brackets or start < last_code)
        exempt = not stripped or closer or in_span or (trust_brackets and depth > 0)
        width = _indent_width(line)
        ends = width < base or (width == base and opens_block and not stripped.startswith(_CONTINUATION_KEYWORDS))
        if indentation and number > 0 and not exempt and ends:
            return start - 1
        if not trust_brackets and number > 0 and closer and not in_span and width < base:
            return start - 1
        depth += sum(deltas[start:end])
        if trust_brackets and depth < 0:
            return end
        if (not trust_brackets and number > 0 and closer and not in_span and width == base and depth <= 0
                and not line.split("#", 1)[0].rstrip().endswith((":", *_OPENERS))):
            return end
        start = end + 1
    return len(text)


def _safe_to_drop(kept: str, dropped: str, language: str | None) -> bool:
    """Dropping ``dropped`` from the end leaves nothing that the completion opened unclosed."""
    if bracket_depth(kept, language) > 0:
        return False
    return all(kept.count(quote) % 2 == 0 for quote in "\"'`" if quote in dropped)


def remove_suffix_overlap(text: str, suffix: str, language: str | None) -> str:
    """Drop the end of ``text`` that repeats the beginning of ``suffix``.

    - Rest of the cursor's line not blank: the longest beginning of it that ``text`` ends with is
      removed, if it is the whole rest of the line (at least 3 characters or only punctuation) or
      only closing punctuation (``)``, ``]``, ``"``, ``;``...).
    - Rest of the line blank: the last ``j`` non-blank lines of ``text`` that equal (stripped) the
      next ``j`` non-blank lines of ``suffix`` are removed (largest ``j``).

    Either removal happens only when the kept text leaves no bracket or quote of its own open
    (so ``bar(x)`` before a ``)`` is kept whole, and a ``}`` closing an ``if`` the completion
    opened is not taken for the function's ``}`` below the cursor).
    """
    rest = suffix.split("\n", 1)[0].rstrip()
    if rest.strip():
        for size in range(len(rest), 0, -1):
            overlap = rest[:size]
            if not text.endswith(overlap):
                continue
            punctuation = all(char in _CLOSING_PUNCT for char in overlap)
            whole = size == len(rest) and (len(overlap.strip()) >= 3 or punctuation)
            if not (whole or punctuation):
                continue
            kept = text[: len(text) - size]
            if _safe_to_drop(kept, overlap, language):
                return kept
        return text
    following = [line.strip() for line in suffix.split("\n")[1:] if line.strip()]
    lines = text.split("\n")
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    for count in range(min(len(nonblank), len(following)), 0, -1):
        tail = nonblank[-count:]
        if [lines[i].strip() for i in tail] != following[:count]:
            continue
        kept = "\n".join(lines[: tail[0]])
        dropped = "\n".join(lines[tail[0] :])
        if _safe_to_drop(kept, dropped, language):
            return kept.rstrip()
    return text


def postprocess(
    raw: str, *, prefix: str, suffix: str, language: str | None, single_line: bool | None = None
) -> str | None:
    """The text to insert at the cursor, or ``None`` when the model's answer is unusable.

    ``raw``: the model output (characters). ``prefix``/``suffix``: document text before/after the
    cursor. ``language``: a language name (``"python"``) or LSP language id, ``None`` if unknown.
    ``single_line``: keep only the first line; ``None`` decides with :func:`wants_single_line`.
    Steps and heuristics: see the module docstring.
    """
    text = strip_fences(raw)
    if looks_like_prose(text, prefix, language):
        return None
    if single_line is None:
        single_line = wants_single_line(suffix)
    if single_line:
        text = text.split("\n", 1)[0]
    text = text[: block_end(text, prefix, language)].rstrip()
    text = remove_suffix_overlap(text, suffix, language).rstrip()
    line_prefix = _current_line(prefix)
    if line_prefix.strip() and line_prefix.endswith((" ", "\t")) and text.startswith(" "):
        text = text.lstrip(" ")
    return text if text.strip() else None
