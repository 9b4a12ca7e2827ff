"""Self-supervised losses as pure JAX functions.

Every loss here is a pure function of arrays: no state, no randomness, safe under `jax.jit`,
`jax.vmap` and `jax.grad`. Inputs of any float dtype (bfloat16 included) are upcast to float32
at entry, the result is a float32 scalar, and finite inputs (zero vectors included) give a
finite value and finite gradients: vectors are normalized with an epsilon under the norm and
standard deviations carry an epsilon under the square root.

Multi-device use. A loss with an `axis_name` argument may be called inside
`jax.shard_map` (with the default `check_vma=True`) over that mesh axis, each device passing
its *local* rows, with the rows of device `d` being rows `[d*n, (d+1)*n)` of the global batch
(the layout of `NamedSharding(mesh, P(axis_name))`). It then returns the loss of the *global*
batch, the same on every device, and `jax.grad` of it with respect to a device's local inputs
equals those rows of the single-device gradient of the global-batch loss. Negatives are
gathered with `lax.all_gather(..., tiled=True)`, whose transpose (a reduce-scatter) routes
gradients back to the device that owns the rows; batch statistics use `lax.psum`.

Gradient stopping follows the papers' pseudo-code only where the loss itself defines it
(DINO's teacher targets). Elsewhere (MoCo keys and queue, BYOL/SimSiam targets) the caller
applies `jax.lax.stop_gradient`, which keeps these functions usable for symmetric variants.

Matrix products use `lax.Precision.HIGHEST`, so results do not depend on an accelerator's
reduced-precision float32 matmul default (bfloat16 passes on TPU, TF32 on recent GPUs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

__all__ = [
    "barlow_twins",
    "byol",
    "dino",
    "dino_center_update",
    "info_nce",
    "l2_normalize",
    "moco_v3",
    "nt_xent",
    "simsiam",
    "vicreg",
]

Array = jax.Array
AxisName = Any  # a mesh axis name (usually the string "data") or None

_HIGHEST = lax.Precision.HIGHEST
_BN_EPS = 1e-5  # BatchNorm1d(affine=False) epsilon of the Barlow Twins reference code.


# --------------------------------------------------------------------------------------------
# Helpers: input checks, dtype, collectives.
# --------------------------------------------------------------------------------------------


def _as_f32(name: str, x: Any, rank: int) -> Array:
    """Checks the rank of `x` (statically) and returns it as float32."""
    x = jnp.asarray(x)
    if x.ndim != rank:
        raise ValueError(f"{name} must have rank {rank}, got shape {tuple(x.shape)}")
    return x.astype(jnp.float32)


def _check_same_shape(name_a: str, a: Array, name_b: str, b: Array) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )


def _check_positive(name: str, value: Any) -> None:
    """Raises if a concrete scalar hyper-parameter is not > 0 (traced values pass)."""
    if isinstance(value, jax.core.Tracer):
        return
    try:
        v = float(value)
    except TypeError as e:
        raise ValueError(f"{name} must be a positive scalar, got {value!r}") from e
    if not v > 0:  # also rejects NaN
        raise ValueError(f"{name} must be > 0, got {value}")


def _check_nonnegative(name: str, value: Any) -> None:
    if isinstance(value, jax.core.Tracer):
        return
    if not float(value) >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def _axis_size(axis_name: AxisName) -> int:
    return 1 if axis_name is None else lax.axis_size(axis_name)


def _psum(x: Array, axis_name: AxisName) -> Array:
    return x if axis_name is None else lax.psum(x, axis_name)


def _gather(x: Array, axis_name: AxisName) -> Array:
    """Concatenates the rows of all devices in axis order (identity without an axis)."""
    return x if axis_name is None else lax.all_gather(x, axis_name, axis=0, tiled=True)


def _row_offset(n_local: int, axis_name: AxisName) -> Array | int:
    """Global index of this device's first local row."""
    return 0 if axis_name is None else lax.axis_index(axis_name) * n_local


def _dot(a: Array, b: Array) -> Array:
    """`a @ b.T` for row-major embeddings, in full float32 precision."""
    return jnp.einsum("md,nd->mn", a, b, precision=_HIGHEST)


def l2_normalize(x: Array, axis: int = -1, eps: float = 1e-12) -> Array:
    """Scales `x` to unit L2 norm along `axis`, safely for zero vectors.

    Computes `x / sqrt(max(sum(x**2), eps))`: vectors whose squared norm is below `eps` are
    divided by `sqrt(eps)` instead of their norm, so zero vectors map to zero with a finite
    gradient.

    Args:
      x: array of any shape.
      axis: the axis holding the vector components.
      eps: floor on the squared norm.

    Returns:
      An array of the shape and dtype of `x`.
    """
    sq = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return x * lax.rsqrt(jnp.maximum(sq, jnp.asarray(eps, sq.dtype)))


