"""Projection / prediction heads: the MLPs of SimCLR, BYOL, SimSiam, Barlow Twins, VICReg,
MoCo v2/v3, and DINO's weight-normalised head.

References:
    Chen et al., "Big Self-Supervised Models are Strong Semi-Supervised Learners"
    (SimCLR v2), NeurIPS 2020 — deeper heads with BatchNorm, final BN.
    Grill et al., "Bootstrap Your Own Latent" (BYOL), NeurIPS 2020 — Linear-BN-ReLU-Linear.
    Zbontar et al., "Barlow Twins", ICML 2021.
    Caron et al., "Emerging Properties in Self-Supervised Vision Transformers" (DINO),
    ICCV 2021 — `DINOHead`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ssljax.models.resnet import batch_norm

Dtype = Any


def _l2_normalize(x: jnp.ndarray, axis: int, eps: float = 1e-12) -> jnp.ndarray:
    """`x / max(‖x‖, eps)` along `axis` (as `torch.nn.functional.normalize`), NaN-free grads."""
    sq = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return x * jax.lax.rsqrt(jnp.maximum(sq, eps * eps))


class MLPHead(nn.Module):
    """Dense → BN → ReLU for each hidden layer, then a final Dense (and optional BN).

    Dense layers followed by BatchNorm have no bias (BN's beta replaces it), as in the
    SimCLR and Barlow Twins code. With `hidden_dims=()` this is a linear layer (probe).

    Attributes:
        hidden_dims: sizes of the hidden layers, e.g. `(4096,)` for BYOL's projector.
        out_dim: output size.
        use_bn: BatchNorm after each hidden Dense.
        last_bn: BatchNorm after the final Dense (SimCLR v2, SimSiam, MoCo v3).
        last_bn_affine: whether that last BN has a learned scale and bias (SimSiam's
            projector uses an affine-free one).
        last_bn_center: with `last_bn_affine`, whether that BN also learns a bias;
            False gives SimCLR's scale-only output BN (`BatchNormRelu(center=False)` after
            the last `LinearLayer` of the reference `ProjectionHead`, v1 and v2).
        last_bias: without `last_bn`, whether the final Dense has a bias; False as
            BYOL's haiku MLP (`with_bias=False`), VICReg's expander and MoCo v3's
            `_build_mlp` (`bias=False`).
        dtype: computation dtype; parameters stay float32, the output is float32.
        bn_axis_name: BatchNorm axis name ("data": cross-device BN; None: local BN).
    """

    hidden_dims: Sequence[int]
    out_dim: int
    use_bn: bool = True
    last_bn: bool = False
    last_bn_affine: bool = True
    last_bn_center: bool = True
    last_bias: bool = True
    dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        """Projects features.

        Args:
            x: features `[N, D_in]`.
            train: BatchNorm uses (and updates) batch statistics.

        Returns:
            float32 `[N, out_dim]`.
        """
        norm = functools.partial(batch_norm, train, dtype=self.dtype,
                                 axis_name=self.bn_axis_name)
        x = x.astype(self.dtype)
        for i, hidden in enumerate(self.hidden_dims):
            x = nn.Dense(hidden, use_bias=not self.use_bn, dtype=self.dtype, name=f"dense{i}")(x)
            if self.use_bn:
                x = norm(name=f"bn{i}")(x)
            x = nn.relu(x)
        last = len(self.hidden_dims)
        x = nn.Dense(self.out_dim, use_bias=self.last_bias and not self.last_bn,
                     dtype=self.dtype, name=f"dense{last}")(x)
        if self.last_bn:
            x = norm(name=f"bn{last}", use_scale=self.last_bn_affine,
                     use_bias=self.last_bn_affine and self.last_bn_center)(x)
        return x.astype(jnp.float32)


class ProjectorTrunk(nn.Module):
    """An encoder followed by the first layers of its projector: SimCLR v2's fine-tuning net.

    SimCLR v2 (Chen et al. 2020b, §2 and Appendix B.5) fine-tunes "from the first layer of
    the projection head": the classifier reads `relu(bn0(dense0(encoder(x))))` (one layer,
    `len(hidden_dims) == 1`), and those layers keep their pretrained weights. The layers
    are named as `MLPHead`'s (`dense{i}`, `bn{i}`), so a pretrained head's subtrees drop in.

    Attributes:
        encoder: the encoder module (its variables live under "encoder").
        hidden_dims: sizes of the kept projector layers.
        use_bn: BatchNorm after each Dense (then the Dense has no bias), as the head had.
        dtype: computation dtype.
        bn_axis_name: BatchNorm axis name of the kept layers.
    """

    encoder: nn.Module
    hidden_dims: Sequence[int]
    use_bn: bool = True
    dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None

    @property
    def feature_dim(self) -> int:
        """Size of the output: the last kept layer's width."""
        return int(self.hidden_dims[-1])

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        """`[N, H, W, C]` images → float32 `[N, hidden_dims[-1]]`."""
        h = self.encoder(x, train=train).astype(self.dtype)
        norm = functools.partial(batch_norm, train, dtype=self.dtype,
                                 axis_name=self.bn_axis_name)
        for i, width in enumerate(self.hidden_dims):
            h = nn.Dense(width, use_bias=not self.use_bn, dtype=self.dtype, name=f"dense{i}")(h)
            if self.use_bn:
                h = norm(name=f"bn{i}")(h)
            h = nn.relu(h)
        return h.astype(jnp.float32)


