"""Features of one routing request: the same code at training (``scripts/train_router.py``) and at
run time (:mod:`coding_director.routing.classifier`).

A request is a prompt, optionally with the focus code of a selection and the import lines of its
file. The prompt's fenced blocks (```...```) count as code; the rest is prose. Layout of the
vector (:data:`N_FEATURES`), dense part first:

* ``[0, 256)``: WordLlama sentence embedding (:mod:`.embedding`) of the prose followed by the
  words of the code's identifiers (``monthlyPayment`` -> ``monthly payment``; at most
  :data:`MAX_CODE_WORDS`), so that what the prose corpus taught about words carries over to code;
* ``[256, 256 + N_LEXICAL)``: lexical and code-context features (:func:`lexical`: the topic
  lexicon of :mod:`.lexicon` on the prose and on the code's words, notation, the shape of the code,
  numerical imports);
* then the sparse part, each block binary and L2-normalised (the "hashing trick", Weinberger et al.
  2009; CRC-32): word unigrams and bigrams of the prose plus the code's words (:data:`WORD_BUCKETS`
  buckets), character 4-grams of those words padded with spaces (:data:`CHAR_BUCKETS`: robust to
  typos) and the code's words alone (:data:`CODE_BUCKETS`).

:func:`features` returns the dense part and the sparse part's ``(index, value)`` pairs, so that a
linear model scores a request without building the 17,700-wide vector (:meth:`Features.dense_vector`
builds it for training). What comes from the code alone (:func:`code_part`: its words, the
code-context features, the code-word block) is cached by code and imports: the actions and chats on
one selection share it, and its regular expressions are most of the cost of a request with code.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coding_director.routing import lexicon
from coding_director.routing.embedding import EMBED_DIM, WordLlamaEmbedding, unit

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

#: Hashed word n-gram buckets and hashed character 4-gram buckets (powers of two). Chosen by the
#: training split's grouped cross-validation (stacked domain model, same folds): 2,048 each gave
#: log loss 0.125 / accuracy 95.0%, 4,096 0.109 / 95.7%, 8,192 0.106 / 96.0% (fewer collisions).
WORD_BUCKETS = 8192
CHAR_BUCKETS = 8192
CODE_BUCKETS = 1024
#: Characters of prose / code read (longer text is cut: bounds one decision's time).
MAX_PROSE_CHARS = 1500
MAX_CODE_CHARS = 800
#: Distinct identifier words of the code that join the prose's words (first ones kept).
MAX_CODE_WORDS = 80
#: Requests whose code part (:func:`code_part`) is cached.
CODE_CACHE_SIZE = 1024
#: Version of the layout; the weights file records it and the loader refuses others.
FEATURE_VERSION = 5

_COMPLEXITY_RE = re.compile(r"\bO\(\s*[a-z0-9^ *+]+(?:\s*log\s*[a-z0-9]*)?\s*\)|\bn\s*log\s*n\b|\bn\^?2\b", re.I)
_FORMULA_RE = re.compile(r"[a-z0-9)]\s*[\^*/]\s*[a-z0-9(]|\b[a-z]\s*=\s*[-\d(a-z]|\d+(?:\.\d+)?%|\bsqrt\b", re.I)
#: Stack traces and error output: ``Traceback \(most recent|^\s+at [\w.$]+\(|\w+(?:Error|Exception):|
#: ^panic:|error\[E\d+\]|npm ERR!|Segmentation fault|FATAL|Uncaught`` (multi-line), written as two
#: patterns: the alternatives that begin with a literal (``\w+Error:`` as ``Error:`` after a word
#: character), which ``re`` finds by skipping to their first letters, and the two anchored at a
#: line's start (:func:`_has_trace`; about 3x faster than the one pattern, whose ``\w+`` and ``^``
#: branches are tried at every position; ``tests/test_classifier.py`` checks it against that form).
_TRACE_RE = re.compile(
    r"Traceback \(most recent|Error:(?<=\wError:)|Exception:(?<=\wException:)|error\[E\d+\]|npm ERR!|"
    r"Segmentation fault|FATAL|Uncaught"
)
_TRACE_LINE_RE = re.compile(r"^\s+at [\w.$]+\(|^panic:", re.MULTILINE)
#: Characters one of which a match of :data:`_FORMULA_RE` holds unless it is ``sqrt``; and those of
#: :data:`_COMPLEXITY_RE` unless it holds ``log`` (the letters here have no other case forms under
#: ``re.IGNORECASE``, unlike ``s``, ``k`` and ``i``). Text without them is not searched.
_FORMULA_CHARS = frozenset("^*/=%")
_COMPLEXITY_CHARS = frozenset("(2")
_FENCE_RE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
#: Words inside identifiers: ``monthlyPayment`` -> ``monthly``, ``Payment``; ``std_dev`` -> ``std``, ``dev``.
#: It finds what ``[A-Z]?[a-z]+|[A-Z]+(?![a-z])`` finds; the patterns of this module are written to
#: begin with a literal or a character class, so that ``re`` skips to the candidates in C instead of
#: running the matcher at every position (2-3 times faster on code; a pattern beginning with ``\b``,
#: a lookbehind or an optional item is tried at every position). A word boundary before a word's
#: first character ``c`` is written ``c(?<!\wc)`` (a negative lookbehind of width two succeeds at
#: the start of the text too). ``tests/test_classifier.py`` checks every pattern against its plain
#: form on the router corpus and on random text.
_IDENT_PART_RE = re.compile(r"[A-Za-z](?:(?<=[a-z])[a-z]*|(?<=[A-Z])(?:[a-z]+|[A-Z]*(?![a-z])))")


def _at_word_start(words: str) -> str:
    r"""The alternation ``\b(?:w1|w2|...)`` of the space-separated ``words`` (regular-expression
    fragments whose first character is a plain letter), written to begin with a literal."""
    return "|".join(f"{w[0]}(?<!\\w{w[0]}){w[1:]}" for w in words.split())


#: Imports of numerical libraries (strong signal) and of standard modules that numerical code and
#: everyday code both use (``math.ceil`` for pagination, ``random.choice`` for invite codes: weak).
_NUMERIC_IMPORT_RE = re.compile(
    r"^\s*(?:import|from|using|use|#include|library\(|require\()\s*[<(\"']?\s*"
    r"(?:numpy|scipy|sympy|statistics|pandas|torch|jax|tensorflow|sklearn|statsmodels|numba|cupy|mpmath|"
    r"networkx|Eigen|LinearAlgebra|Statistics|Distributions|gonum|nalgebra|ndarray|Accord|MathNet|"
    r"org\.apache\.commons\.math)\b",
    re.MULTILINE | re.IGNORECASE,
)
_STDLIB_MATH_IMPORT_RE = re.compile(
    r"^\s*(?:import|from|using|use|#include)\s*[<\"']?\s*(?:math|cmath|fractions|decimal|random|heapq|bisect|"
    r"itertools|math\.h|java\.math|rand)\b",
    re.MULTILINE | re.IGNORECASE,
)
_MATH_CALL_RE = re.compile(
    r"\b(?:np|numpy|scipy|stats|linalg|math|Math|torch|sp|statistics)\.\w+|\b(?:sqrt|exp|log|log2|log10|"
    r"sin|cos|tan|atan2|erf|pow|abs|floor|ceil|mean|std|var|sum|dot|matmul|inv|solve|svd|eig|norm|cumsum|"
    r"argmin|argmax|heappush|heappop|bisect\w*|gcd|comb|factorial|random|randn|uniform)\s*\(",
)
#: \*\*|[-+*/%^]=?|@|<<|>>
_OPERATOR_RE = re.compile(r"\*[*=]?|-=?|\+=?|/=?|%=?|\^=?|@|<<|>>")
_GENERAL_CALL_RE = re.compile(
    r"\b(?:request|requests|response|res|req|app|router|fetch|axios|http|json|db|session|cursor|"
    r"document|window|console|os|sys|path|Path|file|open|print|logging|logger|setState|use[A-Z]\w*)\b[.(]"
)

_LOOP_WORDS = "for while loop each repeat until"
#: Shape of code, per line: string literals, numeric literals, arithmetic, comparisons, indexing,
#: loops, method calls (everyday code is strings and calls, mathematical code arithmetic and indices).
_CODE_STYLE_RES = tuple(
    re.compile(pattern)
    for pattern in (
        r"\"[^\"\n]*\"|'[^'\n]*'|`[^`\n]*`",
        # (?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?\b
        r"\d(?<![\w.]\d)\d*(?:\.\d+)?(?:e-?\d+)?\b",
        # (?<=[\w)\]])\s*(?:\*\*|[-+*/%^])\s*(?=[\w(]), taking the character before (never part of
        # the previous match, which ends in an operator or a space): the same number of matches
        r"[\w)\]]\s*(?:\*\*|[-+*/%^])\s*(?=[\w(])",
        r"[<>]=?(?=\s*[\w(-])",
        # \w\[
        r"\[(?<=\w\[)",
        # \b(?:for|while|loop|each|repeat|until)\b
        rf"(?:{_at_word_start(_LOOP_WORDS)})\b",
        r"\.\w+\(",
    )
)
N_LEXICAL = 17 + len(_CODE_STYLE_RES) + 2 * lexicon.N_TOPICS
N_DENSE = EMBED_DIM + N_LEXICAL
N_FEATURES = N_DENSE + WORD_BUCKETS + CHAR_BUCKETS + CODE_BUCKETS
_CODE_BASE = WORD_BUCKETS + CHAR_BUCKETS
#: Names of the lexical features, in order (for logs and the evidence of a decision).
LEXICAL_NAMES = (
    "math words (log)",
    "everyday words (log)",
    "math word share",
    "everyday word share",
    "digit share",
    "complexity notation",
    "formula notation",
    "stack trace",
    "question mark",
    "length",
    "has code",
    "numerical import",
    "standard math import",
    "math calls in code",
    "everyday calls in code",
    "operators per code line",
    "math words in code",
    "strings per code line",
    "numbers per code line",
    "arithmetic per code line",
    "comparisons per code line",
    "indexing per code line",
    "loops per code line",
    "method calls per code line",
    *(f"topic {name}" for name in lexicon.TOPIC_NAMES),
    *(f"code topic {name}" for name in lexicon.TOPIC_NAMES),
)


@dataclass(frozen=True, slots=True)
class Features:
    """One request's features: ``dense`` (float32, (:data:`N_DENSE`,)) and the sparse part as
    ``index`` (positions in ``[0, WORD_BUCKETS + CHAR_BUCKETS)``) with ``value`` (same length)."""

    dense: FloatArray
    index: list[int]
    value: list[float]

    def dense_vector(self) -> FloatArray:
        """The full vector (float32, (:data:`N_FEATURES`,)): dense part, then the sparse part."""
        import numpy as np

        out = np.zeros(N_FEATURES, dtype=np.float32)
        out[:N_DENSE] = self.dense
        out[N_DENSE + np.asarray(self.index, dtype=np.int64)] = self.value
        return out


def split_prose_code(prompt: str) -> tuple[str, str]:
    """``(prose, code)`` of a prompt: fenced blocks (```...```) go to code, the rest is prose."""
    blocks = _FENCE_RE.findall(prompt)
    if not blocks:
        return prompt, ""
    return _FENCE_RE.sub(" ", prompt), "\n".join(blocks)


_TOKEN_CACHE: dict[str, tuple[int, int, tuple[int, ...], bytes, int]] = {}


def _token_buckets(token: str) -> tuple[int, int, tuple[int, ...], bytes, int]:
    """A word's buckets: its word bucket, its code-word bucket and the buckets of the character
    4-grams of `` token `` (each offset to its block of the sparse part); then its UTF-8 bytes and
    the CRC-32 of ``token + " "``, from which :func:`_pair_buckets` continues. Cached."""
    found = _TOKEN_CACHE.get(token)
    if found is None:
        if len(_TOKEN_CACHE) >= 1 << 16:
            _TOKEN_CACHE.clear()
        data = token.encode()
        crc = zlib.crc32(data)
        padded = f" {token} "
        grams = {
            WORD_BUCKETS + (zlib.crc32(padded[i : i + 4].encode()) & (CHAR_BUCKETS - 1)) for i in range(len(padded) - 3)
        }
        word_bucket, code_bucket = crc & (WORD_BUCKETS - 1), _CODE_BASE + (crc & (CODE_BUCKETS - 1))
        found = (word_bucket, code_bucket, tuple(grams), data, zlib.crc32(b" ", crc))
        _TOKEN_CACHE[token] = found
    return found


def _pair_buckets(words: Sequence[str]) -> list[int]:
    """The word-block buckets of the adjacent pairs of ``words``: CRC-32 of ``f"{a} {b}"``, computed
    as the CRC of ``b``'s bytes continued from that of ``a + " "`` (``zlib.crc32(data, value)``)."""
    info = [_token_buckets(word) for word in words]
    return [zlib.crc32(b[3], a[4]) & (WORD_BUCKETS - 1) for a, b in itertools.pairwise(info)]


