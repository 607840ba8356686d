"""The messages sent to a tier: system prompt per intent, the code context, and the failure
evidence of earlier tiers (so the next tier knows what went wrong)."""

from __future__ import annotations

from dataclasses import dataclass

from coding_director.backends import Message

_BASE = (
    "You are a senior software engineer in Coding Director, a team of coding models working for a "
    "developer inside their editor. Be correct and concise. Put every piece of code in a fenced "
    "code block tagged with its language (```python ...```)."
)

_BY_INTENT = {
    "fix": "Fix the problem. Return the complete corrected code of the unit you change in one fenced "
    "code block, then explain the fix in one or two sentences.",
    "debug": "Find the cause of the problem described: name the most likely causes first, how to confirm "
    "each (what to log, run or inspect), then the fix. Quote code only where it helps.",
    "arch": "Answer as a software architect: lay out the options, their trade-offs for this case, and a "
    "recommendation with the reasons. Code only where a sketch helps.",
    "explain": "Explain what the code does and why, for a developer reading it for the first time. "
    "Quote code only where it helps.",
    "generate": "Write complete, runnable code that does what is asked, in one fenced code block, "
    "followed by a short note on how to use it.",
    "test": "Write focused unit tests with the project's test framework (pytest for Python unless the "
    "code shows otherwise) in one fenced code block.",
    "docs": "Write the documentation asked for. For a docstring, return the whole definition with the "
    "docstring added, in one fenced code block, code otherwise unchanged.",
    "refactor": "Rewrite the code as asked, keeping its behaviour, and return it whole in one fenced code block.",
    "review": "Review the code: list concrete problems (bugs first), each with a suggested change.",
    "question": "Answer the question directly.",
    "complete": "Continue the code.",
}

#: How much of a failed answer is quoted back to the next tier (characters).
EVIDENCE_CHARS = 800


@dataclass(frozen=True, slots=True)
class Failure:
    """An earlier tier's failed attempt: who, why, and the beginning of its answer (may be empty)."""

    tier: str
    model: str
    reason: str
    answer: str


def system_prompt(intent: str, domain: str) -> str:
    """The system message for a request of ``intent`` in ``domain``."""
    extra = " Mind the mathematics: state formulas and check units and edge cases." if domain == "math" else ""
    return f"{_BASE}{extra}\n{_BY_INTENT.get(intent, _BY_INTENT['question'])}"


def failure_evidence(failures: list[Failure]) -> str:
    """The note telling the next tier why earlier answers were rejected, quoting each answer's start."""
    if not failures:
        return ""
    lines = ["Earlier answers from other models were rejected by automatic checks. Do better:"]
    for failure in failures:
        lines.append(f"- {failure.tier} ({failure.model}) was rejected: {failure.reason}")
        if failure.answer.strip():
            quoted = failure.answer[:EVIDENCE_CHARS]
            cut = "\n[... cut]" if len(failure.answer) > EVIDENCE_CHARS else ""
            lines.append(f"  Its answer was:\n<<<\n{quoted}{cut}\n>>>")
    return "\n".join(lines)


def build_messages(
    prompt: str,
    *,
    intent: str,
    domain: str,
    context_text: str | None,
    history: list[Message] | None = None,
    failures: list[Failure] | None = None,
    system: str | None = None,
) -> list[Message]:
    """The chat messages for one attempt: system, earlier turns, then one user message holding the
    code context, the request and the failure evidence (in that order). ``system`` replaces the
    intent's system prompt."""
    parts = []
    if context_text:
        parts.append(f"Code context:\n{context_text}")
    parts.append(f"Request: {prompt}")
    evidence = failure_evidence(failures or [])
    if evidence:
        parts.append(evidence)
    return [
        Message(role="system", content=system if system is not None else system_prompt(intent, domain)),
        *(history or []),
        Message(role="user", content="\n\n".join(parts)),
    ]