def _cross_entropy_rows(logits: Array, labels: Array) -> Array:
    """Per-row softmax cross-entropy with integer labels: `logsumexp(l) - l[label]`."""
    lse = jax.nn.logsumexp(logits, axis=-1)
    picked = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return lse - picked


def _off_diagonal_sq_sum(c: Array) -> Array:
    """Sum of squared off-diagonal entries of a square matrix (masked, no cancellation)."""
    eye = jnp.eye(c.shape[0], dtype=bool)
    return jnp.sum(jnp.square(jnp.where(eye, 0.0, c)))


# --------------------------------------------------------------------------------------------
# SimCLR.
# --------------------------------------------------------------------------------------------


def _nt_xent_rows(
    anchors: Array, cands: Array, self_idx: Array, pos_idx: Array, inv_temp: Array | float
) -> Array:
    """NT-Xent terms of a block of anchors against all candidates: `[m, d] -> [m]`."""
    logits = _dot(anchors, cands) * inv_temp  # [m, 2N]
    cols = jnp.arange(cands.shape[0])
    logits = jnp.where(cols[None, :] == self_idx[:, None], -jnp.inf, logits)
    return _cross_entropy_rows(logits, pos_idx)


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
    z_a = _as_f32("z_a", z_a, 2)
    z_b = _as_f32("z_b", z_b, 2)
    _check_same_shape("z_a", z_a, "z_b", z_b)
    _check_positive("temperature", temperature)
    if block_size is not None:
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
            raise ValueError(f"block_size must be a positive int or None, got {block_size!r}")
    n = z_a.shape[0]
    if n == 0:
        raise ValueError(f"z_a must hold at least one pair, got shape {tuple(z_a.shape)}")

    u_a, u_b = l2_normalize(z_a), l2_normalize(z_b)
    g_a, g_b = _gather(u_a, axis_name), _gather(u_b, axis_name)
    n_global = g_a.shape[0]
    cands = jnp.concatenate([g_a, g_b], axis=0)  # [2N, d]: all a-views, then all b-views
    anchors = jnp.concatenate([u_a, u_b], axis=0)  # [2n, d]: this device's views
    rows = _row_offset(n, axis_name) + jnp.arange(n)  # global pair index of local rows
    self_idx = jnp.concatenate([rows, n_global + rows])
    pos_idx = jnp.concatenate([n_global + rows, rows])
    inv_temp = 1.0 / jnp.asarray(temperature, jnp.float32)

    if block_size is None or block_size >= 2 * n:
        terms = _nt_xent_rows(anchors, cands, self_idx, pos_idx, inv_temp)
    else:
        terms = _nt_xent_rows_blockwise(anchors, cands, self_idx, pos_idx, inv_temp, block_size)
    return _psum(jnp.sum(terms), axis_name) / (2 * n_global)


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
    q = _as_f32("q", q, 2)
    k = _as_f32("k", k, 2)
    queue = _as_f32("queue", queue, 2)
    _check_same_shape("q", q, "k", k)
    if queue.shape[1] != q.shape[1]:
        raise ValueError(
            f"queue feature size must equal q's, got queue shape {tuple(queue.shape)} and q "
            f"shape {tuple(q.shape)}"
        )
    _check_positive("temperature", temperature)
    q, k, queue = l2_normalize(q), l2_normalize(k), l2_normalize(queue)
    inv_temp = 1.0 / jnp.asarray(temperature, jnp.float32)
    l_pos = jnp.sum(q * k, axis=-1, keepdims=True)  # [n, 1]
    l_neg = _dot(q, queue)  # [n, K]
    logits = jnp.concatenate([l_pos, l_neg], axis=1) * inv_temp
    labels = jnp.zeros((q.shape[0],), jnp.int32)
    return jnp.mean(_cross_entropy_rows(logits, labels))


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
    q = _as_f32("q", q, 2)
    k = _as_f32("k", k, 2)
    _check_same_shape("q", q, "k", k)
    _check_positive("temperature", temperature)
    n = q.shape[0]
    if n == 0:
        raise ValueError(f"q must hold at least one row, got shape {tuple(q.shape)}")
    temp = jnp.asarray(temperature, jnp.float32)
    q, k = l2_normalize(q), l2_normalize(k)
    keys = _gather(k, axis_name)  # [N, d]
    logits = _dot(q, keys) / temp  # [n, N]
    labels = _row_offset(n, axis_name) + jnp.arange(n)
    total = _psum(jnp.sum(_cross_entropy_rows(logits, labels)), axis_name)
    return total / keys.shape[0] * (2.0 * temp)