def _block(index: Collection[int], index_out: list[int], value_out: list[float]) -> None:
    if index:
        index_out.extend(index)
        value_out.extend([1.0 / math.sqrt(len(index))] * len(index))


def hashed(words: list[str], code_index: Sequence[int] = ()) -> tuple[list[int], list[float]]:
    """The sparse part: ``(index, value)`` for the lower-case ``words`` (prose and shared code words)
    and the code-word block ``code_index`` (:attr:`CodePart.index`; see the module docstring; each
    block's values are ``1/sqrt(k)`` for its ``k`` distinct buckets)."""
    word_index, char_index = _prose_buckets(words)
    return _blocks(word_index, char_index, code_index)


def _prose_buckets(words: list[str], next_word: str | None = None) -> tuple[set[int], set[int]]:
    """The word block (word pairs, the pair of the last word and ``next_word`` when given, single
    words) and the character n-gram block of ``words``."""
    word_index = set(_pair_buckets(words))
    if words and next_word is not None:
        word_index.add(zlib.crc32(f"{words[-1]} {next_word}".encode()) & (WORD_BUCKETS - 1))
    char_index: set[int] = set()
    for token in set(words):
        bucket, _, grams, _, _ = _token_buckets(token)
        word_index.add(bucket)
        char_index.update(grams)
    return word_index, char_index


