"""ResNet v1.5 encoders (ResNet-18/34/50 and wider variants) in Flax linen.

The architecture follows torchvision's ResNet v1.5 (stride on the 3×3 convolution of the
bottleneck, symmetric padding as in PyTorch), so parameter counts match the published
ones: ResNet-18 11.18M and ResNet-50 23.51M parameters without the 1000-class classifier.
SimCLR's wide variants (ResNet-50 (2×), (4×)) multiply every channel count, the stem's
included, by `width`.

BatchNorm uses the Flax convention momentum 0.9 (PyTorch's momentum 0.1) and epsilon 1e-5.
`bn_axis_name="data"` makes it cross-device ("global") BatchNorm inside `jax.shard_map`;
`None` normalises over the local batch only.

References:
    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017
    (zero-initialised last BatchNorm gamma of each residual block).
    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations"
    (SimCLR), ICML 2020 (width multiplier, CIFAR stem).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

import flax.linen as nn
import jax.numpy as jnp

from ssljax.models import patches
from ssljax.models.batch_norm import BatchNorm
from ssljax.models.conv import conv2d as conv_general_dilated

Dtype = Any

BN_MOMENTUM = 0.9
"""Flax BatchNorm momentum (running = 0.9·running + 0.1·batch; PyTorch's momentum=0.1)."""
BN_EPSILON = 1e-5
"""BatchNorm epsilon, as PyTorch and the SimCLR/BYOL reference code."""

# He-normal with fan_out, as torchvision's `kaiming_normal_(mode="fan_out")`.
conv_kernel_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")

STEMS = ("imagenet", "cifar")


def batch_norm(
    train: bool,
    *,
    dtype: Dtype = jnp.float32,
    axis_name: str | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> BatchNorm:
    """The project's BatchNorm: momentum 0.9, epsilon 1e-5, float32 parameters
    (`ssljax.models.batch_norm.BatchNorm`: flax's, without its saved copy of ``x − mean``).

    Args:
        train: True uses (and updates) the batch statistics, False the running averages.
        dtype: computation dtype (the output dtype).
        axis_name: mesh axis to average batch statistics over (global BN), or None.
        name: submodule name.
        **kwargs: further `BatchNorm` arguments (`scale_init`, `use_scale`, `use_bias`).

    Returns:
        A `BatchNorm` module.
    """
    return BatchNorm(
        use_running_average=not train,
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        dtype=dtype,
        param_dtype=jnp.float32,
        axis_name=axis_name,
        name=name,
        **kwargs,
    )


def conv2d(features: int, kernel: int, stride: int = 1, *, dtype: Dtype, name: str) -> nn.Conv:
    """A bias-free k×k convolution with PyTorch-style symmetric padding and He fan_out init.

    On CPU it takes `ssljax.models.conv`'s faster path (oneDNN where it is built; same
    parameters, same values up to float32 summation order).
    """
    pad = kernel // 2
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=(stride, stride),
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
        dtype=dtype,
        param_dtype=jnp.float32,
        kernel_init=conv_kernel_init,
        conv_general_dilated=conv_general_dilated,
        name=name,
    )


class _ResidualBlock(nn.Module):
    """What both residual blocks share.

    Attributes:
        filters: output channels (`BasicBlock`) or inner channels (`Bottleneck`).
        strides: stride of the strided convolution (2 to halve the resolution).
        zero_init_residual: initialise the last BatchNorm's scale to zero so the block
            starts as the identity.
        dtype: computation dtype.
        bn_axis_name: BatchNorm axis name (None: local BN).
    """

    filters: int
    strides: int = 1
    zero_init_residual: bool = True
    dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None

    def _norms(self, train: bool) -> tuple[Any, Any]:
        """(the BatchNorm factory, the initialiser of the block's last BN scale)."""
        norm = functools.partial(batch_norm, train, dtype=self.dtype, axis_name=self.bn_axis_name)
        return norm, nn.initializers.zeros if self.zero_init_residual else nn.initializers.ones


class BasicBlock(_ResidualBlock):
    """Two 3×3 convolutions with an identity (or 1×1 projection) shortcut (ResNet-18/34)."""

    expansion: ClassVar[int] = 1

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        """Maps `[N, H, W, C]` to `[N, H/strides, W/strides, filters]`."""
        norm, last_init = self._norms(train)
        y = conv2d(self.filters, 3, self.strides, dtype=self.dtype, name="conv1")(x)
        y = nn.relu(norm(name="bn1")(y))
        y = conv2d(self.filters, 3, dtype=self.dtype, name="conv2")(y)
        y = norm(name="bn2", scale_init=last_init)(y)
        if x.shape != y.shape:
            x = conv2d(self.filters, 1, self.strides, dtype=self.dtype, name="proj_conv")(x)
            x = norm(name="proj_bn")(x)
        return nn.relu(x + y)


class Bottleneck(_ResidualBlock):
    """1×1 → 3×3 (strided, v1.5) → 1×1 ×4 bottleneck block (ResNet-50 and deeper); the
    block outputs `4·filters` channels."""

    expansion: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        """Maps `[N, H, W, C]` to `[N, H/strides, W/strides, 4·filters]`."""
        norm, last_init = self._norms(train)
        out = self.filters * self.expansion
        y = conv2d(self.filters, 1, dtype=self.dtype, name="conv1")(x)
        y = nn.relu(norm(name="bn1")(y))
        y = conv2d(self.filters, 3, self.strides, dtype=self.dtype, name="conv2")(y)
        y = nn.relu(norm(name="bn2")(y))
        y = conv2d(out, 1, dtype=self.dtype, name="conv3")(y)
        y = norm(name="bn3", scale_init=last_init)(y)
        if x.shape != y.shape:
            x = conv2d(out, 1, self.strides, dtype=self.dtype, name="proj_conv")(x)
            x = norm(name="proj_bn")(x)
        return nn.relu(x + y)


class ResNet(nn.Module):
    """ResNet encoder: stem, four stages of residual blocks, global average pool.

    Attributes:
        stage_sizes: number of blocks per stage, e.g. `(3, 4, 6, 3)` for ResNet-50.
        block: `BasicBlock` or `Bottleneck`.
        width: channel multiplier (1, 2, 4 as SimCLR's ResNet-50 (1×/2×/4×)).
        stem: "imagenet" (7×7/2 conv + 3×3/2 max-pool) or "cifar" (3×3/1 conv, no pool).
        zero_init_residual: zero-initialise the last BN scale of every residual block.
        num_filters: channels of the stem and of the first stage before `width`.
        dtype: computation dtype (e.g. `jnp.bfloat16`); parameters stay float32.
        bn_axis_name: BatchNorm axis name ("data": cross-device BN; None: local BN).
        feature_layer: 0 pools the last stage's output; k >= 1 stops after stage k and pools
            its output (intermediate features, e.g. for RotNet's evaluation).
        patch_px: > 0 encodes the grid of `patch_px`-px patches every `patch_stride` px of
            each image on its own and returns the mean patch feature (CPC's evaluation;
            `ssljax.models.patches`); 0 encodes whole images.
        patch_stride: the grid's stride (`patch_px` when 0).
    """

    stage_sizes: Sequence[int]
    block: type[nn.Module] = BasicBlock
    width: int = 1
    stem: str = "imagenet"
    zero_init_residual: bool = True
    num_filters: int = 64
    dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None
    feature_layer: int = 0
    patch_px: int = 0
    patch_stride: int = 0

    @property
    def feature_dim(self) -> int:
        """Size D of the output features (512·width for R18/34, 2048·width for R50)."""
        stages = self.feature_layer or len(self.stage_sizes)
        return self.num_filters * self.width * 2 ** (stages - 1) * self.block.expansion

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        """Encodes images.

        Args:
            x: float images `[N, H, W, C]`.
            train: use batch statistics and update the running averages of BatchNorm
                (needs `mutable=["batch_stats"]`).

        Returns:
            float32 features `[N, feature_dim]`.
        """
        if self.stem not in STEMS:
            raise ValueError(f"ResNet stem must be one of {STEMS}, got {self.stem!r}")
        if self.width < 1:
            raise ValueError(f"ResNet width must be a positive multiplier, got {self.width}")
        if x.ndim != 4:
            raise ValueError(f"ResNet expects NHWC images [N, H, W, C], got shape {x.shape}")
        if not 0 <= self.feature_layer <= len(self.stage_sizes):
            raise ValueError(f"ResNet feature_layer={self.feature_layer} must be 0 (the last "
                             f"stage) or a stage in 1..{len(self.stage_sizes)}")
        filters = self.num_filters * self.width
        n = x.shape[0]
        if self.patch_px:
            x = patches.to_patches(x, self.patch_px, self.patch_stride or self.patch_px)
        x = x.astype(self.dtype)
        if self.stem == "imagenet":
            x = conv2d(filters, 7, 2, dtype=self.dtype, name="stem_conv")(x)
        else:
            x = conv2d(filters, 3, 1, dtype=self.dtype, name="stem_conv")(x)
        x = batch_norm(train, dtype=self.dtype, axis_name=self.bn_axis_name, name="stem_bn")(x)
        x = nn.relu(x)
        if self.stem == "imagenet":
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for i, num_blocks in enumerate(self.stage_sizes[:self.feature_layer or None]):
            for j in range(num_blocks):
                x = self.block(
                    filters=filters * 2**i,
                    strides=2 if i > 0 and j == 0 else 1,
                    zero_init_residual=self.zero_init_residual,
                    dtype=self.dtype,
                    bn_axis_name=self.bn_axis_name,
                    name=f"stage{i + 1}_block{j + 1}",
                )(x, train)
        h = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
        return patches.mean_over_patches(h, n) if self.patch_px else h


def ResNet18(**kwargs: Any) -> ResNet:
    """ResNet-18 (11.18M parameters at width 1, 512·width features)."""
    return ResNet(stage_sizes=(2, 2, 2, 2), block=BasicBlock, **kwargs)


def ResNet34(**kwargs: Any) -> ResNet:
    """ResNet-34 (21.28M parameters at width 1, 512·width features)."""
    return ResNet(stage_sizes=(3, 4, 6, 3), block=BasicBlock, **kwargs)


def ResNet50(**kwargs: Any) -> ResNet:
    """ResNet-50 (23.51M parameters at width 1, 2048·width features)."""
    return ResNet(stage_sizes=(3, 4, 6, 3), block=Bottleneck, **kwargs)
