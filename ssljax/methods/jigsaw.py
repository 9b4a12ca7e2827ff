"""Jigsaw puzzles: learn features by putting shuffled tiles of an image back in order.

Each view is cut into a 3×3 grid of cells with one randomly placed tile per cell
(`augment.tile_grid`: the gaps between tiles stop edge matching), each tile normalised
on its own (`augment.standardize_tiles`), and the 9 tiles are shuffled by one of N
permutations chosen for large Hamming distances (`augment.permutation_set`). The encoder
is shared by the tiles (a siamese "context-free network"); the 9 tile features are
concatenated in the shuffled order and an MLP classifier (`head`) names the permutation:

    L = CE(classifier([f(t_π(1)), …, f(t_π(9))]), π)

RGB views are turned grey with probability `jigsaw.gray_p` (VISSL's recipe against
chromatic-aberration shortcuts; the identity on grayscale data). Evaluation reads the
encoder on whole images (the online probe, a monitor only, sees the mean tile feature).

Reference: Noroozi and Favaro, "Unsupervised Learning of Visual Representations by
Solving Jigsaw Puzzles", ECCV 2016 (arXiv:1603.09246) and its Algorithm 1;
facebookresearch/vissl's jigsaw recipe (grayscale p 0.66, per-tile normalisation).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import augment, losses, models
from ssljax.errors import ConfigError
from ssljax.methods import base
from ssljax.parallel import DATA_AXIS

GRID = 3


class TileModel(nn.Module):
    """A shared encoder over tiles, then a classifier on their concatenated features.

    Called on images `[N, H, W, C]` it returns the encoder's `features` (what evaluation
    uses; the classifier is initialised on `num_tiles` copies of them); on tiles
    `[N, K, T, T, C]` it returns `features` (the mean tile feature, [N, D]) and `logits`
    of the classifier on the K tile features concatenated in order ([N, K·D] → [N, classes]).
    `proj` repeats `features` (the collapse monitor).
    """

    encoder: nn.Module
    classifier: nn.Module
    num_tiles: int

    def __call__(self, x: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        if x.ndim == 4:
            h = self.encoder(x, train=train).astype(jnp.float32)
            logits = self.classifier(jnp.tile(h, (1, self.num_tiles)), train=train)
            return {"features": h, "proj": h, "logits": logits}
        n, k = x.shape[:2]
        h = self.encoder(x.reshape(n * k, *x.shape[2:]), train=train).astype(jnp.float32)
        h = h.reshape(n, k, -1)
        logits = self.classifier(h.reshape(n, -1), train=train)
        mean = h.mean(axis=1)
        return {"features": mean, "proj": mean, "logits": logits}


def tile_classifier(config, num_classes: int, axis: str | None) -> models.MLPHead:
    """The MLP of `config.head` (hidden_dims, use_bn) with `num_classes` outputs."""
    return models.MLPHead(hidden_dims=tuple(config.head.hidden_dims), out_dim=num_classes,
                          use_bn=config.head.use_bn, dtype=base.compute_dtype(config),
                          bn_axis_name=axis)


def view_tiles(config, image_size: int, tile_px: int) -> tuple[augment.ViewSpec, ...]:
    """The first view of `config.augment`, checked against the tile grid (`ConfigError`)."""
    specs = base.view_specs(config, image_size)[:1]
    cell = specs[0].out_size // GRID
    if not 1 <= tile_px <= cell:
        raise ConfigError(f"tiles of {tile_px} px do not fit the {cell} px cells of a 3x3 "
                          f"grid on {specs[0].out_size} px views; set tile_px <= {cell}")
    return specs


class Jigsaw(base.Method):
    """Jigsaw puzzles. Config: `jigsaw.num_permutations` (N classes), `jigsaw.tile_px`,
    `jigsaw.gray_p`, `jigsaw.permutation_seed`; `head` is the permutation classifier
    (`hidden_dims`, `use_bn`; its output is N, `head.out_dim` is not read)."""

    name = "jigsaw"
    defaults = {"jigsaw.num_permutations": 100, "jigsaw.tile_px": 7, "jigsaw.gray_p": 0.66,
                "jigsaw.permutation_seed": 0, "head.hidden_dims": (512,)}
    ignores = ("head.out_dim", "head.last_bn", "head.last_bn_affine", "head.last_bn_center",
               "head.last_bias")

    def __init__(self, config, num_classes):
        j = config.jigsaw
        if not 2 <= j.num_permutations <= 10000:
            raise ConfigError("jigsaw.num_permutations must be in [2, 10000] (the paper "
                              f"uses 1000), got {j.num_permutations}")
        if not 0 <= j.gray_p <= 1:
            raise ConfigError(f"jigsaw.gray_p is a probability, got {j.gray_p}")
        self.permutations = jnp.asarray(augment.permutation_set(
            int(j.num_permutations), GRID * GRID, int(j.permutation_seed)))
        super().__init__(config, num_classes)

    def build_model(self) -> nn.Module:
        c = self.config
        return TileModel(encoder=base.build_encoder(c, self.axis),
                         classifier=tile_classifier(c, int(c.jigsaw.num_permutations),
                                                    self.axis),
                         num_tiles=GRID * GRID)

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        return view_tiles(self.config, image_size, int(self.config.jigsaw.tile_px))

    def loss(self, params, state, views, rng):
        x = views[0]
        n = x.shape[0]
        j = self.config.jigsaw
        k_gray, k_tiles, k_perm = base.example_streams(rng, n, 3)
        if j.gray_p > 0:
            x = jax.vmap(lambda k, im: augment.grayscale(k, im[None], p=j.gray_p)[0])(
                k_gray, x)
        tiles = augment.standardize_tiles(augment.tile_grid(k_tiles, x, GRID, int(j.tile_px)))
        labels = jax.vmap(lambda k: jax.random.randint(
            k, (), 0, self.permutations.shape[0]))(k_perm)
        order = self.permutations[labels]  # [n, 9]: tile order of each puzzle
        shuffled = jnp.take_along_axis(tiles, order[:, :, None, None, None], axis=1)
        out, batch_stats = self.apply(params, state.batch_stats, shuffled)
        local = losses.pretext_ce(out["logits"], labels)
        acc = (out["logits"].argmax(-1) == labels).mean()
        return lax.pmean(local, DATA_AXIS), self.output(
            batch_stats, out, puzzle_accuracy=lax.pmean(acc, DATA_AXIS))