def _blocks(*blocks: Collection[int]) -> tuple[list[int], list[float]]:
    """The sparse ``(index, value)`` lists of ``blocks`` in order (see :func:`_block`)."""
    index: list[int] = []
    value: list[float] = []
    for block in blocks:
        _block(block, index, value)
    return index, value


_NO_DIGITS = str.maketrans("", "", "0123456789")
#: ``log1p`` of a hit count; counts are bounded by the words of MAX_PROSE_CHARS (one word and two
#: phrases per word at most), so the table covers every count.
_LOG1P = [math.log1p(count) for count in range(2 * MAX_PROSE_CHARS)]


def code_words(code: str) -> list[str]:
    """Lower-case words of the identifiers and comments of ``code`` (camelCase and snake_case split)."""
    # The parts are ASCII letters: one lower() of them joined is the same as one per part.
    return " ".join(_IDENT_PART_RE.findall(code)).lower().split()


@dataclass(frozen=True, slots=True)
class CodePart:
    """What the features take from a request's code (the focus code and pasted blocks, cut to
    :data:`MAX_CODE_CHARS`) and its import lines: ``words`` (:func:`code_words`), ``shared`` (the
    first :data:`MAX_CODE_WORDS` distinct ones, which join the prose's words), ``lexical`` (the
    code-context features, "has code" to "method calls per code line"), ``topics`` (log1p of the
    topic hits of ``words``) and ``index`` (the code-word block of the sparse part, sorted)."""

    words: tuple[str, ...]
    shared: tuple[str, ...]
    lexical: tuple[float, ...]
    topics: tuple[float, ...]
    index: tuple[int, ...]
    #: The word-block buckets of ``shared`` alone (its words and the bigrams between them) and
    #: the character-block buckets of its words (the prose's own buckets are added per request).
    word_buckets: frozenset[int] = frozenset()
    char_buckets: frozenset[int] = frozenset()


