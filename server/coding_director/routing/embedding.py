"""WordLlama's 256-d ``l2_supercat`` sentence embedding with numpy only (no ``wordllama`` import).

WordLlama (``wordllama==0.4.0.post1``) embeds a text as the mean of its tokens' rows of a
(32000, 256) float16 matrix, L2-normalised (``WordLlamaInference.embed(texts, norm=True)``). Its
tokenizer is Llama 2's byte-fallback BPE in Hugging Face ``tokenizers`` JSON. This module reads
both files from the installed wheel and computes the same vectors, because:

* importing ``wordllama`` costs about 0.5 s (``requests``, ``toml``, logging set-up) and its loader
  looks for ``tokenizer/`` while the wheel ships ``tokenizers/``;
* the ``tokenizers`` library (WordLlama's own dependency, and what ``tests/test_classifier.py``
  checks these ids against on the whole router corpus) was measured in the same router on the same
  1,100 training requests (CPU time, 2-core machine, two runs each): loading it (import and
  ``Tokenizer.from_file``, 61,249 merges) took 76-107 ms of a 150 ms load budget against 28-41 ms
  for the vocabulary and merge ranks as Python dicts here, and one decision's p95 was 0.34-0.40 ms
  with it against 0.22-0.28 ms with this module (a warm word lookup here is one dict hit; a call
  into ``tokenizers`` costs 15-35 us), so the library would miss the 0.3 ms target of issue 10;
* the matrix is memory-mapped from the ``.safetensors`` file (format: an 8-byte little-endian
  header length, a JSON header with ``dtype``/``shape``/``data_offsets``, then the raw tensor
  bytes; https://github.com/huggingface/safetensors#format), so loading reads no rows.

The BPE (Sennrich et al. 2016, as ``tokenizers``' ``BPE`` model with ``byte_fallback``): the
normaliser prepends ``▁`` and replaces every space by ``▁``; there is no pre-tokenizer, but no
token of the vocabulary holds ``▁`` after another character, so no merge crosses the start of a
``▁``-run and each chunk ``▁*[^▁]+`` is segmented on its own: start from its characters, merge
the adjacent pair of lowest merge rank (the leftmost one first, as ``tokenizers``) until no pair has a
rank; pieces outside the vocabulary become their UTF-8 bytes' ``<0xNN>`` tokens.
A chunk that is itself a piece of the vocabulary is that piece (every piece starting with ``▁``
segments to itself, checked over the whole vocabulary by ``tests/test_classifier.py``), so only
other chunks run the merge loop. ``tests/test_classifier.py`` checks the ids against ``tokenizers``
on the whole router corpus and the vectors against ``WordLlama.embed``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

EMBED_DIM = 256
TOKENIZER_FILE = "tokenizers/l2_supercat_tokenizer_config.json"
WEIGHTS_FILE = "weights/l2_supercat_256.safetensors"
#: Chunks whose segmentation is cached (the cache is emptied when full).
CACHE_SIZE = 1 << 16
#: Rows of the float32 row buffer written at load (8 MiB; see ``WordLlamaEmbedding._rows32``).
INITIAL_ROWS = 8192

_CHUNK_RE = re.compile("▁*[^▁]+|▁+")


def unit(vector: FloatArray) -> FloatArray:
    """``vector`` scaled to unit length (float32); returned as it is when it is zero."""
    import numpy as np

    norm = float(np.sqrt(vector @ vector))
    return vector / norm if norm > 0 else vector


def wordllama_root() -> Path:
    """The installed ``wordllama`` package directory (not imported). Raises ``FileNotFoundError``."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the wordllama package (wordllama==0.4.0.post1) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _memmap_safetensor(path: Path, name: str) -> npt.NDArray[np.float16]:
    """Memory-map the float16 tensor ``name`` of a ``.safetensors`` file (read-only, no copy).

    Raises ``ValueError`` for a tensor that is missing or not ``F16``, ``OSError`` for the file.
    """
    import numpy as np

    with path.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    entry = header.get(name)
    if not isinstance(entry, dict) or entry.get("dtype") != "F16":
        raise ValueError(f"{path.name}: no float16 tensor {name!r}")
    start, end = entry["data_offsets"]
    shape = tuple(entry["shape"])
    matrix = np.memmap(path, dtype="<f2", mode="r", offset=8 + size + start, shape=shape)
    if matrix.nbytes != end - start:
        raise ValueError(f"{path.name}: tensor {name!r} has {end - start} bytes for shape {shape}")
    return matrix


