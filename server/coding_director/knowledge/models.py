"""Wire shapes of the workspace index (JSON Schemas in ``shared-schemas/``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from coding_director.wire import WireModel

__all__ = ["IndexSummary", "SearchHit", "Snippet"]


class IndexSummary(WireModel):
    """What one indexing pass did.

    ``files``/``chunks``: totals in the index afterwards. ``indexed``: files (re)chunked in this
    pass; ``unchanged``: files skipped because size and mtime, or else the content hash, matched;
    ``removed``: files dropped (deleted or now ignored). ``seconds``: wall time. ``rebuilt``: the
    store was emptied first (new schema or embedder). ``cancelled``: the pass stopped early.
    """

    root: str
    files: int
    chunks: int
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    seconds: Annotated[float, Field(ge=0.0)] = 0.0
    embedder: str = ""
    rebuilt: bool = False
    cancelled: bool = False


class SearchHit(WireModel):
    """One retrieved chunk: ``path`` relative to the workspace folder (``/`` separators),
    ``start_line``/``end_line`` 1-based inclusive, the definition ``name`` and the fused
    ``score`` (reciprocal rank fusion, higher is better; see ``knowledge.retrieve``)."""

    path: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    name: str
    score: float


class Snippet(WireModel):
    """A retrieved chunk placed in a prompt: a :class:`SearchHit`'s location plus its text and
    estimated token count."""

    path: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    name: str
    text: str
    tokens: int = Field(ge=0)