_NO_CODE = CodePart((), (), (0.0,) * (7 + len(_CODE_STYLE_RES)), (0.0,) * lexicon.N_TOPICS, ())


@functools.lru_cache(maxsize=CODE_CACHE_SIZE)
def code_part(code: str, import_text: str) -> CodePart:
    """The :class:`CodePart` of ``code`` (already cut) and ``import_text`` (the import lines joined
    by newlines), cached: in an editor the actions on one selection (Explain, Fix, Add docstring,
    Generate tests, a chat about it) share it, and its regular expressions are most of the cost of
    one decision with code."""
    if not code:
        numeric = bool(_NUMERIC_IMPORT_RE.search(import_text))
        stdlib = bool(_STDLIB_MATH_IMPORT_RE.search(import_text))
        if not (numeric or stdlib):
            return _NO_CODE
        flags = (0.0, 1.0 if numeric else 0.0, 1.0 if stdlib else 0.0)
        return CodePart((), (), flags + _NO_CODE.lexical[3:], _NO_CODE.topics, ())
    words = code_words(code)
    lines = code.count("\n") + 1
    both = f"{import_text}\n{code}"
    topics = lexicon.topic_counts(words)
    style = [min(len(pattern.findall(code)) / lines, 4.0) / 4.0 for pattern in _CODE_STYLE_RES]
    lexical = (
        1.0,
        1.0 if _NUMERIC_IMPORT_RE.search(both) else 0.0,
        1.0 if _STDLIB_MATH_IMPORT_RE.search(both) else 0.0,
        math.log1p(len(_MATH_CALL_RE.findall(code))) / 3.0,
        math.log1p(len(_GENERAL_CALL_RE.findall(code))) / 3.0,
        min(len(_OPERATOR_RE.findall(code)) / lines, 5.0) / 5.0,
        math.log1p(sum(topics[: lexicon.N_MATH_TOPICS])) / 3.0,
        *style,
    )
    distinct = list(dict.fromkeys(words))
    buckets = [_token_buckets(token) for token in distinct]
    block = sorted({info[1] for info in buckets})
    shared = tuple(distinct[:MAX_CODE_WORDS])
    word_buckets = set(_pair_buckets(shared))
    word_buckets.update([info[0] for info in buckets[:MAX_CODE_WORDS]])
    char_buckets = {gram for info in buckets[:MAX_CODE_WORDS] for gram in info[2]}
    return CodePart(
        tuple(words),
        shared,
        lexical,
        tuple([_LOG1P[min(count, len(_LOG1P) - 1)] for count in topics]),
        tuple(block),
        frozenset(word_buckets),
        frozenset(char_buckets),
    )