# --------------------------------------------------------------------------------------------
# BYOL / SimSiam.
# --------------------------------------------------------------------------------------------


def _cosine_rows(name_p: str, p: Array, name_z: str, z: Array) -> Array:
    p = _as_f32(name_p, p, 2)
    z = _as_f32(name_z, z, 2)
    _check_same_shape(name_p, p, name_z, z)
    return jnp.sum(l2_normalize(p) * l2_normalize(z), axis=-1)


def byol(p: Array, z: Array) -> Array:
    """BYOL regression loss `2 - 2 cos(p, z)`, averaged over the batch.

    One direction; callers symmetrize over the two views and stop gradients into the target
    projection `z` (`byol(p1, lax.stop_gradient(z2)) + byol(p2, lax.stop_gradient(z1))`).

    Args:
      p: `[n, d]` online predictions.
      z: `[n, d]` target projections.

    Returns:
      The float32 scalar mean loss, in [0, 4].

    Reference:
      Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, arXiv:2006.07733 (Eq. 2).
    """
    return jnp.mean(2.0 - 2.0 * _cosine_rows("p", p, "z", z))


def simsiam(p: Array, z: Array) -> Array:
    """SimSiam negative cosine similarity `-cos(p, z)`, averaged over the batch.

    One direction; the paper's `D(p, stopgrad(z))` is `simsiam(p, lax.stop_gradient(z))`, and
    the symmetric loss is half the sum of the two directions.

    Args:
      p: `[n, d]` predictor outputs.
      z: `[n, d]` projections of the other view.

    Returns:
      The float32 scalar mean loss, in [-1, 1].

    Reference:
      Chen and He, "Exploring Simple Siamese Representation Learning", CVPR 2021,
      arXiv:2011.10566 (Eq. 1, Algorithm 1).
    """
    return -jnp.mean(_cosine_rows("p", p, "z", z))


# --------------------------------------------------------------------------------------------
# Barlow Twins / VICReg.
# --------------------------------------------------------------------------------------------


def barlow_twins(
    z_a: Array, z_b: Array, *, lambd: float = 5e-3, axis_name: AxisName = None
) -> Array:
    """Barlow Twins redundancy-reduction loss.

    Each dimension is standardized over the (global) batch as the authors'
    `BatchNorm1d(affine=False)` does, `(z - mean) / sqrt(var + 1e-5)` with the biased
    variance; the cross-correlation is `C = z_a^T z_b / N` (`[d, d]`) and the loss
    `sum_i (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2`.

    Args:
      z_a: `[n, d]` embeddings of the first views (local rows when `axis_name` is set).
      z_b: `[n, d]` embeddings of the second views.
      lambd: weight of the redundancy-reduction (off-diagonal) term, >= 0.
      axis_name: mesh axis of the enclosing `shard_map` for the batch statistics, or None.

    Returns:
      The float32 scalar loss of the (global) batch.

    Reference:
      Zbontar et al., "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
      ICML 2021, arXiv:2103.03230 (Eq. 1, Algorithm 1).
    """
    z_a = _as_f32("z_a", z_a, 2)
    z_b = _as_f32("z_b", z_b, 2)
    _check_same_shape("z_a", z_a, "z_b", z_b)
    _check_nonnegative("lambd", lambd)
    if z_a.shape[0] == 0:
        raise ValueError(f"z_a must hold at least one row, got shape {tuple(z_a.shape)}")
    n_global = z_a.shape[0] * _axis_size(axis_name)

    def standardize(z):
        mean = _psum(jnp.sum(z, axis=0), axis_name) / n_global
        zc = z - mean
        var = _psum(jnp.sum(jnp.square(zc), axis=0), axis_name) / n_global
        return zc * lax.rsqrt(var + _BN_EPS)

    za, zb = standardize(z_a), standardize(z_b)
    c = _psum(jnp.einsum("nd,ne->de", za, zb, precision=_HIGHEST), axis_name) / n_global
    on_diag = jnp.sum(jnp.square(1.0 - jnp.diagonal(c)))
    return on_diag + lambd * _off_diagonal_sq_sum(c)


