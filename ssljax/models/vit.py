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
size; with `stem="conv"` Xiao et al.'s convolutional stem, `ConvStem`), `cls_token`,
`pos_embed` (absent with fixed sin-cos embeddings), `block{i}`, `norm` — the layer ids of
layer-wise lr decay (`ssljax.optim.layer_decay_multipliers`): the embeddings 0, `block{i}`
i + 1, the rest depth + 1. Freeze the patch embedding (MoCo v3) with
`ssljax.optim.make_optimizer(..., freeze=("patch_embed",))`.

For masked image modelling the encoder takes `keep` (indices of the patch tokens each
example keeps, MAE's random masking) and returns the tokens instead of features
(`tokens=True`); `pos_embedding="sincos"` uses MAE's fixed 2-D sin-cos embeddings and
`weight_init="mae"` MAE's initialisation (xavier-uniform Linear layers and patch projection).

References:
    Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale", ICLR 2021.
    Touvron et al., "Training data-efficient image transformers" (DeiT; ViT-Tiny/Small),
    ICML 2021.
    Caron et al., "Emerging Properties in Self-Supervised Vision Transformers" (DINO),
    ICCV 2021 (position-embedding interpolation).
    He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022
    (facebookresearch/mae `models_mae.py`, `util/pos_embed.py`: sin-cos embeddings, init).
    Xiao et al., "Early Convolutions Help Transformers See Better", NeurIPS 2021
    (the convolutional stem).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssljax.models.conv_stem import LN_EPSILON, ConvStem
from ssljax.models.vit_init import (  # noqa: F401  (re-exported)
    INITS,
    Initializer,
    dense_init,
    kernel_inits,
    rescaled_init,
    scaled_init,
    token_init,
)

Dtype = Any

POS_EMBEDDINGS = ("learned", "sincos")


def sincos_pos_embed(dim: int, grid: tuple[int, int]) -> np.ndarray:
    """MAE's fixed 2-D sin-cos position embeddings, CLS first (a zero row).

    As `get_2d_sincos_pos_embed(dim, size, cls_token=True)` of facebookresearch/mae
    `util/pos_embed.py`: the first D/2 channels encode the patch's column, the last D/2
    its row, each as [sin(pos·ω), cos(pos·ω)] with ω_k = 10000^(−k / (D/4)); patches in
    row-major order. Computed in float64.

    Args:
        dim: D, a multiple of 4.
        grid: `(h, w)` patches.

    Returns:
        float32 `[1, 1 + h·w, D]`.
    """
    if dim % 4:
        raise ValueError(f"sin-cos position embeddings need a token dimension divisible by 4, "
                         f"got {dim}")
    rows, cols = np.meshgrid(np.arange(grid[0], dtype=np.float64),
                             np.arange(grid[1], dtype=np.float64), indexing="ij")
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4))

    def one_axis(pos: np.ndarray) -> np.ndarray:
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    emb = np.concatenate([one_axis(cols), one_axis(rows)], axis=1)
    emb = np.concatenate([np.zeros((1, dim)), emb], axis=0)
    return emb[None].astype(np.float32)


def _drop_path(module: nn.Module, x: jnp.ndarray, rate: float, train: bool) -> jnp.ndarray:
    """Stochastic depth: drops the whole residual branch per example with probability rate."""
    if not train or rate == 0.0:
        return x
    keep = 1.0 - rate
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = jax.random.bernoulli(module.make_rng("dropout"), keep, shape)
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


class MlpBlock(nn.Module):
    """Dense(hidden) → GELU (exact) → Dense(dim); `fc2`'s initial kernel times
    `out_init_scale`."""

    hidden_dim: int
    dtype: Dtype = jnp.float32
    weight_init: str = "timm"
    out_init_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        """Maps `[N, L, D]` to `[N, L, D]`."""
        dim = x.shape[-1]
        kinit = kernel_inits(self.weight_init)["dense"]
        x = nn.Dense(self.hidden_dim, dtype=self.dtype, kernel_init=kinit, name="fc1")(x)
        x = nn.gelu(x, approximate=False)
        return nn.Dense(dim, dtype=self.dtype, kernel_init=scaled_init(kinit, self.out_init_scale),
                        name="fc2")(x)


