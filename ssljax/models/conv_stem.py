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
    methods see a little of a masked patch through its neighbours; with `patchwise`
    each p×p patch is convolved alone (zero-padded at its own border), so a token sees
    its patch and nothing else, as the linear patch projection — the same parameters.

    Reference: Xiao et al., "Early Convolutions Help Transformers See Better",
    NeurIPS 2021 (ViT_C: stride-2 3×3 convolutions, BN, ReLU, a final 1×1 convolution).
    """

    dim: int
    patch_size: int
    patchwise: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        p = self.patch_size
        k = p.bit_length() - 1
        n, h, w, c = x.shape
        if self.patchwise:  # [N·gh·gw, p, p, C]: one small image per patch
            x = x.reshape(n, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
            x = x.reshape(-1, p, p, c)
        for i in range(k):
            x = nn.Conv(self.dim // 2 ** (k - 1 - i), (3, 3), strides=(2, 2), padding="SAME",
                        use_bias=False, dtype=self.dtype, name=f"conv{i}")(x)
            x = nn.gelu(nn.LayerNorm(epsilon=LN_EPSILON, dtype=self.dtype, name=f"norm{i}")(x),
                        approximate=False)
        x = nn.Conv(self.dim, (1, 1), dtype=self.dtype, name="proj")(x)
        return x.reshape(n, h // p, w // p, self.dim) if self.patchwise else x
