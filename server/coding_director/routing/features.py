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
linear model scores a request without building the 5,400-wide vector (:meth:`Features.dense_vector`
builds it for training).
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coding_director.routing import lexicon
from coding_director.routing.embedding import EMBED_DIM, WordLlamaEmbedding

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

#: Hashed word n-gram buckets and hashed character 4-gram buckets (powers of two).
WORD_BUCKETS = 2048
CHAR_BUCKETS = 2048
CODE_BUCKETS = 1024
#: Characters of prose / code read (longer text is cut: bounds one decision's time).
MAX_PROSE_CHARS = 1500
MAX_CODE_CHARS = 800
#: Distinct identifier words of the code that join the prose's words (first ones kept).
MAX_CODE_WORDS = 80
#: Version of the layout; the weights file records it and the loader refuses others.
FEATURE_VERSION = 4

_COMPLEXITY_RE = re.compile(r"\bO\(\s*[a-z0-9^ *+]+(?:\s*log\s*[a-z0-9]*)?\s*\)|\bn\s*log\s*n\b|\bn\^?2\b", re.I)
_FORMULA_RE = re.compile(r"[a-z0-9)]\s*[\^*/]\s*[a-z0-9(]|\b[a-z]\s*=\s*[-\d(a-z]|\d+(?:\.\d+)?%|\bsqrt\b", re.I)
_TRACE_RE = re.compile(
    r"Traceback \(most recent|^\s+at [\w.$]+\(|\w+(?:Error|Exception):|^panic:|error\[E\d+\]|npm ERR!|"
    r"Segmentation fault|FATAL|Uncaught",
    re.MULTILINE,
)
_FENCE_RE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
#: Words inside identifiers: ``monthlyPayment`` -> ``monthly``, ``Payment``; ``std_dev`` -> ``std``, ``dev``.
_IDENT_PART_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
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
_OPERATOR_RE = re.compile(r"\*\*|[-+*/%^]=?|@|<<|>>")
_GENERAL_CALL_RE = re.compile(
    r"\b(?:request|requests|response|res|req|app|router|fetch|axios|http|json|db|session|cursor|"
    r"document|window|console|os|sys|path|Path|file|open|print|logging|logger|setState|use[A-Z]\w*)\b[.(]"
)

