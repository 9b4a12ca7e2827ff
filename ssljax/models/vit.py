"""Vision Transformer encoders (ViT-Tiny/Small/Base) with interpolated position embeddings.

Pre-norm transformer blocks (LayerNorm eps 1e-6, multi-head self-attention, GELU MLP),
a learnable CLS token and learnable position embeddings; the features are the final
LayerNorm's CLS token. The layout and initialisation follow DINO's / timm's
`VisionTransformer`, so parameter counts match: ViT-S/16 21.67M and ViT-B/16 85.80M
without a classifier (at 224×224).

The position embeddings are created for the grid of the image size seen at init (or
`img_size`, if given) and resized bicubically when an input has another resolution, as
DINO does for its 96-pixel local crops.

Parameter paths: `patch_embed` (the patch projection, a conv with kernel = stride = patch
size), `cls_token`, `pos_embed`, `block{i}`, `norm`. Freeze the patch embedding (MoCo v3)
with `ssljax.optim.make_optimizer(..., freeze=("patch_embed",))`.

References:
    Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale", ICLR 2021.
    Touvron et al., "Training data-efficient image transformers" (DeiT; ViT-Tiny/Small),
    ICML 2021.
    Caron et al., "Emerging Properties in Self-Supervised Vision Transformers" (DINO),
    ICCV 2021 (position-embedding interpolation).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any

LN_EPSILON = 1e-6
dense_init = nn.initializers.truncated_normal(stddev=0.02)


def _drop_path(module: nn.Module, x: jnp.ndarray, rate: float, train: bool) -> jnp.ndarray:
    """Stochastic depth: drops the whole residual branch per example with probability rate."""
    if not train or rate == 0.0:
        return x
    keep = 1.0 - rate
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = jax.random.bernoulli(module.make_rng("dropout"), keep, shape)
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


class MlpBlock(nn.Module):
    """Dense(hidden) → GELU (exact) → Dense(dim)."""

    hidden_dim: int
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        """Maps `[N, L, D]` to `[N, L, D]`."""
        dim = x.shape[-1]
        x = nn.Dense(self.hidden_dim, dtype=self.dtype, kernel_init=dense_init, name="fc1")(x)
        x = nn.gelu(x, approximate=False)
        return nn.Dense(dim, dtype=self.dtype, kernel_init=dense_init, name="fc2")(x)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)).

    Attributes:
        num_heads: attention heads.
        mlp_ratio: hidden size of the MLP relative to the token dimension.
        drop_path: stochastic-depth rate of both residual branches.
        dtype: computation dtype.
    """

    num_heads: int
    mlp_ratio: float = 4.0
    drop_path: float = 0.0
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        """Maps tokens `[N, L, D]` to `[N, L, D]`."""
        dim = x.shape[-1]
        y = nn.LayerNorm(epsilon=LN_EPSILON, dtype=self.dtype, name="norm1")(x)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads,
            dtype=self.dtype,
            kernel_init=dense_init,
            deterministic=True,
            name="attn",
        )(y)
        x = x + _drop_path(self, y, self.drop_path, train)
        y = nn.LayerNorm(epsilon=LN_EPSILON, dtype=self.dtype, name="norm2")(x)
        y = MlpBlock(int(dim * self.mlp_ratio), dtype=self.dtype, name="mlp")(y)
        return x + _drop_path(self, y, self.drop_path, train)


def interpolate_pos_embed(pos_embed: jnp.ndarray, grid: tuple[int, int]) -> jnp.ndarray:
    """Resizes position embeddings (CLS first) to a new patch grid, bicubically.

    Args:
        pos_embed: `[1, 1 + g·g, D]` embeddings of a square g×g grid, CLS token first.
        grid: the new grid `(h, w)` in patches.

    Returns:
        `[1, 1 + h·w, D]` embeddings (unchanged if the grid already is g×g).
    """
    num_patches = pos_embed.shape[1] - 1
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f"pos_embed must cover a square grid, got {num_patches} patches")
    if (side, side) == tuple(grid):
        return pos_embed
    cls_pos, patch_pos = pos_embed[:, :1], pos_embed[:, 1:]
    dim = pos_embed.shape[-1]
    patch_pos = patch_pos.reshape(1, side, side, dim).astype(jnp.float32)
    patch_pos = jax.image.resize(patch_pos, (1, *grid, dim), method="bicubic", antialias=False)
    patch_pos = patch_pos.reshape(1, grid[0] * grid[1], dim).astype(pos_embed.dtype)
    return jnp.concatenate([cls_pos, patch_pos], axis=1)


FEATURES = ("cls", "cls_last4", "cls_avgpool")


