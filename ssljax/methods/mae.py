"""MAE: masked autoencoders — reconstruct the pixels of the patches the encoder never saw.

Each image is cut into L patches; a random 75% of them (`mae.mask_ratio`, drawn per
example by `augment.random_masking` from the example's own key) are removed and the ViT
encoder sees only the visible quarter and its CLS token (`ViT(..., keep=..., tokens=True)`,
fixed sin-cos position embeddings). A light decoder (`MAEDecoder`: linear to
`decoder.dim`, a shared mask token at every removed position, the sequence put back in
grid order, sin-cos position embeddings, `decoder.depth` transformer blocks, LayerNorm,
linear to p·p·C pixels) predicts every patch, and the loss is the per-patch mean squared
error over the removed patches only (`losses.mae_reconstruction`), against patches
normalised by their own mean and unbiased std with `mae.norm_pix_loss`.

Evaluation reads the encoder on whole, unmasked images (its `features`: the CLS token by
default). The online probe, a monitor only, reads the CLS token of the masked forward
(no extra forward pass on all tokens).

Reference: He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022;
facebookresearch/mae at efb2a80 (`models_mae.py`: masking, decoder, loss, init;
`main_pretrain.py`: the recipe).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import augment, losses, models
from ssljax.errors import ConfigError
from ssljax.methods import base
from ssljax.models.vit import kernel_inits, predictor_tail, sincos_pos_embed, token_init
from ssljax.parallel import DATA_AXIS


class MAEDecoder(nn.Module):
    """MAE's decoder: encoder tokens `[N, 1 + K, D]` → predicted patches `[N, L, out_dim]`.

    Attributes:
        dim: decoder token dimension (MAE: 512).
        depth: transformer blocks (MAE: 8).
        num_heads: attention heads (MAE: 16).
        out_dim: pixels per patch, p·p·C.
        mlp_ratio: MLP hidden size relative to `dim`.
        dtype: computation dtype.
    """

    dim: int
    depth: int
    num_heads: int
    out_dim: int
    mlp_ratio: float = 4.0
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, latent: jax.Array, restore: jax.Array, grid: tuple[int, int],
                 train: bool = True) -> jax.Array:
        """Args: latent `[N, 1 + K, D]` (CLS first, then the kept tokens in the encoder's
        order); restore `[N, L]` (`augment.random_masking`); grid `(h, w)`, h·w = L."""
        dense = kernel_inits("mae")["dense"]
        x = nn.Dense(self.dim, dtype=self.dtype, kernel_init=dense, name="embed")(latent)
        n, t, d = x.shape
        length = restore.shape[1]
        mask_token = self.param("mask_token", token_init, (1, 1, d))
        fill = jnp.broadcast_to(mask_token.astype(x.dtype), (n, length + 1 - t, d))
        tokens = jnp.concatenate([x[:, 1:], fill], axis=1)
        tokens = jnp.take_along_axis(tokens, restore[..., None], axis=1)  # grid order
        x = jnp.concatenate([x[:, :1], tokens], axis=1)
        x = x + jnp.asarray(sincos_pos_embed(d, grid)).astype(x.dtype)
        x = predictor_tail(x, train, depth=self.depth, num_heads=self.num_heads,
                           out_dim=self.out_dim, mlp_ratio=self.mlp_ratio, dtype=self.dtype,
                           weight_init="mae", out_name="pred")
        return x[:, 1:].astype(jnp.float32)


class MAEModel(nn.Module):
    """ViT encoder on the kept tokens → `MAEDecoder`.

    Called on images `[N, H, W, C]` with `keep` / `restore` from `augment.random_masking`
    (without them every token is kept: the decoder reconstructs all). Returns `features`
    and `proj` (the encoder's normed CLS token [N, D]) and `pred` [N, L, p·p·C].
    """

    encoder: nn.Module
    decoder_dim: int = 512
    decoder_depth: int = 8
    decoder_heads: int = 16
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True, keep: jax.Array | None = None,
                 restore: jax.Array | None = None) -> dict[str, jax.Array]:
        p = self.encoder.patch_size
        grid = (x.shape[1] // p, x.shape[2] // p)
        if restore is None:
            restore = jnp.broadcast_to(jnp.arange(grid[0] * grid[1], dtype=jnp.int32),
                                       (x.shape[0], grid[0] * grid[1]))
        latent = self.encoder(x, train=train, keep=keep, tokens=True)
        decoder = MAEDecoder(self.decoder_dim, self.decoder_depth, self.decoder_heads,
                             out_dim=p * p * x.shape[-1], mlp_ratio=self.encoder.mlp_ratio,
                             dtype=self.dtype, name="decoder")
        cls = latent[:, 0].astype(jnp.float32)
        return {"features": cls, "proj": cls, "pred": decoder(latent, restore, grid, train)}


class MAE(base.Method):
    """MAE. Config: `mae.mask_ratio`, `mae.norm_pix_loss`, `decoder.dim`, `decoder.depth`,
    `decoder.num_heads`; the encoder must be a ViT."""

    name = "mae"
    defaults = {"mae.mask_ratio": 0.75, "mae.norm_pix_loss": True, "decoder.dim": 512,
                "decoder.depth": 8, "decoder.num_heads": 16,
                "augment.preset": "crop_flip", "augment.crop_scale": (0.2, 1.0),
                "optimizer.name": "adamw", "optimizer.b2": 0.95}
    ignores = base.HEAD_KEYS + ("bn",)

    def build_model(self) -> nn.Module:
        c = self.config
        encoder = base.build_encoder(c, self.axis)
        if not isinstance(encoder, models.ViT):
            raise ConfigError(f"mae needs a ViT encoder (encoder.name=vit_*), got "
                              f"encoder.name={c.encoder.name!r}")
        d = c.decoder
        if d.dim % d.num_heads or d.dim % 4:
            raise ConfigError(f"decoder.dim={d.dim} must be divisible by decoder.num_heads="
                              f"{d.num_heads} and by 4 (sin-cos position embeddings)")
        return MAEModel(encoder=encoder, decoder_dim=int(d.dim), decoder_depth=int(d.depth),
                        decoder_heads=int(d.num_heads), dtype=base.compute_dtype(c))

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        """The first view of `config.augment`; the patch size must divide its side."""
        specs = base.view_specs(self.config, image_size)[:1]
        p, side = self.model.encoder.patch_size, specs[0].out_size
        if side % p:
            raise ConfigError(f"encoder.patch_size={p} must divide the view side {side}; "
                              "set augment.image_size or another patch size")
        try:
            augment.num_visible((side // p) ** 2, float(self.config.mae.mask_ratio))
        except ValueError as e:
            raise ConfigError(f"mae.{e}") from None
        return specs

    def loss(self, params, state, views, rng):
        x = views[0]
        p = self.model.encoder.patch_size
        target = augment.patchify(x, p)
        (keys,) = base.example_streams(rng, x.shape[0], 1)
        keep, mask, restore = augment.random_masking(keys, target.shape[1],
                                                     float(self.config.mae.mask_ratio))
        # Stochastic depth (if any) draws per device, as DINO's does.
        drop = jax.random.fold_in(jax.random.fold_in(rng, 1), lax.axis_index(DATA_AXIS))
        out = self.model.apply({"params": params}, x, train=True, keep=keep, restore=restore,
                               rngs={"dropout": drop})
        loss = losses.mae_reconstruction(out["pred"], target, mask,
                                         norm_pix=bool(self.config.mae.norm_pix_loss),
                                         axis_name=DATA_AXIS)
        return loss, self.output(state.batch_stats, out)