class WeightNormDense(nn.Module):
    """Bias-free Dense whose kernel columns are normalised: `y = x @ (g · v / ‖v‖)`.

    The `kernel` v has shape `[D_in, out_dim]`; each output unit's weight vector
    (a column) is divided by its L2 norm, as `torch.nn.utils.weight_norm` (dim=0) does to
    DINO's last layer. With `use_scale=False` the gain g is fixed to 1 (no parameter), as
    DINO's `norm_last_layer=True`. Written out rather than wrapping `flax.linen.WeightNorm`
    because the latter names its gain parameter "<layer>/kernel/scale", a key containing
    slashes, which path-based masks and checkpoint layouts handle badly.

    Attributes:
        features: output size.
        use_scale: learn the per-output gain g (initialised to 1).
        dtype: computation dtype.
    """

    features: int
    use_scale: bool = False
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        """Maps `[N, D_in]` to `[N, features]`."""
        kernel = self.param(
            "kernel", nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
            (x.shape[-1], self.features),
        )
        kernel = _l2_normalize(kernel, axis=0)
        if self.use_scale:
            kernel = kernel * self.param("scale", nn.initializers.ones, (self.features,))
        return x.astype(self.dtype) @ kernel.astype(self.dtype)


class DINOHead(nn.Module):
    """DINO projection head: MLP (GELU) → L2-normalised bottleneck → weight-normed layer.

    `nlayers` Dense layers (hidden, ..., bottleneck) with GELU (and optional BN) between
    them, L2 normalisation of the bottleneck, then a bias-free weight-normalised layer to
    `out_dim` logits. Parameter paths: `dense{i}`, `bn{i}`, `last_layer` (DINO freezes
    `last_layer` during the first epoch; mask its updates with `ssljax.optim.freeze_mask`).

    Attributes:
        out_dim: number of prototypes K (65536 in DINO).
        hidden_dim: hidden size of the MLP.
        bottleneck_dim: size of the L2-normalised bottleneck.
        nlayers: number of Dense layers before the last layer (≥ 1).
        use_bn: BatchNorm after the hidden Dense layers.
        norm_last_layer: fix the weight-norm gain of the last layer to 1.
        dtype: computation dtype; parameters and the output are float32.
        bn_axis_name: BatchNorm axis name.
    """

    out_dim: int = 65536
    hidden_dim: int = 2048
    bottleneck_dim: int = 256
    nlayers: int = 3
    use_bn: bool = False
    norm_last_layer: bool = True
    dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        """Maps features `[N, D]` to float32 logits `[N, out_dim]`."""
        if self.nlayers < 1:
            raise ValueError(f"DINOHead needs nlayers >= 1, got {self.nlayers}")
        dense = functools.partial(nn.Dense, dtype=self.dtype,
                                  kernel_init=nn.initializers.truncated_normal(0.02))
        x = x.astype(self.dtype)
        for i in range(self.nlayers - 1):
            x = dense(self.hidden_dim, name=f"dense{i}")(x)
            if self.use_bn:
                x = batch_norm(train, dtype=self.dtype, axis_name=self.bn_axis_name,
                               name=f"bn{i}")(x)
            x = nn.gelu(x, approximate=False)
        x = dense(self.bottleneck_dim, name=f"dense{self.nlayers - 1}")(x)
        x = x.astype(jnp.float32)
        x = _l2_normalize(x, axis=-1)
        x = WeightNormDense(self.out_dim, use_scale=not self.norm_last_layer, dtype=self.dtype,
                            name="last_layer")(x)
        return x.astype(jnp.float32)