class ViT(nn.Module):
    """Vision Transformer encoder; features are the final-LayerNorm CLS token (by default).

    Attributes:
        dim: token dimension D.
        depth: number of transformer blocks.
        num_heads: attention heads.
        patch_size: side of the square patches (must divide the image sides).
        mlp_ratio: MLP hidden size relative to D.
        img_size: image side the position embeddings are made for; None: the side of
            the input at init (other resolutions are interpolated).
        drop_path_rate: stochastic depth, increasing linearly over the blocks to this
            rate (needs a "dropout" PRNG stream when training).
        dtype: computation dtype; parameters stay float32.
        features: what the encoder outputs, as DINO's `eval_linear.py` reads a ViT:
            "cls" (the final CLS token, [N, D]); "cls_last4" (the CLS tokens of the last
            4 blocks, each through the final LayerNorm, concatenated: [N, 4D], DINO's
            ViT-S/16 probe, `--n_last_blocks 4`); "cls_avgpool" (the final CLS token and
            the mean of the final patch tokens, interleaved as DINO's `reshape` leaves
            them: [N, 2D], its ViT-B probe, `--n_last_blocks 1 --avgpool_patchtokens`).
            DINO's code cannot combine 4 blocks with the average pool (its
            `torch.cat` needs n = 1), so neither does this.
    """

    dim: int
    depth: int
    num_heads: int
    patch_size: int = 16
    mlp_ratio: float = 4.0
    img_size: int | None = None
    drop_path_rate: float = 0.0
    dtype: Dtype = jnp.float32
    features: str = "cls"

    @property
    def feature_dim(self) -> int:
        """Size of the output features: D, 4D (`cls_last4`) or 2D (`cls_avgpool`)."""
        return self.dim * {"cls_last4": 4, "cls_avgpool": 2}.get(self.features, 1)

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        """Encodes images.

        Args:
            x: float images `[N, H, W, C]`, H and W multiples of `patch_size`.
            train: enables stochastic depth (if `drop_path_rate > 0`).

        Returns:
            float32 CLS features `[N, dim]`.
        """
        if x.ndim != 4:
            raise ValueError(f"ViT expects NHWC images [N, H, W, C], got shape {x.shape}")
        if self.features not in FEATURES:
            raise ValueError(f"ViT features={self.features!r} must be one of {', '.join(FEATURES)}")
        if self.features == "cls_last4" and self.depth < 4:
            raise ValueError(f"ViT features='cls_last4' needs 4 blocks, this ViT has {self.depth}")
        n, h, w, _ = x.shape
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(
                f"ViT patch_size {p} must divide the image size, got {h}×{w}; "
                f"resize the images or pick another patch_size"
            )
        grid = (h // p, w // p)
        x = nn.Conv(self.dim, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype,
                    name="patch_embed")(x.astype(self.dtype))
        x = x.reshape(n, grid[0] * grid[1], self.dim)
        cls = self.param("cls_token", dense_init, (1, 1, self.dim))
        x = jnp.concatenate([jnp.broadcast_to(cls, (n, 1, self.dim)).astype(x.dtype), x], 1)

        if self.has_variable("params", "pos_embed"):
            pos_shape = self.get_variable("params", "pos_embed").shape
        elif self.img_size is not None:
            side = self.img_size // p
            pos_shape = (1, 1 + side * side, self.dim)
        elif grid[0] == grid[1]:
            pos_shape = (1, 1 + grid[0] * grid[1], self.dim)
        else:
            raise ValueError(
                f"ViT initialised on non-square {h}×{w} images needs img_size= for its "
                f"position embeddings"
            )
        pos = self.param("pos_embed", dense_init, pos_shape)
        x = x + interpolate_pos_embed(pos, grid).astype(x.dtype)

        norm = nn.LayerNorm(epsilon=LN_EPSILON, dtype=self.dtype, name="norm")
        last = 4 if self.features == "cls_last4" else 1
        outputs = []
        for i in range(self.depth):
            rate = self.drop_path_rate * i / max(self.depth - 1, 1)
            x = EncoderBlock(self.num_heads, self.mlp_ratio, rate, dtype=self.dtype,
                             name=f"block{i}")(x, train)
            if self.depth - i <= last:  # DINO's get_intermediate_layers: norm of each
                outputs.append(norm(x))
        if self.features == "cls_avgpool":
            y = outputs[-1]
            pooled = jnp.stack([y[:, 0], jnp.mean(y[:, 1:], axis=1)], axis=-1)  # [N, D, 2]
            return pooled.reshape(n, 2 * self.dim).astype(jnp.float32)
        return jnp.concatenate([y[:, 0] for y in outputs], axis=-1).astype(jnp.float32)


def vit_test(**kwargs: Any) -> ViT:
    """A tiny ViT for tests: dim 32, depth 2, 2 heads, 8-pixel patches."""
    kwargs.setdefault("patch_size", 8)
    return ViT(dim=32, depth=2, num_heads=2, **kwargs)


def vit_tiny(**kwargs: Any) -> ViT:
    """ViT-Tiny (DeiT-Ti): dim 192, 3 heads, depth 12 (5.5M parameters at /16)."""
    return ViT(dim=192, depth=12, num_heads=3, **kwargs)


def vit_small(**kwargs: Any) -> ViT:
    """ViT-Small (ViT-S/16): dim 384, 6 heads, depth 12 (21.7M parameters)."""
    return ViT(dim=384, depth=12, num_heads=6, **kwargs)


def vit_base(**kwargs: Any) -> ViT:
    """ViT-Base (ViT-B/16): dim 768, 12 heads, depth 12 (85.8M parameters)."""
    return ViT(dim=768, depth=12, num_heads=12, **kwargs)
