"""Text embedders for the workspace index: offline WordLlama (default), Ollama, OpenAI-compatible.

Every embedder is synchronous (the index calls it from its worker thread, never from the event
loop) and returns L2-normalised ``float32`` arrays of shape ``(n, dim)``. ``identity`` names the
model (``wordllama:l2_supercat-256``, ``ollama:nomic-embed-text``); the index stores it and is
rebuilt when it changes. Remote embedders use the official ``ollama`` and ``openai`` clients with
the configured timeout; every failure raises :class:`EmbedderError` with one actionable line.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from coding_director.settings import Settings

__all__ = ["Embedder", "EmbedderError", "OllamaEmbedder", "OpenAIEmbedder", "WordLlamaEmbedder", "make_embedder"]

Vectors = npt.NDArray[np.float32]
#: Characters of a chunk given to the embedder (WordLlama averages token vectors: beyond this,
#: more text only dilutes; remote models have context limits).
MAX_EMBED_CHARS = 2000
_BATCH = 64


class EmbedderError(RuntimeError):
    """The embedding model could not be loaded or reached; the message says how to fix it."""


class Embedder(Protocol):
    """What the index needs: an identity, a dimension and a batch ``embed``."""

    identity: str

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def embed(self, texts: list[str]) -> Vectors:
        """``(len(texts), dim)`` float32, rows L2-normalised. Raises :class:`EmbedderError`."""
        ...


def _normalise(matrix: npt.NDArray[np.floating]) -> Vectors:
    array = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: Vectors = (array / norms).astype(np.float32)
    return normalised


class WordLlamaEmbedder:
    """WordLlama ``l2_supercat`` (256-d) from inside its wheel: no download, no server, ~15 us a text.

    The wheel ships ``tokenizers/`` where the loader looks in ``tokenizer/`` and then tries the
    network, so the wheel's own folder is given as ``cache_dir`` with downloads disabled
    (STACK.md). Loading takes about 0.1-0.5 s and happens on first use.
    """

    identity = "wordllama:l2_supercat-256"

    def __init__(self) -> None:
        self._model: object | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return 256

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                try:
                    import wordllama
                    from wordllama import WordLlama

                    self._model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
                except Exception as error:  # the loader raises many kinds; one message for all
                    raise EmbedderError(f"cannot load the offline WordLlama model: {error}; "
                                        "reinstall with `pip install wordllama==0.4.0.post1`") from error
            return self._model

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        # norm=False: WordLlama divides by the norm itself and turns an empty text into NaNs.
        vectors = model.embed([t[:MAX_EMBED_CHARS] for t in texts], norm=False)  # type: ignore[attr-defined]
        return _normalise(np.nan_to_num(np.asarray(vectors, dtype=np.float32)))


class _RemoteEmbedder:
    """A server's embedding model: texts sent in batches of :data:`_BATCH`, each cut to
    :data:`MAX_EMBED_CHARS`; the dimension is learnt from the first answer."""

    identity: str

    def __init__(self) -> None:
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        """One request's vectors, in order. Raises :class:`EmbedderError`."""
        raise NotImplementedError

    def embed(self, texts: list[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), _BATCH):
            rows.extend(self._embed_batch([t[:MAX_EMBED_CHARS] for t in texts[start : start + _BATCH]]))
        if not rows:
            return np.zeros((0, self._dim or 1), dtype=np.float32)
        vectors = _normalise(np.array(rows))
        self._dim = int(vectors.shape[1])
        return vectors


class OllamaEmbedder(_RemoteEmbedder):
    """An Ollama embedding model through ``POST /api/embed`` (official ``ollama`` client)."""

    def __init__(self, host: str, model: str, timeout_s: float) -> None:
        import ollama

        super().__init__()
        self.identity = f"ollama:{model}"
        self._host, self._model = host, model
        self._client = ollama.Client(host=host, timeout=timeout_s)

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        import httpx
        import ollama

        try:
            result = self._client.embed(model=self._model, input=batch)
        except ollama.ResponseError as error:
            fix = f"; run `ollama pull {self._model}`" if error.status_code == 404 else ""
            raise EmbedderError(f"Ollama at {self._host} refused to embed with {self._model!r}: "
                                f"{error.error}{fix}") from error
        except (ConnectionError, httpx.TransportError) as error:
            raise EmbedderError(f"no Ollama server at {self._host} for embeddings ({error}); start it "
                                "or set index.embedder = \"wordllama\"") from error
        return [list(vector) for vector in result.embeddings]


class OpenAIEmbedder(_RemoteEmbedder):
    """Any OpenAI-compatible ``POST /v1/embeddings`` (official ``openai`` client)."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout_s: float) -> None:
        import openai

        super().__init__()
        self.identity = f"openai:{model}"
        self._base_url, self._model = base_url, model
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=1)

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        import openai

        try:
            result = self._client.embeddings.create(model=self._model, input=batch)
        except openai.APIConnectionError as error:
            raise EmbedderError(f"no OpenAI-compatible server at {self._base_url} for embeddings "
                                f"({error})") from error
        except openai.APIError as error:
            raise EmbedderError(f"{self._base_url} refused to embed with {self._model!r}: {error}") from error
        return [list(item.embedding) for item in result.data]


_DEFAULT = WordLlamaEmbedder()


def make_embedder(settings: Settings) -> Embedder:
    """The embedder chosen by ``settings.index`` (the offline one is shared by the process)."""
    index = settings.index
    if index.embedder == "ollama":
        return OllamaEmbedder((index.base_url or settings.ollama.host).rstrip("/"), index.model, index.timeout_s)
    if index.embedder == "openai":
        assert index.base_url is not None  # checked by IndexSettings
        key = os.environ.get(index.api_key_env, "") if index.api_key_env else ""
        return OpenAIEmbedder(index.base_url, index.model, key or "not-needed", index.timeout_s)
    return _DEFAULT