def vicreg(
    z_a: Array,
    z_b: Array,
    *,
    sim_coeff: float = 25.0,
    std_coeff: float = 25.0,
    cov_coeff: float = 1.0,
    eps: float = 1e-4,
    axis_name: AxisName = None,
) -> Array:
    """VICReg: variance-invariance-covariance regularization, as the authors' code computes it.

    - invariance: mean squared error between `z_a` and `z_b` over all N*d entries;
    - variance: `mean_j relu(1 - sqrt(var_j + eps))` with the unbiased per-dimension
      variance over the (global) batch, averaged over the two branches;
    - covariance: `sum_{i != j} C_ij^2 / d` with `C` the unbiased `[d, d]` covariance, summed
      over the two branches.

    The loss is `sim_coeff * inv + std_coeff * var + cov_coeff * cov`.

    Args:
      z_a: `[n, d]` embeddings of the first views (local rows when `axis_name` is set).
      z_b: `[n, d]` embeddings of the second views.
      sim_coeff: weight of the invariance term.
      std_coeff: weight of the variance term.
      cov_coeff: weight of the covariance term.
      eps: added to the variance under the square root, > 0.
      axis_name: mesh axis of the enclosing `shard_map` for the batch statistics, or None.
        The global batch N must be at least 2 (unbiased variance).

    Returns:
      The float32 scalar loss of the (global) batch.

    Reference:
      Bardes, Ponce and LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
      Self-Supervised Learning", ICLR 2022, arXiv:2105.04906 (Eqs. 1-6, Algorithm 1).
    """
    z_a = _as_f32("z_a", z_a, 2)
    z_b = _as_f32("z_b", z_b, 2)
    _check_same_shape("z_a", z_a, "z_b", z_b)
    _check_positive("eps", eps)
    n, d = z_a.shape
    n_global = n * _axis_size(axis_name)
    if n_global < 2:
        raise ValueError(
            f"z_a: vicreg needs a global batch of at least 2 rows (unbiased variance), got "
            f"shape {tuple(z_a.shape)} on {_axis_size(axis_name)} device(s)"
        )

    invariance = _psum(jnp.sum(jnp.square(z_a - z_b)), axis_name) / (n_global * d)

    def var_cov(z):
        mean = _psum(jnp.sum(z, axis=0), axis_name) / n_global
        zc = z - mean
        cov = _psum(jnp.einsum("nd,ne->de", zc, zc, precision=_HIGHEST), axis_name)
        cov = cov / (n_global - 1)
        std = jnp.sqrt(jnp.diagonal(cov) + eps)
        return jnp.mean(jax.nn.relu(1.0 - std)), _off_diagonal_sq_sum(cov) / d

    std_a, cov_a = var_cov(z_a)
    std_b, cov_b = var_cov(z_b)
    variance = 0.5 * (std_a + std_b)
    covariance = cov_a + cov_b
    return sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance


# --------------------------------------------------------------------------------------------
# DINO.
# --------------------------------------------------------------------------------------------


def _crops(name: str, logits: Sequence[Array] | Array) -> list[Array]:
    """A list of per-crop `[n, K]` float32 logits from a sequence or a `[crops, n, K]` array."""
    if hasattr(logits, "ndim"):
        if logits.ndim != 3:
            raise ValueError(
                f"{name} must be a sequence of [n, K] arrays or one [crops, n, K] array, got "
                f"an array of shape {tuple(logits.shape)}"
            )
        logits = [logits[i] for i in range(logits.shape[0])]
    crops = [_as_f32(f"{name}[{i}]", x, 2) for i, x in enumerate(logits)]
    if not crops:
        raise ValueError(f"{name} must hold at least one crop, got an empty sequence")
    for i, x in enumerate(crops[1:], start=1):
        if x.shape != crops[0].shape:
            raise ValueError(
                f"{name}[{i}] has shape {tuple(x.shape)}, but {name}[0] has shape "
                f"{tuple(crops[0].shape)}; all crops must have the same [n, K] shape"
            )
    return crops


def _center_dim(center: Array) -> int:
    if center.ndim == 1:
        return center.shape[0]
    if center.ndim == 2 and center.shape[0] == 1:
        return center.shape[1]
    raise ValueError(f"center must have shape [K] or [1, K], got {tuple(center.shape)}")


