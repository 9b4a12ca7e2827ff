"""Context prediction: learn features by telling where a patch sits relative to another.

Each view is cut into a 3×3 grid of cells with one randomly placed patch per cell
(`augment.tile_grid`: the gaps and jitter stop edge and texture continuation); the centre
patch and one of its 8 neighbours (drawn per example) go through the shared encoder, and
an MLP classifier (`head`) on their concatenated features names the neighbour's position:

    L = CE(classifier([f(centre), f(neighbour_k)]), k),   k ∈ {0, …, 7}

With `context_prediction.color_dropping` each RGB patch keeps one random colour channel
and the other two become faint noise (`augment.drop_colors`, the paper's defence against
chromatic aberration; the identity on grayscale data). Evaluation reads the encoder on
whole images (the online probe, a monitor only, sees the mean patch feature).

Reference: Doersch, Gupta and Efros, "Unsupervised Visual Representation Learning by
Context Prediction", ICCV 2015 (arXiv:1505.05192): the 8-way task, gaps, jitter and colour
dropping.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import augment, losses
from ssljax.methods import base
from ssljax.methods.jigsaw import GRID, TileModel, tile_classifier, view_tiles
from ssljax.parallel import DATA_AXIS

CENTRE = GRID * GRID // 2
NEIGHBOURS = tuple(i for i in range(GRID * GRID) if i != CENTRE)  # row-major, 8 positions


class ContextPrediction(base.Method):
    """Context prediction. Config: `context_prediction.tile_px`, `color_dropping`; `head`
    is the position classifier (`hidden_dims`, `use_bn`; 8 outputs)."""

    name = "context_prediction"
    defaults = {"context_prediction.tile_px": 7, "context_prediction.color_dropping": True,
                "head.hidden_dims": (512,)}
    ignores = ("head.out_dim", "head.last_bn", "head.last_bn_affine", "head.last_bn_center",
               "head.last_bias")

    def build_model(self) -> nn.Module:
        c = self.config
        return TileModel(encoder=base.build_encoder(c, self.axis),
                         classifier=tile_classifier(c, len(NEIGHBOURS), self.axis),
                         num_tiles=2)

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        return view_tiles(self.config, image_size, int(self.config.context_prediction.tile_px))

    def loss(self, params, state, views, rng):
        x = views[0]
        n = x.shape[0]
        cp = self.config.context_prediction
        k_tiles, k_pos, k_drop = base.example_streams(rng, n, 3)
        tiles = augment.tile_grid(k_tiles, x, GRID, int(cp.tile_px))
        labels = jax.vmap(lambda k: jax.random.randint(k, (), 0, len(NEIGHBOURS)))(k_pos)
        neighbour = jnp.asarray(NEIGHBOURS, jnp.int32)[labels]
        pairs = jnp.stack([tiles[:, CENTRE], jnp.take_along_axis(
            tiles, neighbour[:, None, None, None, None], axis=1)[:, 0]], axis=1)
        if cp.color_dropping:
            pairs = augment.drop_colors(k_drop, pairs)
        out, batch_stats = self.apply(params, state.batch_stats, pairs)
        local = losses.pretext_ce(out["logits"], labels)
        acc = (out["logits"].argmax(-1) == labels).mean()
        return lax.pmean(local, DATA_AXIS), self.output(
            batch_stats, out, position_accuracy=lax.pmean(acc, DATA_AXIS))
