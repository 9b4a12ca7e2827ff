"""A small, fast convolutional encoder for 28×28 digits and other tiny images.

Each stage is a 3×3 conv (no bias) → BatchNorm → ReLU; the stride of each stage is set
by `strides`. The defaults, channels (32, 64, 128, 256) with strides (2, 2, 1, 2), map
28×28 → 14 → 7 → 7 → 4 and give 256-dim features for about 18.6 MFLOPs per 28×28 image
(forward; 9.3 M multiply-adds in the convolutions: 0.06 M + 0.90 M + 3.61 M + 4.72 M),
which makes SimCLR on the bundled digits practical on a 2-core CPU.

Reference:
    The conv-BN-ReLU stack with stride-2 downsampling and global average pooling follows
    the all-convolutional design of Springenberg et al., "Striving for Simplicity: The
    All Convolutional Net", ICLR 2015 workshop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ssljax.models import patches
from ssljax.models.resnet import batch_norm, conv2d

Dtype = Any


class SmallCNN(nn.Module):
    """Conv-BN-ReLU stages with strided downsampling, then global average pooling.

    Attributes:
        channels: output channels of each stage.
        strides: stride of each stage's 3×3 convolution (same length as `channels`).
        dtype: computation dtype; parameters stay float32.
        bn_axis_name: BatchNorm axis name ("data": cross-device BN; None: local BN).
        norm: "batch" (BatchNorm) or "layer" (layer normalisation of each image's map over
            its height, width and channels, `GroupNorm(num_groups=1)`: no batch statistics,
            as CPC v2's patch encoder uses, so patches of one image cannot see each other).
        feature_layer: 0 pools the last stage's output; k >= 1 stops after stage k and pools
            its output (an intermediate block's features, where RotNet's are best).
        patch_px: > 0 encodes the grid of `patch_px`-px patches every `patch_stride` px of
            each image on its own and returns the mean patch feature (CPC's evaluation;
            `ssljax.models.patches`); 0 encodes whole images.
        patch_stride: the grid's stride (`patch_px` when 0).
    """

    channels: Sequence[int] = (32, 64, 128, 256)
    strides: Sequence[int] = (2, 2, 1, 2)
    dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None
    norm: str = "batch"
    feature_layer: int = 0
    patch_px: int = 0
    patch_stride: int = 0

    @property
    def feature_dim(self) -> int:
        """Size D of the output features (the channels of the stage that is pooled)."""
        return self.channels[self.feature_layer - 1] if self.feature_layer else self.channels[-1]

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        """Encodes images.

        Args:
            x: float images `[N, H, W, C]` (e.g. `[N, 28, 28, 1]`).
            train: use batch statistics and update BatchNorm's running averages (needs
                `mutable=["batch_stats"]`).

        Returns:
            float32 features `[N, channels[-1]]`.
        """
        if len(self.channels) != len(self.strides) or not self.channels:
            raise ValueError(
                f"SmallCNN needs one stride per stage, got channels={tuple(self.channels)} "
                f"and strides={tuple(self.strides)}"
            )
        if x.ndim != 4:
            raise ValueError(f"SmallCNN expects NHWC images [N, H, W, C], got shape {x.shape}")
        if not 0 <= self.feature_layer <= len(self.channels):
            raise ValueError(f"SmallCNN feature_layer={self.feature_layer} must be 0 (the last "
                             f"stage) or a stage in 1..{len(self.channels)}")
        if self.norm not in ("batch", "layer"):
            raise ValueError(f"SmallCNN norm={self.norm!r} is unknown; use 'batch' or 'layer'")
        n = x.shape[0]
        if self.patch_px:
            x = patches.to_patches(x, self.patch_px, self.patch_stride or self.patch_px)
        x = x.astype(self.dtype)
        stages = list(zip(self.channels, self.strides, strict=True))
        for i, (ch, stride) in enumerate(stages[:self.feature_layer or None]):
            x = conv2d(ch, 3, stride, dtype=self.dtype, name=f"conv{i + 1}")(x)
            if self.norm == "layer":
                x = nn.GroupNorm(num_groups=1, epsilon=1e-5, dtype=self.dtype,
                                 param_dtype=jnp.float32, name=f"ln{i + 1}")(x)
            else:
                x = batch_norm(train, dtype=self.dtype, axis_name=self.bn_axis_name,
                               name=f"bn{i + 1}")(x)
            x = nn.relu(x)
        h = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
        return patches.mean_over_patches(h, n) if self.patch_px else h
