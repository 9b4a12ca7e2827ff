"""Initialisers of the ViT's layers: timm's and MAE's kernel inits, and I-JEPA's per-depth
rescaling of each block's output projections (`fix_init_weight`).

References: timm / DINO `vision_transformer.py` (`trunc_normal_(std=.02)`);
facebookresearch/mae `models_mae.py` (`xavier_uniform_`); facebookresearch/ijepa
`src/models/vision_transformer.py` (`fix_init_weight`).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

Initializer = Any

dense_init = nn.initializers.truncated_normal(stddev=0.02)
token_init = nn.initializers.normal(stddev=0.02)  # MAE's cls / mask tokens

INITS = ("timm", "mae")


def kernel_inits(init: str) -> dict[str, Initializer]:
    """Kernel initialisers of a ViT's layers: `dense`, `qkv` (each of q, k, v), `patch`.

    "timm": truncated normal σ 0.02 everywhere (timm / DINO). "mae": MAE's xavier-uniform
    — `torch.nn.init.xavier_uniform_` of every Linear, of the fused `[3D, D]` qkv weight
    (so each of Flax's separate q, k, v kernels `[D, D]` gets half the fan-average scale:
    the same bound sqrt(6 / 4D)), and of the patch projection viewed as `[D, p·p·C]`.
    """
    if init not in INITS:
        raise ValueError(f"ViT init={init!r} must be one of {', '.join(INITS)}")
    if init == "timm":
        return {"dense": dense_init, "qkv": dense_init, "patch": nn.initializers.lecun_normal()}
    return {"dense": nn.initializers.xavier_uniform(),
            "qkv": nn.initializers.variance_scaling(0.5, "fan_avg", "uniform"),
            "patch": nn.initializers.variance_scaling(1.0, "fan_avg", "uniform",
                                                      in_axis=(0, 1, 2), out_axis=3)}


def scaled_init(init: Initializer, scale: float) -> Initializer:
    """`init`'s draws times `scale` (`init` itself when scale is 1)."""
    if scale == 1.0:
        return init

    def scaled(key, shape, dtype=jnp.float32):
        return init(key, shape, dtype) * jnp.asarray(scale, dtype)

    return scaled


def rescaled_init(block: int, rescale: bool) -> float:
    """The initial scale of block `block`'s (0-based) output projections: 1/sqrt(2·(block
    + 1)) with `rescale` (I-JEPA's `fix_init_weight`, from BEiT), else 1.

    Reference: facebookresearch/ijepa `src/models/vision_transformer.py`
    (`VisionTransformer.fix_init_weight`: `attn.proj` and `mlp.fc2` divided by
    sqrt(2·layer_id), layer_id from 1); Bao et al., BEiT, ICLR 2022.
    """
    return 1.0 / math.sqrt(2.0 * (block + 1)) if rescale else 1.0
