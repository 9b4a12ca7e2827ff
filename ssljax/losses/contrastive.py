"""Contrastive losses: SimCLR's NT-Xent (dense and blockwise), MoCo v1/v2 InfoNCE, MoCo v3.

Each view's positive is its twin; negatives are the other rows of the global batch
(gathered across devices with `lax.all_gather(..., tiled=True)`) or a queue.
"""

from __future__ import annotations

from typing import NamedTuple

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


class _Pairs(NamedTuple):
    """Two views' normalised embeddings laid out for a 2N-way contrastive softmax."""

    g_a: Array  # [N, d] view a of every device's pairs (normalised)
    g_b: Array  # [N, d] view b
    anchors: Array  # [2n, d] this device's views: a-views, then b-views
    cands: Array  # [2N, d] all a-views, then all b-views
    rows: Array  # [n] global pair index of this device's rows
    self_idx: Array  # [2n] each anchor's own column in `cands`
    pos_idx: Array  # [2n] its positive's column
    n_global: int  # N


def _two_view_pairs(z_a: Array, z_b: Array, axis_name: str | None) -> _Pairs:
    """Normalises, gathers over `axis_name` and indexes the pairs of `[n, d]` z_a, z_b."""
    n = z_a.shape[0]
    if n == 0:
        raise ValueError(f"z_a must hold at least one pair, got shape {tuple(z_a.shape)}")
    u_a, u_b = l2_normalize(z_a), l2_normalize(z_b)
    g_a, g_b = gather(u_a, axis_name), gather(u_b, axis_name)
    n_global = g_a.shape[0]
    rows = row_offset(n, axis_name) + jnp.arange(n)
    return _Pairs(g_a=g_a, g_b=g_b, anchors=jnp.concatenate([u_a, u_b], axis=0),
                  cands=jnp.concatenate([g_a, g_b], axis=0), rows=rows,
                  self_idx=jnp.concatenate([rows, n_global + rows]),
                  pos_idx=jnp.concatenate([n_global + rows, rows]), n_global=n_global)


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
    p = _two_view_pairs(z_a, z_b, axis_name)
    anchors, cands, self_idx, pos_idx, n_global = (p.anchors, p.cands, p.self_idx, p.pos_idx,
                                                   p.n_global)
    n = z_a.shape[0]
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




# --------------------------------------------------------------------------------------------
# DCL / DCLW.
# --------------------------------------------------------------------------------------------


def dcl(
    z_a: Array,
    z_b: Array,
    *,
    temperature: float = 0.1,
    weighted: bool = False,
    sigma: float = 0.5,
    axis_name: AxisName = None,
) -> Array:
    """Decoupled contrastive loss (DCL), and its von Mises-Fisher weighted form (DCLW).

    NT-Xent without the positive in the denominator. With cosine similarities `s` of the
    L2-normalised embeddings, each of the 2N views `i` is an anchor with positive `i+`:
    `l_i = -w_i s(i, i+)/T + log sum_{k != i, i+} exp(s(i, k)/T)`, the sum over the other
    2N-2 views (both views of every other pair, all devices), and the loss is the mean of
    `l_i` over the 2N anchors. DCL has `w_i = 1`; DCLW weighs the positive by
    `w_i = 2 - N softmax_j(s(j, j+)/sigma)_i` (the softmax over the N pairs of the global
    batch, no gradient through the weights), which is 1 on average.

    Args:
      z_a: `[n, d]` embeddings of the first views (local rows when `axis_name` is set).
      z_b: `[n, d]` embeddings of the second views, `z_b[i]` the positive of `z_a[i]`.
      temperature: T > 0.
      weighted: DCLW's weighting of the positive term.
      sigma: DCLW's von Mises-Fisher concentration (0.5 in the paper).
      axis_name: mesh axis of the enclosing `shard_map` to gather negatives over, or None.

    Returns:
      The float32 scalar loss of the (global) batch.

    Reference:
      Yeh et al., "Decoupled Contrastive Learning", ECCV 2022, arXiv:2110.06848, Eq. 6 (DCL)
      and Eq. 8 (DCLW); lightly's `DCLLoss`/`DCLWLoss`.
    """
    z_a = as_f32("z_a", z_a, 2)
    z_b = as_f32("z_b", z_b, 2)
    check_same_shape("z_a", z_a, "z_b", z_b)
    check_positive("temperature", temperature)
    check_positive("sigma", sigma)
    p = _two_view_pairs(z_a, z_b, axis_name)
    anchors, cands, self_idx, pos_idx, n_global = (p.anchors, p.cands, p.self_idx, p.pos_idx,
                                                   p.n_global)
    g_a, g_b, rows = p.g_a, p.g_b, p.rows
    inv_temp = 1.0 / jnp.asarray(temperature, jnp.float32)
    logits = dot(anchors, cands) * inv_temp  # [2n, 2N]
    cols = jnp.arange(cands.shape[0])[None, :]
    positive = jnp.take_along_axis(logits, pos_idx[:, None], axis=1)[:, 0]
    drop = (cols == self_idx[:, None]) | (cols == pos_idx[:, None])
    negative = jax.nn.logsumexp(jnp.where(drop, -jnp.inf, logits), axis=1)
    if weighted:
        pair = lax.stop_gradient(jnp.sum(g_a * g_b, axis=-1)) / sigma  # [N], global pairs
        w = 2.0 - n_global * jax.nn.softmax(pair)
        positive = positive * jnp.concatenate([w[rows], w[rows]])
    return psum(jnp.sum(negative - positive), axis_name) / (2 * n_global)


