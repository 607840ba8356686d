"""The offline classifier: rules and features over the prompt and the code context.

It decides ``domain`` (``math`` or ``general``), ``intent`` and a ``confidence`` in a few
microseconds (a handful of precompiled regular expressions; ``bench/router_bench.py`` measures it).
The router model is consulted only when ``confidence`` is below
``routing.confidence_threshold`` (mode ``auto``).

Domain score: the sum of the weights of the distinct mathematical terms found in the prompt, plus
1.0 when the code context imports a numerical library. Confidence grows with the distance of the
score from the decision boundary (1.5): a prompt with no mathematical term at all is ``general``
with 0.85; one strong term (weight >= 2) makes it ``math`` with at least 0.75; a single weak term
leaves the decision unsure (about 0.55-0.6) so that the router model decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coding_director.results import Domain, Intent

# Strong (2.0) and weak (1.0) signals of a mathematical request. Matched case-insensitively on word
# boundaries; each distinct term counts once.
_MATH_TERMS: dict[float, tuple[str, ...]] = {
    2.0: (
        r"black[- ]?scholes",
        r"integral",
        r"integrat(e|ion)",
        r"differential equations?",
        r"\bodes?\b",
        r"\bpdes?\b",
        r"eigen\w*",
        r"fourier",
        r"laplace",
        r"taylor series",
        r"matri(x|ces) (inverse|inversion|decomposition|multiplication)",
        r"determinant",
        r"linear algebra",
        r"probabilit\w*",
        r"bayes\w*",
        r"gaussian",
        r"normal distribution",
        r"standard deviation",
        r"variance",
        r"covariance",
        r"regression",
        r"theorem",
        r"\bproofs?\b",
        r"calculus",
        r"polynomial",
        r"quadratic",
        r"prime numbers?",
        r"\bprimes\b",
        r"sieve of",
        r"factorial",
        r"\bgcd\b",
        r"\blcm\b",
        r"trigonometr\w*",
        r"\b(sine|cosine|tangent)\b",
        r"logarithm\w*",
        r"monte carlo",
        r"stochastic",
        r"option pricing",
        r"volatility",
        r"numerical (method|integration|analysis)",
        r"newton'?s method",
        r"runge[- ]kutta",
        r"simpson'?s rule",
        r"interpolat\w*",
        r"combinatori\w*",
        r"permutations?",
        r"binomial",
        r"mathemati\w*",
        r"\bmath\b",
        r"equations?",
        r"statistic\w*",
        r"geometr\w*",
        r"derivatives?",
        r"gradient",
        r"vectors? (space|norm|product)",
        r"dot product",
        r"cross product",
        r"fibonacci",
        r"modular (arithmetic|inverse|exponentiation)",
        r"algebra\w*",
        r"hypotenuse",
        r"pythagor\w*",
        r"arithmetic",
        r"\bpi\b",
        r"euler",
        r"convolution",
        r"markov",
        r"expected value",
        r"distribution",
        r"sigmoid",
        r"softmax",
    ),
    1.0: (
        r"formula",
        r"\bsolve\b",
        r"\bmean\b",
        r"\bmedian\b",
        r"average",
        r"\bsum of\b",
        r"numeric\w*",
        r"compute the",
        r"calculate",
        r"\bsquare root\b",
        r"\bexponent\w*",
        r"\bratio\b",
        r"\bangle\b",
        r"\barea of\b",
        r"\bvolume of\b",
        r"interest rate",
        r"\bcompound\b",
        r"optimi[sz]ation",
        r"\bnumpy\b",
        r"\bscipy\b",
        r"\bsympy\b",
        r"\bmatrix\b",
        r"\bvector\b",
    ),
}
_MATH_RE = [
    (weight, re.compile("|".join(f"(?:{t})" for t in terms), re.IGNORECASE)) for weight, terms in _MATH_TERMS.items()
]
_MATH_IMPORT_RE = re.compile(
    r"^\s*(?:import|from)\s+(?:numpy|scipy|sympy|math|statistics|cmath|fractions|decimal|pandas|torch|jax)\b",
    re.MULTILINE,
)

# Intent rules, tried in order: the first match wins.
_RAW_INTENT_RULES: tuple[tuple[Intent, str], ...] = (
    (
        "test",
        r"\b(unit ?tests?|tests? (for|of)|write (some )?tests|generate tests|pytest|test cases?|jest|vitest|test coverage)\b",
    ),
    (
        "docs",
        r"\b(docstrings?|jsdoc|javadoc|document (this|the|my)|add (an? )?(docs|documentation|(doc )?comments?|doc comment)|write documentation|comment (this|the))\b",
    ),
    (
        "fix",
        r"\b(fix\w*|bugs?|broken|exceptions?|traceback|errors?|crash\w*|fails?|failing|doesn'?t (work|compile|run)|not working|debug\w*|repair)\b",
    ),
    (
        "refactor",
        r"\b(refactor\w*|clean ?up|simplify|rename|restructure|extract (a |the )?(method|function)|make (it|this) (faster|cleaner|more readable)|rewrite)\b",
    ),
    ("review", r"\b(review|critique|code smells?|best practices?|improve (this|my|the))\b"),
    (
        "explain",
        r"\b(explain\w*|what does|how does|walk me through|describe|meaning of|why does|help me understand|what is this)\b",
    ),
    (
        "generate",
        r"\b(write|implement\w*|create|generate|build|make|provide|code for|function (that|to)|script|endpoint|class (that|for)|example of|hello[- ]world)\b",
    ),
)
_INTENT_RULES: tuple[tuple[Intent, re.Pattern[str]], ...] = tuple(
    (intent, re.compile(pattern, re.IGNORECASE)) for intent, pattern in _RAW_INTENT_RULES
)
# A leading imperative verb states the intent outright ("Explain this error" is explain, not fix).
_LEADING_VERBS: dict[str, Intent] = {
    "explain": "explain",
    "describe": "explain",
    "summarize": "explain",
    "summarise": "explain",
    "fix": "fix",
    "debug": "fix",
    "repair": "fix",
    "correct": "fix",
    "refactor": "refactor",
    "simplify": "refactor",
    "rename": "refactor",
    "rewrite": "refactor",
    "test": "test",
    "document": "docs",
    "review": "review",
    "critique": "review",
    "write": "generate",
    "implement": "generate",
    "create": "generate",
    "generate": "generate",
    "build": "generate",
    "make": "generate",
    "provide": "generate",
    "add": "generate",
}
_FIRST_WORD_RE = re.compile(r"\s*(?:please\s+|can you\s+|could you\s+)?([a-z]+)", re.IGNORECASE)
_QUESTION_RE = re.compile(
    r"^\s*(what|why|how|when|where|which|who|is|are|can|could|should|does|do)\b|\?\s*$", re.IGNORECASE
)

_BOUNDARY = 1.5


@dataclass(frozen=True, slots=True)
class OfflineDecision:
    """The offline classifier's answer. ``confidence`` is in [0, 1]; ``evidence`` names the
    features that decided (for logs and the route's ``reason``)."""

    domain: Domain
    intent: Intent
    confidence: float
    evidence: str


def math_score(prompt: str, code: str | None = None) -> tuple[float, list[str]]:
    """Score of mathematical signals in ``prompt`` (and imports in ``code``), with the matched terms."""
    score = 0.0
    found: list[str] = []
    for weight, pattern in _MATH_RE:
        terms = {m.group(0).lower() for m in pattern.finditer(prompt)}
        score += weight * len(terms)
        found.extend(sorted(terms))
    if code and _MATH_IMPORT_RE.search(code):
        score += 1.0
        found.append("numerical import in context")
    return score, found


def classify_intent(prompt: str) -> tuple[Intent, bool]:
    """The intent of ``prompt`` and whether a rule matched (``False`` means a default was used).

    A leading imperative verb decides first, except that ``write``/``add``/``generate`` followed by
    tests or docs keeps the more specific intent found by the rules.
    """
    first = _FIRST_WORD_RE.match(prompt)
    leading = _LEADING_VERBS.get(first.group(1).lower()) if first else None
    if leading is not None and leading != "generate":
        return leading, True
    for intent, pattern in _INTENT_RULES:
        if pattern.search(prompt):
            return intent, True
    if _QUESTION_RE.search(prompt):
        return "question", True
    return "generate", False


def classify(prompt: str, code: str | None = None) -> OfflineDecision:
    """Classify ``prompt`` (with optional surrounding ``code``) without any model.

    Returns an :class:`OfflineDecision`; never raises. Cost: a dozen regular-expression scans of
    the prompt (microseconds for prompts of a few hundred characters).
    """
    score, terms = math_score(prompt, code)
    intent, matched = classify_intent(prompt)
    distance = abs(score - _BOUNDARY)
    if score >= _BOUNDARY:
        domain: Domain = "math"
        confidence = min(0.97, 0.6 + 0.3 * distance + (0.1 if score >= 2.0 else 0.0))
        evidence = "math terms: " + ", ".join(terms)
    else:
        domain = "general"
        confidence = 0.85 if score == 0 else max(0.5, 0.5 + 0.1 * distance)
        evidence = "no math terms" if score == 0 else "weak math terms: " + ", ".join(terms)
    if not matched:
        confidence *= 0.9
    return OfflineDecision(domain, intent, round(confidence, 3), evidence)
