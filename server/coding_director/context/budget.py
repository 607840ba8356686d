"""Token estimates and the fitting of context sections into a token budget.

Token estimate: :func:`coding_director.tokens.estimate_tokens` (``ceil(characters / 3.5)``; the one
estimator of the project, re-exported here).

Priority order (highest first) and the share of the budget each section may take in the first pass:

====  ===========  =====  ====================================================================
 #    section      share  content
====  ===========  =====  ====================================================================
 0    header       --     uri, language, cursor, enclosing chain: always kept, counted first
 1    diagnostics  10 %   caller diagnostics overlapping the focus
 2    focus        35 %   innermost definition (or line window), cut around the cursor
 3    prefix       15 %   fill-in-the-middle text before the cursor
 4    suffix        5 %   fill-in-the-middle text after the cursor
 5    imports      10 %   the file's import statements
 6    related      15 %   definitions of identifiers used in the focus, best ranked first
 7    outline      10 %   signatures of top-level definitions and of the enclosing one's members
====  ===========  =====  ====================================================================

Second pass: budget left over by sections that needed less than their share goes, in the same
priority order, to sections that were cut. Whatever is still cut is reported in
``CodeContext.truncation`` (section, estimated tokens before and after, reason): never silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from coding_director.context.models import Section, TruncationNote
from coding_director.tokens import CHARS_PER_TOKEN, chars_for_tokens, estimate_tokens

__all__ = ["CHARS_PER_TOKEN", "SHARES", "Fit", "SectionFitter", "allocate", "chars_for_tokens", "estimate_tokens"]

#: First-pass share of the budget per section, in priority order (see module docstring).
SHARES: dict[Section, float] = {
    "diagnostics": 0.10,
    "focus": 0.35,
    "prefix": 0.15,
    "suffix": 0.05,
    "imports": 0.10,
    "related": 0.15,
    "outline": 0.10,
}


@dataclass(slots=True)
class Fit:
    """Result of fitting one section: estimated tokens kept and originally wanted, and the reason
    for a cut (``None`` when the section is complete)."""

    kept: int
    original: int
    reason: str | None = None


@dataclass(slots=True)
class SectionFitter:
    """A section to fit: ``fit(allowance_tokens) -> Fit`` must store its own (re)fitted content and
    may be called more than once with a larger allowance."""

    name: Section
    fit: Callable[[int], Fit]


def allocate(budget: int, fixed_tokens: int, sections: list[SectionFitter]) -> list[TruncationNote]:
    """Fit ``sections`` (in priority order) into ``budget - fixed_tokens`` tokens.

    Two passes as described in the module docstring. Returns one :class:`TruncationNote` per section
    that is still cut, in priority order. A negative remainder (the header alone exceeds the budget)
    gives every section an allowance of 0.
    """
    remaining = max(0, budget - fixed_tokens)
    fits: dict[Section, Fit] = {}
    for section in sections:
        allowance = min(int(SHARES[section.name] * budget), remaining)
        fit = section.fit(allowance)
        fits[section.name] = fit
        remaining -= fit.kept
    for section in sections:
        fit = fits[section.name]
        if fit.reason is None or remaining <= 0:
            continue
        refit = section.fit(fit.kept + remaining)
        remaining -= refit.kept - fit.kept
        fits[section.name] = refit
    return [
        TruncationNote(section=name, original_tokens=fit.original, kept_tokens=fit.kept, reason=fit.reason)
        for name, fit in fits.items()
        if fit.reason is not None
    ]
