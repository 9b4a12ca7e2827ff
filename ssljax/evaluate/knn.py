"""Weighted k-nearest-neighbour evaluation of frozen features.

The protocol of Wu et al. (2018) as used by DINO's ``eval_knn.py``: features are
L2-normalised, each test point retrieves its ``k`` most cosine-similar training points,
each neighbour votes for its class with weight ``exp(sim / T)``, and the class scores are
the per-class sums of those weights.

Everything runs on the default device: the normalised training features stay resident,
test points are processed in fixed-size batches (the last one padded) by one jitted
function, so there is a single compilation per (train size, batch size, dim).

Reference:
    Wu, Xiong, Yu, Lin. "Unsupervised Feature Learning via Non-Parametric Instance
    Discrimination", CVPR 2018 (weighted kNN, Section 3.5).
    Caron et al. "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021,
    ``eval_knn.py`` (k=20/200, T=0.07).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ssljax.evaluate.linear import topk_accuracy

_EPS = 1e-12


def l2_normalize(x: jax.Array, axis: int = -1) -> jax.Array:
    """L2-normalises ``x`` along ``axis`` in float32; zero vectors stay zero.

    Args:
        x: array, e.g. features ``[N, D]``.
        axis: the axis to normalise.

    Returns:
        float32 array of the shape of ``x`` with unit norm along ``axis`` (or zero).
    """
    x = jnp.asarray(x, jnp.float32)
    norm = jnp.sqrt(jnp.sum(x * x, axis=axis, keepdims=True))
    return x / jnp.maximum(norm, _EPS)


@functools.partial(jax.jit, static_argnames=("num_classes", "k"))
def _knn_scores_batch(
    train_n: jax.Array,
    train_labels: jax.Array,
    test_batch: jax.Array,
    temperature: jax.Array,
    *,
    num_classes: int,
    k: int,
) -> jax.Array:
    """Class scores of one batch of test points.

    Args:
        train_n: L2-normalised training features ``[N, D]`` float32.
        train_labels: int32 ``[N]``.
        test_batch: test features ``[B, D]`` (normalised here).
        temperature: scalar.
        num_classes: number of classes ``C``.
        k: neighbours, ``k <= N``.

    Returns:
        float32 ``[B, C]`` per-class sums of ``exp(sim / T)`` over the top-k neighbours.
    """
    test_n = l2_normalize(test_batch)
    # HIGHEST keeps the similarities (and hence the neighbour ranking) float32-exact on
    # TPU/GPU, where the default matmul precision is bfloat16/TF32.
    sim = jnp.matmul(test_n, train_n.T, precision=lax.Precision.HIGHEST)  # [B, N]
    top_sim, top_idx = lax.top_k(sim, k)  # [B, k]
    weights = jnp.exp(top_sim / temperature)  # [B, k]
    neighbour_labels = train_labels[top_idx]  # [B, k]
    rows = jnp.arange(sim.shape[0])[:, None]
    # Scatter-add instead of one_hot [B, k, C]: memory O(B * C), not O(B * k * C).
    scores = jnp.zeros((sim.shape[0], num_classes), jnp.float32)
    return scores.at[rows, neighbour_labels].add(weights)


def _check_inputs(train_features, train_labels, test_features, num_classes, k, temperature,
                  batch_size):
    if train_features.ndim != 2 or test_features.ndim != 2:
        raise ValueError(
            f"knn: features must be [N, D]; got train {train_features.shape}, "
            f"test {test_features.shape}")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"knn: train and test feature dims differ ({train_features.shape[1]} vs "
            f"{test_features.shape[1]})")
    if train_labels.shape != (train_features.shape[0],):
        raise ValueError(
            f"knn: train_labels must be [{train_features.shape[0]}]; got {train_labels.shape}")
    if train_features.shape[0] == 0:
        raise ValueError("knn: the training set is empty")
    if num_classes < 1 or k < 1 or batch_size < 1:
        raise ValueError(
            f"knn: num_classes, k and batch_size must be >= 1; got {num_classes}, {k}, "
            f"{batch_size}")
    if not temperature > 0:
        raise ValueError(f"knn: temperature must be > 0; got {temperature}")


def knn_predict(
    train_features,
    train_labels,
    test_features,
    *,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.07,
    batch_size: int = 1024,
) -> jax.Array:
    """Weighted kNN class scores of the test points (Wu et al. 2018; DINO eval_knn).

    score[i, c] = sum over the top-k cosine neighbours j of test point i with
    ``train_labels[j] == c`` of ``exp(cos(test_i, train_j) / temperature)``.

    With ``temperature -> inf`` every weight tends to 1 and this is an unweighted
    majority vote. Keep ``temperature`` above ~0.012: ``exp(1 / T)`` overflows float32
    below that.

    Args:
        train_features: ``[N, D]`` (NumPy or jax), any float dtype.
        train_labels: integer ``[N]`` in ``[0, num_classes)``.
        test_features: ``[M, D]``.
        num_classes: number of classes ``C``.
        k: neighbours per test point; clipped to ``N``.
        temperature: ``T`` of the weights ``exp(sim / T)``.
        batch_size: test points per device call; the last batch is padded.

    Returns:
        float32 jax array ``[M, C]`` of class scores (argmax is the prediction).

    Raises:
        ValueError: on mismatched shapes, empty training set or non-positive k/T.
    """
    train_features = jnp.asarray(train_features)
    train_labels = jnp.asarray(train_labels)
    test_features = jnp.asarray(test_features)
    _check_inputs(train_features, train_labels, test_features, num_classes, k, temperature,
                  batch_size)
    n = train_features.shape[0]
    m, d = test_features.shape
    k = min(int(k), n)
    if m == 0:
        return jnp.zeros((0, num_classes), jnp.float32)
    batch_size = min(int(batch_size), m)
    num_batches = -(-m // batch_size)
    pad = num_batches * batch_size - m
    test = jnp.asarray(test_features, jnp.float32)
    if pad:
        test = jnp.concatenate([test, jnp.zeros((pad, d), jnp.float32)])
    train_n = l2_normalize(train_features)
    train_labels = train_labels.astype(jnp.int32)
    temp = jnp.float32(temperature)
    outs = [
        _knn_scores_batch(train_n, train_labels, test[i * batch_size:(i + 1) * batch_size],
                          temp, num_classes=num_classes, k=k)
        for i in range(num_batches)
    ]
    return jnp.concatenate(outs)[:m]


def knn_accuracy(
    train_features,
    train_labels,
    test_features,
    test_labels,
    *,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.07,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Top-1 (and top-5 when ``num_classes > 5``) accuracy of the weighted kNN classifier.

    Args:
        train_features: ``[N, D]``.
        train_labels: integer ``[N]``.
        test_features: ``[M, D]``.
        test_labels: integer ``[M]``.
        num_classes: number of classes ``C``.
        k: neighbours per test point (clipped to ``N``).
        temperature: weight temperature ``T``.
        batch_size: test points per device call.

    Returns:
        ``{"top1": float}`` plus ``"top5": float`` when ``num_classes > 5``.

    Raises:
        ValueError: on mismatched shapes (see `knn_predict`).
    """
    test_labels = np.asarray(test_labels)
    if test_labels.shape != (np.shape(test_features)[0],):
        raise ValueError(
            f"knn: test_labels must be [{np.shape(test_features)[0]}]; got {test_labels.shape}")
    scores = knn_predict(train_features, train_labels, test_features, num_classes=num_classes,
                         k=k, temperature=temperature, batch_size=batch_size)
    labels = jnp.asarray(test_labels, jnp.int32)
    result = {"top1": float(topk_accuracy(scores, labels, 1))}
    if num_classes > 5:
        result["top5"] = float(topk_accuracy(scores, labels, 5))
    return result
