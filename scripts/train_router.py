"""Train the offline router (domain and intent) from ``data/router/corpus.jsonl``; deterministic.

Run: ``.venv/bin/python scripts/train_router.py [--out PATH]`` (default: the shipped
``server/coding_director/routing/data/router_model.npz``). Needs the dev dependency scikit-learn.

Only the ``train`` split is read: the ``heldout`` split is never seen here (neither for fitting,
nor for choosing C, nor for the threshold); ``bench/router_eval.py`` evaluates on it.

Steps, for the domain (binary) and the intent (multiclass) model alike:

1. features of every training example (:func:`coding_director.routing.features.features`), as a
   sparse matrix (the dense part and the hashed part side by side);
2. 5-fold cross-validation grouped by near-duplicate group (a scripted variant, the rows of one code
   snippet and near-duplicate prompts stay in one fold: ``StratifiedGroupKFold``, fixed
   ``random_state``) to choose the inverse regularisation ``C`` of ``LogisticRegression`` by the log
   loss of the Platt-calibrated out-of-fold probabilities;
3. ``CalibratedClassifierCV(method="sigmoid", ensemble=False)`` on the same folds: the model is fit
   on all training data and the Platt calibrator on its out-of-fold scores;
4. the domain model: the logistic regression alone, or a stack of it with an MLP and, optionally,
   the neighbour vote (:func:`coding_director.routing.classifier.neighbour_logit`), whichever has
   the lowest grouped CV log loss (:func:`fit_domain`);
5. ``auto`` threshold: the quantile :data:`ROUTER_SHARE` of the calibrated out-of-fold domain
   confidences, so that about that share of requests is sent to the router model.

Output: one ``.npz`` written with fixed zip timestamps (byte-identical on every run on the same
corpus, machine and library versions) and the training figures on stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.neural_network import MLPClassifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from coding_director.routing.classifier import MODEL_PATH, get_embedding, neighbour_logit  # noqa: E402
from coding_director.routing.embedding import EMBED_DIM  # noqa: E402
from coding_director.routing.features import FEATURE_VERSION, N_DENSE, N_FEATURES, features  # noqa: E402

CORPUS = ROOT / "data" / "router" / "corpus.jsonl"
#: Share of requests the ``auto`` threshold sends to the router model (on training CV).
ROUTER_SHARE = 0.12
C_GRID = (3.0, 10.0, 30.0)
FOLDS = 5
SEED = 0
#: Hidden units, epochs and L2 penalties tried for the MLP of the domain stack.
HIDDEN = 64
MLP_EPOCHS = 40
MLP_ALPHAS = (1e-5, 1e-4)
#: The neighbour vote of the domain stack (:func:`neighbour_logit`): neighbours, softmax temperature
#: (per unit of cosine similarity) and the clip of the vote's share. Chosen by grouped CV on the
#: training split (stacked with the linear model and the MLP, same folds; every training row a
#: neighbour): k 10-100 and temperature 30-100 all gave accuracy 95.9-96.0% and log loss 0.102-0.104
#: against 94.9% / 0.122 without the vote; on the group centroids of :func:`neighbour_set`, k 10-50
#: and temperature 20-50 gave 95.9-96.0% and 0.100-0.103.
KNN_K = 30
KNN_TEMPERATURE = 30.0
KNN_CLIP = 0.02


def load_corpus(split: str) -> list[dict[str, Any]]:
    """The examples of one split (``train`` or ``heldout``), in file order."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["split"] == split]


def feature_matrix(rows: list[dict[str, Any]]) -> sp.csr_matrix:
    """Features of ``rows`` (float32 CSR, shape (n, N_FEATURES): dense part, then the hashed part)."""
    embedding = get_embedding()
    dense = np.zeros((len(rows), N_DENSE), dtype=np.float32)
    indptr, index, value = [0], [], []
    for i, r in enumerate(rows):
        x = features(embedding, r["text"], r.get("code"), r.get("imports"))
        dense[i] = x.dense
        index.extend(x.index)
        value.extend(x.value)
        indptr.append(len(index))
    hashed = sp.csr_matrix(
        (np.asarray(value, dtype=np.float32), np.asarray(index, dtype=np.int64), np.asarray(indptr)),
        shape=(len(rows), N_FEATURES - N_DENSE),
    )
    out = sp.hstack([sp.csr_matrix(dense), hashed], format="csr", dtype=np.float32)
    # The hashed indices come in set order, which follows string hashing (randomised per process):
    # sorted, every run sums in the same order and writes the same bytes.
    out.sort_indices()
    return out


