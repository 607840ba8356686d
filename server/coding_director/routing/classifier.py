"""The learned offline router: domain (``math``/``general``) and intent from the prompt and the code.

Features of one request (:func:`features`, the same code at training and at run time):

* the WordLlama sentence embedding (256-d ``l2_supercat``, shipped inside the ``wordllama``
  wheel) of the prompt's prose and, separately, of its code (the focus code of a code action plus
  any fenced block pasted into the prompt);
* hashed word unigrams and bigrams of the prose (:data:`HASH_BUCKETS` buckets, CRC-32, binary,
  L2-normalised: the "hashing trick", Weinberger et al. 2009);
* lexical features: counts of curated mathematical and everyday-programming stems, digit and
  operator density, complexity notation, stack-trace and fenced-code markers, length;
* code-context features: a numerical import (numpy, scipy, statistics, torch ...) and, apart, a
  standard-library one (math, random, heapq ...: everyday code uses them too), the density of
  mathematical calls and operators in the code, and everyday-API density.

Two linear models (logistic regression, scikit-learn, trained by ``scripts/train_router.py``) score
these features; Platt scaling fitted on cross-validated scores (``CalibratedClassifierCV``,
``method="sigmoid"``) turns scores into calibrated probabilities. The weights ship as
``routing/data/router_model.npz``; at run time only numpy (and the tokenizer of WordLlama) is used.

The embedding is WordLlama's own (token embeddings averaged over the tokens, then L2-normalised,
as ``WordLlamaInference.embed(texts, norm=True)``); this module reads WordLlama's shipped tokenizer
and weights directly with ``tokenizers`` and ``safetensors`` (both WordLlama dependencies) because
importing the ``wordllama`` package costs about 0.5 s (it imports ``requests`` and ``toml`` and
configures logging) and its loader looks for ``tokenizer/`` while the wheel ships ``tokenizers/``.
``tests/test_classifier.py`` checks that the vectors equal ``WordLlama.load(...).embed``.

Loading is lazy (first call of :func:`load_model`), cached per process.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

#: The shipped weights (written by ``scripts/train_router.py``).
MODEL_PATH = Path(__file__).resolve().parent / "data" / "router_model.npz"
#: Hashed word n-gram buckets and hashed character 4-gram buckets (powers of two).
HASH_BUCKETS = 2048
CHAR_BUCKETS = 2048
#: Characters of prose / code embedded (longer text is cut; keeps one decision well under 1 ms).
MAX_PROSE_CHARS = 1500
MAX_CODE_CHARS = 1500
EMBED_DIM = 256
#: Version of the feature layout; the weights file records it and :func:`load_model` refuses others.
FEATURE_VERSION = 3

_WORDLLAMA_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
_WORDLLAMA_WEIGHTS = "weights/l2_supercat_256.safetensors"

#: Curated words per topic (prior knowledge the corpus cannot cover word by word); each topic is one
#: feature (log of its hit count in the prose). Entries are whitespace-separated; ``_`` joins the words
#: of a phrase (up to three), a trailing ``*`` matches any word with that prefix. The first group is
#: mathematical work, the second everyday programming.
_MATH_TOPICS: dict[str, str] = {
    "graph": "dijkstra* bellman* floyd* warshall kruskal* prim's tarjan* kosaraju shortest_path shortest_paths "
    "shortest_route spanning_tree mst topolog* bipartite max_flow maximum_flow min_cut edmonds karp hopcroft dag "
    "graph graphs vertex vertices edge edges bfs dfs breadth_first depth_first lowest_common_ancestor lca cycle "
    "cycles a-star pathfinding",
    "dp_search": "dynamic_programming dp memoi* knapsack subsequence edit_distance levenshtein backtrack* greedy "
    "divide_and_conquer binary_search quickselect recurrence n-queens sudoku coin_change rod_cutting lis lcs tsp "
    "travelling_salesman bitmask kmp rabin-karp manacher* suffix_array suffix_tree sliding_window two_pointers",
    "complexity": "complexity asymptotic* big-o big_o big-theta amortiz* invariant* np-hard np-complete lower_bound "
    "worst_case log_n quadratic linear_time constant_time polynomial_time exponential_time",
    "structures": "heap heaps priority_queue trie segment_tree fenwick union-find union_find disjoint_set red-black "
    "avl skip_list bloom_filter hyperloglog interval_tree binary_lifting splay b-tree treap",
    "combinatorics": "permutation* combination* combinatori* subset subsets choose ncr factorial* binomial* catalan "
    "stirling derangement* partitions pigeonhole lattice_paths counting how_many_ways",
    "number_theory": "prime primes primality sieve gcd lcm modular modulo mod_p divisor* congruen* euclid* fibonacci "
    "collatz perfect_numbers amicable totient chinese_remainder miller-rabin luhn",
    "probability": "probabilit* odds chance chances likely expected random_walk dice die coin_flip coin_flips cards "
    "poker lottery raffle monty_hall bayes* birthday gambler* markov monte_carlo stochastic",
    "statistics": "statistic* distribution distributions gaussian normal_distribution poisson variance deviation "
    "stddev std mean median mode quantile* percentile* regression correlation covariance hypothesis p-value "
    "p-values t-test chi-squared chi-square anova confidence_interval bootstrap sampl* estimat* likelihood "
    "z-score outlier* kalman anomal* forecast* seasonal histogram kernel_density a/b power_analysis linreg ols",
    "linear_algebra": "matrix matrices eigen* determinant inverse invert linear_algebra linear_system vector vectors "
    "dot_product cross_product svd pca decomposition orthogonal* gram-schmidt householder cholesky transpose "
    "einsum broadcasting matmul outer_product",
    "calculus_numeric": "integral integrals integrate integration derivative* differentia* gradient_descent "
    "gradient jacobian hessian ode odes pde pdes runge-kutta rk4 euler_method newton newton-raphson bisection "
    "interpolat* spline* fourier fft dft convolution numerical* finite_difference quadrature simpson* "
    "trapezoid* taylor series converge* kahan stiff root_finding",
    "optimisation": "optimi* minimi* maximi* simplex linear_programming convex annealing lagrange* constraint* "
    "objective hungarian assignment_problem least_squares curve_fit",
    "geometry": "geometr* triangle* polygon* circle* sphere* angle angles area_of volume_of distance haversine "
    "great-circle rotation quaternion* trigonometr* sin cos tan atan2 hypotenuse pythagor* convex_hull centroid "
    "intersection bezier barycentric polar_coordinates collision_detection bounding_box perpendicular "
    "normal_vector lerp easing",
    "formula": "formula* equation* theorem* proof proofs prove derive derivation closed_form sum_of solve_for math "
    "maths mathemati* calculus algebra* arithmetic exponent* logarithm* log_base sqrt square_root pi",
    "finance_physics": "interest compound* amortization annuity perpetuity npv irr xirr cagr black-scholes "
    "black_scholes option_pricing greeks volatility portfolio sharpe kelly yield bond bonds mortgage loan "
    "depreciation value_at_risk elo physics velocity acceleration orbit* projectile momentum inertia doppler ohm's",
    "numeric_libs": "numpy np scipy sympy statsmodels torch linalg mpmath networkx",
}
_GENERAL_TOPICS: dict[str, str] = {
    "frontend": "css html dom react vue angular svelte component* button* layout flexbox flex grid_layout "
    "tailwind navbar modal hover animation* gradient_background linear-gradient radial-gradient font* "
    "responsive ui ux theme dark_mode jsx tsx",
    "backend": "django flask fastapi express rails laravel spring endpoint* api apis rest graphql grpc http https "
    "cors jwt oauth* login auth* session* cookie* middleware webhook* websocket* server request response",
    "data_store": "sql select join group_by postgres* mysql sqlite mongo* redis kafka rabbitmq queue database* "
    "schema* migration* index orm query queries table column row rows",
    "devops": "docker* compose kubernetes k8s kubectl helm nginx apache deploy* ci cd pipeline* github gitlab "
    "actions terraform ansible aws azure gcp lambda systemd cron ssh linux ubuntu debian alpine distribution "
    "distro container* pod pods ingress vercel heroku",
    "tooling": "git npm pip yarn cargo gradle maven webpack vite eslint prettier ruff mypy install* config* yaml "
    "toml json env venv package* version* upgrade* vscode vim emacs ide makefile cmake",
    "testing_docs": "test tests testing pytest jest vitest junit rspec cypress playwright unit mock* fixture* "
    "regression_test regression_tests snapshot coverage docstring* readme docs documentation comment comments "
    "jsdoc javadoc changelog proof_of_concept poc",
    "errors": "error errors exception* traceback stack_trace crash* bug bugs null undefined segfault panic* "
    "warning* fails fail failing broken not_working doesn't_work permission_denied not_found timeout leak "
    "deadlock hang* hangs",
    "code_craft": "refactor* rename clean_up cleanup simplify extract pattern class interface type module import "
    "async await promise* callback* thread* lint* style idiomatic readable",
    "text_io": "file files folder* directory path upload* download* email* csv excel spreadsheet sheets log logs "
    "logging print string strings regex parse* serializ* encode decode base64 uuid timestamp* date dates "
    "timezone currency decimal decimals round rounding percent* percentage template* display format*",
}
#: Phrases removed before the topic count, for the general topic they belong to.
_STOP_PHRASES = re.compile(
    r"\b(?:proof of concept|regression tests?|linear-gradient|radial-gradient|math\.\w+)\b", re.IGNORECASE
)
_LEX_TOKEN_RE = re.compile(r"[a-z0-9/_]+(?:['\-][a-z0-9]+)*")


def _compile_topics(topics: list[str]) -> tuple[dict[str, tuple[int, ...]], list[tuple[str, int]]]:
    exact: dict[str, set[int]] = {}
    prefixes: list[tuple[str, int]] = []
    for index, words in enumerate(topics):
        for entry in words.split():
            if entry.endswith("*"):
                prefixes.append((entry[:-1], index))
            else:
                exact.setdefault(entry, set()).add(index)
    return {k: tuple(sorted(v)) for k, v in exact.items()}, prefixes


_ALL_TOPICS = [*_MATH_TOPICS.values(), *_GENERAL_TOPICS.values()]
_TOPIC_EXACT, _TOPIC_PREFIXES = _compile_topics(_ALL_TOPICS)
N_MATH_TOPICS = len(_MATH_TOPICS)


@functools.lru_cache(maxsize=65536)
def _word_topics(word: str) -> tuple[int, ...]:
    """Topics of one token or ``_``-joined phrase (exact entries, then prefixes; single words only)."""
    found = set(_TOPIC_EXACT.get(word, ()))
    if "_" not in word:
        found.update(index for prefix, index in _TOPIC_PREFIXES if word.startswith(prefix))
    return tuple(found)


def topic_counts(text: str) -> list[int]:
    """Hits per topic in ``text``: math topics first, then general ones (see :data:`_MATH_TOPICS`)."""
    counts = [0] * len(_ALL_TOPICS)
    stripped = _STOP_PHRASES.sub(lambda m: " regression_test " if "regression" in m.group(0).lower() else " poc ", text)
    tokens = _LEX_TOKEN_RE.findall(stripped.lower())
    grams = tokens + [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]
    grams += [f"{a}_{b}_{c}" for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False)]
    for gram in grams:
        for index in _word_topics(gram):
            counts[index] += 1
    return counts


_COMPLEXITY_RE = re.compile(r"\bO\(\s*[a-z0-9^ *+]+(?:\s*log\s*[a-z0-9]*)?\s*\)|\bn\s*log\s*n\b|\bn\^?2\b", re.I)
_FORMULA_RE = re.compile(r"[a-z0-9)]\s*[\^*/]\s*[a-z0-9(]|\b[a-z]\s*=\s*[-\d(a-z]|\d+(?:\.\d+)?%|\bsqrt\b", re.I)
_TRACE_RE = re.compile(
    r"Traceback \(most recent|^\s+at [\w.$]+\(|\w+(?:Error|Exception):|^panic:|error\[E\d+\]|npm ERR!|"
    r"Segmentation fault|FATAL|Uncaught",
    re.MULTILINE,
)
_FENCE_RE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
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
    r"itertools|math\.h|cmath|java\.math|rand)\b",
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


def _lexical(prose: str, code: str, imports: list[str]) -> list[float]:
    """The lexical and code-context features (fixed order; see the module docstring)."""
    lower = prose.lower()
    n_chars = max(len(prose), 1)
    words = len(_WORD_RE.findall(lower)) or 1
    topics = topic_counts(prose)
    math_hits = sum(topics[:N_MATH_TOPICS])
    general_hits = sum(topics[N_MATH_TOPICS:])
    digits = sum(ch.isdigit() for ch in prose)
    code_all = code
    import_text = "\n".join(imports)
    code_lines = max(code_all.count("\n") + 1, 1) if code_all else 0
    numeric_import = bool(_NUMERIC_IMPORT_RE.search(import_text) or _NUMERIC_IMPORT_RE.search(code_all))
    stdlib_import = bool(_STDLIB_MATH_IMPORT_RE.search(import_text) or _STDLIB_MATH_IMPORT_RE.search(code_all))
    math_calls = len(_MATH_CALL_RE.findall(code_all)) if code_all else 0
    general_calls = len(_GENERAL_CALL_RE.findall(code_all)) if code_all else 0
    operators = len(_OPERATOR_RE.findall(code_all)) if code_all else 0
    code_math_stems = sum(topic_counts(code_all)[:N_MATH_TOPICS]) if code_all else 0
    return [
        math.log1p(math_hits),
        math.log1p(general_hits),
        math_hits / words,
        general_hits / words,
        digits / n_chars,
        1.0 if _COMPLEXITY_RE.search(prose) else 0.0,
        min(len(_FORMULA_RE.findall(prose)), 5) / 5.0,
        1.0 if _TRACE_RE.search(prose) else 0.0,
        1.0 if prose.rstrip().endswith("?") else 0.0,
        math.log1p(words) / 5.0,
        1.0 if code_all else 0.0,
        1.0 if numeric_import else 0.0,
        1.0 if stdlib_import else 0.0,
        math.log1p(math_calls) / 3.0,
        math.log1p(general_calls) / 3.0,
        min(operators / code_lines, 5.0) / 5.0 if code_lines else 0.0,
        math.log1p(code_math_stems) / 3.0,
        *(math.log1p(count) for count in topics),
    ]


N_LEXICAL = 17 + len(_MATH_TOPICS) + len(_GENERAL_TOPICS)
N_FEATURES = 2 * EMBED_DIM + HASH_BUCKETS + CHAR_BUCKETS + N_LEXICAL


def split_prose_code(prompt: str) -> tuple[str, str]:
    """``(prose, code)`` of a prompt: fenced blocks (```...```) go to code, the rest is prose."""
    blocks = _FENCE_RE.findall(prompt)
    if not blocks:
        return prompt, ""
    return _FENCE_RE.sub(" ", prompt), "\n".join(blocks)


@functools.lru_cache(maxsize=65536)
def _char_buckets(token: str) -> tuple[int, ...]:
    """Buckets of the character 4-grams of `` token `` (padded with spaces), cached per token."""
    padded = f" {token} "
    return tuple({zlib.crc32(padded[i : i + 4].encode()) & (CHAR_BUCKETS - 1) for i in range(len(padded) - 3)})


def _hashed(prose: str) -> tuple[dict[int, float], dict[int, float]]:
    """Hashed indicators of ``prose``: word unigrams + bigrams, and character 4-grams of each word
    padded with spaces (robust to typos); each ``{bucket: 1/sqrt(k)}`` (L2-normalised)."""
    tokens = _WORD_RE.findall(prose.lower()[:MAX_PROSE_CHARS])
    keys = set(tokens)
    keys.update(f"{a} {b}" for a, b in itertools.pairwise(tokens))
    words = {b for b in (zlib.crc32(k.encode()) & (HASH_BUCKETS - 1) for k in keys)}
    grams: set[int] = set()
    for token in set(tokens):
        grams.update(_char_buckets(token))
    return (
        dict.fromkeys(words, 1.0 / math.sqrt(len(words))) if words else {},
        dict.fromkeys(grams, 1.0 / math.sqrt(len(grams))) if grams else {},
    )


class Embedder:
    """WordLlama's 256-d ``l2_supercat`` sentence embedding (mean of token vectors, L2-normalised).

    Reads the tokenizer (``tokenizers``) and the token-embedding matrix (``safetensors``) that ship
    in the ``wordllama`` wheel; raises :class:`FileNotFoundError` when wordllama is not installed.
    """

    def __init__(self) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        spec = importlib.util.find_spec("wordllama")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the wordllama package (wordllama==0.4.0.post1) is not installed")
        root = Path(next(iter(spec.submodule_search_locations)))
        self.tokenizer = Tokenizer.from_file(str(root / _WORDLLAMA_TOKENIZER))
        self.tokenizer.no_truncation()
        #: The token-embedding matrix as shipped (float16, (32000, 256)); rows are widened on use.
        self.matrix: npt.NDArray[np.float16] = load_file(str(root / _WORDLLAMA_WEIGHTS))["embedding.weight"]

    def embed(self, text: str) -> FloatArray:
        """The unit-length embedding of ``text`` (float32, shape (256,)); zeros for empty text."""
        import numpy as np

        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        if not ids:
            return np.zeros(self.matrix.shape[1], dtype=np.float32)
        index = np.minimum(np.asarray(ids, dtype=np.int64), self.matrix.shape[0] - 1)
        vector: FloatArray = self.matrix[index].astype(np.float32).mean(axis=0, dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector


def features(embedder: Embedder, prompt: str, code: str | None = None, imports: list[str] | None = None) -> FloatArray:
    """The feature vector (float32, shape (:data:`N_FEATURES`,)) of one request.

    ``code`` is the focus code of the editor selection (or a snippet), ``imports`` the import lines
    of its file (``CodeContext.imports``). Layout: prose embedding, code embedding, hashed word n-grams, hashed
    character 4-grams, lexical/code features.
    """
    import numpy as np

    prose, pasted = split_prose_code(prompt)
    code_all = "\n".join(part for part in (code or "", pasted) if part)
    out = np.zeros(N_FEATURES, dtype=np.float32)
    out[:EMBED_DIM] = embedder.embed(prose[:MAX_PROSE_CHARS])
    if code_all.strip():
        out[EMBED_DIM : 2 * EMBED_DIM] = embedder.embed(code_all[:MAX_CODE_CHARS])
    base = 2 * EMBED_DIM
    words, grams = _hashed(prose)
    for bucket, value in words.items():
        out[base + bucket] = value
    base += HASH_BUCKETS
    for bucket, value in grams.items():
        out[base + bucket] = value
    out[base + CHAR_BUCKETS :] = _lexical(prose, code_all[: 4 * MAX_CODE_CHARS], imports or [])
    return out


@dataclass(frozen=True, slots=True)
class Prediction:
    """A calibrated decision: ``domain`` with ``domain_confidence`` = P(domain) in [0.5, 1],
    ``intent`` with ``intent_confidence`` = P(intent), and ``p_math`` = P(math)."""

    domain: str
    domain_confidence: float
    p_math: float
    intent: str
    intent_confidence: float


class RouterModel:
    """The shipped classifier: two folded linear models plus Platt calibrators.

    Arrays (see ``scripts/train_router.py``): ``domain_w`` (N_FEATURES,), ``domain_b``, ``domain_platt``
    (a, b); ``intent_w`` (k, N_FEATURES), ``intent_b`` (k,), ``intent_platt`` (k, 2); ``meta`` JSON
    (intents, threshold, feature version, training figures). Calibrated probability of a score ``s``:
    ``1 / (1 + exp(a*s + b))`` (Platt 1999, as scikit-learn's ``_SigmoidCalibration``); intent
    probabilities are normalised to sum 1 (one-vs-rest, as ``CalibratedClassifierCV``).
    """

    def __init__(self, arrays: dict[str, Any], embedder: Embedder) -> None:
        import numpy as np

        self.meta: dict[str, Any] = json.loads(str(arrays["meta"]))
        if self.meta.get("feature_version") != FEATURE_VERSION:
            raise ValueError(
                f"router weights have feature version {self.meta.get('feature_version')}, "
                f"this code needs {FEATURE_VERSION}: run scripts/train_router.py"
            )
        self.embedder = embedder
        self.domain_w = np.asarray(arrays["domain_w"], dtype=np.float32)
        self.domain_b = float(arrays["domain_b"])
        self.domain_platt = [float(v) for v in arrays["domain_platt"]]
        self.intent_w = np.asarray(arrays["intent_w"], dtype=np.float32)
        self.intent_b = np.asarray(arrays["intent_b"], dtype=np.float32)
        self.intent_platt = np.asarray(arrays["intent_platt"], dtype=np.float32)
        self.intents: list[str] = list(self.meta["intents"])
        #: The confidence below which ``auto`` mode asks the router model (chosen on training CV).
        self.threshold: float = float(self.meta["threshold"])

    def predict_features(self, x: FloatArray) -> Prediction:
        """The decision for one feature vector (see :func:`features`)."""
        import numpy as np

        a, b = self.domain_platt
        score = float(self.domain_w @ x) + self.domain_b
        p_math = 1.0 / (1.0 + math.exp(max(-500.0, min(500.0, a * score + b))))
        domain = "math" if p_math >= 0.5 else "general"
        scores = self.intent_w @ x + self.intent_b
        z = np.clip(self.intent_platt[:, 0] * scores + self.intent_platt[:, 1], -500.0, 500.0)
        probs = 1.0 / (1.0 + np.exp(z))
        total = float(probs.sum())
        probs = probs / total if total > 0 else np.full(len(self.intents), 1.0 / len(self.intents))
        best = int(np.argmax(probs))
        return Prediction(
            domain=domain,
            domain_confidence=p_math if domain == "math" else 1.0 - p_math,
            p_math=p_math,
            intent=self.intents[best],
            intent_confidence=float(probs[best]),
        )

    def predict(self, prompt: str, code: str | None = None, imports: list[str] | None = None) -> Prediction:
        """Classify one request (prompt, optional focus code and import lines)."""
        return self.predict_features(features(self.embedder, prompt, code, imports))


def read_weights(path: Path = MODEL_PATH) -> dict[str, Any]:
    """The arrays of a weights file (``np.load`` without pickles). Raises ``OSError``/``ValueError``."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@functools.cache
def load_model(path: Path = MODEL_PATH) -> RouterModel:
    """The shipped :class:`RouterModel`, loaded once per process on first use (lazy).

    Raises ``OSError`` when the weights file is missing, ``ValueError`` when it was written for
    another feature layout, :class:`FileNotFoundError` when wordllama is not installed.
    """
    return RouterModel(read_weights(path), get_embedder())


@functools.cache
def get_embedder() -> Embedder:
    """The process-wide :class:`Embedder` (loaded on first use)."""
    return Embedder()
