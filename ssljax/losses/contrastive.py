"""Contrastive losses: SimCLR's NT-Xent (dense and blockwise), MoCo v1/v2 InfoNCE, MoCo v3.

Each view's positive is its twin; negatives are the other rows of the global batch
(gathered across devices with `lax.all_gather(..., tiled=True)`) or a queue.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ssljax.losses._common import (
    Array,
    AxisName,
    as_f32,
    check_positive,
    check_same_shape,
    cross_entropy_rows,
    dot,
    gather,
    l2_normalize,
    psum,
    row_offset,
)

# --------------------------------------------------------------------------------------------
# SimCLR.
# --------------------------------------------------------------------------------------------


def _nt_xent_rows(
    anchors: Array, cands: Array, self_idx: Array, pos_idx: Array, inv_temp: Array | float
) -> Array:
    """NT-Xent terms of a block of anchors against all candidates: `[m, d] -> [m]`."""
    logits = dot(anchors, cands) * inv_temp  # [m, 2N]
    cols = jnp.arange(cands.shape[0])
    logits = jnp.where(cols[None, :] == self_idx[:, None], -jnp.inf, logits)
    return cross_entropy_rows(logits, pos_idx)


def _nt_xent_rows_blockwise(
    anchors: Array,
    cands: Array,
    self_idx: Array,
    pos_idx: Array,
    inv_temp: Array | float,
    block_size: int,
) -> Array:
    """As `_nt_xent_rows`, one block of `block_size` anchors at a time.

    The anchors are padded to a multiple of `block_size` (padding rows are zero vectors whose
    terms are finite and dropped). A `lax.map` runs over the blocks, and `jax.checkpoint`
    makes the backward pass recompute each block's `[block_size, 2N]` logits instead of
    storing them, so neither pass holds more than one block of the similarity matrix; the
    candidates' gradient is accumulated across blocks by the scan's transpose.
    """
    m = anchors.shape[0]
    num_blocks = -(-m // block_size)
    pad = num_blocks * block_size - m
    if pad:
        anchors = jnp.pad(anchors, ((0, pad), (0, 0)))
        self_idx = jnp.pad(self_idx, (0, pad))
        pos_idx = jnp.pad(pos_idx, (0, pad), constant_values=1)  # any valid column != 0
    blocks = (
        anchors.reshape(num_blocks, block_size, anchors.shape[1]),
        self_idx.reshape(num_blocks, block_size),
        pos_idx.reshape(num_blocks, block_size),
    )
    block_fn = jax.checkpoint(
        lambda a, s, p: _nt_xent_rows(a, cands, s, p, inv_temp), prevent_cse=False
    )
    terms = lax.map(lambda xs: block_fn(*xs), blocks)
    return terms.reshape(-1)[:m]


def nt_xent(
    z_a: Array,
    z_b: Array,
    *,
    temperature: float = 0.1,
    axis_name: AxisName = None,
    block_size: int | None = None,
) -> Array:
    """SimCLR's normalized temperature-scaled cross-entropy (NT-Xent).

    The 2N embeddings of N pairs `(z_a[k], z_b[k])` are L2-normalized and compared by cosine
    similarity. Each of the 2N views is an anchor; its twin is the positive, the other 2N-2
    views are the negatives (self-similarity is excluded):
    `l(i, j) = -log(exp(s_ij/T) / sum_{k != i} exp(s_ik/T))`, and the loss is the mean of
    `l(2k-1, 2k) + l(2k, 2k-1)` over the 2N anchors.

    With `axis_name`, each device passes its local `n` pairs, N = n * axis_size, and the
    negatives are the views of all devices.

    Args:
      z_a: `[n, d]` embeddings of the first views (local rows when `axis_name` is set).
      z_b: `[n, d]` embeddings of the second views, `z_b[i]` the positive of `z_a[i]`.
      temperature: softmax temperature T > 0.
      axis_name: mesh axis of the enclosing `shard_map` to gather negatives over, or None.
      block_size: if set, process the anchors in blocks of this many rows so that memory
        grows linearly in N (the 2N x 2N similarity matrix is never materialized, in the
        forward or the backward pass); same value and gradient as the dense form.

    Returns:
      The float32 scalar loss of the (global) batch.

    Reference:
      Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
      ICML 2020, arXiv:2002.05709 (Algorithm 1).
    """
    z_a = as_f32("z_a", z_a, 2)
    z_b = as_f32("z_b", z_b, 2)
    check_same_shape("z_a", z_a, "z_b", z_b)
    check_positive("temperature", temperature)
    if block_size is not None:
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
            raise ValueError(f"block_size must be a positive int or None, got {block_size!r}")
    n = z_a.shape[0]
    if n == 0:
        raise ValueError(f"z_a must hold at least one pair, got shape {tuple(z_a.shape)}")

    u_a, u_b = l2_normalize(z_a), l2_normalize(z_b)
    g_a, g_b = gather(u_a, axis_name), gather(u_b, axis_name)
    n_global = g_a.shape[0]
    cands = jnp.concatenate([g_a, g_b], axis=0)  # [2N, d]: all a-views, then all b-views
    anchors = jnp.concatenate([u_a, u_b], axis=0)  # [2n, d]: this device's views
    rows = row_offset(n, axis_name) + jnp.arange(n)  # global pair index of local rows
    self_idx = jnp.concatenate([rows, n_global + rows])
    pos_idx = jnp.concatenate([n_global + rows, rows])
    inv_temp = 1.0 / jnp.asarray(temperature, jnp.float32)

    if block_size is None or block_size >= 2 * n:
        terms = _nt_xent_rows(anchors, cands, self_idx, pos_idx, inv_temp)
    else:
        terms = _nt_xent_rows_blockwise(anchors, cands, self_idx, pos_idx, inv_temp, block_size)
    return psum(jnp.sum(terms), axis_name) / (2 * n_global)


# --------------------------------------------------------------------------------------------
# MoCo.
# --------------------------------------------------------------------------------------------


def info_nce(q: Array, k: Array, queue: Array, *, temperature: float = 0.2) -> Array:
    """MoCo v1/v2 InfoNCE against a queue of negative keys.

    q, k and the queue rows are L2-normalized; for each query the logits are
    `[q.k, q.queue_1, ..., q.queue_K] / T` with the positive at index 0, and the loss is the
    softmax cross-entropy averaged over the n queries.

    The caller stops gradients into `k` and `queue` (they come from the momentum encoder),
    e.g. `info_nce(q, lax.stop_gradient(k), queue)`.

    Args:
      q: `[n, d]` queries (online encoder).
      k: `[n, d]` positive keys, `k[i]` the positive of `q[i]`.
      queue: `[K, d]` negative keys (K >= 0).
      temperature: softmax temperature T > 0.

    Returns:
      The float32 scalar mean loss.

    Reference:
      He et al., "Momentum Contrast for Unsupervised Visual Representation Learning",
      CVPR 2020, arXiv:1911.05722 (Algorithm 1); Chen et al., "Improved Baselines with
      Momentum Contrastive Learning", arXiv:2003.04297.
    """
    q = as_f32("q", q, 2)
    k = as_f32("k", k, 2)
    queue = as_f32("queue", queue, 2)
    check_same_shape("q", q, "k", k)
    if queue.shape[1] != q.shape[1]:
        raise ValueError(
            f"queue feature size must equal q's, got queue shape {tuple(queue.shape)} and q "
            f"shape {tuple(q.shape)}"
        )
    check_positive("temperature", temperature)
    q, k, queue = l2_normalize(q), l2_normalize(k), l2_normalize(queue)
    inv_temp = 1.0 / jnp.asarray(temperature, jnp.float32)
    l_pos = jnp.sum(q * k, axis=-1, keepdims=True)  # [n, 1]
    l_neg = dot(q, queue)  # [n, K]
    logits = jnp.concatenate([l_pos, l_neg], axis=1) * inv_temp
    labels = jnp.zeros((q.shape[0],), jnp.int32)
    return jnp.mean(cross_entropy_rows(logits, labels))


def moco_v3(q: Array, k: Array, *, temperature: float = 1.0, axis_name: AxisName = None) -> Array:
    """MoCo v3 contrastive loss: queries against the keys of the whole (global) batch.

    q and k are L2-normalized; the logits of query i are `q_i . k_j / T` over all N keys j
    (gathered from all devices), the label is i's own key, and the mean cross-entropy is
    multiplied by `2 T`, as in the authors' code. One direction; callers symmetrize
    (`moco_v3(q1, k2) + moco_v3(q2, k1)`) and stop gradients into k.

    Args:
      q: `[n, d]` queries (local rows when `axis_name` is set).
      k: `[n, d]` keys, `k[i]` the positive of `q[i]`.
      temperature: softmax temperature T > 0.
      axis_name: mesh axis of the enclosing `shard_map` to gather keys over, or None.

    Returns:
      The float32 scalar loss of the (global) batch.

    Reference:
      Chen, Xie and He, "An Empirical Study of Training Self-Supervised Vision Transformers",
      ICCV 2021, arXiv:2104.02057 (Algorithm 1).
    """
    q = as_f32("q", q, 2)
    k = as_f32("k", k, 2)
    check_same_shape("q", q, "k", k)
    check_positive("temperature", temperature)
    n = q.shape[0]
    if n == 0:
        raise ValueError(f"q must hold at least one row, got shape {tuple(q.shape)}")
    temp = jnp.asarray(temperature, jnp.float32)
    q, k = l2_normalize(q), l2_normalize(k)
    keys = gather(k, axis_name)  # [N, d]
    logits = dot(q, keys) / temp  # [n, N]
    labels = row_offset(n, axis_name) + jnp.arange(n)
    total = psum(jnp.sum(cross_entropy_rows(logits, labels)), axis_name)
    return total / keys.shape[0] * (2.0 * temp)


