"""Ollama ``keep_alive`` values: how long a model stays loaded after a request.

Ollama accepts (``api/types.go``, ``Duration.UnmarshalJSON``) a JSON number of **seconds** (truncated
to whole seconds) or a string in Go's ``time.ParseDuration`` syntax (``"300ms"``, ``"10m"``,
``"1h30m"``); a negative value keeps the model loaded forever, ``0`` unloads it as soon as the
request ends. A string without a unit (``"300"``) is an error there, so settings normalise numbers
to ``"<n>s"`` before sending anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

#: Seconds per unit of Go's ``time.ParseDuration`` (``µs`` is U+00B5, ``μs`` U+03BC).
GO_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?")


def keep_alive_seconds(value: str) -> float:
    """Seconds a ``keep_alive`` string keeps a model loaded: ``math.inf`` for a negative duration
    (Ollama: forever), ``0.0`` for an immediate unload. Raises ``ValueError`` (one line naming the
    value) for anything Go's ``time.ParseDuration`` rejects."""
    text = value.strip()
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    total = 0.0
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise ValueError(f"{value!r} is not a duration: use a number of seconds or e.g. '30s', '10m', '1h', '-1'")
        total += float(match.group(1)) * GO_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError(f"{value!r} is not a duration: use a number of seconds or e.g. '30s', '10m', '1h', '-1'")
    return math.inf if text.startswith("-") and total > 0 else total


def _coerce(value: Any) -> Any:
    """Numbers (TOML ``keep_alive = -1``, or ``"300"`` from an environment variable) become
    ``"<whole seconds>s"``, the form Ollama parses the same way as the number."""
    if isinstance(value, bool):
        return value  # rejected by the str type
    if isinstance(value, int | float):
        return f"{math.trunc(value)}s"
    if isinstance(value, str) and _PLAIN_NUMBER.fullmatch(value.strip()):
        return f"{math.trunc(float(value.strip()))}s"
    return value.strip() if isinstance(value, str) else value


def _check(value: str) -> str:
    keep_alive_seconds(value)
    return value


#: A settings field holding an Ollama ``keep_alive`` (validated; numbers normalised to ``"<n>s"``).
KeepAlive = Annotated[str, BeforeValidator(_coerce), AfterValidator(_check)]


def longest(values: Iterable[str]) -> str:
    """The ``keep_alive`` among ``values`` that keeps a model loaded longest (forever beats any
    duration). Raises ``ValueError`` when ``values`` is empty."""
    return max(values, key=keep_alive_seconds)


def describe_seconds(seconds: float) -> str:
    """A short human form of a duration: ``"forever"``, ``"45 s"``, ``"12 min"``, ``"2.5 h"``."""
    if math.isinf(seconds):
        return "forever"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
