"""The learned offline router: domain (``math``/``general``) and intent from the prompt and the code.

Features of one request are :func:`coding_director.routing.features.features` (WordLlama sentence
embeddings of prose and code, hashed word and character n-grams, the curated topic lexicon and
code-context features). A linear map scores them: the domain (logistic regression) and the intent
(one-vs-rest logistic regressions), trained by ``scripts/train_router.py`` with scikit-learn;
Platt scaling fitted on cross-validated scores (``CalibratedClassifierCV(method="sigmoid")``) turns
scores into calibrated probabilities. When grouped cross-validation on the training split prefers
it, the domain is a stack: the logistic regression's score and the logit of a one-hidden-layer MLP
(ReLU, 64 units) on the same features, combined by a second logistic regression fitted on their
out-of-fold scores (so its probability is calibrated the same way); the stack may add a third score,
the neighbour vote (:func:`neighbour_logit`: the labels of the training examples whose embeddings
are nearest, a k-nearest-neighbour classifier, Fix & Hodges 1951, with softmax weights), which
carries what a linear map of the mean embedding cannot: clusters of one topic written in many
ways. The weights ship as
``routing/data/router_model.npz``; at run time only numpy is used (no scikit-learn, no
``tokenizers``, no ``wordllama`` import).

Loading is lazy (first call of :func:`load_model`), cached per process: WordLlama's vocabulary and
merges (about 30-40 ms), its memory-mapped matrix and our weights.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coding_director.routing.embedding import EMBED_DIM, WordLlamaEmbedding
from coding_director.routing.features import FEATURE_VERSION, N_DENSE, N_FEATURES, Features, features

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

#: The shipped weights (written by ``scripts/train_router.py``).
MODEL_PATH = Path(__file__).resolve().parent / "data" / "router_model.npz"


def neighbour_logit(similarities: FloatArray, labels: FloatArray, k: int, temperature: float, clip: float) -> float:
    """The neighbour vote of one request: ``log(p / (1 - p))`` with ``p`` the share of math among
    the ``k`` training examples of highest similarity, each weighted ``exp(temperature * (s -
    s_max))``, and ``p`` clipped to ``[clip, 1 - clip]``.

    ``similarities``: cosine similarities to the training examples, shape (n,); ``labels``: 1.0 for
    math, 0.0 for general, shape (n,); ``k < n``. The same function trains
    (``scripts/train_router.py``, row by row) and predicts. The k weights are plain floats: fewer
    numpy calls on tiny arrays (5-17 us less per decision than numpy on the k values).
    """
    import numpy as np

    n = len(similarities)
    nearest = np.argpartition(similarities, n - k)[n - k :]
    top, votes = similarities[nearest].tolist(), labels[nearest].tolist()
    best, exp = max(top), math.exp
    weights = [exp(temperature * (s - best)) for s in top]
    share = sum(w * v for w, v in zip(weights, votes, strict=True)) / sum(weights)
    share = min(max(share, clip), 1.0 - clip)
    return math.log(share / (1.0 - share))


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The neighbour vote of a stacked domain model: the training examples' embeddings ``vectors``
    (m, EMBED_DIM) float32 (shipped as float16), their ``labels`` (m,) (1.0 = math), and ``k``,
    ``temperature`` and ``clip`` of :func:`neighbour_logit`."""

    vectors: FloatArray
    labels: FloatArray
    k: int
    temperature: float
    clip: float

    def vote(self, embedding: FloatArray) -> float:
        """The vote (:func:`neighbour_logit`) of one unit-length embedding (EMBED_DIM,)."""
        return neighbour_logit(self.vectors @ embedding, self.labels, self.k, self.temperature, self.clip)


@dataclass(frozen=True, slots=True)
class Prediction:
    """A calibrated decision: ``domain`` with ``domain_confidence`` = P(domain) in [0.5, 1],
    ``intent`` with ``intent_confidence`` = P(intent), and ``p_math`` = P(math)."""

    domain: str
    domain_confidence: float
    p_math: float
    intent: str
    intent_confidence: float


