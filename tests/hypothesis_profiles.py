"""Hypothesis profiles, loaded by ``tests/conftest.py`` from ``HYPOTHESIS_PROFILE``.

Property tests run twice in CI (``scripts/test``):

- ``ci`` (the default): the same examples on every run, so a red run comes from a change;
- ``ci-explore``: new random draws from a seed ``scripts/test`` prints (rerun a failure with
  ``HYPOTHESIS_PROFILE=ci-explore pytest --hypothesis-seed=SEED ...``), at most
  :data:`EXPLORE_EXAMPLES` examples per test so the pass stays within CI's time; a failing example
  is also printed as a ``@reproduce_failure`` blob.

``explore`` draws new examples with each test's full budget (local use).
"""

from __future__ import annotations

import os

from hypothesis import settings

EXPLORE_EXAMPLES = 25
settings.register_profile("ci", derandomize=True)
settings.register_profile("ci-explore", derandomize=False, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def examples(count: int) -> int:
    """``max_examples`` for a property test whose deterministic budget is ``count``: bounded by
    :data:`EXPLORE_EXAMPLES` under the ``ci-explore`` profile."""
    return min(count, EXPLORE_EXAMPLES) if PROFILE == "ci-explore" else count
