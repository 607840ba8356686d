"""A small LRU cache of inline completions, with typing-through.

Entries are keyed by ``(model, last prefix_chars characters of the prefix, first suffix_chars
characters of the suffix)`` — characters, not tokens — so the same code in another document, or
the same spot after an undo, hits too. The value is the postprocessed completion; ``""`` records
"the model had nothing usable here" so that a repeated request does not call the model again.

Typing-through: when the user types the first characters of a cached completion, the prefix grows
by those characters while the suffix stays the same; :meth:`CompletionCache.get` then finds the
entry of the shorter prefix and returns the rest of the completion (as Copilot-like assistants do).
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["CompletionCache"]

CacheKey = tuple[str, str, str]


class CompletionCache:
    """LRU map ``(model, prefix tail, suffix head) -> completion``.

    ``capacity``: entries kept (least recently used evicted first). ``prefix_chars`` /
    ``suffix_chars``: how much of the prefix end / suffix start forms the key (characters).
    ``max_typed``: the most characters the user may have typed into a cached completion for
    typing-through to find it (each typed character costs one dictionary probe on a miss).
    """

    def __init__(
        self, capacity: int = 256, *, prefix_chars: int = 600, suffix_chars: int = 300, max_typed: int = 256
    ) -> None:
        self.capacity = capacity
        self.prefix_chars = prefix_chars
        self.suffix_chars = suffix_chars
        self.max_typed = max_typed
        self._entries: OrderedDict[CacheKey, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, model: str, prefix: str, suffix: str) -> CacheKey:
        """The cache key of a request (see the class docstring)."""
        return (model, prefix[-self.prefix_chars :], suffix[: self.suffix_chars])

    def put(self, model: str, prefix: str, suffix: str, completion: str) -> None:
        """Remember ``completion`` (``""`` = nothing usable) for this prefix and suffix."""
        key = self.key(model, prefix, suffix)
        self._entries[key] = completion
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def get(self, model: str, prefix: str, suffix: str) -> str | None:
        """The completion to show for this prefix and suffix, or ``None`` on a miss.

        An exact hit returns the stored text (possibly ``""``). Otherwise, for each ``n`` in
        ``1..max_typed``, the entry of ``prefix[:-n]`` is looked up; if its completion starts with
        the ``n`` characters typed since (``prefix[-n:]``) and is longer, the rest is returned.
        """
        key = self.key(model, prefix, suffix)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        for typed in range(1, min(self.max_typed, len(prefix)) + 1):
            key = self.key(model, prefix[:-typed], suffix)
            entry = self._entries.get(key)
            if entry is not None and len(entry) > typed and entry.startswith(prefix[-typed:]):
                self._entries.move_to_end(key)
                return entry[typed:]
        return None

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
