"""BatchNorm that saves no normalised copy of its input for the backward pass.

`BatchNorm` computes what `flax.linen.BatchNorm` computes — the same parameters (`scale`,
`bias`), running statistics (`batch_stats`: `mean`, `var`), float32 statistics
``var = max(0, E[x²] − E[x]²)`` averaged over `axis_name` in one `pmean`, and the same
output expression ``((x − mean) · rsqrt(var + ε) · scale) + bias`` — with one change in
how it is differentiated: flax's BatchNorm, differentiated by JAX, keeps ``x − mean`` (a
second copy of every activation) for the backward pass. Here the normalisation is one
function with its own VJP (`normalize`) that keeps `x` (which the layer before keeps
anyway) and recomputes ``x − mean`` inside the backward pass's fused loops. On the
2-core development CPU that was one read-and-write pass over every BatchNorm's input in
each forward pass (the demo step's largest element-wise operations).

Reference:
    Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
    Internal Covariate Shift", ICML 2015.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax.models.conv import varying_like

Dtype = Any


@jax.custom_vjp
def normalize(x, mean, mul, bias):
    """``(x − mean) · mul + bias`` over the last axis, in float32.

    Args:
        x: activations `[..., C]` (any float dtype).
        mean, mul, bias: float32 `[C]`.

    Returns:
        float32 `[..., C]`.
    """
    return (x.astype(jnp.float32) - mean) * mul + bias


def _normalize_fwd(x, mean, mul, bias):
    return normalize(x, mean, mul, bias), (x, mean, mul)


def _normalize_bwd(res, g):
    # through a barrier, so that XLA does not merge this x − mean with the forward pass's
    # (and then keep the forward's for the backward pass after all)
    x, mean, mul = lax.optimization_barrier(res)
    axes = tuple(range(g.ndim - 1))
    centred = x.astype(jnp.float32) - mean  # recomputed, fused into the sums below
    d_bias = jnp.sum(g, axes)
    d_mul = jnp.sum(g * centred, axes)
    return (g * mul).astype(x.dtype), -d_bias * mul, d_mul, d_bias


normalize.defvjp(_normalize_fwd, _normalize_bwd)


class BatchNorm(nn.Module):
    """`flax.linen.BatchNorm` over the last axis, with `normalize`'s backward pass.

    Attributes:
        use_running_average: normalise with the running statistics (evaluation) instead
            of the batch's (training, which also updates them unless initialising).
        momentum: running = momentum · running + (1 − momentum) · batch.
        epsilon: added to the variance.
        dtype: output dtype (statistics and normalisation are float32).
        param_dtype: dtype of `scale` and `bias`.
        axis_name: mesh axis to average the batch statistics over (inside shard_map).
        use_scale, use_bias: learn `scale` (init `scale_init`) / `bias` (`bias_init`).
    """

    use_running_average: bool = False
    momentum: float = 0.99
    epsilon: float = 1e-5
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    axis_name: str | None = None
    use_scale: bool = True
    use_bias: bool = True
    scale_init: Any = nn.initializers.ones
    bias_init: Any = nn.initializers.zeros

    @nn.compact
    def __call__(self, x):
        """Normalises `x` `[..., C]` over every axis but the last; returns `[..., C]`."""
        features = (x.shape[-1],)
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, features, jnp.float32)
        ra_var = self.variable("batch_stats", "var", jnp.ones, features, jnp.float32)
        if self.use_running_average:
            mean, var = ra_mean.value, ra_var.value
        else:
            xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
            axes = tuple(range(x.ndim - 1))
            mean, mean2 = jnp.mean(xf, axes), jnp.mean(lax.square(xf), axes)
            if self.axis_name is not None:  # one collective for both
                mean, mean2 = lax.pmean(jnp.stack([mean, mean2]), self.axis_name)
            var = jnp.maximum(0.0, mean2 - lax.square(mean))
            if not self.is_initializing():
                ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
                ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
        mul = lax.rsqrt(var + self.epsilon)
        args = [x]
        if self.use_scale:
            scale = self.param("scale", self.scale_init, features, self.param_dtype)
            mul = mul * scale
            args.append(scale)
        bias = jnp.zeros(features, jnp.float32)
        if self.use_bias:
            bias = self.param("bias", self.bias_init, features, self.param_dtype)
            args.append(bias)
        mean, mul, bias = (varying_like(a.astype(jnp.float32), x) for a in (mean, mul, bias))
        y = normalize(x, mean, mul, bias)
        dtype = self.dtype or jnp.result_type(*args)
        return y.astype(dtype)