def block_drop_rates(rate: float, depth: int, uniform: bool = False) -> list[float]:
    """Stochastic-depth rate of each of `depth` blocks: rising linearly from 0 to `rate`
    (timm, MAE, DINO) or `rate` everywhere (`uniform`, DINOv2's `drop_path_uniform`)."""
    if uniform:
        return [float(rate)] * depth
    return [float(rate) * i / max(depth - 1, 1) for i in range(depth)]


class LayerScale(nn.Module):
    """`y · gamma`, a learned per-channel gain initialised to `init` (timm's `ls1.gamma`).

    Reference: Touvron et al., "Going deeper with Image Transformers" (CaiT), ICCV 2021.
    """

    init: float

    @nn.compact
    def __call__(self, y: jnp.ndarray) -> jnp.ndarray:
        gamma = self.param("gamma", nn.initializers.constant(self.init), (y.shape[-1],))
        return y * gamma.astype(y.dtype)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)).

    Attributes:
        num_heads: attention heads.
        mlp_ratio: hidden size of the MLP relative to the token dimension.
        drop_path: stochastic-depth rate of both residual branches.
        dtype: computation dtype.
        weight_init: "timm" or "mae" (`kernel_inits`).
        layer_scale: > 0 multiplies each branch by a learned per-channel gain (`ls1`, `ls2`:
            `gamma` initialised to this value; CaiT's LayerScale, DINOv2's 1e-5); 0: none.
        out_init_scale: multiplies the initial kernels of the two branches' output
            projections (`attn.out`, `mlp.fc2`); see `rescaled_init`.
    """

    num_heads: int
    mlp_ratio: float = 4.0
    drop_path: float = 0.0
    dtype: Dtype = jnp.float32
    weight_init: str = "timm"
    layer_scale: float = 0.0
    out_init_scale: float = 1.0

    def _scaled(self, y: jnp.ndarray, name: str) -> jnp.ndarray:
        return LayerScale(self.layer_scale, name=name)(y) if self.layer_scale else y

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool,
                 valid: jnp.ndarray | None = None) -> jnp.ndarray:
        """Maps tokens `[N, L, D]` to `[N, L, D]`; `valid` (bool `[N, L]`): the tokens
        attention may read (padding tokens are never attended to)."""
        dim = x.shape[-1]
        inits = kernel_inits(self.weight_init)
        out_init = scaled_init(inits["dense"], self.out_init_scale)
        y = nn.LayerNorm(epsilon=LN_EPSILON, dtype=self.dtype, name="norm1")(x)
        mask = None if valid is None else valid[:, None, None, :]
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads,
            dtype=self.dtype,
            kernel_init=inits["qkv"],
            out_kernel_init=out_init,
            deterministic=True,
            name="attn",
        )(y, mask=mask)
        x = x + _drop_path(self, self._scaled(y, "ls1"), self.drop_path, train)
        y = nn.LayerNorm(epsilon=LN_EPSILON, dtype=self.dtype, name="norm2")(x)
        y = MlpBlock(int(dim * self.mlp_ratio), dtype=self.dtype, weight_init=self.weight_init,
                     out_init_scale=self.out_init_scale, name="mlp")(y)
        return x + _drop_path(self, self._scaled(y, "ls2"), self.drop_path, train)


def predictor_tail(x: jnp.ndarray, train: bool, *, depth: int, num_heads: int, out_dim: int,
                   mlp_ratio: float = 4.0, dtype: Dtype = jnp.float32,
                   weight_init: str = "timm", valid: jnp.ndarray | None = None,
                   out_name: str = "pred", rescale_init: bool = False) -> jnp.ndarray:
    """`depth` blocks (`block{i}`), a LayerNorm (`norm`) and a Dense to `out_dim`
    (`out_name`) on tokens `[N, L, d]`: the body of MAE's decoder and I-JEPA's predictor.

    Call it inside a module's `nn.compact` method: the layers become that module's.
    `valid` (bool `[N, L]`) masks padding tokens out of attention; `rescale_init`: see
    `rescaled_init`.
    """
    kinit = kernel_inits(weight_init)["dense"]
    for i in range(depth):
        x = EncoderBlock(num_heads, mlp_ratio, dtype=dtype, weight_init=weight_init,
                         out_init_scale=rescaled_init(i, rescale_init),
                         name=f"block{i}")(x, train, valid)
    x = nn.LayerNorm(epsilon=LN_EPSILON, dtype=dtype, name="norm")(x)
    return nn.Dense(out_dim, dtype=dtype, kernel_init=kinit, name=out_name)(x)


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


FEATURES = ("cls", "cls_last4", "cls_avgpool", "avgpool")
STEMS = ("patch", "conv", "conv_patchwise")


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
        drop_path_uniform: the same `drop_path_rate` in every block (DINOv2's
            `drop_path_uniform`) instead of the linear increase.
        layer_scale: > 0: LayerScale in every block, gains initialised to this value
            (DINOv2's `layerscale` 1e-5); 0: none.
        dtype: computation dtype; parameters stay float32.
        features: what the encoder outputs, as DINO's `eval_linear.py` reads a ViT:
            "cls" (the final CLS token, [N, D]); "cls_last4" (the CLS tokens of the last
            4 blocks, each through the final LayerNorm, concatenated: [N, 4D], DINO's
            ViT-S/16 probe, `--n_last_blocks 4`); "cls_avgpool" (the final CLS token and
            the mean of the final patch tokens, interleaved as DINO's `reshape` leaves
            them: [N, 2D], its ViT-B probe, `--n_last_blocks 1 --avgpool_patchtokens`).
            DINO's code cannot combine 4 blocks with the average pool (its
            `torch.cat` needs n = 1), so neither does this. "avgpool": the mean of the
            final patch tokens [N, D] (global average pooling without the CLS token, as
            MAE fine-tunes; MAE pools before a fresh `fc_norm`, this after the final norm).
        pos_embedding: "learned" (a `pos_embed` parameter, interpolated to other grids)
            or "sincos" (MAE's fixed embeddings of the input's grid, `sincos_pos_embed`;
            no parameter).
        weight_init: "timm" (truncated normal 0.02) or "mae" (xavier-uniform; `kernel_inits`);
            the CLS token is N(0, 0.02) (truncated for "timm").
        use_cls: False drops the CLS token (I-JEPA's encoders have none): the tokens are
            the patches alone and the features must be "avgpool" (the position table
            keeps its CLS row, unused, so checkpoints keep one layout).
        use_mask_token: a learned `mask_token` that replaces the patch embeddings where
            `mask` is set, before the position embeddings (iBOT / DINOv2's student).
        stem: "patch" (a linear projection of each p×p patch, ViT's), "conv"
            (`ConvStem`, Xiao et al.'s convolutional stem; p a power of 2) or
            "conv_patchwise" (the same stem run on each patch alone: no pixel of a
            neighbouring patch reaches a token). Each is the `patch_embed` parameter
            block (layer 0 of layer decay).
        rescale_init: block i's output projections (`attn.out`, `mlp.fc2`) start
            divided by sqrt(2·(i + 1)) (I-JEPA's `fix_init_weight`; `rescaled_init`).
    """

    dim: int
    depth: int
    num_heads: int
    patch_size: int = 16
    mlp_ratio: float = 4.0
    img_size: int | None = None
    drop_path_rate: float = 0.0
    drop_path_uniform: bool = False
    layer_scale: float = 0.0
    dtype: Dtype = jnp.float32
    features: str = "cls"
    pos_embedding: str = "learned"
    weight_init: str = "timm"
    use_cls: bool = True
    use_mask_token: bool = False
    stem: str = "patch"
    rescale_init: bool = False

    @property
    def feature_dim(self) -> int:
        """Size of the output features: D, 4D (`cls_last4`) or 2D (`cls_avgpool`)."""
        return self.dim * {"cls_last4": 4, "cls_avgpool": 2}.get(self.features, 1)

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool, keep: jnp.ndarray | None = None,
                 tokens: bool = False, keep_valid: jnp.ndarray | None = None,
                 mask: jnp.ndarray | None = None, token_blocks: int = 1) -> jnp.ndarray:
        """Encodes images.

        Args:
            x: float images `[N, H, W, C]`, H and W multiples of `patch_size`.
            train: enables stochastic depth (if `drop_path_rate > 0`).
            keep: optional int `[N, K]`: the patch tokens (row-major indices into the
                `(H/p)·(W/p)` grid) each example keeps, after the position embeddings
                are added and before the CLS token is prepended (MAE's random masking).
            tokens: return the final-LayerNorm token sequence instead of the features.
            keep_valid: optional bool `[N, K]`: which entries of `keep` are real tokens;
                the others are padding no token attends to (I-JEPA's context blocks,
                whose sizes differ per example). Padding tokens' outputs are undefined.
            mask: optional bool `[N, (H/p)·(W/p)]`: patches replaced by the mask token
                (needs `use_mask_token`).
            token_blocks: with `tokens=True`, the mean of the last `token_blocks` blocks'
                tokens, each through the final LayerNorm (data2vec's average of the top
                blocks as a target; 1: the last block's alone).

        Returns:
            float32 features `[N, feature_dim]` (`features`; "avgpool" averages the valid
            tokens), or with `tokens=True` the normed tokens `[N, 1 + K, dim]` (CLS first;
            `[N, K, dim]` without CLS; K = all patches without `keep`) in the
            computation dtype.
        """
        if x.ndim != 4:
            raise ValueError(f"ViT expects NHWC images [N, H, W, C], got shape {x.shape}")
        if self.features not in FEATURES:
            raise ValueError(f"ViT features={self.features!r} must be one of {', '.join(FEATURES)}")
        if self.pos_embedding not in POS_EMBEDDINGS:
            raise ValueError(f"ViT pos_embedding={self.pos_embedding!r} must be one of "
                             f"{', '.join(POS_EMBEDDINGS)}")
        if not self.use_cls and self.features != "avgpool" and not tokens:
            raise ValueError(f"a ViT without CLS token (use_cls=False) has features='avgpool' "
                             f"only, got features={self.features!r}")
        if self.stem not in STEMS:
            raise ValueError(f"ViT stem={self.stem!r} must be one of {', '.join(STEMS)}")
        p = self.patch_size
        if self.stem != "patch" and (p < 2 or p & (p - 1)):
            raise ValueError(f"ViT stem={self.stem!r} needs a power-of-2 patch_size (stride-2 "
                             f"convolutions), got patch_size={p}; set stem='patch' or "
                             f"another patch_size")
        if not 1 <= token_blocks <= self.depth:
            raise ValueError(f"ViT token_blocks={token_blocks} must be in 1..{self.depth} "
                             f"(the blocks this ViT has)")
        if self.features == "cls_last4" and self.depth < 4:
            raise ValueError(f"ViT features='cls_last4' needs 4 blocks, this ViT has {self.depth}")
        n, h, w, _ = x.shape
        if h % p or w % p:
            raise ValueError(
                f"ViT patch_size {p} must divide the image size, got {h}×{w}; "
                f"resize the images or pick another patch_size"
            )
        grid = (h // p, w // p)
        inits = kernel_inits(self.weight_init)
        if self.stem != "patch":
            x = ConvStem(self.dim, p, patchwise=self.stem == "conv_patchwise", dtype=self.dtype,
                         name="patch_embed")(x.astype(self.dtype))
        else:
            x = nn.Conv(self.dim, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype,
                        kernel_init=inits["patch"], name="patch_embed")(x.astype(self.dtype))
        x = x.reshape(n, grid[0] * grid[1], self.dim)
        if self.use_mask_token:
            token = self.param("mask_token", nn.initializers.zeros, (1, 1, self.dim))
            if mask is not None:
                x = jnp.where(mask[..., None], token.astype(x.dtype), x)
        elif mask is not None:
            raise ValueError("ViT mask= needs use_mask_token=True")
        pos = self._position_embeddings(grid, h, w).astype(x.dtype)
        x = x + pos[:, 1:]
        if keep is not None:
            x = jnp.take_along_axis(x, keep[..., None].astype(jnp.int32), axis=1)
        valid = keep_valid
        if self.use_cls:
            cls = self.param("cls_token",
                             dense_init if self.weight_init == "timm" else token_init,
                             (1, 1, self.dim))
            cls = jnp.broadcast_to(cls.astype(x.dtype) + pos[:, :1], (n, 1, self.dim))
            x = jnp.concatenate([cls, x], 1)
            if valid is not None:
                valid = jnp.concatenate([jnp.ones((n, 1), bool), valid.astype(bool)], 1)

        norm = nn.LayerNorm(epsilon=LN_EPSILON, dtype=self.dtype, name="norm")
        last = token_blocks if tokens else 4 if self.features == "cls_last4" else 1
        outputs = []
        for i in range(self.depth):
            rate = block_drop_rates(self.drop_path_rate, self.depth, self.drop_path_uniform)[i]
            x = EncoderBlock(self.num_heads, self.mlp_ratio, rate, dtype=self.dtype,
                             weight_init=self.weight_init, layer_scale=self.layer_scale,
                             out_init_scale=rescaled_init(i, self.rescale_init),
                             name=f"block{i}")(x, train, valid)
            if self.depth - i <= last:  # DINO's get_intermediate_layers: norm of each
                outputs.append(norm(x))
        if tokens:
            return outputs[0] if last == 1 else sum(outputs) / last
        if self.features == "avgpool":
            patches = outputs[-1][:, 1:] if self.use_cls else outputs[-1]
            if keep_valid is None:
                return jnp.mean(patches, axis=1).astype(jnp.float32)
            weight = keep_valid.astype(jnp.float32)[..., None]
            total = jnp.sum(patches.astype(jnp.float32) * weight, axis=1)
            return total / jnp.maximum(jnp.sum(weight, axis=1), 1.0)
        if self.features == "cls_avgpool":
            y = outputs[-1]
            pooled = jnp.stack([y[:, 0], jnp.mean(y[:, 1:], axis=1)], axis=-1)  # [N, D, 2]
            return pooled.reshape(n, 2 * self.dim).astype(jnp.float32)
        return jnp.concatenate([y[:, 0] for y in outputs], axis=-1).astype(jnp.float32)

    def _position_embeddings(self, grid: tuple[int, int], h: int, w: int) -> jnp.ndarray:
        """`[1, 1 + h·w/p², D]`: fixed sin-cos, or the `pos_embed` parameter resized."""
        if self.pos_embedding == "sincos":
            return jnp.asarray(sincos_pos_embed(self.dim, grid))
        if self.has_variable("params", "pos_embed"):
            pos_shape = self.get_variable("params", "pos_embed").shape
        elif self.img_size is not None:
            side = self.img_size // self.patch_size
            pos_shape = (1, 1 + side * side, self.dim)
        elif grid[0] == grid[1]:
            pos_shape = (1, 1 + grid[0] * grid[1], self.dim)
        else:
            raise ValueError(
                f"ViT initialised on non-square {h}×{w} images needs img_size= for its "
                f"position embeddings"
            )
        pos = self.param("pos_embed", dense_init, pos_shape)
        return interpolate_pos_embed(pos, grid)


def _sized(sizes: dict[str, int], kwargs: dict[str, Any]) -> ViT:
    """A named ViT: its sizes, unless `kwargs` (a config's `encoder.dim`, `depth`,
    `num_heads`) set others."""
    return ViT(**{**sizes, **kwargs})


def vit_test(**kwargs: Any) -> ViT:
    """A tiny ViT for tests: dim 32, depth 2, 2 heads, 8-pixel patches."""
    kwargs.setdefault("patch_size", 8)
    return _sized(dict(dim=32, depth=2, num_heads=2), kwargs)


def vit_mini(**kwargs: Any) -> ViT:
    """A ViT for 28–32 px images on a CPU: dim 128, depth 6, 4 heads, 4-pixel patches
    (0.8M parameters at 28×28: 49 patch tokens)."""
    kwargs.setdefault("patch_size", 4)
    return _sized(dict(dim=128, depth=6, num_heads=4), kwargs)


def vit_tiny(**kwargs: Any) -> ViT:
    """ViT-Tiny (DeiT-Ti): dim 192, 3 heads, depth 12 (5.5M parameters at /16)."""
    return _sized(dict(dim=192, depth=12, num_heads=3), kwargs)


def vit_small(**kwargs: Any) -> ViT:
    """ViT-Small (ViT-S/16): dim 384, 6 heads, depth 12 (21.7M parameters)."""
    return _sized(dict(dim=384, depth=12, num_heads=6), kwargs)


def vit_base(**kwargs: Any) -> ViT:
    """ViT-Base (ViT-B/16): dim 768, 12 heads, depth 12 (85.8M parameters)."""
    return _sized(dict(dim=768, depth=12, num_heads=12), kwargs)


def vit_large(**kwargs: Any) -> ViT:
    """ViT-Large (ViT-L/16): dim 1024, 16 heads, depth 24 (303M parameters)."""
    return _sized(dict(dim=1024, depth=24, num_heads=16), kwargs)


def vit_huge(**kwargs: Any) -> ViT:
    """ViT-Huge (ViT-H/14): dim 1280, 16 heads, depth 32, 14-pixel patches (632M
    parameters)."""
    kwargs.setdefault("patch_size", 14)
    return _sized(dict(dim=1280, depth=32, num_heads=16), kwargs)