@functools.lru_cache(maxsize=CODE_CACHE_SIZE)
def _code_row_sum(embedding: WordLlamaEmbedding, shared: tuple[str, ...]) -> FloatArray:
    """The sum of the embedding rows of the tokens of ``" ".join(shared)`` (cached per selection)."""
    total = embedding.row_sum(embedding.token_ids(" ".join(shared)))
    total.flags.writeable = False  # shared by every request on the selection
    return total


def _has_complexity(prose: str, lower: str) -> bool:
    """Whether ``prose`` (``lower``: ``prose.lower()``) states a complexity (:data:`_COMPLEXITY_RE`)."""
    if _COMPLEXITY_CHARS.isdisjoint(prose) and "log" not in lower:
        return False
    return _COMPLEXITY_RE.search(prose) is not None


def _formula_count(prose: str, lower: str) -> int:
    """The number of matches of :data:`_FORMULA_RE` in ``prose`` (``lower``: ``prose.lower()``)."""
    if _FORMULA_CHARS.isdisjoint(prose) and "qrt" not in lower:
        return 0
    return len(_FORMULA_RE.findall(prose))


def _has_trace(prose: str) -> bool:
    """Whether ``prose`` holds a stack trace or error output (see :data:`_TRACE_RE`)."""
    return _TRACE_RE.search(prose) is not None or _TRACE_LINE_RE.search(prose) is not None


