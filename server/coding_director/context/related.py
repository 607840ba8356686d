"""Related snippets: definitions, in open documents, of the identifiers used in the focus.

Ranking (our own formula, after the ideas of aider's repo map: weigh references by kind, favour
specific names, penalise names defined in many places) for a definition ``d`` named ``n``::

    score(d) = refs(n) * specificity(n) * kind_weight(d) * locality(d) / sqrt(defs(n))

- ``refs(n)``: sum over the uses of ``n`` in the focus of 2.0 (call or type position, from
  ``@reference.call``/``@reference.type``) or 1.0 (any other ``@reference.identifier``);
- ``specificity(n)``: 2.0 for names of 8+ characters, 0.5 for names of 1-2 characters or starting
  with ``_``, else 1.0;
- ``kind_weight(d)``: 1.0 for scopes (class, function, ...), 0.6 for variables, constants, fields;
- ``locality(d)``: 1.0 in another open document, 0.8 in the same one (part of it is in the outline);
- ``defs(n)``: how many open definitions share the name; names with more than 16 are skipped.

Definitions overlapping the focus are excluded; each definition appears once and a definition
nested in an already chosen one is skipped (de-duplication). Only outline-level definitions
(``LanguageSpec.outline_depth``) are indexed, so locals never show up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tree_sitter import QueryCursor

from coding_director.context.chunks import file_facts
from coding_director.context.documents import Document, DocumentStore
from coding_director.context.queries import get_query
from coding_director.context.symbols import SCOPE_KINDS, Definition

__all__ = ["Candidate", "definition_text", "rank_related", "referenced_names"]

REFERENCE_WEIGHTS = {"reference.call": 2.0, "reference.type": 2.0, "reference.identifier": 1.0}
_MAX_CANDIDATES = 24
#: Names defined more often than this in the open documents are too ambiguous to be worth a snippet.
MAX_DEFINITIONS_PER_NAME = 16
#: Only the best-weighted names are looked up (bounds the cost in name-dense code).
_MAX_NAMES = 32


@dataclass(slots=True)
class Candidate:
    """A ranked definition: the document it lives in, the definition and its score."""

    doc: Document
    definition: Definition
    score: float


def referenced_names(doc: Document, start: int, end: int) -> dict[str, float]:
    """Identifier name -> summed reference weight, for uses inside bytes ``[start, end)``."""
    if doc.tree is None or doc.language is None:
        return {}
    cursor = QueryCursor(get_query(doc.language, "references"))
    cursor.set_byte_range(start, end)
    per_node: dict[tuple[int, int], tuple[str, float]] = {}
    for capture, nodes in cursor.captures(doc.tree.root_node).items():
        weight = REFERENCE_WEIGHTS.get(capture)
        if weight is None:
            continue
        for node in nodes:
            if node.start_byte < start or node.end_byte > end:
                continue
            key = (node.start_byte, node.end_byte)
            previous = per_node.get(key)
            if previous is None or previous[1] < weight:
                per_node[key] = ((node.text or b"").decode("utf-8", "replace"), weight)
    names: dict[str, float] = {}
    for name, weight in per_node.values():
        names[name] = names.get(name, 0.0) + weight
    return names


def _specificity(name: str) -> float:
    if len(name) <= 2 or name.startswith("_"):
        return 0.5
    return 2.0 if len(name) >= 8 else 1.0


def rank_related(store: DocumentStore, doc: Document, names: dict[str, float],
                 exclude: tuple[int, int]) -> list[Candidate]:
    """Candidates for ``names`` (from :func:`referenced_names`) over all parsed open documents,
    best first, at most 24 (only the 32 best-weighted names are looked up). ``exclude``: byte range
    of the focus in ``doc``."""
    if not names:
        return []
    if len(names) > _MAX_NAMES:
        names = dict(sorted(names.items(), key=lambda item: (-item[1] * _specificity(item[0]), item[0]))
                     [:_MAX_NAMES])
    matches: dict[str, list[tuple[Document, Definition]]] = {}
    counts: dict[str, int] = {}
    for other in store.documents():
        if other.tree is None:
            continue
        facts = file_facts(other)
        for name in names:
            counts[name] = counts.get(name, 0) + facts.count(name)
            if counts[name] > MAX_DEFINITIONS_PER_NAME:
                continue
            for definition in facts.lookup(name):
                matches.setdefault(name, []).append((other, definition))
    candidates: list[Candidate] = []
    low, high = exclude
    for name, found in matches.items():
        if counts[name] > MAX_DEFINITIONS_PER_NAME:
            continue
        spread = math.sqrt(len(found))
        for owner, definition in found:
            if owner is doc and definition.start_byte < high and definition.end_byte > low:
                continue
            kind_weight = 1.0 if definition.kind in SCOPE_KINDS else 0.6
            locality = 0.8 if owner is doc else 1.0
            score = names[name] * _specificity(name) * kind_weight * locality / spread
            candidates.append(Candidate(owner, definition, round(score, 4)))
    candidates.sort(key=lambda c: (-c.score, c.definition.name, c.doc.uri, c.definition.start_byte))
    chosen: list[Candidate] = []
    for candidate in candidates:
        d = candidate.definition
        if any(c.doc is candidate.doc and c.definition.start_byte <= d.start_byte
               and d.end_byte <= c.definition.end_byte for c in chosen):
            continue
        chosen.append(candidate)
        if len(chosen) >= _MAX_CANDIDATES:
            break
    return chosen


def definition_text(definition: Definition) -> tuple[int, int]:
    """Byte range of a definition including its wrappers (decorators, ``export``, ``template``)."""
    return definition.text_start, definition.end_byte
