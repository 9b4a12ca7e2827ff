"""Contrastive predictive coding (CPC v2): predict the embeddings of the patches below.

Each view is cut into an overlapping G×G grid of patches (`augment.patch_grid`); the
encoder embeds every patch on its own (z_ij, [N, G, G, D]; a layer-normalised encoder,
`encoder.norm="layer"`, keeps patches of one image from sharing batch statistics); a
masked context network (`ContextNetwork`: convolutions that see only rows at or above
their own, PixelCNN-style) summarises c_ij = g(z_uv : u ≤ i); a linear map per offset k
predicts ẑ_{i+k,j} = W_k c_ij for k = 1 … `cpc.steps`, and InfoNCE (`losses.cpc_info_nce`)
scores each prediction against its true patch with every other patch at that offset in
the global batch as negatives:

    L = mean over k of InfoNCE({W_k c_ij}, {z_{i+k,j}})

`cpc.directions` repeats the task in other directions, each with its own context network
and predictors on the grid turned (`orient`): "up" predicts rows above from those below,
"right"/"left" columns from those to their left/right; the loss is the mean over
directions and offsets. CPC predicts down only; CPC v2 in all four ("bottom-up" and
"horizontal" predictions, Hénaff et al. §4.1).

Evaluation reads the encoder as CPC v2 does (`cpc.eval_patches`, default True): on each
image's patch grid, the mean patch embedding (`eval_encoder_attrs`; the exported encoder
records `patch_px`/`patch_stride`, so `linear_eval`, `finetune` and `load_encoder` read
it the same way; `--config.encoder.patch_px=-1` there reads whole images instead).
`cpc.eval_patches=False` evaluates the encoder on whole images. The online probe, a
monitor only, sees the mean patch embedding.

Reference: van den Oord, Li and Vinyals, "Representation Learning with Contrastive
Predictive Coding", arXiv:1807.03748 (the image experiment); Hénaff et al.,
"Data-Efficient Image Recognition with Contrastive Predictive Coding", ICML 2020
(arXiv:1905.09272): layer normalisation, negatives from the whole batch, predictions in
four directions.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ssljax import augment, losses
from ssljax.augment.pretext import grid_side
from ssljax.errors import ConfigError
from ssljax.methods import base
from ssljax.parallel import DATA_AXIS


class ContextNetwork(nn.Module):
    """Residual blocks of row-causal 3×3 convolutions over a grid `[N, G, G, D]`.

    Output (i, j) depends on inputs (u, v) with u ≤ i only (each 3×3 convolution is padded
    by 2 rows above and none below), the masking of a PixelCNN's vertical stack.
    """

    hidden: int
    blocks: int = 2

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        d = z.shape[-1]
        c = z
        for b in range(self.blocks):
            h = jnp.pad(nn.relu(c), ((0, 0), (2, 0), (1, 1), (0, 0)))
            h = nn.Conv(self.hidden, (3, 3), padding="VALID", name=f"causal{b}")(h)
            c = c + nn.Conv(d, (1, 1), name=f"mix{b}")(nn.relu(h))
        return c


DIRECTIONS = ("down", "up", "right", "left")


def orient(z: jax.Array, direction: str) -> jax.Array:
    """The grid `[N, G, G, D]` turned so that `direction` points down its rows.

    "down" predicts rows below from the rows above (CPC's order), "up" rows above from
    those below, "right"/"left" columns to the right/left from those on the other side.
    """
    if direction == "down":
        return z
    if direction == "up":
        return z[:, ::-1]
    t = jnp.swapaxes(z, 1, 2)
    return t if direction == "right" else t[:, ::-1]


class CPCModel(nn.Module):
    """Patch encoder → a context network per direction → one linear predictor per offset.

    On images `[N, H, W, C]` it returns the encoder's `features` (what evaluation uses; the
    context networks and predictors are initialised on them as a 1×1 grid); on patch grids
    `[N, G, G, P, P, C]` it returns `z` [N, G, G, D], `preds` [directions, steps, N, G, G, D]
    (in each direction's orientation, `orient`) and `features` / `proj`: the mean patch
    embedding [N, D]. The first direction's modules keep CPC's names (`context`,
    `predict{k}`).
    """

    encoder: nn.Module
    steps: int
    blocks: int = 2
    hidden: int = 256
    directions: tuple[str, ...] = ("down",)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        if x.ndim == 4:
            h = self.encoder(x, train=train).astype(jnp.float32)
            z = h[:, None, None, :]
        else:
            n, g = x.shape[:2]
            flat = x.reshape(n * g * g, *x.shape[3:])
            z = self.encoder(flat, train=train).astype(jnp.float32).reshape(n, g, g, -1)
            h = z.mean(axis=(1, 2))
        preds = []
        for i, direction in enumerate(self.directions):
            tag = "" if i == 0 else f"_{direction}"
            c = ContextNetwork(self.hidden, self.blocks, name=f"context{tag}")(orient(z, direction))
            preds.append(jnp.stack([
                nn.Dense(z.shape[-1], use_bias=False, name=f"predict{k + 1}{tag}")(c)
                for k in range(self.steps)]))
        return {"features": h, "proj": h, "z": z, "preds": jnp.stack(preds)}


class CPC(base.Method):
    """CPC v2. Config: `cpc.patch_px`, `cpc.stride_px`, `cpc.steps` (row offsets
    predicted), `cpc.directions` (a tuple of down/up/right/left: CPC predicts down, CPC v2
    in all four), `cpc.context_blocks`, `cpc.context_hidden`, `cpc.eval_patches`."""

    name = "cpc"
    defaults = {"cpc.patch_px": 8, "cpc.stride_px": 4, "cpc.steps": 2,
                "cpc.context_blocks": 2, "cpc.context_hidden": 256, "cpc.eval_patches": True,
                "cpc.directions": ("down",)}
    ignores = base.HEAD_KEYS

    def build_model(self) -> nn.Module:
        c = self.config
        if c.cpc.steps < 1 or c.cpc.context_blocks < 1:
            raise ConfigError("cpc.steps and cpc.context_blocks must be >= 1, got "
                              f"{c.cpc.steps} and {c.cpc.context_blocks}")
        directions = tuple(c.cpc.directions)
        bad = [d for d in directions if d not in DIRECTIONS]
        if bad or not directions or len(set(directions)) != len(directions):
            raise ConfigError(f"cpc.directions must be distinct names from {DIRECTIONS}, got "
                              f"{directions!r}; e.g. --config.cpc.directions=\"('down',)\"")
        return CPCModel(encoder=base.build_encoder(c, self.axis), steps=int(c.cpc.steps),
                        blocks=int(c.cpc.context_blocks), hidden=int(c.cpc.context_hidden),
                        directions=directions)

    def eval_encoder_attrs(self) -> dict[str, int]:
        """The patch grid the evaluation reads (CPC v2's protocol), unless `cpc.eval_patches`
        is False."""
        cp = self.config.cpc
        if not cp.eval_patches:
            return {}
        return {"patch_px": int(cp.patch_px), "patch_stride": int(cp.stride_px)}

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        """The first view of `config.augment`; the patch grid must fit it exactly, with
        more rows than predicted offsets."""
        specs = base.view_specs(self.config, image_size)[:1]
        cp = self.config.cpc
        try:
            g = grid_side(specs[0].out_size, int(cp.patch_px), int(cp.stride_px))
        except ValueError as e:
            raise ConfigError(f"cpc: {e}") from None
        if g <= cp.steps:
            raise ConfigError(f"cpc.steps={cp.steps} needs a grid of more rows, got {g}x{g}; "
                              "lower cpc.steps or cpc.stride_px")
        return specs

    def loss(self, params, state, views, rng):
        del rng
        cp = self.config.cpc
        patches = augment.patch_grid(views[0], int(cp.patch_px), int(cp.stride_px))
        out, batch_stats = self.apply(params, state.batch_stats, patches)
        z, preds = out["z"], out["preds"]
        d = z.shape[-1]
        terms = []
        for i, direction in enumerate(tuple(cp.directions)):
            zo = orient(z, direction)
            terms += [losses.cpc_info_nce(preds[i, k - 1][:, :-k].reshape(-1, d),
                                          zo[:, k:].reshape(-1, d), axis_name=DATA_AXIS)
                      for k in range(1, int(cp.steps) + 1)]
        return jnp.mean(jnp.stack(terms)), self.output(batch_stats, out)