#: Shape of code, per line: string literals, numeric literals, arithmetic, comparisons, indexing,
#: loops, method calls (everyday code is strings and calls, mathematical code arithmetic and indices).
_CODE_STYLE_RES = tuple(
    re.compile(pattern)
    for pattern in (
        r"\"[^\"\n]*\"|'[^'\n]*'|`[^`\n]*`",
        r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?\b",
        r"(?<=[\w)\]])\s*(?:\*\*|[-+*/%^])\s*(?=[\w(])",
        r"[<>]=?(?=\s*[\w(-])",
        r"\w\[",
        r"\b(?:for|while|loop|each|repeat|until)\b",
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


_TOKEN_CACHE: dict[str, tuple[int, int, tuple[int, ...]]] = {}


def _token_buckets(token: str) -> tuple[int, int, tuple[int, ...]]:
    """A word's buckets: its word bucket, its code-word bucket and the buckets of the character
    4-grams of `` token `` (each offset to its block of the sparse part), cached."""
    found = _TOKEN_CACHE.get(token)
    if found is None:
        if len(_TOKEN_CACHE) >= 1 << 16:
            _TOKEN_CACHE.clear()
        crc = zlib.crc32(token.encode())
        padded = f" {token} "
        grams = {
            WORD_BUCKETS + (zlib.crc32(padded[i : i + 4].encode()) & (CHAR_BUCKETS - 1)) for i in range(len(padded) - 3)
        }
        found = (crc & (WORD_BUCKETS - 1), _CODE_BASE + (crc & (CODE_BUCKETS - 1)), tuple(grams))
        _TOKEN_CACHE[token] = found
    return found


def _block(index: set[int], index_out: list[int], value_out: list[float]) -> None:
    if index:
        index_out.extend(index)
        value_out.extend([1.0 / math.sqrt(len(index))] * len(index))


def hashed(words: list[str], words_in_code: Sequence[str] = ()) -> tuple[list[int], list[float]]:
    """The sparse part: ``(index, value)`` for the lower-case ``words`` (prose and shared code words)
    and ``words_in_code`` (see the module docstring; each block's values are ``1/sqrt(k)`` for its
    ``k`` distinct buckets)."""
    word_index = {zlib.crc32(f"{a} {b}".encode()) & (WORD_BUCKETS - 1) for a, b in itertools.pairwise(words)}
    char_index: set[int] = set()
    for token in set(words):
        bucket, _, grams = _token_buckets(token)
        word_index.add(bucket)
        char_index.update(grams)
    code_index = {_token_buckets(token)[1] for token in set(words_in_code)}
    index: list[int] = []
    value: list[float] = []
    for block in (word_index, char_index, code_index):
        _block(block, index, value)
    return index, value


_NO_DIGITS = str.maketrans("", "", "0123456789")
#: ``log1p`` of a hit count; counts are bounded by the words of MAX_PROSE_CHARS (one word and two
#: phrases per word at most), so the table covers every count.
_LOG1P = [math.log1p(count) for count in range(2 * MAX_PROSE_CHARS)]


def code_words(code: str) -> list[str]:
    """Lower-case words of the identifiers and comments of ``code`` (camelCase and snake_case split)."""
    return [part.lower() for part in _IDENT_PART_RE.findall(code)]


def lexical(prose: str, code: str, imports: list[str], words_in_code: list[str]) -> list[float]:
    """The lexical and code-context features (order: :data:`LEXICAL_NAMES`) of the first
    :data:`MAX_PROSE_CHARS` of ``prose`` and :data:`MAX_CODE_CHARS` of ``code``."""
    prose, code = prose[:MAX_PROSE_CHARS], code[:MAX_CODE_CHARS]
    words = lexicon.tokens(prose)
    n_words = len(words) or 1
    topics = lexicon.topic_counts(words)
    math_hits = sum(topics[: lexicon.N_MATH_TOPICS])
    general_hits = sum(topics[lexicon.N_MATH_TOPICS :])
    digits = len(prose) - len(prose.translate(_NO_DIGITS))
    import_text = "\n".join(imports)
    code_lines = code.count("\n") + 1 if code else 0
    numeric_import = bool(_NUMERIC_IMPORT_RE.search(import_text) or _NUMERIC_IMPORT_RE.search(code))
    stdlib_import = bool(_STDLIB_MATH_IMPORT_RE.search(import_text) or _STDLIB_MATH_IMPORT_RE.search(code))
    if code:
        math_calls = len(_MATH_CALL_RE.findall(code))
        general_calls = len(_GENERAL_CALL_RE.findall(code))
        operators = len(_OPERATOR_RE.findall(code))
        code_topics = lexicon.topic_counts(words_in_code)
        style = [min(len(pattern.findall(code)) / code_lines, 4.0) / 4.0 for pattern in _CODE_STYLE_RES]
    else:
        style = [0.0] * len(_CODE_STYLE_RES)
        math_calls = general_calls = operators = 0
        code_topics = [0] * lexicon.N_TOPICS
    code_math = sum(code_topics[: lexicon.N_MATH_TOPICS])
    return [
        math.log1p(math_hits),
        math.log1p(general_hits),
        math_hits / n_words,
        general_hits / n_words,
        digits / max(len(prose), 1),
        1.0 if _COMPLEXITY_RE.search(prose) else 0.0,
        min(len(_FORMULA_RE.findall(prose)), 5) / 5.0,
        1.0 if _TRACE_RE.search(prose) else 0.0,
        1.0 if prose.rstrip().endswith("?") else 0.0,
        math.log1p(n_words) / 5.0,
        1.0 if code else 0.0,
        1.0 if numeric_import else 0.0,
        1.0 if stdlib_import else 0.0,
        math.log1p(math_calls) / 3.0,
        math.log1p(general_calls) / 3.0,
        min(operators / code_lines, 5.0) / 5.0 if code_lines else 0.0,
        math.log1p(code_math) / 3.0,
        *style,
        *(_LOG1P[count] for count in topics),
        *(_LOG1P[count] for count in code_topics),
    ]


def features(
    embedding: WordLlamaEmbedding, prompt: str, code: str | None = None, imports: list[str] | None = None
) -> Features:
    """The :class:`Features` of one request: ``prompt`` (the user's text), ``code`` (the focus code of
    the selection, or ``None``) and ``imports`` (the import lines of its file, ``CodeContext.imports``)."""
    import numpy as np

    prose, pasted = split_prose_code(prompt)
    prose = prose[:MAX_PROSE_CHARS]
    code_all = "\n".join(part for part in (code or "", pasted) if part.strip())[:MAX_CODE_CHARS]
    dense = np.empty(N_DENSE, dtype=np.float32)
    words_in_code = code_words(code_all)
    # The code's words join the prose's for the embedding and the hashed words, so that what the
    # prose corpus taught about words ("dijkstra", "request") applies to identifiers too.
    shared = list(dict.fromkeys(words_in_code))[:MAX_CODE_WORDS]
    dense[:EMBED_DIM] = embedding.embed(f"{prose} {' '.join(shared)}" if shared else prose)
    dense[EMBED_DIM:] = lexical(prose, code_all, imports or [], words_in_code)
    index, value = hashed(_WORD_RE.findall(prose.lower()) + shared, words_in_code)
    return Features(dense, index, value)
