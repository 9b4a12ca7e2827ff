"""Clustering losses: Sinkhorn-Knopp equipartition codes and SwAV's swapped prediction.

Reference: Caron et al., "Unsupervised Learning of Visual Features by Contrasting Cluster
Assignments" (SwAV), NeurIPS 2020, arXiv:2006.09882, §3.1 and Algorithm 1; the authors'
`distributed_sinkhorn` and training loop (facebookresearch/swav, `main_swav.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from ssljax.losses._common import Array, AxisName, as_f32, axis_size, check_positive


def sinkhorn_knopp(
    scores: Array, *, epsilon: float = 0.05, iterations: int = 3, axis_name: AxisName = None,
    valid: Array | None = None,
) -> Array:
    """Soft codes of n samples over K prototypes with equal prototype usage (equipartition).

    `Q = exp(scores / epsilon)`, then `iterations` rounds of alternately normalising the
    prototype (row) sums to 1/K — summed over all devices — and the sample (column) sums
    to 1/B, B the number of samples of all devices; finally each sample's code is scaled
    to sum to 1. These are the official `distributed_sinkhorn`'s iterations, computed in
    the log domain so that no sum underflows or overflows for any finite scores (the
    reference exponentiates `scores / ε` directly, which is finite for its cosines only).
    No gradient flows through the codes.

    Args:
      scores: `[n, K]` sample-prototype scores (cosines in SwAV; local rows with
        `axis_name`).
      epsilon: entropic regularisation ε > 0 (0.05).
      iterations: Sinkhorn iterations (3).
      axis_name: mesh axis of the enclosing `shard_map`: prototype sums and B are global.
      valid: optional bool `[n]`: only these samples take part (B counts them; the
        others get all-zero codes) — DINOv2's iBOT teacher over the masked patches only,
        its `n_masked_patches_tensor`.

    Returns:
      float32 codes `[n, K]`, each (valid) row non-negative and summing to 1.

    Reference:
      Caron et al., SwAV, NeurIPS 2020, §3.1 ("Online clustering") and `distributed_sinkhorn`;
      Cuturi, "Sinkhorn Distances", NeurIPS 2013.
    """
    scores = as_f32("scores", scores, 2)
    check_positive("epsilon", epsilon)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")
    scores = lax.stop_gradient(scores)
    n, k = scores.shape
    if valid is None:
        b = float(n * axis_size(axis_name))
        keep = lambda x: x  # noqa: E731
    else:
        valid = jnp.asarray(valid, bool)
        if valid.shape != (n,):
            raise ValueError(f"valid must have shape [n] = ({n},), got {tuple(valid.shape)}")
        b = jnp.maximum(lax.psum(jnp.sum(valid.astype(jnp.float32)), axis_name)
                        if axis_name is not None else jnp.sum(valid.astype(jnp.float32)), 1.0)
        keep = lambda x: jnp.where(valid[None, :], x, -jnp.inf)  # noqa: E731
    # In the log domain (the same iterations as the reference's, stable for any scores):
    # log Q = scores / ε, normalised by sums that are global over samples where the
    # reference all-reduces them.
    log_q = keep(scores.T / epsilon)  # [K, n]
    log_q = log_q - _logsumexp(log_q, None, axis_name)
    for _ in range(iterations):
        log_q = log_q - _logsumexp(log_q, 1, axis_name) - jnp.log(float(k))
        log_q = keep(log_q - jax.nn.logsumexp(log_q, axis=0, keepdims=True) - jnp.log(b))
    return jnp.exp(log_q + jnp.log(b)).T


def _logsumexp(x: Array, axis: int | None, axis_name: AxisName) -> Array:
    """`log sum exp(x)` over `axis` (None: all) and over the devices of `axis_name`."""
    local = jax.nn.logsumexp(x, axis=axis, keepdims=axis is not None)
    if axis_name is None:
        return local
    top = lax.stop_gradient(lax.pmax(local, axis_name))
    return top + jnp.log(lax.psum(jnp.exp(local - top), axis_name))


def swav(
    high_res_scores: Sequence[Array],
    low_res_scores: Sequence[Array],
    *,
    temperature: float = 0.1,
    epsilon: float = 0.05,
    sinkhorn_iterations: int = 3,
    queue_scores: Sequence[Array] | None = None,
    axis_name: AxisName = None,
) -> Array:
    """SwAV's swapped prediction: predict each high-resolution crop's code from every other crop.

    The codes `q_i` come from Sinkhorn-Knopp on the scores of high-resolution crop i (with
    the scores of the feature queue prepended when given, so that the equipartition is over
    queue and batch; only the batch's codes are used). Each crop v ≠ i predicts them with
    `softmax(s_v / T)`: `l_i = mean_{v != i} mean_n -sum_k q_ik log softmax(s_v / T)_k`, and
    the loss is the mean of `l_i` over the high-resolution crops.

    Args:
      high_res_scores: `[n, K]` scores of the crops that get codes (the 2 global crops).
      low_res_scores: `[n, K]` scores of the other crops (local crops; may be empty).
      temperature: T > 0 of the prediction softmax (0.1).
      epsilon: Sinkhorn's ε (0.05).
      sinkhorn_iterations: Sinkhorn iterations (3).
      queue_scores: optional, one `[m, K]` array per high-resolution crop: scores of queued
        embeddings of that crop (this device's share of the queue with `axis_name`).
      axis_name: mesh axis of the enclosing `shard_map`; the loss is of the global batch.

    Returns:
      The float32 scalar loss of the (global) batch.

    Reference:
      Caron et al., SwAV, NeurIPS 2020, Eq. 1-3 and the authors' `main_swav.py` loop.
    """
    highs = [as_f32("high_res_scores", s, 2) for s in high_res_scores]
    lows = [as_f32("low_res_scores", s, 2) for s in low_res_scores]
    check_positive("temperature", temperature)
    crops = highs + lows
    if not highs or len(crops) < 2:
        raise ValueError(f"swav needs >= 1 high-resolution crop and >= 2 crops in all, got "
                         f"{len(highs)} and {len(crops)}")
    if len({c.shape for c in crops}) > 1:
        raise ValueError(f"all crops' scores must have one shape [n, K], got "
                         f"{sorted({tuple(c.shape) for c in crops})}")
    if queue_scores is not None and len(queue_scores) != len(highs):
        raise ValueError(f"queue_scores needs one array per high-resolution crop "
                         f"({len(highs)}), got {len(queue_scores)}")
    n = crops[0].shape[0]
    log_p = [jax.nn.log_softmax(c / temperature, axis=-1) for c in crops]
    total = 0.0
    for i, s in enumerate(highs):
        if queue_scores is not None:
            s = jnp.concatenate([as_f32("queue_scores", queue_scores[i], 2), s])
        q = sinkhorn_knopp(s, epsilon=epsilon, iterations=sinkhorn_iterations,
                           axis_name=axis_name)[-n:]
        terms = [-jnp.sum(q * log_p[v], axis=-1) for v in range(len(crops)) if v != i]
        total = total + sum(jnp.mean(t) for t in terms) / len(terms)
    local = total / len(highs)
    return local if axis_name is None else lax.pmean(local, axis_name)
