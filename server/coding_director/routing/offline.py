"""The offline classifier: the learned router of :mod:`coding_director.routing.classifier`.

:func:`classify` decides ``domain`` (``math`` or ``general``), ``intent`` and a ``confidence`` from
the prompt and, for code actions and chats with a selection, the focus code and the import lines
of its file. ``confidence`` is the calibrated probability of the domain decision (Platt scaling on
cross-validated scores, see ``scripts/train_router.py``), in [0.5, 1]; the router model is
consulted only when it is below ``routing.confidence_threshold`` (mode ``auto``). The boundary
between the two domains is written down in ``routing/README.md``; ``bench/router_eval.py``
measures the classifier on the held-out split.

The model loads lazily on the first call (WordLlama's vocabulary, merges and memory-mapped token
embeddings plus the shipped weights, 60-90 ms), then one decision takes about 0.15 ms (p95 about
0.3 ms once the per-word caches are warm; ``bench/router_eval.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from coding_director.results import Domain, Intent


@dataclass(frozen=True, slots=True)
class OfflineDecision:
    """The offline classifier's answer. ``confidence`` = P(``domain``) in [0.5, 1] (calibrated);
    ``intent_confidence`` = P(``intent``); ``evidence`` is a short text for logs and the route's
    ``reason``."""

    domain: Domain
    intent: Intent
    confidence: float
    evidence: str
    intent_confidence: float = 1.0


_INTENTS: dict[str, Intent] = {
    "explain": "explain",
    "fix": "fix",
    "debug": "debug",
    "generate": "generate",
    "test": "test",
    "docs": "docs",
    "refactor": "refactor",
    "review": "review",
    "arch": "arch",
    "question": "question",
}


def classify(prompt: str, code: str | None = None, imports: list[str] | None = None) -> OfflineDecision:
    """Classify ``prompt`` with the optional focus ``code`` and ``imports`` (import lines of the
    file, as ``CodeContext.imports``) without any generative model.

    Returns an :class:`OfflineDecision`. Raises ``OSError``/``ValueError`` only when the shipped
    weights are missing or stale (a broken installation), :class:`FileNotFoundError` when
    wordllama is not installed.
    """
    from coding_director.routing.classifier import load_model

    prediction = load_model().predict(prompt, code, imports)
    domain: Domain = "math" if prediction.domain == "math" else "general"
    intent = _INTENTS.get(prediction.intent, "question")
    evidence = (
        f"learned router: P(math) = {prediction.p_math:.3f}, intent {intent} ({prediction.intent_confidence:.2f})"
    )
    return OfflineDecision(
        domain=domain,
        intent=intent,
        confidence=round(prediction.domain_confidence, 3),
        evidence=evidence,
        intent_confidence=round(prediction.intent_confidence, 3),
    )
