"""Validation of what a client sends: one-line messages naming the field, never a traceback.

Entry points turn :class:`InvalidRequest` into their own error (the language server answers
JSON-RPC's -32602 InvalidParams). Field names are the wire's (camelCase), dotted for nesting
(``range.start.line``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from coding_director.context import Document

M = TypeVar("M", bound=BaseModel)


class InvalidRequest(ValueError):
    """A client's request is malformed; ``str()`` is one line naming the field."""


def describe(error: ValidationError, prefix: str = "") -> str:
    """The first problem of ``error`` as ``"<field>: <message>"`` (plus how many more), one line."""
    problems = error.errors(include_url=False)
    first = problems[0]
    loc = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "model_type" or first["type"] == "dict_type":
        message = "expected an object"
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"{loc or prefix or 'params'}: {message}{more}".replace("\n", " ")


def parse(model: type[M], value: Any, prefix: str = "") -> M:
    """``value`` validated as ``model``. Raises :class:`InvalidRequest` naming the first bad field
    (``params: expected an object`` for a list, a number or a missing ``params``)."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{prefix or 'params'}: expected an object, got {type(value).__name__}")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidRequest(describe(exc, prefix)) from None


def check_lines(doc: Document, field: str, *lines: int) -> None:
    """Raise :class:`InvalidRequest` when a line is outside ``doc`` (0-based; the line after a
    final newline counts). Columns past a line's end are allowed: LSP clamps them to the end."""
    count = doc.lines.line_count
    for line in lines:
        if line >= count:
            raise InvalidRequest(f"{field}: line {line} is outside the document ({count} lines)")


def parse_argument(model: type[M], arguments: tuple[object, ...] | list[object], command: str) -> M:
    """The single argument of ``workspace/executeCommand`` ``command`` validated as ``model``.
    Raises :class:`InvalidRequest` (``arguments: ...`` / ``arguments[0].prompt: ...``)."""
    if len(arguments) != 1:
        raise InvalidRequest(f"arguments: {command} takes one {model.__name__} object, got {len(arguments)} arguments")
    return parse(model, arguments[0], "arguments[0]")
