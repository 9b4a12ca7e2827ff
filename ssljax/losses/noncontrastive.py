"""Non-contrastive losses: BYOL and SimSiam regression, Barlow Twins, VICReg.

No negatives: the target is another view's embedding (BYOL, SimSiam) or the statistics of
the global batch (Barlow Twins' cross-correlation, VICReg's variance and covariance).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ssljax.losses._common import (
    HIGHEST,
    Array,
    AxisName,
    as_f32,
    axis_size,
    check_nonnegative,
    check_positive,
    check_same_shape,
    l2_normalize,
    off_diagonal_sq_sum,
    psum,
)

_BN_EPS = 1e-5  # BatchNorm1d(affine=False) epsilon of the Barlow Twins reference code.


# --------------------------------------------------------------------------------------------
# BYOL / SimSiam.
# --------------------------------------------------------------------------------------------


def _cosine_rows(name_p: str, p: Array, name_z: str, z: Array) -> Array:
    p = as_f32(name_p, p, 2)
    z = as_f32(name_z, z, 2)
    check_same_shape(name_p, p, name_z, z)
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
    z_a = as_f32("z_a", z_a, 2)
    z_b = as_f32("z_b", z_b, 2)
    check_same_shape("z_a", z_a, "z_b", z_b)
    check_nonnegative("lambd", lambd)
    if z_a.shape[0] == 0:
        raise ValueError(f"z_a must hold at least one row, got shape {tuple(z_a.shape)}")
    n_global = z_a.shape[0] * axis_size(axis_name)

    def standardize(z):
        mean = psum(jnp.sum(z, axis=0), axis_name) / n_global
        zc = z - mean
        var = psum(jnp.sum(jnp.square(zc), axis=0), axis_name) / n_global
        return zc * lax.rsqrt(var + _BN_EPS)

    za, zb = standardize(z_a), standardize(z_b)
    c = psum(jnp.einsum("nd,ne->de", za, zb, precision=HIGHEST), axis_name) / n_global
    on_diag = jnp.sum(jnp.square(1.0 - jnp.diagonal(c)))
    return on_diag + lambd * off_diagonal_sq_sum(c)


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
    z_a = as_f32("z_a", z_a, 2)
    z_b = as_f32("z_b", z_b, 2)
    check_same_shape("z_a", z_a, "z_b", z_b)
    check_positive("eps", eps)
    n, d = z_a.shape
    n_global = n * axis_size(axis_name)
    if n_global < 2:
        raise ValueError(
            f"z_a: vicreg needs a global batch of at least 2 rows (unbiased variance), got "
            f"shape {tuple(z_a.shape)} on {axis_size(axis_name)} device(s)"
        )

    invariance = psum(jnp.sum(jnp.square(z_a - z_b)), axis_name) / (n_global * d)

    def var_cov(z):
        mean = psum(jnp.sum(z, axis=0), axis_name) / n_global
        zc = z - mean
        cov = psum(jnp.einsum("nd,ne->de", zc, zc, precision=HIGHEST), axis_name)
        cov = cov / (n_global - 1)
        std = jnp.sqrt(jnp.diagonal(cov) + eps)
        return jnp.mean(jax.nn.relu(1.0 - std)), off_diagonal_sq_sum(cov) / d

    std_a, cov_a = var_cov(z_a)
    std_b, cov_b = var_cov(z_b)
    variance = 0.5 * (std_a + std_b)
    covariance = cov_a + cov_b
    return sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance


