"""Tests of ssljax.evaluate: kNN, linear probe, representation health, plots."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ssljax import evaluate as E

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- kNN


def _knn_reference(train, labels, test, num_classes, k, temperature):
    """float64 NumPy weighted kNN (Wu et al. 2018): scores and the k-th/(k+1)-th sim gap."""
    train = np.asarray(train, np.float64)
    test = np.asarray(test, np.float64)
    tr = train / np.linalg.norm(train, axis=1, keepdims=True)
    te = test / np.linalg.norm(test, axis=1, keepdims=True)
    sim = te @ tr.T
    k = min(k, train.shape[0])
    order = np.argsort(-sim, axis=1)
    idx = order[:, :k]
    weights = np.exp(np.take_along_axis(sim, idx, axis=1) / temperature)
    scores = np.zeros((test.shape[0], num_classes))
    for i in range(test.shape[0]):
        np.add.at(scores[i], labels[idx[i]], weights[i])
    sorted_sim = -np.sort(-sim, axis=1)
    gap = (sorted_sim[:, k - 1] - sorted_sim[:, k] if k < train.shape[0]
           else np.full(test.shape[0], np.inf))
    return scores, gap


@pytest.mark.parametrize("k,temperature", [(1, 0.07), (10, 0.07), (50, 0.5), (20, 1.0)])
def test_knn_matches_numpy_reference(k, temperature):
    rng = np.random.default_rng(k)
    train = rng.normal(size=(300, 16)).astype(np.float32)
    labels = rng.integers(0, 7, size=300)
    test = rng.normal(size=(40, 16)).astype(np.float32)
    got = np.asarray(E.knn_predict(train, labels, test, num_classes=7, k=k,
                                   temperature=temperature))
    want, gap = _knn_reference(train, labels, test, 7, k, temperature)
    assert got.shape == (40, 7) and got.dtype == np.float32
    rows = gap > 1e-5  # compare only where float32 cannot reorder the k-th neighbour
    assert rows.sum() >= 35
    np.testing.assert_allclose(got[rows], want[rows], rtol=2e-5, atol=1e-6)


def test_knn_hand_computed():
    train = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], np.float32)  # cos to [1,0]: 1,0,.707
    labels = np.array([0, 1, 1])
    test = np.array([[5.0, 0.0]], np.float32)
    c = 1 / math.sqrt(2)
    got = E.knn_predict(train, labels, test, num_classes=3, k=2, temperature=0.5)
    np.testing.assert_allclose(got, [[math.exp(2.0), math.exp(2 * c), 0.0]], rtol=1e-6)
    got = E.knn_predict(train, labels, test, num_classes=2, k=3, temperature=1.0)
    np.testing.assert_allclose(got, [[math.e, 1.0 + math.exp(c)]], rtol=1e-6)


def test_knn_k_larger_than_train_and_uneven_batches():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(5, 8)).astype(np.float32)
    labels = np.array([0, 1, 2, 1, 0])
    test = rng.normal(size=(37, 8)).astype(np.float32)
    want, _ = _knn_reference(train, labels, test, 3, 5, 0.1)
    big_k = E.knn_predict(train, labels, test, num_classes=3, k=200, temperature=0.1)
    batched = E.knn_predict(train, labels, test, num_classes=3, k=200, temperature=0.1,
                            batch_size=8)
    assert batched.shape == (37, 3)
    np.testing.assert_allclose(big_k, want, rtol=2e-5)
    np.testing.assert_allclose(batched, big_k, rtol=1e-6)


def test_knn_unweighted_limit_matches_sklearn():
    x, y = make_blobs(n_samples=900, n_features=16, centers=5, cluster_std=10.0, random_state=1)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=300, random_state=0)
    sk = KNeighborsClassifier(n_neighbors=15, metric="cosine", weights="uniform").fit(xtr, ytr)
    sk_pred = sk.predict(xte)
    scores = E.knn_predict(xtr, ytr, xte, num_classes=5, k=15, temperature=1e4)
    pred = np.asarray(jnp.argmax(scores, axis=-1))
    assert np.mean(pred == sk_pred) >= 0.97  # differ only on vote ties
    ours = E.knn_accuracy(xtr, ytr, xte, yte, num_classes=5, k=15, temperature=1e4)
    assert 0.5 < sk.score(xte, yte) < 0.99  # a non-trivial problem
    assert abs(ours["top1"] - sk.score(xte, yte)) <= 0.02
    assert set(ours) == {"top1"}  # no top-5 with 5 classes


def test_knn_accuracy_top5_and_errors():
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(8, 12)) * 3
    ytr, yte = rng.integers(0, 8, 200), rng.integers(0, 8, 50)
    xtr = centers[ytr] + rng.normal(size=(200, 12))
    xte = centers[yte] + rng.normal(size=(50, 12))
    acc = E.knn_accuracy(xtr, ytr, xte, yte, num_classes=8, k=20)
    assert set(acc) == {"top1", "top5"} and isinstance(acc["top1"], float)
    assert 0.8 <= acc["top1"] <= acc["top5"] <= 1.0
    with pytest.raises(ValueError, match="dims differ"):
        E.knn_predict(xtr, ytr, xte[:, :5], num_classes=8)
    with pytest.raises(ValueError, match="temperature"):
        E.knn_predict(xtr, ytr, xte, num_classes=8, temperature=0.0)


# -------------------------------------------------------------------------- linear


def test_topk_accuracy_hand_computed():
    logits = jnp.array([[0.1, 0.5, 0.4], [0.9, 0.06, 0.04]])
    labels = jnp.array([2, 1])
    assert float(E.topk_accuracy(logits, labels, 1)) == 0.0
    assert float(E.topk_accuracy(logits, labels, 2)) == 1.0
    assert float(E.topk_accuracy(logits, labels, 5)) == 1.0  # k clipped to C
    assert float(jax.jit(E.topk_accuracy, static_argnums=2)(logits, jnp.array([1, 0]), 1)) == 1


def _sklearn_lr(xtr, ytr, xte, yte, c=1.0):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(
        xtr, ytr).score(xte, yte)


@pytest.mark.slow
def test_linear_matches_sklearn_on_blobs():
    x, y = make_blobs(n_samples=3000, n_features=64, centers=10, cluster_std=15.0,
                      random_state=0)
    x = x.astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=1000, random_state=0)
    n = xtr.shape[0]
    clf = E.train_linear_classifier(xtr, ytr, num_classes=10)  # defaults
    # sklearn's LogisticRegression(C=1) on the same standardised features.
    mean, std = np.asarray(clf.mean, np.float64), np.asarray(clf.std, np.float64)
    sk = LogisticRegression(C=1.0, tol=1e-6, max_iter=5000).fit((xtr - mean) / std, ytr)
    sk_acc = sk.score((xte - mean) / std, yte)
    assert 0.6 < sk_acc < 0.97  # neither trivial nor hopeless
    res = E.evaluate_linear(clf, xte, yte)
    assert abs(res["top1"] - sk_acc) <= 0.01
    assert res["top5"] >= res["top1"]
    assert clf.params["w"].shape == (64, 10) and clf.params["b"].shape == (10,)

    # With weight_decay = 1 / (C N) the objective is sklearn's / N: L-BFGS reaches its optimum.
    clf = E.train_linear_classifier(xtr, ytr, num_classes=10, weight_decay=1.0 / n,
                                    epochs=300)
    logits = (xtr - mean) / std @ sk.coef_.T + sk.intercept_
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    sk_obj = -logp[np.arange(n), ytr].mean() + 0.5 / n * np.sum(sk.coef_ ** 2)
    assert sk_obj - 1e-3 <= float(clf.final_loss) <= sk_obj + 1e-4
    # the per-iteration objective: one value per iteration taken, NaN after, ending at the
    # final objective, and L-BFGS's line search never increases it
    hist = np.asarray(clf.loss_history)
    taken = int(clf.steps)
    assert hist.shape == (300,) and 1 < taken <= 300
    assert np.isfinite(hist[:taken]).all() and np.isnan(hist[taken:]).all()
    assert np.isclose(hist[taken - 1], float(clf.final_loss), rtol=1e-5)
    assert (np.diff(hist[:taken]) <= 1e-6).all()


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return train_test_split(x.astype(np.float32), y, test_size=0.25, random_state=0,
                            stratify=y)


def test_linear_on_digits(digits):
    xtr, xte, ytr, yte = digits
    sk_acc = _sklearn_lr(xtr, ytr, xte, yte)
    clf = E.train_linear_classifier(xtr, ytr, num_classes=10)
    res = E.evaluate_linear(clf, xte, yte)
    assert res["top1"] >= 0.95
    assert res["top1"] >= sk_acc - 0.01
    assert 1.0 >= res["top5"] >= res["top1"]
    pred = np.asarray(clf.predict(xte))
    assert pred.dtype == np.int32 and np.isclose(np.mean(pred == yte), res["top1"])


def test_linear_minibatch_adam_is_seeded(digits):
    xtr, xte, ytr, yte = digits  # 1347 examples: the last mini-batch of 256 is padded
    kw = dict(num_classes=10, epochs=30, batch_size=256, optimizer="adam")
    a = E.train_linear_classifier(xtr, ytr, seed=0, **kw)
    b = E.train_linear_classifier(xtr, ytr, seed=0, **kw)
    c = E.train_linear_classifier(xtr, ytr, seed=1, **kw)
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    assert not np.array_equal(a.params["w"], c.params["w"])
    assert int(a.steps) == 30 * 6
    assert E.evaluate_linear(a, xte, yte)["top1"] >= 0.94


def test_linear_errors():
    x = np.zeros((10, 3), np.float32)
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="full-batch"):
        E.train_linear_classifier(x, y, num_classes=2, batch_size=4)
    with pytest.raises(ValueError, match="optimizer"):
        E.train_linear_classifier(x, y, num_classes=2, optimizer="rmsprop")
    with pytest.raises(ValueError, match="labels"):
        E.train_linear_classifier(x, y + 1, num_classes=2)


# -------------------------------------------------------------------------- health


def test_health_collapsed_batch():
    rng = np.random.default_rng(0)
    z = jnp.tile(jnp.asarray(rng.normal(size=(1, 32)), jnp.float32), (64, 1))
    m = E.health_metrics(z)
    assert float(m["embedding_std"]) < 1e-6
    assert abs(float(m["effective_rank"]) - 1.0) < 1e-3
    zeros = E.health_metrics(jnp.zeros((16, 8)))
    assert all(np.isfinite(float(v)) for v in zeros.values())
    assert float(zeros["effective_rank"]) == pytest.approx(1.0)


def test_health_isotropic_gaussian():
    d = 32
    z = jax.random.normal(jax.random.PRNGKey(0), (4096, d))
    m = jax.jit(E.health_metrics)(z)
    assert float(m["embedding_std"]) == pytest.approx(1 / math.sqrt(d), rel=0.03)
    assert float(m["embedding_std_normalized"]) == pytest.approx(1.0, rel=0.03)
    assert 0.97 * d < float(m["effective_rank"]) <= d


def test_health_hand_computed():
    z = jnp.array([[3.0, 0.0], [0.0, 1.0]])
    # normalised rows e1, e2: each dim holds {1, 0} -> population std 0.5.
    assert float(E.embedding_std(z)) == pytest.approx(0.5)
    # singular values 3, 1 -> p = (3/4, 1/4).
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert float(E.effective_rank(z)) == pytest.approx(math.exp(h), rel=1e-6)
    m = E.health_metrics(z)
    assert float(m["embedding_std_normalized"]) == pytest.approx(0.5 * math.sqrt(2))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        E.embedding_std(jnp.zeros(5))


# --------------------------------------------------------------------------- plots


def _assert_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC


def test_plot_training_curves(tmp_path):
    rows = [{"step": s, "loss": 5.0 / (s + 1), "lr": 0.1 * s / 100} for s in range(0, 100, 5)]
    rows += [{"step": s, "knn_top1": 0.1 + s / 200, "probe_top1": s / 150} for s in (50, 99)]
    rows.append({"step": 99, "note": "text is skipped", "effective_rank": 12.0})
    out = E.plot_training_curves(rows, tmp_path / "curves.png")
    _assert_png(out)
    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows[:5]) + "\n")
    _assert_png(E.plot_training_curves(str(jsonl), tmp_path / "sub" / "from_file.png"))
    with pytest.raises(ValueError, match="no loss"):
        E.plot_training_curves([{"step": 1, "foo": 2.0}], tmp_path / "none.png")


def test_plot_embedding_2d(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=100)
    feats = rng.normal(size=(100, 10)) + 4 * np.eye(10)[labels]
    _assert_png(E.plot_embedding_2d(feats, labels, tmp_path / "tsne.png", method="tsne"))
    out = E.plot_embedding_2d(feats, None, tmp_path / "pca.png", max_points=50)
    assert out == str(tmp_path / "pca.png")
    _assert_png(out)
    with pytest.raises(ValueError, match="method"):
        E.plot_embedding_2d(feats, labels, tmp_path / "x.png", method="umap")


def test_import_without_tensorflow():
    import subprocess
    import sys

    code = ("import sys, ssljax.evaluate; "
            "assert 'tensorflow' not in sys.modules; assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