class RouterModel:
    """The shipped classifier: the domain row and the intent rows of one linear map, plus Platt
    calibrators.

    Arrays (see ``scripts/train_router.py``): ``dense_w`` (1 + k, N_DENSE) and ``sparse_w``
    (WORD_BUCKETS + CHAR_BUCKETS + CODE_BUCKETS, 1 + k) hold the weights (row / column 0: domain, then the ``k``
    intents), ``bias`` (1 + k,), ``platt`` (1 + k, 2) the Platt parameters ``(a, b)``; ``meta`` JSON
    (intents, threshold, feature version, training figures, the vote's ``knn_k``,
    ``knn_temperature``, ``knn_clip``); a stacked domain adds the MLP's arrays, ``stack`` (4,) and,
    with the neighbour vote, ``knn_embedding`` (m, 256) float16 and ``knn_label`` (m,) uint8.
    Calibrated probability of a score ``s``: ``1 / (1 + exp(a*s + b))`` (Platt 1999, as
    scikit-learn's ``_SigmoidCalibration``); intent probabilities are normalised to sum 1
    (one-vs-rest, as ``CalibratedClassifierCV``); P(math) of a stack: ``sigmoid(w_linear * s +
    w_mlp * mlp + w_neighbours * vote + b)``.
    Raises ``ValueError`` for weights of another feature layout.
    """

    def __init__(self, arrays: dict[str, Any], embedding: WordLlamaEmbedding) -> None:
        import numpy as np

        self.meta: dict[str, Any] = json.loads(str(arrays["meta"]))
        if self.meta.get("feature_version") != FEATURE_VERSION:
            raise ValueError(
                f"router weights have feature version {self.meta.get('feature_version')}, "
                f"this code needs {FEATURE_VERSION}: run scripts/train_router.py"
            )
        self.embedding = embedding
        self.dense_w = np.ascontiguousarray(arrays["dense_w"], dtype=np.float32)
        self.sparse_w = np.ascontiguousarray(arrays["sparse_w"], dtype=np.float32)
        self.bias = np.asarray(arrays["bias"], dtype=np.float32)
        platt = np.asarray(arrays["platt"], dtype=np.float64)
        #: Platt parameters ``a`` and ``b`` of each row, as plain floats (the sigmoids are computed per
        #: request in plain floats: fewer numpy calls on tiny arrays).
        self.platt_a: list[float] = platt[:, 0].tolist()
        self.platt_b: list[float] = platt[:, 1].tolist()
        self.intents: list[str] = list(self.meta["intents"])
        if self.dense_w.shape != (1 + len(self.intents), N_DENSE) or self.sparse_w.shape != (
            N_FEATURES - N_DENSE,
            1 + len(self.intents),
        ):
            raise ValueError(
                f"router weights have shapes {self.dense_w.shape} and {self.sparse_w.shape}, this code needs "
                f"({1 + len(self.intents)}, {N_DENSE}) and ({N_FEATURES - N_DENSE}, {1 + len(self.intents)}): "
                "run scripts/train_router.py"
            )
        #: The confidence below which ``auto`` mode asks the router model (chosen on training CV).
        self.threshold: float = float(self.meta["threshold"])
        #: The domain's MLP of a stacked model (``None`` for the linear model alone): hidden-layer
        #: weights of the dense part (H, N_DENSE) and of the sparse part (N_FEATURES - N_DENSE, H),
        #: biases (H,), output weights (H,) and bias.
        self.mlp: tuple[FloatArray, FloatArray, FloatArray, FloatArray, float] | None = None
        #: The stacker: ``(w_linear, w_mlp, w_neighbours, b)``.
        self.stack = (1.0, 0.0, 0.0, 0.0)
        #: The neighbour vote of a stacked model (``None`` without one).
        self.neighbours: Neighbours | None = None
        if "mlp_dense_w1" in arrays:
            self.mlp = (
                np.ascontiguousarray(arrays["mlp_dense_w1"], dtype=np.float32),
                np.ascontiguousarray(arrays["mlp_sparse_w1"], dtype=np.float32),
                np.asarray(arrays["mlp_b1"], dtype=np.float32),
                np.asarray(arrays["mlp_w2"], dtype=np.float32),
                float(arrays["mlp_b2"]),
            )
            stack = [float(v) for v in arrays["stack"]]
            if len(stack) != 4:
                raise ValueError("router stacker has another layout: run scripts/train_router.py")
            self.stack = (stack[0], stack[1], stack[2], stack[3])
            if self.mlp[0].shape[1] != N_DENSE or self.mlp[1].shape[0] != N_FEATURES - N_DENSE:
                raise ValueError("router MLP weights have another feature layout: run scripts/train_router.py")
        if "knn_embedding" in arrays:
            vectors = np.ascontiguousarray(arrays["knn_embedding"], dtype=np.float32)
            labels = np.asarray(arrays["knn_label"], dtype=np.float32)
            if vectors.shape != (len(labels), EMBED_DIM) or not 0 < self.meta.get("knn_k", 0) < len(labels):
                raise ValueError("router neighbour arrays have another layout: run scripts/train_router.py")
            meta = self.meta
            self.neighbours = Neighbours(
                vectors, labels, int(meta["knn_k"]), float(meta["knn_temperature"]), float(meta["knn_clip"])
            )
        #: Linear rows and MLP hidden units side by side (one gather and one product per request):
        #: dense (1 + k + H, N_DENSE), sparse (N_FEATURES - N_DENSE, 1 + k + H), bias (1 + k + H,).
        self._k = 1 + len(self.intents)
        if self.mlp is None:
            self._dense_all, self._sparse_all, self._bias_all = self.dense_w, self.sparse_w, self.bias
        else:
            self._dense_all = np.ascontiguousarray(np.vstack([self.dense_w, self.mlp[0]]))
            self._sparse_all = np.ascontiguousarray(np.hstack([self.sparse_w, self.mlp[1]]))
            self._bias_all = np.concatenate([self.bias, self.mlp[2]])

    def scores(self, x: Features) -> FloatArray:
        """Raw linear scores (float32, (1 + k,)): domain first (> 0 leans math), then the intents."""
        import numpy as np

        out: FloatArray = self.dense_w @ x.dense + self.bias
        if x.index:
            out += np.asarray(x.value, dtype=np.float32) @ self.sparse_w.take(x.index, axis=0)
        return out

    def predict_features(self, x: Features) -> Prediction:
        """The calibrated decision for one request's :class:`Features`."""
        import numpy as np

        # scores() and mlp_logit() in one gather and one product (the same sums).
        both = self._dense_all @ x.dense + self._bias_all
        if x.index:
            both += np.asarray(x.value, dtype=np.float32) @ self._sparse_all.take(x.index, axis=0)
        # Eleven Platt sigmoids in plain floats: fewer numpy calls on tiny arrays (the same values).
        scores = both[: self._k].tolist()
        exp = math.exp
        probs = [
            1.0 / (1.0 + exp(min(500.0, max(-500.0, a * s + b))))
            for a, b, s in zip(self.platt_a, self.platt_b, scores, strict=True)
        ]
        if self.mlp is None:
            p_math = probs[0]
        else:
            w_linear, w_mlp, w_neighbours, bias = self.stack
            logit = float(np.maximum(both[self._k :], 0.0) @ self.mlp[3]) + self.mlp[4]
            z = w_linear * scores[0] + w_mlp * logit + bias
            if self.neighbours is not None:
                z += w_neighbours * self.neighbours.vote(x.dense[:EMBED_DIM])
            p_math = 1.0 / (1.0 + math.exp(-min(500.0, max(-500.0, z))))
        intent_probs = probs[1:]
        best = max(range(len(intent_probs)), key=intent_probs.__getitem__)
        total = sum(intent_probs)
        domain = "math" if p_math >= 0.5 else "general"
        return Prediction(
            domain=domain,
            domain_confidence=p_math if domain == "math" else 1.0 - p_math,
            p_math=p_math,
            intent=self.intents[best],
            intent_confidence=intent_probs[best] / total if total > 0 else 1.0 / len(self.intents),
        )

    def features(self, prompt: str, code: str | None = None, imports: list[str] | None = None) -> Features:
        """The :class:`Features` of one request (see :func:`coding_director.routing.features.features`)."""
        return features(self.embedding, prompt, code, imports)

    def predict(self, prompt: str, code: str | None = None, imports: list[str] | None = None) -> Prediction:
        """Classify one request (prompt, optional focus code and import lines)."""
        return self.predict_features(features(self.embedding, prompt, code, imports))


def read_weights(path: Path = MODEL_PATH) -> dict[str, Any]:
    """The arrays of a weights file (``np.load`` without pickles). Raises ``OSError``/``ValueError``."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@functools.cache
def load_model(path: Path = MODEL_PATH) -> RouterModel:
    """The shipped :class:`RouterModel`, loaded once per process on first use (lazy).

    Raises ``OSError`` when the weights file is missing, ``ValueError`` when it was written for
    another feature layout, ``FileNotFoundError`` when wordllama is not installed.
    """
    return RouterModel(read_weights(path), get_embedding())


@functools.cache
def get_embedding() -> WordLlamaEmbedding:
    """The process-wide :class:`~coding_director.routing.embedding.WordLlamaEmbedding` (loaded on first use)."""
    return WordLlamaEmbedding()
