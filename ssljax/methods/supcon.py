"""SupCon: supervised contrastive learning — the labelled upper bound SSL tables are read against.

SimCLR's network and two views, and `ssljax.losses.supcon`: every other view of an
example of the same class, anywhere in the global batch (all-gathered), is a positive.
This method USES LABELS: the engine passes the batch's labels to its loss
(`Method.uses_labels`), so it is not self-supervised; the README marks it so.

Recipe of the paper and the authors' code: a 2-layer projection head (hidden = the
encoder's width, output 128), temperature 0.1 (`base_temperature` 0.07 in the authors'
code, which scales the loss by 0.1/0.07), SimCLR's augmentations, large batches.

Reference: Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020
(arXiv:2004.11362), Eq. 2 and §4; HobbitLong/SupContrast `losses.py`, `main_supcon.py`.
"""

from __future__ import annotations

import jax.numpy as jnp

from ssljax import losses
from ssljax.methods import base
from ssljax.parallel import DATA_AXIS


class SupCon(base.Method):
    """Supervised contrastive learning. Config: `head`, `loss.temperature` (0.1),
    `loss.base_temperature` (0.07, the authors' default)."""

    name = "supcon"
    uses_labels = True
    defaults = {"loss.temperature": 0.1, "loss.base_temperature": 0.07}

    def loss(self, params, state, views, rng, labels=None):
        del rng
        z_a, z_b, first, batch_stats = self.forward_joint(params, state, views)
        loss = losses.supcon(jnp.stack([z_a, z_b], axis=1), labels,
                             temperature=self.config.loss.temperature,
                             base_temperature=self.config.loss.base_temperature,
                             axis_name=DATA_AXIS)
        return loss, self.output(batch_stats, first)
