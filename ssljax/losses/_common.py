"""Shared helpers of the loss library: input checks, float32, collectives, normalisation.

Private to `ssljax.losses` except `l2_normalize`, which is public.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array
AxisName = Any  # a mesh axis name (usually the string "data") or None

HIGHEST = lax.Precision.HIGHEST
def as_f32(name: str, x: Any, rank: int) -> Array:
    """Checks the rank of `x` (statically) and returns it as float32."""
    x = jnp.asarray(x)
    if x.ndim != rank:
        raise ValueError(f"{name} must have rank {rank}, got shape {tuple(x.shape)}")
    return x.astype(jnp.float32)


def check_same_shape(name_a: str, a: Array, name_b: str, b: Array) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )


def check_positive(name: str, value: Any) -> None:
    """Raises if a concrete scalar hyper-parameter is not > 0 (traced values pass)."""
    if isinstance(value, jax.core.Tracer):
        return
    try:
        v = float(value)
    except TypeError as e:
        raise ValueError(f"{name} must be a positive scalar, got {value!r}") from e
    if not v > 0:  # also rejects NaN
        raise ValueError(f"{name} must be > 0, got {value}")


def check_nonnegative(name: str, value: Any) -> None:
    if isinstance(value, jax.core.Tracer):
        return
    if not float(value) >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def axis_size(axis_name: AxisName) -> int:
    return 1 if axis_name is None else lax.axis_size(axis_name)


def psum(x: Array, axis_name: AxisName) -> Array:
    return x if axis_name is None else lax.psum(x, axis_name)


def gather(x: Array, axis_name: AxisName) -> Array:
    """Concatenates the rows of all devices in axis order (identity without an axis)."""
    return x if axis_name is None else lax.all_gather(x, axis_name, axis=0, tiled=True)


def row_offset(n_local: int, axis_name: AxisName) -> Array | int:
    """Global index of this device's first local row."""
    return 0 if axis_name is None else lax.axis_index(axis_name) * n_local


def dot(a: Array, b: Array) -> Array:
    """`a @ b.T` for row-major embeddings, in full float32 precision."""
    return jnp.einsum("md,nd->mn", a, b, precision=HIGHEST)


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


def cross_entropy_rows(logits: Array, labels: Array) -> Array:
    """Per-row softmax cross-entropy with integer labels: `logsumexp(l) - l[label]`."""
    lse = jax.nn.logsumexp(logits, axis=-1)
    picked = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return lse - picked


def off_diagonal_sq_sum(c: Array) -> Array:
    """Sum of squared off-diagonal entries of a square matrix (masked, no cancellation)."""
    eye = jnp.eye(c.shape[0], dtype=bool)
    return jnp.sum(jnp.square(jnp.where(eye, 0.0, c)))
