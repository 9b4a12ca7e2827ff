"""Xiao et al.'s convolutional stem for ViTs (`ssljax.models.ViT(stem="conv")`).

Reference: Xiao et al., "Early Convolutions Help Transformers See Better", NeurIPS 2021.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

LN_EPSILON = 1e-6  # the ViTs' LayerNorm epsilon


class ConvStem(nn.Module):
    """Xiao et al.'s convolutional stem in place of the patchify projection: log2(p) 3×3
    convolutions of stride 2 (channels doubling up to D, each followed by a norm and a
    non-linearity), then a 1×1 convolution to D — `[N, H, W, C]` → `[N, H/p, W/p, D]`.

    Deviation: LayerNorm over the channels and GELU instead of BatchNorm and ReLU (the
    ViTs here hold no batch statistics). Each token's receptive field reaches p − 1
    pixels past its own p×p patch on the right and bottom ("SAME" padding), so masked
    methods see a little of a masked patch through its neighbours.

    Reference: Xiao et al., "Early Convolutions Help Transformers See Better",
    NeurIPS 2021 (ViT_C: stride-2 3×3 convolutions, BN, ReLU, a final 1×1 convolution).
    """

    dim: int
    patch_size: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        k = self.patch_size.bit_length() - 1
        for i in range(k):
            x = nn.Conv(self.dim // 2 ** (k - 1 - i), (3, 3), strides=(2, 2), padding="SAME",
                        use_bias=False, dtype=self.dtype, name=f"conv{i}")(x)
            x = nn.gelu(nn.LayerNorm(epsilon=LN_EPSILON, dtype=self.dtype, name=f"norm{i}")(x),
                        approximate=False)
        return nn.Conv(self.dim, (1, 1), dtype=self.dtype, name="proj")(x)
