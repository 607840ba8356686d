"""The team's memory: a local SQLite store of requests, attempts and feedback, the response
cache built on it, statistics and training-data export.

Entry points: :func:`open_memory` (``None`` when disabled or unusable), :class:`Memory`, and the
engine hook :class:`~coding_director.memory.recorder.Recording`. Knows nothing of LSP or HTTP.
"""

from coding_director.memory.db import MemoryUnavailable
from coding_director.memory.models import FeedbackKind, FeedbackParams, Source
from coding_director.memory.store import Memory, open_memory

__all__ = ["FeedbackKind", "FeedbackParams", "Memory", "MemoryUnavailable", "Source", "open_memory"]
