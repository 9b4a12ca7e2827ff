"""Encoders (ResNet, ViT, small CNN) and heads, by name.

Every module is called as `module.apply(variables, x, train=bool)` on float NHWC images
`[N, H, W, C]`; encoders return float32 features `[N, D]`. `dtype` is the computation
dtype (e.g. `jnp.bfloat16`), parameters are always float32. BatchNorm layers use momentum
0.9 and epsilon 1e-5 with `bn_axis_name` ("data" for cross-device BN inside shard_map,
None for local BN).

    >>> encoder = get_encoder("resnet18", stem="cifar", bn_axis_name="data")
    >>> feature_dim("resnet50", width=2)
    4096
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ssljax.models.decoders import ConvDecoder, ConvDiscriminator
from ssljax.models.heads import DINOHead, MLPHead, ProjectorTrunk, WeightNormDense
from ssljax.models.resnet import (
    BN_EPSILON,
    BN_MOMENTUM,
    BasicBlock,
    Bottleneck,
    ResNet,
    ResNet18,
    ResNet34,
    ResNet50,
    batch_norm,
)
from ssljax.models.small_cnn import SmallCNN
from ssljax.models.vit import FEATURES as VIT_FEATURES
from ssljax.models.vit import (
    ViT,
    interpolate_pos_embed,
    sincos_pos_embed,
    vit_base,
    vit_huge,
    vit_large,
    vit_mini,
    vit_small,
    vit_test,
    vit_tiny,
)
from ssljax.registry import Registry

__all__ = [
    "BN_EPSILON",
    "BN_MOMENTUM",
    "BasicBlock",
    "Bottleneck",
    "ConvDecoder",
    "ConvDiscriminator",
    "DINOHead",
    "ENCODERS",
    "MLPHead",
    "ResNet",
    "ResNet18",
    "ResNet34",
    "ResNet50",
    "SmallCNN",
    "VIT_FEATURES",
    "ProjectorTrunk",
    "ViT",
    "WeightNormDense",
    "batch_norm",
    "encoder_from_block",
    "encoder_names",
    "feature_dim",
    "get_encoder",
    "interpolate_pos_embed",
    "sincos_pos_embed",
    "register_encoder",
    "vit_base",
    "vit_huge",
    "vit_large",
    "vit_mini",
    "vit_small",
    "vit_test",
    "vit_tiny",
]

# name -> (constructor, whether it takes `bn_axis_name`)
ENCODERS: Registry[tuple[Callable[..., nn.Module], bool]] = Registry("encoder",
                                                                     key="encoder.name")
for _name, _entry in {
    "small_cnn": (SmallCNN, True),
    "resnet18": (ResNet18, True),
    "resnet34": (ResNet34, True),
    "resnet50": (ResNet50, True),
    "vit_test": (vit_test, False),
    "vit_mini": (vit_mini, False),
    "vit_tiny": (vit_tiny, False),
    "vit_small": (vit_small, False),
    "vit_base": (vit_base, False),
    "vit_large": (vit_large, False),
    "vit_huge": (vit_huge, False),
}.items():
    ENCODERS.register(_name, _entry)


def register_encoder(name: str, constructor: Callable[..., nn.Module], *,
                     batch_norm: bool) -> None:
    """Adds an encoder: `constructor(dtype=..., [bn_axis_name=...,] **attributes)`.

    Args:
        name: the `encoder.name` that selects it.
        constructor: a Flax module class or a function returning one; its module maps
            `[N, H, W, C]` (`train=` keyword) to features `[N, D]` and has `feature_dim`.
        batch_norm: whether it takes `bn_axis_name` (it has BatchNorm layers).
    """
    ENCODERS.register(name, (constructor, batch_norm))


def encoder_names() -> tuple[str, ...]:
    """The names `get_encoder` accepts."""
    return ENCODERS.names()


def get_encoder(
    name: str, *, dtype: Any = jnp.float32, bn_axis_name: str | None = None, **kwargs: Any
) -> nn.Module:
    """Builds an encoder by name.

    Args:
        name: one of `encoder_names()`: "small_cnn", "resnet18", "resnet34", "resnet50",
            "vit_test", "vit_mini", "vit_tiny", "vit_small", "vit_base", "vit_large",
            "vit_huge".
        dtype: computation dtype (parameters stay float32; features are float32).
        bn_axis_name: BatchNorm axis name for the BN encoders ("data": cross-device BN);
            ignored by the ViTs, which have no BatchNorm.
        **kwargs: the encoder's own attributes, e.g. `width=2, stem="cifar"` (ResNet),
            `channels=(...)`, `strides=(...)` (SmallCNN), `patch_size=16, img_size=224,
            drop_path_rate=0.1` (ViT).

    Returns:
        An unbound `flax.linen.Module`; `module.apply(variables, x, train=...)` maps
        `[N, H, W, C]` to `[N, D]`.

    Raises:
        ValueError: unknown name or attribute.
    """
    if name not in ENCODERS:
        raise ValueError(ENCODERS.unknown_message(name))
    ctor, has_bn = ENCODERS[name]
    if has_bn:
        kwargs["bn_axis_name"] = bn_axis_name
    try:
        return ctor(dtype=dtype, **kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for encoder {name!r}: {e}") from None


def encoder_from_block(block: dict[str, Any], bn_axis_name: str | None = None) -> nn.Module:
    """The encoder of a config's `encoder` block: `name`, `dtype` and the module's attributes.

    Args:
        block: e.g. `{"name": "resnet18", "dtype": "bfloat16", "stem": "cifar"}`.
        bn_axis_name: BatchNorm axis ("data" for cross-device BN, None for local).

    Raises:
        ValueError: unknown name, dtype or attribute.
    """
    kwargs = {k: v for k, v in block.items() if k not in ("name", "dtype")}
    dtype = block.get("dtype") or "float32"
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"encoder.dtype={dtype!r} must be 'float32' or 'bfloat16'")
    return get_encoder(block["name"], dtype=jnp.bfloat16 if dtype == "bfloat16" else jnp.float32,
                       bn_axis_name=bn_axis_name, **kwargs)


def feature_dim(name: str, **kwargs: Any) -> int:
    """Size D of the features `get_encoder(name, **kwargs)` outputs (nothing is computed).

    Args:
        name: encoder name, as for `get_encoder`.
        **kwargs: the same encoder attributes (e.g. `width=2`).

    Returns:
        D, e.g. 2048 for "resnet50", 4096 for "resnet50" with `width=2`, 384 for
        "vit_small".
    """
    return get_encoder(name, **kwargs).feature_dim