class WordLlamaEmbedding:
    """Token ids and sentence vectors of WordLlama ``l2_supercat`` 256-d (see the module docstring).

    Raises ``FileNotFoundError`` when wordllama is not installed, ``OSError``/``ValueError`` for
    unreadable files.
    """

    def __init__(self, root: Path | None = None) -> None:
        import numpy as np

        base = root or wordllama_root()
        model = json.loads((base / TOKENIZER_FILE).read_bytes())["model"]
        #: Token string -> id (Llama 2's 32,000 pieces).
        self.vocab: dict[str, int] = model["vocab"]
        merges: list[str] = model["merges"]
        #: ``"left right"`` -> merge rank (lower merges first).
        self.ranks: dict[str, int] = dict(zip(merges, range(len(merges)), strict=True))
        self._bytes = [self.vocab[f"<0x{b:02X}>"] for b in range(256)]
        self._cache: dict[str, list[int]] = {}
        #: The token-embedding matrix, float16 of shape (32000, 256), memory-mapped (a plain
        #: ndarray view of the map: indexing a ``np.memmap`` costs more per call).
        self.matrix: npt.NDArray[np.float16] = np.asarray(_memmap_safetensor(base / WEIGHTS_FILE, "embedding.weight"))
        #: Rows of :attr:`matrix` widened to float32 on first use (summing float16 rows costs about
        #: four times as much as float32 ones; widening all 32,000 rows at load costs 25-120 ms),
        #: stored densely in the order of first use: row ``_slot[id]`` of ``_rows32`` (-1: not yet).
        #: The buffer is written here, at load: numpy maps arrays of 4 MiB and more in 2 MiB huge
        #: pages, and the first write to one costs 0.2-4 ms (zeroing, more in a VM whose host maps
        #: memory on first use), which a lazily mapped (32000, 256) buffer pays inside 16 of the
        #: first requests. :data:`INITIAL_ROWS` rows hold the pieces of a few thousand requests (the
        #: 128,817 tokens of the router's training split are 5,286 distinct pieces); when full, the
        #: buffer doubles (one copy, in the request that fills it).
        self._slot = np.full(self.matrix.shape[0], -1, dtype=np.intp)
        self._rows32: FloatArray = np.empty((INITIAL_ROWS, self.matrix.shape[1]), dtype=np.float32)
        self._rows32.fill(0.0)
        self._used = 0

    def _segment(self, chunk: str) -> list[int]:
        """BPE of one ``▁*[^▁]+`` chunk (uncached): merge the adjacent pair of lowest rank, leftmost
        first, keeping the ranks of the adjacent pairs in a list (only the merged pair's neighbours
        change). A pair that a merge creates always has a higher rank than the merge (its token
        exists only after it), so this equals merging every occurrence of the best pair per step."""
        ranks = self.ranks
        none = len(ranks)
        word = list(chunk)
        pairs = [ranks.get(f"{a} {b}", none) for a, b in itertools.pairwise(word)]
        while pairs:
            best = min(pairs)
            if best == none:
                break
            i = pairs.index(best)
            word[i : i + 2] = [word[i] + word[i + 1]]
            del pairs[i]
            if i > 0:
                pairs[i - 1] = ranks.get(f"{word[i - 1]} {word[i]}", none)
            if i < len(pairs):
                pairs[i] = ranks.get(f"{word[i]} {word[i + 1]}", none)
        ids: list[int] = []
        for piece in word:
            token = self.vocab.get(piece)
            if token is None:
                ids.extend(self._bytes[b] for b in piece.encode("utf-8", "surrogatepass"))
            else:
                ids.append(token)
        return ids

    def token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens (as ``Tokenizer.encode(text,
        add_special_tokens=False).ids`` of WordLlama's tokenizer); ``[]`` for ``""``."""
        if not text:
            return []
        cache = self._cache
        out: list[int] = []
        for chunk in _CHUNK_RE.findall("▁" + text.replace(" ", "▁")):
            ids = cache.get(chunk)
            if ids is None and (token := self.vocab.get(chunk)) is not None:
                # Every piece of the vocabulary (bar the byte and control tokens, none of which
                # starts with "▁" as every chunk does) segments to itself (checked for all of them
                # in tests/test_classifier.py): a whole-word piece needs no merges.
                ids = [token]
            if ids is None:
                if len(cache) >= CACHE_SIZE:
                    cache.clear()
                ids = cache[chunk] = self._segment(chunk)
            out.extend(ids)
        return out

    def row_sum(self, ids: list[int]) -> FloatArray:
        """The sum of the rows ``ids`` of the matrix (float32, shape (256,)); zeros for no ids."""
        import numpy as np

        if not ids:
            return np.zeros(EMBED_DIM, dtype=np.float32)
        index = np.asarray(ids, dtype=np.intp)
        slots = self._slot[index]
        if slots.min() < 0:
            fresh = index[slots < 0]
            if len(fresh) > 1:  # distinct, in order (np.unique costs more on a few ids)
                fresh = np.fromiter(dict.fromkeys(fresh.tolist()), dtype=np.intp)
            self._widen(fresh)
            slots = self._slot[index]
        out: FloatArray = self._rows32.take(slots, axis=0).sum(axis=0)
        return out

    def _widen(self, fresh: npt.NDArray[np.intp]) -> None:
        """Append the float32 rows of the distinct ids ``fresh`` (none widened yet) to the buffer."""
        import numpy as np

        end = self._used + len(fresh)
        if end > len(self._rows32):
            grown = np.empty((max(end, 2 * len(self._rows32)), self.matrix.shape[1]), dtype=np.float32)
            grown[: self._used] = self._rows32[: self._used]
            self._rows32 = grown
        self._rows32[self._used : end] = self.matrix[fresh]
        self._slot[fresh] = np.arange(self._used, end)
        self._used = end

    def embed_ids(self, ids: list[int]) -> FloatArray:
        """The unit-length mean of the rows ``ids`` (float32, shape (256,)); zeros for no ids."""
        # The sum has the direction of the mean.
        return unit(self.row_sum(ids))

    def embed(self, text: str) -> FloatArray:
        """The unit-length embedding of ``text`` (float32, shape (256,)); zeros for empty text."""
        return self.embed_ids(self.token_ids(text))