def dino(
    student_logits: Sequence[Array],
    teacher_logits: Sequence[Array],
    center: Array,
    *,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
) -> Array:
    """DINO self-distillation cross-entropy over pairs of crops.

    Teacher targets `softmax((t_i - center) / teacher_temp)` (gradients stopped, as in the
    reference code) are matched by the student's `log_softmax(s_j / student_temp)`. The
    teacher crops are the first `len(teacher_logits)` crops of the student list (the global
    views), and the loss averages the batch-mean cross-entropy
    `-sum_k t_i[k] log s_j[k]` over all pairs (teacher crop i, student crop j) with i != j,
    i.e. `len(teacher) * len(student) - len(teacher)` pairs.

    Args:
      student_logits: sequence of S arrays `[n, K]` (all crops, global first), or one
        `[S, n, K]` array.
      teacher_logits: sequence of T <= S arrays `[n, K]` (the global crops), or `[T, n, K]`.
      center: `[K]` or `[1, K]` teacher center (see `dino_center_update`).
      student_temp: student softmax temperature > 0.
      teacher_temp: teacher softmax temperature > 0 (may be a traced schedule value).

    Returns:
      The float32 scalar mean loss.

    Reference:
      Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021,
      arXiv:2104.14294 (Algorithm 1 and the authors' `DINOLoss`).
    """
    students = _crops("student_logits", student_logits)
    teachers = _crops("teacher_logits", teacher_logits)
    center = jnp.asarray(center).astype(jnp.float32)
    num_k = _center_dim(center)
    if students[0].shape[1] != num_k or teachers[0].shape[1] != num_k:
        raise ValueError(
            f"student_logits and teacher_logits must have K = center size {num_k} columns, got "
            f"{tuple(students[0].shape)}, {tuple(teachers[0].shape)} and center "
            f"{tuple(center.shape)}"
        )
    if students[0].shape[0] != teachers[0].shape[0]:
        raise ValueError(
            f"student_logits and teacher_logits must have the same batch size, got "
            f"{tuple(students[0].shape)} and {tuple(teachers[0].shape)}"
        )
    if len(teachers) > len(students):
        raise ValueError(
            f"teacher_logits has {len(teachers)} crops but student_logits only "
            f"{len(students)}; the teacher crops are the first crops of the student list"
        )
    num_pairs = len(teachers) * len(students) - len(teachers)
    if num_pairs == 0:
        raise ValueError(
            "student_logits and teacher_logits each have 1 crop: no pair (i, j) with i != j"
        )
    _check_positive("student_temp", student_temp)
    _check_positive("teacher_temp", teacher_temp)

    t = jnp.stack(teachers)  # [T, n, K]
    s = jnp.stack(students)  # [S, n, K]
    t_prob = jax.nn.softmax((t - center.reshape(-1)) / teacher_temp, axis=-1)
    t_prob = lax.stop_gradient(t_prob)
    s_logp = jax.nn.log_softmax(s / student_temp, axis=-1)
    # ce[i, j] = mean over the batch of -sum_k t_i[k] log s_j[k].
    ce = -jnp.einsum("ibk,jbk->ij", t_prob, s_logp, precision=_HIGHEST) / t.shape[1]
    same = jnp.arange(len(teachers))[:, None] == jnp.arange(len(students))[None, :]
    return jnp.sum(jnp.where(same, 0.0, ce)) / num_pairs


def dino_center_update(
    center: Array,
    teacher_logits: Sequence[Array] | Array,
    momentum: float = 0.9,
    axis_name: AxisName = None,
) -> Array:
    """DINO teacher-center EMA: `momentum * center + (1 - momentum) * mean(teacher logits)`.

    The mean is over all teacher crops and all rows of the (global) batch. The result is not
    passed through `stop_gradient`; it is normally used as state outside the gradient.

    Args:
      center: `[K]` or `[1, K]` current center.
      teacher_logits: sequence of `[n, K]` teacher logits (one per global crop), one `[m, K]`
        array of concatenated crops, or a `[T, n, K]` array.
      momentum: EMA momentum in [0, 1].
      axis_name: mesh axis of the enclosing `shard_map` to average over, or None.

    Returns:
      The float32 updated center, shaped like `center`.

    Reference:
      Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021,
      arXiv:2104.14294 (Eq. 4 and the authors' `DINOLoss.update_center`).
    """
    if hasattr(teacher_logits, "ndim") and teacher_logits.ndim == 2:
        teacher_logits = [teacher_logits]
    teachers = _crops("teacher_logits", teacher_logits)
    center = jnp.asarray(center).astype(jnp.float32)
    num_k = _center_dim(center)
    if teachers[0].shape[1] != num_k:
        raise ValueError(
            f"teacher_logits must have K = center size {num_k} columns, got "
            f"{tuple(teachers[0].shape)} and center {tuple(center.shape)}"
        )
    if not isinstance(momentum, jax.core.Tracer) and not 0.0 <= float(momentum) <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    t = jnp.concatenate(teachers, axis=0)  # [T*n, K]
    count = t.shape[0] * _axis_size(axis_name)
    batch_center = _psum(jnp.sum(t, axis=0), axis_name) / count
    return momentum * center + (1.0 - momentum) * batch_center.reshape(center.shape)
