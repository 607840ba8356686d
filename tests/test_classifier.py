"""The learned offline router: corpus and split, deterministic training, shipped weights, the
embedding, the boundary examples of issue 10 and code-context routing."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from coding_director.routing import classifier, features
from coding_director.routing.offline import classify
from coding_director.settings import RoutingSettings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "data" / "router" / "corpus.jsonl"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def test_corpus_size_labels_and_boundary_share(corpus: list[dict[str, Any]]) -> None:
    assert len(corpus) >= 2000
    assert {r["domain"] for r in corpus} == {"math", "general"}
    intents = Counter(r["intent"] for r in corpus)
    expected = {"explain", "fix", "debug", "generate", "test", "docs", "refactor", "review", "arch", "question"}
    assert set(intents) == expected
    assert sum(r["boundary"] for r in corpus) >= len(corpus) / 3
    assert len({r["id"] for r in corpus}) == len(corpus)


def test_committed_corpus_is_built_from_the_sources() -> None:
    build = _script("build_router_corpus")
    expected = "".join(
        json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False) + "\n" for r in build.build()
    )
    assert CORPUS.read_text(encoding="utf-8") == expected


def test_heldout_split_is_fixed_by_the_text_and_disjoint_from_training(corpus: list[dict[str, Any]]) -> None:
    build = _script("build_router_corpus")
    held = [r for r in corpus if r["split"] == "heldout"]
    train = [r for r in corpus if r["split"] == "train"]
    assert len(held) >= 400
    assert build.heldout_digest(corpus) == build.HELDOUT_SHA256  # the frozen split
    late = {p.name for p in build.TRAIN_ONLY.glob("*.txt")}
    assert not late & {p.name for p in build.SRC.glob("*.txt")}
    by_id = {r["id"]: r for r in corpus}
    group_size = Counter(r["group"] for r in corpus if not r.get("variant_of"))
    for r in corpus:
        written = by_id[r["variant_of"]] if r.get("variant_of") else r
        if r["source"] in late:  # written after the split was frozen: training only
            assert r["split"] == "train"
        elif "code" not in written and written["text"] == r["text"] and group_size[r["group"]] == 1:
            # A prompt alone in its near-duplicate group is held out by the hash of its text.
            digest = int(hashlib.sha256(written["text"].encode()).hexdigest()[:8], 16)
            assert (r["split"] == "heldout") == (digest < 0.22 * 16**8), r["text"][:60]
        assert r["split"] == written["split"]
    key = lambda r: (r["text"], r.get("code", ""))  # noqa: E731
    assert not {key(r) for r in held} & {key(r) for r in train}
    # Code snippets (and their imports) never appear on both sides.
    assert not {r["code"] for r in held if "code" in r} & {r["code"] for r in train if "code" in r}
    # Nor does the written prompt a variant comes from, nor a near-duplicate group.
    assert not {r.get("variant_of") or r["id"] for r in held} & {r.get("variant_of") or r["id"] for r in train}
    assert not {r["group"] for r in held} & {r["group"] for r in train}


def test_training_only_sources_near_held_out_texts_are_dropped() -> None:
    build = _script("build_router_corpus")
    held = ["dijkstra shortest path with a binary heap in rust"]
    texts = [*held, "dijkstra shortest path with a binary heap in go", "center a div with css grid"]
    pairs = {(i, j) for i, j, _ in build.near_duplicate_pairs(texts)}
    assert (0, 1) in pairs and (0, 2) not in pairs


def test_shipped_weights_load_and_set_the_default_threshold() -> None:
    model = classifier.load_model()
    assert model.meta["feature_version"] == classifier.FEATURE_VERSION
    k = len(model.intents)
    assert model.dense_w.shape == (1 + k, classifier.N_DENSE)
    assert model.sparse_w.shape == (classifier.N_FEATURES - classifier.N_DENSE, 1 + k)
    assert 0.5 < model.threshold < 1.0
    assert RoutingSettings().confidence_threshold == model.threshold
    assert 0.08 <= model.meta["cv_router_share"] <= 0.16
    assert model.meta["train_examples"] == sum(1 for line in CORPUS.read_text().splitlines() if '"train"' in line)


def test_token_ids_equal_the_tokenizers_library_on_the_whole_corpus(corpus: list[dict[str, Any]]) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from coding_director.routing.embedding import TOKENIZER_FILE, wordllama_root

    reference = tokenizers.Tokenizer.from_file(str(wordllama_root() / TOKENIZER_FILE))
    reference.no_truncation()
    ours = classifier.get_embedding()
    texts = [t for r in corpus for t in (r["text"], r.get("code", "")) if t]
    texts += ["ünïcode ✓ and `code()`", "aaaaaaaaaaaaaaaa", "日本語", "emoji 😀👍🏽", "  two  spaces\tand\ttabs\n"]
    for text in texts:
        assert ours.token_ids(text) == reference.encode(text, add_special_tokens=False).ids, text[:60]


def test_every_piece_of_the_vocabulary_segments_to_itself() -> None:
    # The premise of the whole-piece fast path of WordLlamaEmbedding.token_ids: every chunk starts
    # with "▁", and every piece that does (all but the byte and control tokens) is its own BPE.
    ours = classifier.get_embedding()
    pieces = [(piece, token) for piece, token in ours.vocab.items() if piece.startswith("▁")]
    assert len(pieces) > 10_000
    assert all(ours._segment(piece) == [token] for piece, token in pieces)


def test_embedding_is_wordllamas_own() -> None:
    wordllama = pytest.importorskip("wordllama")
    reference = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    texts = ["Dijkstra with a binary heap", "add a regression test", "ünïcode ✓ and `code()`"]
    expected = reference.embed(texts, norm=True)
    ours = np.stack([classifier.get_embedding().embed(t) for t in texts])
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)


def test_training_is_deterministic_and_writes_identical_bytes(tmp_path: Path) -> None:
    train = _script("train_router")
    rows = train.load_corpus("train")[::8]  # a fast subset; the full run is the same code
    x = train.feature_matrix(rows)
    y = np.array([r["domain"] for r in rows])
    groups = train.groups_of(rows)
    grid = train.C_GRID
    train.C_GRID = (3.0,)
    try:
        first = train.fit("domain", x, y, groups)
        second = train.fit("domain", x, y, groups)
    finally:
        train.C_GRID = grid
    for key in ("w", "b", "platt"):
        assert np.array_equal(first[key], second[key])
    arrays = {"domain_w": first["w"][0], "domain_platt": first["platt"][0], "meta": np.array("{}")}
    train.write_npz(tmp_path / "a.npz", arrays)
    train.write_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_feature_matrix_is_the_same_under_any_string_hash_seed(tmp_path: Path) -> None:
    # Set iteration follows string hashing, which differs per process; the training matrix must not.
    import os
    import subprocess

    code = (
        "import sys, numpy as np; sys.path.insert(0, 'scripts'); import train_router as t; "
        "x = t.feature_matrix(t.load_corpus('train')[::40]); "
        "np.savez(sys.argv[1], data=x.data, indices=x.indices, indptr=x.indptr)"
    )
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"x{seed}.npz"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, env=env, check=True)
        with np.load(out) as arrays:
            outputs.append({key: arrays[key] for key in arrays.files})
    for key in ("data", "indices", "indptr"):
        assert np.array_equal(outputs[0][key], outputs[1][key]), key


def test_training_never_reads_the_heldout_split(corpus: list[dict[str, Any]]) -> None:
    train = _script("train_router")
    rows = train.load_corpus("train")
    assert rows and all(r["split"] == "train" for r in rows)
    assert len(rows) == sum(r["split"] == "train" for r in corpus)


@pytest.mark.parametrize(
    "prompt",
    [
        "add a regression test",
        "CSS linear-gradient",
        "which Linux distribution",
        "SUM() returns NULL",
        "round to 2 decimals in the template",
        "Math.max",
        "proof of concept",
    ],
)
def test_issue_boundary_examples_general(prompt: str) -> None:
    assert classify(prompt).domain == "general"


@pytest.mark.parametrize(
    "prompt",
    [
        "Dijkstra with a binary heap",
        "0/1 knapsack",
        "the odds in the Monty Hall game",
        "is this O(n log n)",
        "Provide a Python implementation of the Black-Scholes formula.",
    ],
)
def test_issue_boundary_examples_math(prompt: str) -> None:
    assert classify(prompt).domain == "math"


NUMPY_CODE = (
    "def normalise(X):\n    mu = X.mean(axis=0)\n    sigma = X.std(axis=0, ddof=1)\n"
    "    cov = np.cov((X - mu) / sigma, rowvar=False)\n    return np.linalg.eigh(cov)\n"
)
FLASK_CODE = (
    "@app.route('/users/<int:uid>')\ndef user(uid):\n    row = db.session.get(User, uid)\n"
    "    return jsonify(name=row.name, email=row.email)\n"
)


@pytest.mark.parametrize(
    "prompt",
    [
        "Fix the problems in this code.",
        "Explain this code.",
        "Add a docstring (or doc comment) to this definition.",
        "Generate unit tests for this code.",
    ],
)
def test_code_actions_route_by_the_code(prompt: str) -> None:
    numeric = classify(prompt, NUMPY_CODE, ["import numpy as np"])
    web = classify(prompt, FLASK_CODE, ["from flask import Flask, jsonify"])
    assert numeric.domain == "math" and web.domain == "general"
    assert classify(prompt).domain == "general"  # without code the prompt alone is not mathematical


def test_confidence_is_a_probability_of_the_decision() -> None:
    for prompt in ("Create a Flask hello-world endpoint.", "integrate sin(x) from 0 to pi with simpson's rule"):
        decision = classify(prompt)
        assert 0.5 <= decision.confidence <= 1.0
        p = classifier.load_model().predict(prompt)
        assert decision.confidence == round(p.p_math if p.domain == "math" else 1 - p.p_math, 3)


def test_split_prose_code_and_features_shape() -> None:
    prose, code = features.split_prose_code("why\n```python\nimport numpy as np\nx = np.ones(3)\n```\nthanks")
    assert "import numpy" in code and "import" not in prose and "thanks" in prose
    x = features.features(classifier.get_embedding(), "hello", None, None)
    assert x.dense.shape == (features.N_DENSE,) and x.dense.dtype == np.float32
    assert len(x.index) == len(x.value) and all(0 <= i < features.N_FEATURES - features.N_DENSE for i in x.index)
    full = x.dense_vector()
    assert full.shape == (features.N_FEATURES,)
    assert not full[features.N_DENSE + features.WORD_BUCKETS + features.CHAR_BUCKETS :].any()  # no code words
    with_code = features.features(classifier.get_embedding(), "hello", "def area(r):\n    return r * r", None)
    assert with_code.dense_vector()[features.N_DENSE + features.WORD_BUCKETS + features.CHAR_BUCKETS :].any()


def test_scores_equal_the_full_linear_map() -> None:
    model = classifier.load_model()
    x = model.features("why does my dijkstra loop forever", "while pq:\n    d, u = heappop(pq)", ["import heapq"])
    weights = np.hstack([model.dense_w, model.sparse_w.T])
    np.testing.assert_allclose(model.scores(x), weights @ x.dense_vector() + model.bias, rtol=1e-4, atol=1e-4)


def _vote_by_sorting(similarities: list[float], labels: list[float], k: int, temperature: float, clip: float) -> float:
    """The neighbour vote written out: sort, weight the top k, share of math, clip, logit."""
    top = sorted(zip(similarities, labels, strict=True), reverse=True)[:k]
    best = top[0][0]
    weights = [math.exp(temperature * (s - best)) for s, _ in top]
    share = sum(w * label for w, (_, label) in zip(weights, top, strict=True)) / sum(weights)
    share = min(max(share, clip), 1 - clip)
    return math.log(share / (1 - share))


def test_neighbour_vote_is_the_weighted_share_of_the_nearest() -> None:
    rng = np.random.default_rng(7)
    sims = rng.uniform(-1, 1, size=(5, 40)).astype(np.float32)
    labels = (rng.uniform(size=40) < 0.5).astype(np.float32)
    for row in sims:
        expected = _vote_by_sorting(row.tolist(), labels.tolist(), 6, 30.0, 0.02)
        assert classifier.neighbour_logit(row, labels, 6, 30.0, 0.02) == pytest.approx(expected, abs=1e-4)
    # All nearest neighbours math: the share is clipped, the vote finite.
    sims, labels = np.array([0.9, 0.8, 0.1], np.float32), np.array([1, 1, 0], np.float32)
    assert classifier.neighbour_logit(sims, labels, 2, 30.0, 0.02) == pytest.approx(math.log(0.98 / 0.02))


def test_training_votes_come_from_the_other_folds_only(monkeypatch: pytest.MonkeyPatch) -> None:
    train = _script("train_router")
    monkeypatch.setattr(train, "KNN_K", 3)
    rng = np.random.default_rng(3)
    embedding = rng.normal(size=(12, classifier.EMBED_DIM)).astype(np.float32)
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    y1 = np.array([0, 1] * 6)
    groups = np.array([f"g{i}" for i in range(12)])  # every row its own group: its own centroid
    splits = [(np.arange(6, 12), np.arange(6)), (np.arange(6), np.arange(6, 12))]
    votes = train.neighbour_oof(embedding, y1, groups, splits)
    for train_index, test_index in splits:
        others = embedding[train_index].astype(np.float16).astype(np.float32)
        others /= np.linalg.norm(others, axis=1, keepdims=True)
        for i in test_index:
            sims = (others @ embedding[i]).tolist()
            expected = _vote_by_sorting(sims, y1[train_index].astype(float).tolist(), 3, train.KNN_TEMPERATURE, 0.02)
            assert votes[i] == pytest.approx(expected, abs=1e-3)


def test_shipped_stack_is_its_three_scores_with_the_vote_from_every_neighbour() -> None:
    model = classifier.load_model()
    assert model.mlp is not None and model.neighbours is not None
    vectors, labels = model.neighbours.vectors, model.neighbours.labels
    assert vectors.shape[1] == classifier.EMBED_DIM and set(np.unique(labels).tolist()) == {0.0, 1.0}
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)
    w_linear, w_mlp, w_vote, bias = model.stack
    assert w_vote > 0  # the vote leans the way its neighbours do
    w1_dense, w1_sparse, b1, w2, b2 = model.mlp
    requests = (("dijkstra with a binary heap", None), ("explain this code", NUMPY_CODE), ("fix it", FLASK_CODE))
    for prompt, code in requests:
        x = model.features(prompt, code)
        full = x.dense_vector()
        linear = float(np.hstack([model.dense_w, model.sparse_w.T])[0] @ full + model.bias[0])
        hidden = np.maximum(np.hstack([w1_dense, w1_sparse.T]) @ full + b1, 0.0)
        sims = (vectors @ x.dense[: classifier.EMBED_DIM]).tolist()
        n = model.neighbours
        vote = _vote_by_sorting(sims, labels.tolist(), n.k, n.temperature, n.clip)
        z = w_linear * linear + w_mlp * (float(hidden @ w2) + b2) + w_vote * vote + bias
        assert model.predict_features(x).p_math == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-3)


@pytest.mark.parametrize(
    ("key", "broken"),
    [
        ("knn_label", lambda a: a[:-1]),  # one label short of the vectors
        ("knn_embedding", lambda a: a[:, :100]),  # another embedding width
        ("stack", lambda a: a[:3]),  # the stacker of the MLP-only layout
    ],
)
def test_weights_of_another_stack_layout_are_refused(key: str, broken: Any) -> None:
    arrays = classifier.read_weights()
    arrays[key] = broken(arrays[key])
    with pytest.raises(ValueError, match="another layout"):
        classifier.RouterModel(arrays, classifier.get_embedding())


def test_neighbour_set_has_one_unit_centroid_per_group_and_label() -> None:
    train = _script("train_router")
    dense = np.zeros((4, classifier.EMBED_DIM), dtype=np.float32)
    dense[0, 0] = dense[1, 1] = 1.0  # group a, math: two rows, one centroid between them
    dense[2, 2] = 1.0  # group a, general: its own
    dense[3, 3] = 1.0  # group b, math
    vectors, labels = train.neighbour_set(
        dense, np.array([1, 1, 0, 1]), np.array(["a", "a", "a", "b"]), np.arange(4)
    )
    assert labels.tolist() == [1.0, 0.0, 1.0]
    np.testing.assert_allclose(vectors[0, :2], [math.sqrt(0.5)] * 2, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    # Only the rows of ``index`` count (a fold's training rows).
    vectors, labels = train.neighbour_set(
        dense, np.array([1, 1, 0, 1]), np.array(["a", "a", "a", "b"]), np.array([1, 3])
    )
    assert labels.tolist() == [1.0, 1.0] and vectors[0, 1] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("prompt", "code"),
    [
        ("explain this code", "import numpy as np\n\ndef norm(v):\n    return np.sqrt(np.sum(v ** 2))\n"),
        ("why does the endpoint return 404", "@app.get('/o/{oid}')\ndef order(oid: int):\n    return db.get(oid)\n"),
        ("", "def add(a, b):\n    return a + b\n"),
    ],
)
def test_the_cached_code_path_gives_the_buckets_of_the_plain_one(prompt: str, code: str) -> None:
    """``hashed_with_code`` (the selection's buckets cached) equals ``hashed`` of prose + shared words."""
    from coding_director.routing.features import code_part, hashed, hashed_with_code

    part = code_part(code, "")
    words = prompt.lower().split()
    cached = dict(zip(*hashed_with_code(words, part), strict=True))
    plain = dict(zip(*hashed(words + list(part.shared), part.index), strict=True))
    assert cached == plain and cached


#: The plain forms of the patterns that features.py writes to begin with a literal or a class (same matches).
_PLAIN_PATTERNS = {
    "_IDENT_PART_RE": r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])",
    "_OPERATOR_RE": r"\*\*|[-+*/%^]=?|@|<<|>>",
    "style 1": r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?\b",
    "style 2": r"(?<=[\w)\]])\s*(?:\*\*|[-+*/%^])\s*(?=[\w(])",
    "style 4": r"\w\[",
    "style 5": r"\b(?:for|while|loop|each|repeat|until)\b",
}


