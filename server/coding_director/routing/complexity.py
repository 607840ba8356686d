"""How hard a request looks, from 0 (trivial) to 1 (beyond the local models): the input of placement.

A transparent weighted sum (not a learned model: there is no labelled corpus of "too hard for the
local team" yet; what is learned is the threshold over it, :mod:`coding_director.routing.placement`).
Each feature is scaled to 0-1 first:

================  ======  ==============================================================================
feature           weight  scale
================  ======  ==============================================================================
``intent``        0.30    :data:`INTENT_WEIGHTS` (design and debugging above explaining and docs)
``prompt``        0.15    ``log(1 + tokens) / log(1 + 400)`` of the request, capped at 1
``code``          0.15    ``log(1 + tokens) / log(1 + 4000)`` of the code context, capped at 1
``files``         0.10    ``(files - 1) / 4`` files in the context, capped at 1
``nesting``       0.15    deepest nesting of branches and loops in the focus code / 5, capped at 1
``branches``      0.15    decision points of the focus code (McCabe's cyclomatic complexity minus one:
                          ``if``/``elif``/loops/``case``/``catch``/``&&``/``||``/ternaries) / 15, capped
================  ======  ==============================================================================

Then the team memory adjusts it: with ``a`` the local chain's first-try acceptance on similar
earlier requests (same domain and intent), shrunk toward 0.5 by :data:`PRIOR_REQUESTS` pseudo-requests
(``a = (accepted + 0.5 k) / (requests + k)``), the score moves by ``HISTORY_WEIGHT * (0.5 - a)``
(at most ±0.15), then is clipped to [0, 1]. Without history it does not move.

Focus code is parsed with the tree-sitter grammar of its language; other text falls back to its
indentation (nesting) and to counting branch keywords at line starts.

McCabe, "A Complexity Measure", IEEE Transactions on Software Engineering SE-2(4), 1976.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field

from coding_director.context.languages import LANGUAGES, new_parser
from coding_director.tokens import estimate_tokens

__all__ = ["INTENT_WEIGHTS", "Complexity", "ComplexityInput", "code_shape", "estimate_complexity"]

#: How demanding each intent is on its own (0-1).
INTENT_WEIGHTS: dict[str, float] = {
    "arch": 0.9, "debug": 0.7, "refactor": 0.65, "generate": 0.55, "fix": 0.5, "review": 0.5, "test": 0.45,
    "explain": 0.35, "question": 0.35, "docs": 0.25, "complete": 0.05,
}
WEIGHTS: dict[str, float] = {"intent": 0.30, "prompt": 0.15, "code": 0.15, "files": 0.10, "nesting": 0.15,
                             "branches": 0.15}
HISTORY_WEIGHT = 0.3
PRIOR_REQUESTS = 10

#: Tree-sitter node types that nest (their bodies are one level deeper) across the bundled grammars.
NESTING_NODES = frozenset({
    "if_statement", "if_expression", "for_statement", "for_expression", "for_in_statement", "enhanced_for_statement",
    "for_range_loop", "while_statement", "while_expression", "loop_expression", "do_statement", "try_statement",
    "switch_statement", "expression_switch_statement", "type_switch_statement", "select_statement",
    "switch_expression", "match_statement", "match_expression",
})
#: Node types that each add one decision (McCabe): conditions, loops, cases, handlers, short-circuits.
DECISION_NODES = frozenset({
    "if_statement", "if_expression", "elif_clause", "for_statement", "for_expression", "for_in_statement",
    "enhanced_for_statement", "for_range_loop", "while_statement", "while_expression", "loop_expression",
    "do_statement", "except_clause", "catch_clause", "case_clause", "switch_case", "expression_case", "type_case",
    "communication_case", "case_statement", "switch_label", "match_arm", "conditional_expression",
    "ternary_expression", "boolean_operator", "for_in_clause", "if_clause",
})
_SHORT_CIRCUIT = frozenset({"&&", "||"})
_BRANCH_LINE = re.compile(r"^\s*(?:if|elif|else\s+if|for|foreach|while|case|catch|except|switch|match)\b")


@dataclass(frozen=True, slots=True)
class ComplexityInput:
    """What the estimate looks at. ``code``: the focus code (``None``: none), in ``language`` (a
    :data:`~coding_director.context.languages.LANGUAGES` name or ``None``). ``context_tokens``: the
    estimated tokens of all the code context given (focus, related code, retrieved snippets).
    ``files``: distinct files in it. ``similar``: ``(accepted first try, requests)`` of the local chain
    on similar earlier requests, ``None`` without team memory."""

    prompt: str
    intent: str
    code: str | None = None
    language: str | None = None
    context_tokens: int = 0
    files: int = 0
    similar: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Complexity:
    """The estimate: ``score`` in [0, 1], each scaled ``features`` value (0-1), the raw ``nesting``
    depth and ``branches`` count of the focus code, and the history shift applied."""

    score: float
    features: dict[str, float] = field(default_factory=dict)
    nesting: int = 0
    branches: int = 0
    history_shift: float = 0.0
    similar: tuple[int, int] | None = None

    def explain(self) -> str:
        """One line for people: the score and what drove it."""
        top = sorted((n for n in WEIGHTS if self.features.get(n, 0.0) > 0),
                     key=lambda name: -WEIGHTS[name] * self.features[name])[:3]
        parts = [f"{name} {self.features[name]:.2f}" for name in top]
        if self.similar is not None and self.similar[1]:
            parts.append(f"similar requests accepted first try {self.similar[0]}/{self.similar[1]}")
        return f"complexity {self.score:.2f} ({', '.join(parts)})"


def _log_scale(value: int, full: int) -> float:
    return min(1.0, math.log1p(max(0, value)) / math.log1p(full))


def _is_decision(node_type: str, operator: str | None) -> bool:
    if node_type in DECISION_NODES:
        return True
    return node_type == "binary_expression" and operator in _SHORT_CIRCUIT


def code_shape(code: str, language: str | None) -> tuple[int, int]:
    """``(nesting, decisions)`` of ``code``: the deepest nesting of :data:`NESTING_NODES` and the
    number of decision points (:data:`DECISION_NODES`, ``&&``/``||``). Parsed with tree-sitter when
    ``language`` is supported, else estimated from indentation and line-initial branch keywords.
    Never raises."""
    if not code.strip():
        return 0, 0
    if language in LANGUAGES:
        try:
            tree = new_parser(language).parse(code.encode("utf-8", "surrogatepass"))
        except (ImportError, ValueError):
            tree = None
        if tree is not None:
            deepest, decisions = 0, 0
            stack = [(tree.root_node, 0)]
            while stack:
                node, depth = stack.pop()
                binary = node.type == "binary_expression" and len(node.children) > 2
                decisions += _is_decision(node.type, node.children[1].type if binary else None)
                depth += node.type in NESTING_NODES
                deepest = max(deepest, depth)
                stack.extend((child, depth) for child in node.children)
            return deepest, decisions
    lines = [line for line in code.splitlines() if line.strip()]
    indents = sorted({len(line) - len(line.lstrip()) for line in lines})
    unit = next((b - a for a, b in itertools.pairwise(indents) if b > a), 4) or 4
    nesting = max(0, (indents[-1] - indents[0]) // unit - 1) if indents else 0
    return nesting, sum(1 for line in lines if _BRANCH_LINE.match(line))


def estimate_complexity(request: ComplexityInput) -> Complexity:
    """The complexity of ``request`` by the formula of the module docstring."""
    nesting, branches = code_shape(request.code or "", request.language)
    features = {
        "intent": INTENT_WEIGHTS.get(request.intent, 0.4),
        "prompt": _log_scale(estimate_tokens(request.prompt), 400),
        "code": _log_scale(request.context_tokens, 4000),
        "files": min(1.0, max(0, request.files - 1) / 4),
        "nesting": min(1.0, nesting / 5),
        "branches": min(1.0, branches / 15),
    }
    base = sum(WEIGHTS[name] * value for name, value in features.items())
    shift = 0.0
    if request.similar is not None and request.similar[1] > 0:
        accepted, total = request.similar
        rate = (accepted + 0.5 * PRIOR_REQUESTS) / (total + PRIOR_REQUESTS)
        shift = HISTORY_WEIGHT * (0.5 - rate)
    score = round(min(1.0, max(0.0, base + shift)), 4)
    return Complexity(score=score, features={k: round(v, 4) for k, v in features.items()}, nesting=nesting,
                      branches=branches, history_shift=round(shift, 4), similar=request.similar)