def prose_lexical(prose: str) -> tuple[list[float], list[float]]:
    """The prose's lexical features (the first ten of :data:`LEXICAL_NAMES`) and its topic features."""
    lower = prose.lower()
    words = lexicon.tokens(prose, lower)
    n_words = len(words) or 1
    topics = lexicon.topic_counts(words)
    math_hits = sum(topics[: lexicon.N_MATH_TOPICS])
    general_hits = sum(topics[lexicon.N_MATH_TOPICS :])
    digits = len(prose) - len(prose.translate(_NO_DIGITS))
    head = [
        math.log1p(math_hits),
        math.log1p(general_hits),
        math_hits / n_words,
        general_hits / n_words,
        digits / max(len(prose), 1),
        1.0 if _has_complexity(prose, lower) else 0.0,
        min(_formula_count(prose, lower), 5) / 5.0,
        1.0 if _has_trace(prose) else 0.0,
        1.0 if prose.rstrip().endswith("?") else 0.0,
        math.log1p(n_words) / 5.0,
    ]
    return head, [_LOG1P[count] for count in topics]


def lexical(prose: str, code: str, imports: list[str], words_in_code: list[str] | None = None) -> list[float]:
    """The lexical and code-context features (order: :data:`LEXICAL_NAMES`) of the first
    :data:`MAX_PROSE_CHARS` of ``prose`` and :data:`MAX_CODE_CHARS` of ``code`` (``words_in_code``
    is accepted for compatibility and ignored: the code's words come from ``code``)."""
    head, topics = prose_lexical(prose[:MAX_PROSE_CHARS])
    part = code_part(code[:MAX_CODE_CHARS], "\n".join(imports))
    return [*head, *part.lexical, *topics, *part.topics]


def features(
    embedding: WordLlamaEmbedding, prompt: str, code: str | None = None, imports: list[str] | None = None
) -> Features:
    """The :class:`Features` of one request: ``prompt`` (the user's text), ``code`` (the focus code of
    the selection, or ``None``) and ``imports`` (the import lines of its file, ``CodeContext.imports``)."""
    import numpy as np

    prose, pasted = split_prose_code(prompt)
    prose = prose[:MAX_PROSE_CHARS]
    if pasted.strip():
        code_all = "\n".join(part for part in (code or "", pasted) if part.strip())[:MAX_CODE_CHARS]
    else:
        code_all = (code or "")[:MAX_CODE_CHARS] if code and code.strip() else ""
    part = code_part(code_all, "\n".join(imports) if imports else "")
    head, topics = prose_lexical(prose)
    dense = np.empty(N_DENSE, dtype=np.float32)
    # The code's words join the prose's for the embedding and the hashed words, so that what the
    # prose corpus taught about words ("dijkstra", "request") applies to identifiers too.
    shared = part.shared
    prose_words = _WORD_RE.findall(prose.lower())
    if not shared:
        dense[:EMBED_DIM] = embedding.embed(prose)
        index, value = hashed(prose_words, part.index)
    else:
        if prose and prose[-1] not in " \u2581":
            # The tokens of f"{prose} {shared words}" are the prose's, then the shared words' (a
            # chunk starts at every "\u2581"-run and the prose ends in another character): the code's
            # row sum is cached with the selection.
            total = embedding.row_sum(embedding.token_ids(prose)) + _code_row_sum(embedding, shared)
            dense[:EMBED_DIM] = unit(total)
        else:
            dense[:EMBED_DIM] = embedding.embed(f"{prose} {' '.join(shared)}")
        index, value = hashed_with_code(prose_words, part)
    dense[EMBED_DIM:] = [*head, *part.lexical, *topics, *part.topics]
    return Features(dense, index, value)


def hashed_with_code(prose_words: list[str], part: CodePart) -> tuple[list[int], list[float]]:
    """:func:`hashed` of ``prose_words + list(part.shared)`` with ``part.index``, from the prose's
    own buckets and the code's cached ones (the same buckets)."""
    word_index, char_index = _prose_buckets(prose_words, part.shared[0] if prose_words else None)
    return _blocks(word_index | part.word_buckets, char_index | part.char_buckets, part.index)