def groups_of(rows: list[dict[str, Any]]) -> np.ndarray:
    """Group label per example: the corpus's near-duplicate ``group`` (variants, the rows of one
    snippet and near-duplicate prompts share it)."""
    return np.array([r["group"] for r in rows])


def pipeline(c: float) -> LogisticRegression:
    """The base model: L2-regularised logistic regression (lbfgs, deterministic) on the raw features
    (they are already on comparable scales: unit-length embeddings and n-gram vectors, log counts)."""
    return LogisticRegression(C=c, max_iter=5000)


def _platt_oof(y: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Calibrated out-of-fold probabilities (n, k): one sigmoid per class on its OOF scores."""
    if scores.ndim == 1:
        cal = _SigmoidCalibration().fit(scores, (y == classes[1]).astype(float))
        p1 = cal.predict(scores)
        return np.column_stack([1 - p1, p1])
    columns = []
    for k, c in enumerate(classes):
        calibrator = _SigmoidCalibration().fit(scores[:, k], (y == c).astype(float))
        columns.append(calibrator.predict(scores[:, k]))
    probs = np.column_stack(columns)
    probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
    return probs


def oof_scores(x: sp.csr_matrix, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], c: float) -> np.ndarray:
    """Out-of-fold decision-function scores of ``pipeline(c)``."""
    first = pipeline(c).fit(x[splits[0][0]], y[splits[0][0]])
    n_out = first.decision_function(x[:1]).shape[1:] or ()
    out = np.zeros((len(y), *n_out))
    for k, (train, test) in enumerate(splits):
        model = first if k == 0 else pipeline(c).fit(x[train], y[train])
        out[test] = model.decision_function(x[test])
    return out


def fit(name: str, x: sp.csr_matrix, y: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """Choose C on CV, fit the calibrated model; returns weights, Platt parameters, OOF figures."""
    splits = list(StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(x, y, groups))
    classes = np.unique(y)
    best: tuple[float, float, np.ndarray] | None = None
    for c in C_GRID:
        probs = _platt_oof(y, oof_scores(x, y, splits, c), classes)
        index = np.searchsorted(classes, y)
        loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), index], 1e-12, 1))))
        acc = float(np.mean(classes[probs.argmax(axis=1)] == y))
        print(f"{name}: C={c:g} CV log loss {loss:.4f} accuracy {acc:.4f}", flush=True)
        if best is None or loss < best[1]:
            best = (c, loss, probs)
    assert best is not None
    c, loss, probs = best
    calibrated = CalibratedClassifierCV(pipeline(c), method="sigmoid", cv=splits, ensemble=False).fit(x, y)
    inner = calibrated.calibrated_classifiers_[0]
    lr: LogisticRegression = inner.estimator
    platt = np.array([[cal.a_, cal.b_] for cal in inner.calibrators])
    return {
        "C": c,
        "cv_log_loss": loss,
        "cv_accuracy": float(np.mean(classes[probs.argmax(axis=1)] == y)),
        "classes": [str(v) for v in classes],
        "w": lr.coef_.astype(np.float32),
        "b": lr.intercept_.astype(np.float64),
        "platt": platt.astype(np.float64),
        "oof_probs": probs,
    }


def mlp_pipeline(alpha: float) -> MLPClassifier:
    """The second domain model: one hidden layer of :data:`HIDDEN` ReLU units (adam, fixed seed,
    fixed number of epochs: deterministic), L2 penalty ``alpha``."""
    return MLPClassifier(
        hidden_layer_sizes=(HIDDEN,),
        alpha=alpha,
        batch_size=128,
        learning_rate_init=1e-3,
        max_iter=MLP_EPOCHS,
        n_iter_no_change=MLP_EPOCHS,
        tol=0.0,
        random_state=SEED,
    )


def mlp_logit(model: MLPClassifier, x: sp.csr_matrix) -> np.ndarray:
    """The MLP's output-unit logit (n,) (``> 0`` leans to ``classes_[1]``), as the run time computes it."""
    hidden = np.maximum(x @ model.coefs_[0] + model.intercepts_[0], 0.0)
    return np.asarray(hidden @ model.coefs_[1] + model.intercepts_[1]).ravel()


def mlp_oof(x: sp.csr_matrix, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], alpha: float) -> np.ndarray:
    """Out-of-fold MLP logits (n,)."""
    out = np.zeros(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for train_index, test_index in splits:
            model = mlp_pipeline(alpha).fit(x[train_index], y[train_index])
            out[test_index] = mlp_logit(model, x[test_index])
    return out


def _log_loss(p1: np.ndarray, y1: np.ndarray) -> float:
    p = np.clip(np.where(y1 == 1, p1, 1 - p1), 1e-12, 1)
    return float(-np.mean(np.log(p)))


def embedding_columns(x: sp.csr_matrix) -> np.ndarray:
    """The sentence-embedding columns of the feature matrix ``x``, dense: float32 (n, EMBED_DIM)."""
    return x[:, :EMBED_DIM].toarray().astype(np.float32)


def neighbour_set(
    embedding: np.ndarray, y1: np.ndarray, groups: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The examples the neighbour vote reads, from the rows ``index`` of ``embedding`` (n,
    EMBED_DIM): one per near-duplicate group and label, the unit-length mean of its rows (a
    scripted variant or the six rows of one code snippet count once; grouped CV on the training
    split: 3,937 centroids instead of 8,752 rows gave the same accuracy, 96.0%, and log loss 0.100
    against 0.102).

    Returns ``(vectors, labels)``: float32 (m, EMBED_DIM), rounded to float16 (the shipped form),
    and float32 (m,) (1.0 = math); ordered by first row, so the same rows give the same bytes."""
    keys: dict[tuple[str, int], list[int]] = {}
    for i in index:
        keys.setdefault((str(groups[i]), int(y1[i])), []).append(int(i))
    vectors = np.array([embedding[rows].astype(np.float64).mean(axis=0) for rows in keys.values()])
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    labels = np.array([label for _, label in keys], dtype=np.float32)
    return vectors.astype(np.float16).astype(np.float32), labels


def neighbour_oof(
    embedding: np.ndarray, y1: np.ndarray, groups: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Out-of-fold neighbour votes (n,): each fold's rows vote, one by one as at run time, from the
    other folds' rows only."""
    out = np.zeros(len(y1))
    for train_index, test_index in splits:
        vectors, labels = neighbour_set(embedding, y1, groups, train_index)
        for i, similarities in zip(test_index, embedding[test_index] @ vectors.T, strict=True):
            out[i] = neighbour_logit(similarities, labels, KNN_K, KNN_TEMPERATURE, KNN_CLIP)
    return out


def stack_oof(scores: np.ndarray, y1: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Out-of-fold P(math) of the stacker (a logistic regression on the OOF scores ``scores``,
    (n, m)); the stacker is refit per fold, so its own figures are out-of-fold too."""
    out = np.zeros(len(y1))
    for train_index, test_index in splits:
        stacker = LogisticRegression(C=100.0).fit(scores[train_index], y1[train_index])
        out[test_index] = stacker.predict_proba(scores[test_index])[:, 1]
    return out


def fit_domain(x: sp.csr_matrix, y: np.ndarray, groups: np.ndarray, lr: dict[str, Any]) -> dict[str, Any]:
    """Choose between the logistic regression alone and stacks of it with the MLP, with or without
    the neighbour vote (by grouped CV log loss of the calibrated out-of-fold probabilities) and fit
    the choice on all training data.

    Returns ``kind`` (``"lr"`` or ``"stack"``), ``neighbours`` (whether the stack holds the vote),
    the MLP arrays and the stacker ``(w_lr, w_mlp, w_neighbours, b)`` for ``stack``, and the OOF
    probabilities (n, 2) of the choice."""
    splits = list(StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(x, y, groups))
    y1 = (y == "math").astype(int)
    lr_scores = oof_scores(x, y, splits, lr["C"])
    embedding = embedding_columns(x)
    votes = neighbour_oof(embedding, y1, groups, splits)
    best: dict[str, Any] = {"kind": "lr", "loss": lr["cv_log_loss"], "probs": lr["oof_probs"]}
    print(f"domain: lr CV log loss {lr['cv_log_loss']:.4f} accuracy {lr['cv_accuracy']:.4f}", flush=True)
    for alpha in MLP_ALPHAS:
        mlp_scores = mlp_oof(x, y, splits, alpha)
        for neighbours in (False, True):
            scores = np.column_stack([lr_scores, mlp_scores, votes if neighbours else np.zeros(len(y1))])
            p1 = stack_oof(scores, y1, splits)
            loss = _log_loss(p1, y1)
            acc = float(np.mean((p1 >= 0.5) == (y1 == 1)))
            name = f"lr + mlp(alpha={alpha:g}){' + neighbours' if neighbours else ''}"
            print(f"domain: {name} CV log loss {loss:.4f} accuracy {acc:.4f}", flush=True)
            if loss < best["loss"]:
                probs = np.column_stack([1 - p1, p1])
                best = {"kind": "stack", "loss": loss, "alpha": alpha, "scores": scores, "probs": probs,
                        "neighbours": neighbours}
    if best["kind"] == "lr":
        return best
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = mlp_pipeline(best["alpha"]).fit(x, y)
    assert list(mlp.classes_) == ["general", "math"]
    stacker = LogisticRegression(C=100.0).fit(best["scores"], y1)
    best.update(
        w1=mlp.coefs_[0].astype(np.float32),
        b1=mlp.intercepts_[0].astype(np.float32),
        w2=mlp.coefs_[1].ravel().astype(np.float32),
        b2=float(mlp.intercepts_[1][0]),
        stack=np.array([*stacker.coef_[0], stacker.intercept_[0]], dtype=np.float64),
    )
    if best["neighbours"]:
        vectors, labels = neighbour_set(embedding, y1, groups, np.arange(len(y1)))
        best.update(knn_embedding=vectors.astype(np.float16), knn_label=labels.astype(np.uint8))
    return best


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` with fixed zip timestamps and order (byte-identical output for equal arrays)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Stored, not deflated: float32 weights barely compress (1.54 MB -> 1.51 MB with 2,048-bucket
    # blocks) and inflating them was most of the weights' share of the lazy load.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, buf.getvalue())


def train(out: Path) -> dict[str, Any]:
    """Train both models on the training split and write the weights file; returns the metadata."""
    rows = load_corpus("train")
    x = feature_matrix(rows)
    groups = groups_of(rows)
    y_domain = np.array([r["domain"] for r in rows])
    domain = fit("domain", x, y_domain, groups)
    intent = fit("intent", x, np.array([r["intent"] for r in rows]), groups)
    assert domain["classes"] == ["general", "math"]
    choice = fit_domain(x, y_domain, groups, domain)
    confidence = choice["probs"].max(axis=1)
    threshold = round(float(np.quantile(confidence, ROUTER_SHARE)), 3)
    meta = {
        "feature_version": FEATURE_VERSION,
        "intents": intent["classes"],
        "threshold": threshold,
        "train_examples": len(rows),
        "domain_model": choice["kind"],
        "domain_C": domain["C"],
        "intent_C": intent["C"],
        "cv_domain_accuracy": round(float(np.mean((choice["probs"][:, 1] >= 0.5) == (y_domain == "math"))), 4),
        "cv_domain_log_loss": round(choice["loss"], 4),
        "cv_intent_accuracy": round(intent["cv_accuracy"], 4),
        "cv_router_share": round(float(np.mean(confidence < threshold)), 4),
    }
    weights = np.vstack([domain["w"], intent["w"]])
    arrays = {
        "dense_w": weights[:, :N_DENSE],
        "sparse_w": np.ascontiguousarray(weights[:, N_DENSE:].T),
        "bias": np.concatenate([domain["b"], intent["b"]]),
        "platt": np.vstack([domain["platt"], intent["platt"]]),
    }
    if choice["kind"] == "stack":
        meta["mlp_alpha"] = choice["alpha"]
        arrays.update(
            mlp_dense_w1=np.ascontiguousarray(choice["w1"][:N_DENSE].T),
            mlp_sparse_w1=np.ascontiguousarray(choice["w1"][N_DENSE:]),
            mlp_b1=choice["b1"],
            mlp_w2=choice["w2"],
            mlp_b2=np.array(choice["b2"]),
            stack=choice["stack"],
        )
        if choice["neighbours"]:
            meta.update(knn_k=KNN_K, knn_temperature=KNN_TEMPERATURE, knn_clip=KNN_CLIP)
            arrays.update(knn_embedding=choice["knn_embedding"], knn_label=choice["knn_label"])
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    write_npz(out, arrays)
    return meta


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="weights file to write")
    args = parser.parse_args()
    meta = train(args.out)
    print(json.dumps(meta, indent=2, sort_keys=True))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