# --------------------------------------------------------------------------------------------
# SupCon.
# --------------------------------------------------------------------------------------------


def supcon(
    z: Array,
    labels: Array,
    *,
    temperature: float = 0.1,
    base_temperature: float | None = None,
    axis_name: AxisName = None,
) -> Array:
    """Supervised contrastive loss: every other view of the same class is a positive.

    The `N·V` L2-normalised views (N examples × V views, all devices) are anchors; for
    anchor `i` with positives `P(i)` (the other views of the examples of its class, itself
    excluded) and all other views `A(i)`:
    `l_i = -(T / T_base) · mean_{p in P(i)} log(exp(s_ip/T) / sum_{a in A(i)} exp(s_ia/T))`,
    and the loss is the mean of `l_i` over the anchors that have a positive (with V >= 2
    every anchor has one: its own other views). `T_base = T` by default (the reference
    code's default `temperature = base_temperature = 0.07`).

    Args:
      z: `[n, V, d]` embeddings of V >= 1 views of n examples (local rows with `axis_name`).
      labels: int `[n]` class labels.
      temperature: T > 0.
      base_temperature: T_base > 0, or None for T.
      axis_name: mesh axis of the enclosing `shard_map` to gather views and labels over.

    Returns:
      The float32 scalar loss of the (global) batch.

    Reference:
      Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, arXiv:2004.11362,
      Eq. 2 (L^sup_out); the authors' `SupConLoss` (HobbitLong/SupContrast).
    """
    z = as_f32("z", z, 3)
    labels = jnp.asarray(labels)
    if labels.shape != z.shape[:1]:
        raise ValueError(f"labels must be [{z.shape[0]}], got shape {tuple(labels.shape)}")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    check_positive("temperature", temperature)
    if base_temperature is not None:
        check_positive("base_temperature", base_temperature)
    n, v, d = z.shape
    if n == 0:
        raise ValueError(f"z must hold at least one example, got shape {tuple(z.shape)}")
    u = l2_normalize(z).transpose(1, 0, 2)  # [V, n, d]: view-major, as the reference
    g = gather(u.transpose(1, 0, 2), axis_name).transpose(1, 0, 2)  # [V, N, d]
    g_labels = gather(labels, axis_name)  # [N]
    n_global = g.shape[1]
    anchors = u.reshape(v * n, d)
    cands = g.reshape(v * n_global, d)
    a_labels = jnp.tile(labels, v)
    c_labels = jnp.tile(g_labels, v)
    rows = row_offset(n, axis_name) + jnp.arange(n)
    self_idx = (jnp.arange(v)[:, None] * n_global + rows[None, :]).reshape(-1)
    logits = dot(anchors, cands) / jnp.asarray(temperature, jnp.float32)  # [Vn, VN]
    not_self = jnp.arange(v * n_global)[None, :] != self_idx[:, None]
    log_prob = logits - jax.nn.logsumexp(jnp.where(not_self, logits, -jnp.inf), axis=1,
                                         keepdims=True)
    positive = (a_labels[:, None] == c_labels[None, :]) & not_self
    count = jnp.sum(positive, axis=1)
    mean_pos = jnp.sum(jnp.where(positive, log_prob, 0.0), axis=1) / jnp.maximum(count, 1)
    scale = temperature / (base_temperature or temperature)
    has = (count > 0).astype(jnp.float32)
    total = psum(jnp.sum(-scale * mean_pos * has), axis_name)
    return total / jnp.maximum(psum(jnp.sum(has), axis_name), 1.0)


# --------------------------------------------------------------------------------------------
# NNCLR's support set.
# --------------------------------------------------------------------------------------------


def nearest_neighbour(z: Array, support: Array) -> Array:
    """Each row's nearest neighbour (cosine similarity) in a support set, without gradient.

    Args:
      z: `[n, d]` queries.
      support: `[K, d]` support set (e.g. NNCLR's queue of past embeddings), K >= 1.

    Returns:
      `[n, d]` float32: `support[argmax_k cos(z_i, support_k)]` for each row i.

    Reference:
      Dwibedi et al., "With a Little Help from My Friends: Nearest-Neighbor Contrastive
      Learning of Visual Representations" (NNCLR), ICCV 2021, Eq. 2; lightly's
      `NNMemoryBankModule`.
    """
    z = as_f32("z", z, 2)
    support = as_f32("support", support, 2)
    if support.shape[0] == 0 or support.shape[1] != z.shape[1]:
        raise ValueError(f"support must be a non-empty [K, {z.shape[1]}] array, got shape "
                         f"{tuple(support.shape)}")
    support = lax.stop_gradient(support)
    idx = jnp.argmax(dot(l2_normalize(lax.stop_gradient(z)), l2_normalize(support)), axis=1)
    return jnp.take(support, idx, axis=0)
