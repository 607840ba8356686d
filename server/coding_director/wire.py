"""Base class for every data shape that crosses a process boundary.

All shapes are pydantic models serialised in camelCase (``latencyMs``, ``finalTier``) because they
travel over JSON-RPC to a TypeScript client; Python code uses the snake_case attribute names.
Serialise with :func:`to_wire` so aliases are always applied.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A pydantic model whose JSON form uses camelCase keys.

    Accepts both camelCase and snake_case on input; rejects unknown keys so that a typo in a
    message is an error rather than a silently ignored field.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        serialize_by_alias=True,
    )


def to_wire(model: BaseModel) -> dict[str, Any]:
    """Return ``model`` as a JSON-compatible dict with camelCase keys (the form sent over LSP)."""
    return model.model_dump(mode="json", by_alias=True)