def test_fast_patterns_find_what_their_plain_forms_find(corpus: list[dict[str, Any]]) -> None:
    import random
    import re

    rng = random.Random(0)
    alphabet = "aAbZz_09e. \n\t()[]*+-/%^@<>=='\"`éΣ٣"
    texts = [t for r in corpus for t in (r["text"], r.get("code", "")) if t]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(5000)]
    texts += ["for x in xs", "fore", "afor", "x2[i]", "a**b", "a *= -b", "HTTPServer", "getHTTP2Url", "1.5e-3x"]
    for name, plain in _PLAIN_PATTERNS.items():
        fast = features._CODE_STYLE_RES[int(name[-1])] if name.startswith("style") else getattr(features, name)
        reference = re.compile(plain)
        for text in texts:
            if name == "_IDENT_PART_RE":
                assert fast.findall(text) == reference.findall(text), (name, text[:60])
            else:
                assert len(fast.findall(text)) == len(reference.findall(text)), (name, text[:60])


def test_prefiltered_prose_patterns_find_what_their_plain_forms_find(corpus: list[dict[str, Any]]) -> None:
    """The stack-trace pattern split in two, the formula and complexity patterns skipped on text
    without their characters, and the lexicon's tokens without the stop-phrase pass on text without
    a stop phrase: the same answers as the plain forms, on the corpus and on random text made of
    their letters and of letters with other case forms (Kelvin sign, long s, dotted and dotless i)."""
    import random
    import re

    from coding_director.routing import lexicon

    trace = re.compile(
        r"Traceback \(most recent|^\s+at [\w.$]+\(|\w+(?:Error|Exception):|^panic:|error\[E\d+\]|npm ERR!|"
        r"Segmentation fault|FATAL|Uncaught",
        re.MULTILINE,
    )

    def plain_tokens(text: str) -> list[str]:
        def replace(m: re.Match[str]) -> str:
            return " regression_test " if "egression" in m.group(0) else " poc "

        return lexicon.TOKEN_RE.findall(lexicon.STOP_PHRASES.sub(replace, text).lower())

    rng = random.Random(0)
    alphabet = "aOonNsSqQrRtTlLgG2^*/=%()\u017f\u212a\u0130\u0131 \n\tat.Error:Exception:panic:[E]1"
    phrases = ["proof of concept", "Regression tests", "REGRESSION TEST", "linear-Gradient", "radial-gradient"]
    phrases += ["Math.max", "x", "\u017fqrt(2)", "O(n log n)"]
    texts = [t for r in corpus for t in (r["text"], r.get("code", "")) if t]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(5000)]
    texts += [" ".join(rng.choice(phrases) for _ in range(3)) for _ in range(500)]
    texts += ["  at foo.bar(x)", "x\n\tat a.b(", "panic: oops", "ValueError: bad", "Error: bad", "n^2 loops", "SQRT x"]
    for text in texts:
        assert features._has_trace(text) == bool(trace.search(text)), text[:60]
        lower = text.lower()
        assert features._formula_count(text, lower) == len(features._FORMULA_RE.findall(text)), text[:60]
        assert features._has_complexity(text, lower) == bool(features._COMPLEXITY_RE.search(text)), text[:60]
        assert lexicon.tokens(text) == plain_tokens(text), text[:60]


def test_row_sums_equal_the_float16_rows_when_the_buffer_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    from coding_director.routing import embedding

    monkeypatch.setattr(embedding, "INITIAL_ROWS", 4)
    ours = embedding.WordLlamaEmbedding()
    for ids in ([5, 7, 5], [7, 9, 11, 13, 15, 9], list(range(100, 140)), [5, 139], []):
        expected = ours.matrix[ids].astype(np.float32).sum(axis=0) if ids else np.zeros(256, np.float32)
        np.testing.assert_allclose(ours.row_sum(ids), expected, rtol=1e-6, atol=1e-6)
    assert len(ours._rows32) >= ours._used == len({5, 7, 9, 11, 13, 15, *range(100, 140)})
