"""Hybrid retrieval: BM25 and vector rankings fused by reciprocal rank fusion, a symbol boost, and
fitting the results into a prompt's token budget.

Reciprocal rank fusion (Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms
Condorcet and individual Rank Learning Methods", SIGIR 2009): a document's fused score is
``sum over rankings r of 1 / (k + rank_r(d))`` with 1-based ranks and ``k = 60``, the constant of
the paper. The *symbol boost* is a third ranking fused the same way: the chunks defining the names
used in the focus code (tree-sitter ``references`` query), ordered by the names' reference weight
(``context.related.referenced_names``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from coding_director.knowledge.models import SearchHit, Snippet
from coding_director.tokens import estimate_tokens

__all__ = ["RRF_K", "fit_snippets", "reciprocal_rank_fusion", "render_snippet", "render_snippets"]

#: The ``k`` of reciprocal rank fusion (Cormack et al. 2009).
RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K,
                           weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Fuse rankings of ids (best first) into ``(id, score)`` best first.

    ``score(d) = sum_r w_r / (k + rank_r(d))`` (ranks 1-based; ``w_r`` = 1 unless ``weights``).
    Ties break by the first ranking an id appears in, then by id, so the output is deterministic.
    """
    scores: dict[int, float] = {}
    first_seen: dict[int, tuple[int, int]] = {}
    for r, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[r]
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            first_seen.setdefault(item, (r, rank))
    return sorted(scores.items(), key=lambda pair: (-pair[1], first_seen[pair[0]], pair[0]))


def _overlaps(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]


def fit_snippets(hits: Iterable[tuple[SearchHit, str]], token_budget: int,
                 exclude: Sequence[tuple[str, int, int]] = ()) -> list[Snippet]:
    """The snippets to put in a prompt, best first, within ``token_budget`` tokens.

    ``hits``: ``(hit, chunk text)`` best first. ``exclude``: ``(path, start_line, end_line)``
    ranges already in the prompt (the focus code); a hit overlapping one, or overlapping a snippet
    already chosen, is skipped. A snippet that does not fit is skipped and smaller ones after it
    may still fit. Token counts use :func:`~coding_director.tokens.estimate_tokens` over
    the rendered snippet (header line included).
    """
    chosen: list[Snippet] = []
    taken: list[tuple[str, int, int]] = list(exclude)
    used = 0
    for hit, text in hits:
        span = (hit.path, hit.start_line, hit.end_line)
        if any(_overlaps(span, other) for other in taken):
            continue
        tokens = estimate_tokens(text) + estimate_tokens(f"{hit.path}:{hit.start_line}-{hit.end_line} {hit.name}") + 4
        if used + tokens > token_budget:
            continue
        used += tokens
        taken.append(span)
        chosen.append(Snippet(path=hit.path, start_line=hit.start_line, end_line=hit.end_line, name=hit.name,
                              text=text, tokens=tokens))
    return chosen


def render_snippet(snippet: Snippet) -> str:
    """One snippet for a prompt: a fenced block headed by ``path:start-end`` and its name."""
    return f"`{snippet.path}:{snippet.start_line}-{snippet.end_line}` ({snippet.name})\n```\n{snippet.text}\n```"


def render_snippets(snippets: Sequence[Snippet], title: str = "Relevant code from the workspace") -> str:
    """Markdown for a prompt: a ``## title`` heading, then :func:`render_snippet` of each snippet,
    separated by blank lines (empty when there is no snippet)."""
    if not snippets:
        return ""
    return "\n\n".join([f"## {title}", *(render_snippet(snippet) for snippet in snippets)])
