"""I-JEPA: predict the target encoder's representations of masked blocks from a context.

Per image (`augment.ijepa_blocks`): 4 target blocks (15–20% of the patches each, aspect
0.75–1.5) and one context block (85–100%, square) with the targets cut out. The context
encoder (a ViT without CLS token, fixed sin-cos position embeddings) sees the context
tokens only; the target encoder — an EMA of the context encoder, momentum rising linearly
0.996 → 1 — sees the whole image, and its output tokens, layer-normalised, are the
targets. A narrow predictor ViT (`IJEPAPredictor`) takes the context tokens and, for each
target block, mask tokens at the block's positions, and regresses the targets
(`losses.ijepa`: smooth L1 as the official code; `ijepa.distance="l2"` for the paper's
squared error). No augmentation beyond the crop.

Evaluation reads the encoder on whole images: the mean of its patch tokens
(`encoder.features="avgpool"`, I-JEPA's linear probe). The online probe (a monitor)
reads the mean context token.

Reference: Assran et al., "Self-Supervised Learning from Images with a Joint-Embedding
Predictive Architecture", CVPR 2023; facebookresearch/ijepa at 52c1ae9
(`src/masks/multiblock.py`, `src/models/vision_transformer.py`
`VisionTransformerPredictor`, `src/train.py`, `configs/in1k_vith14_ep300.yaml`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import augment, losses, models
from ssljax.errors import ConfigError
from ssljax.losses.masked import DISTANCES
from ssljax.methods import base
from ssljax.methods.target import EMAMethod, EMATarget, ema_defaults
from ssljax.models.vit import dense_init, predictor_tail, sincos_pos_embed
from ssljax.parallel import DATA_AXIS


class IJEPAPredictor(nn.Module):
    """The narrow predictor ViT: context tokens + mask tokens at target positions → the
    target representations.

    Attributes:
        dim: predictor token dimension (I-JEPA ViT-H/14: 384).
        depth: transformer blocks (12).
        num_heads: attention heads (the encoder's).
        out_dim: the encoder's token dimension.
        mlp_ratio: MLP hidden size relative to `dim`.
        rescale_init: the reference's `fix_init_weight` (`models.vit.rescaled_init`).
        dtype: computation dtype.
    """

    dim: int
    depth: int
    num_heads: int
    out_dim: int
    mlp_ratio: float = 4.0
    rescale_init: bool = False
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, tokens: jax.Array, context: jax.Array, context_valid: jax.Array,
                 targets: jax.Array, targets_valid: jax.Array, grid: tuple[int, int],
                 train: bool = True) -> jax.Array:
        """Args: the context encoder's tokens `[N, Kc, D]` at positions `context`
        `[N, Kc]` (`context_valid` bool); target positions `targets` `[N, B, Kt]`
        (`targets_valid` bool). Returns `[N·B, Kt, out_dim]`, example-major (row
        i·B + j: example i's block j)."""
        pos = jnp.asarray(sincos_pos_embed(self.dim, grid)[0, 1:]).astype(self.dtype)
        x = nn.Dense(self.dim, dtype=self.dtype, kernel_init=dense_init, name="embed")(tokens)
        x = x + pos[context]
        n, blocks, kt = targets.shape
        kc = x.shape[1]
        x = jnp.repeat(x, blocks, axis=0)  # [N·B, Kc, dim]
        mask_token = self.param("mask_token", dense_init, (1, 1, self.dim))
        queries = mask_token.astype(self.dtype) + pos[targets.reshape(n * blocks, kt)]
        x = jnp.concatenate([x, queries], axis=1)
        valid = jnp.concatenate([jnp.repeat(context_valid, blocks, axis=0),
                                 targets_valid.reshape(n * blocks, kt)], axis=1)
        x = predictor_tail(x, train, depth=self.depth, num_heads=self.num_heads,
                           out_dim=self.out_dim, mlp_ratio=self.mlp_ratio, dtype=self.dtype,
                           valid=valid, out_name="proj", rescale_init=self.rescale_init)
        return x[:, kc:].astype(jnp.float32)


class IJEPAModel(nn.Module):
    """Context encoder → predictor. Without block indices (init, whole images) the
    context is every patch and the one target block is every patch too. Returns
    `features` / `proj` (mean valid context token [N, D]) and `pred` [N·B, Kt, D]."""

    encoder: nn.Module
    predictor_dim: int = 384
    predictor_depth: int = 12
    predictor_heads: int = 12
    predictor_rescale_init: bool = False
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True, context: jax.Array | None = None,
                 context_valid: jax.Array | None = None, targets: jax.Array | None = None,
                 targets_valid: jax.Array | None = None) -> dict[str, jax.Array]:
        p = self.encoder.patch_size
        grid = (x.shape[1] // p, x.shape[2] // p)
        n, length = x.shape[0], grid[0] * grid[1]
        if context is None:
            context = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (n, length))
            context_valid = jnp.ones((n, length), bool)
            targets, targets_valid = context[:, None], context_valid[:, None]
        tokens = self.encoder(x, train=train, keep=context, keep_valid=context_valid,
                              tokens=True)
        weight = context_valid.astype(jnp.float32)[..., None]
        features = jnp.sum(tokens.astype(jnp.float32) * weight, 1) / jnp.maximum(
            jnp.sum(weight, 1), 1.0)
        predictor = IJEPAPredictor(self.predictor_dim, self.predictor_depth,
                                   self.predictor_heads, out_dim=tokens.shape[-1],
                                   mlp_ratio=self.encoder.mlp_ratio,
                                   rescale_init=self.predictor_rescale_init, dtype=self.dtype,
                                   name="predictor")
        pred = predictor(tokens, context, context_valid, targets, targets_valid, grid, train)
        return {"features": features, "proj": features, "pred": pred}


class TargetTokens(nn.Module):
    """The target encoder: every output token of the whole image, `tokens` [N, L, D] — the
    last block's, or the mean of the last `blocks` blocks' (each through the final norm)."""

    encoder: nn.Module
    blocks: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> dict[str, jax.Array]:
        return {"tokens": self.encoder(x, train=train, tokens=True, token_blocks=self.blocks)}


class IJEPA(EMAMethod):
    """I-JEPA. Config: `ijepa.num_targets`, `ijepa.target_scale`, `ijepa.target_aspect`,
    `ijepa.context_scale`, `ijepa.min_keep`, `ijepa.edges`, `ijepa.distance`,
    `ijepa.target_blocks` (1, the reference: the target encoder's last block; K > 1: the
    mean of its last K blocks' tokens, data2vec's target — a deviation); `predictor.dim`,
    `predictor.depth`, `predictor.num_heads` (0: the encoder's), `predictor.rescale_init`
    (with `encoder.rescale_init`: the reference's `fix_init_weight`); `ema`. The encoder must
    be a ViT with `use_cls=False` and `features="avgpool"`."""

    name = "ijepa"
    defaults = {"ijepa.num_targets": 4, "ijepa.target_scale": (0.15, 0.2),
                "ijepa.target_aspect": (0.75, 1.5), "ijepa.context_scale": (0.85, 1.0),
                "ijepa.min_keep": 10, "ijepa.edges": False, "ijepa.distance": "smooth_l1",
                "ijepa.target_blocks": 1,
                "predictor.dim": 384, "predictor.depth": 12, "predictor.num_heads": 0,
                "predictor.rescale_init": False,
                "augment.preset": "crop", "augment.crop_scale": (0.3, 1.0),
                "optimizer.name": "adamw", **ema_defaults(0.996, "linear")}
    ignores = ("head.hidden_dims", "head.out_dim", "head.use_bn", "head.last_bn",
               "head.last_bn_affine", "head.last_bn_center", "head.last_bias", "bn")

    def build_model(self) -> nn.Module:
        c = self.config
        encoder = _build_vit(c, self.axis)
        if c.ijepa.distance not in DISTANCES:
            raise ConfigError(f"ijepa.distance={c.ijepa.distance!r} must be one of "
                              f"{', '.join(DISTANCES)}")
        if not 1 <= int(c.ijepa.target_blocks) <= encoder.depth:
            raise ConfigError(f"ijepa.target_blocks={c.ijepa.target_blocks} must be in "
                              f"1..{encoder.depth} (the encoder's blocks)")
        heads = int(c.predictor.num_heads) or encoder.num_heads
        if c.predictor.dim % heads or c.predictor.dim % 4:
            raise ConfigError(f"predictor.dim={c.predictor.dim} must be divisible by its "
                              f"{heads} heads and by 4 (sin-cos position embeddings)")
        return IJEPAModel(encoder=encoder, predictor_dim=int(c.predictor.dim),
                          predictor_depth=int(c.predictor.depth), predictor_heads=heads,
                          predictor_rescale_init=bool(c.predictor.rescale_init),
                          dtype=jnp.bfloat16 if c.encoder.dtype == "bfloat16" else jnp.float32)

    def build_target(self) -> EMATarget:
        """An EMA of the context encoder alone, run on whole images."""
        blocks = int(self.config.ijepa.target_blocks)
        return EMATarget(self.config, TargetTokens(encoder=self.model.encoder, blocks=blocks),
                         keys=("encoder",), axis_name=self.axis)

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        """The first view of `config.augment`; the patch size must divide its side."""
        specs = base.view_specs(self.config, image_size)[:1]
        p, side = self.model.encoder.patch_size, specs[0].out_size
        if side % p or side // p < 2:
            raise ConfigError(f"encoder.patch_size={p} must divide the view side {side} "
                              "into a grid of at least 2x2 patches; set augment.image_size "
                              "or another patch size")
        return specs

    def blocks(self, rng: jax.Array, n_local: int, grid: tuple[int, int]) -> dict:
        """This device's rows' block masks: sizes from the step's key, places per row."""
        j = self.config.ijepa
        (keys,) = base.example_streams(rng, n_local, 1)
        return augment.ijepa_blocks(
            jax.random.fold_in(rng, 1), keys, grid, num_targets=int(j.num_targets),
            target_scale=tuple(j.target_scale), target_aspect=tuple(j.target_aspect),
            context_scale=tuple(j.context_scale), min_keep=int(j.min_keep),
            edges=bool(j.edges))

    def loss(self, params, state, views, rng):
        x = views[0]
        p = self.model.encoder.patch_size
        grid = (x.shape[1] // p, x.shape[2] // p)
        b = self.blocks(rng, x.shape[0], grid)
        t_out, _ = self.target.apply(state.target_params, state.target_batch_stats, x)
        n, nb, kt = b["targets"].shape
        flat = b["targets"].reshape(n, nb * kt)
        target = jnp.take_along_axis(t_out["tokens"], flat[..., None], axis=1)
        target = target.reshape(n * nb, kt, -1)
        drop = jax.random.fold_in(jax.random.fold_in(rng, 2), lax.axis_index(DATA_AXIS))
        out = self.model.apply({"params": params}, x, train=True, context=b["context"],
                               context_valid=b["context_valid"], targets=b["targets"],
                               targets_valid=b["targets_valid"], rngs={"dropout": drop})
        loss = losses.ijepa(out["pred"], target, b["targets_valid"].reshape(n * nb, kt),
                            distance=self.config.ijepa.distance, axis_name=DATA_AXIS)
        context_tokens = lax.pmean(jnp.mean(jnp.sum(b["context_valid"], 1)), DATA_AXIS)
        return loss, self.target_output(state, state.batch_stats, out, {},
                                        {"context_tokens": context_tokens})


def _build_vit(config, axis):
    """The configured encoder; a one-line error unless it is a CLS-free, avg-pooled ViT."""
    encoder = base.build_encoder(config, axis)
    if not isinstance(encoder, models.ViT):
        raise ConfigError(f"ijepa needs a ViT encoder (encoder.name=vit_*), got "
                          f"encoder.name={config.encoder.name!r}")
    if encoder.use_cls or encoder.features != "avgpool":
        raise ConfigError("ijepa's encoder has no CLS token and is read by average pooling: "
                          "set encoder.use_cls=False and encoder.features=avgpool")
    return encoder
