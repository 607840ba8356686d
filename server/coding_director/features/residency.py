"""Warm-up of the completion model when an entry point starts (see
:mod:`coding_director.backends.residency` for what stays loaded and why)."""

from __future__ import annotations

import logging
from typing import Literal, NamedTuple

from coding_director.backends import BackendError, BackendPool, num_ctx_for
from coding_director.features.completion import FIM_PREFIX_TOKENS, FIM_SUFFIX_TOKENS
from coding_director.settings import Settings
from coding_director.tokens import chars_for_tokens

log = logging.getLogger(__name__)


class WarmUp(NamedTuple):
    """The outcome of :func:`warm_up`: ``loaded``, ``skipped`` or ``failed``, and a one-line message."""

    outcome: Literal["loaded", "skipped", "failed"]
    message: str


def completion_num_ctx(settings: Settings) -> int:
    """The ``num_ctx`` (tokens) of a completion with a full prefix/suffix window: Ollama reloads a
    model whose ``num_ctx`` changes, so the warm-up loads the model with the one completions send
    (:func:`~coding_director.backends.num_ctx_for` of the window's characters)."""
    window_chars = chars_for_tokens(FIM_PREFIX_TOKENS + FIM_SUFFIX_TOKENS)
    tier = settings.tier(settings.completion.tier)
    return num_ctx_for(window_chars, settings.completion.max_tokens, tier.max_ctx)


async def warm_up(settings: Settings, pool: BackendPool) -> WarmUp:
    """Load the completion model of ``settings`` on its Ollama server (making room first, see
    :meth:`~coding_director.backends.residency.Residency.warm_up`), bounded by
    ``residency.warm_up_timeout_s``. Never raises but for cancellation: a failure is an outcome
    (the first completion then loads the model itself)."""
    if not settings.completion.enabled:
        return WarmUp("skipped", "warm-up skipped: completions are off")
    tier = settings.completion.tier
    residency = pool.residency_for(tier)
    if residency is None:
        return WarmUp("skipped", f"warm-up skipped: completion tier {tier} is not served by Ollama")
    try:
        model = await residency.warm_up(completion_num_ctx(settings))
    except BackendError as exc:
        return WarmUp("failed", f"warm-up of the completion model failed: {exc.reason}")
    except TimeoutError:
        limit = settings.residency.warm_up_timeout_s
        return WarmUp("failed", f"warm-up of the completion model took over {limit:g} s; left to Ollama")
    except Exception as exc:  # e.g. the pool was closed by a settings change meanwhile
        return WarmUp("failed", f"warm-up of the completion model stopped: {type(exc).__name__}: {exc}")
    if model is None:
        return WarmUp("skipped", "warm-up skipped: off, or done already")
    return WarmUp("loaded", f"completion model {model} loaded (keep_alive {residency.keep_alive_of(model)})")


async def warm_up_logged(settings: Settings, pool: BackendPool) -> None:
    """:func:`warm_up` with its outcome logged to stderr (a failure as a warning), for background tasks."""
    result = await warm_up(settings, pool)
    log.log(logging.WARNING if result.outcome == "failed" else logging.INFO, "%s", result.message)
