"""SimCLR: contrastive learning with NT-Xent over all-gathered negatives.

Both views go through the network as one batch (as the authors' TF code does, so
BatchNorm sees 2N examples), the projector is a 2-layer MLP (SimCLR v1) or the
3-layer head of SimCLR v2 (`head.hidden_dims` of length 2), and the loss is
`ssljax.losses.nt_xent` with the negatives gathered from every device, at the reference's
scale: the authors' `tf2/objective.py` (`add_contrastive_loss`) returns
`loss_a + loss_b`, each a mean over the N anchors of one view, which is twice
`nt_xent`'s mean over the 2N anchors (lightly's and solo-learn's scale). Under LARS
with excluded BN/bias parameters the scale matters (it sets their effective step and
the relative weight decay); under AdamW it does not.

Reference: Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020 (arXiv:2002.05709); SimCLR v2: arXiv:2006.10029.
"""

from __future__ import annotations

from ssljax import losses
from ssljax.methods import base
from ssljax.parallel import DATA_AXIS


class SimCLR(base.Method):
    """SimCLR with global (cross-device) or local BatchNorm.

    Config: `head` (projector), `loss.temperature` (0.1), `loss.block_size` (> 0: the
    blockwise NT-Xent, memory linear in the batch).
    """

    name = "simclr"
    defaults = {"loss.temperature": 0.1, "loss.block_size": 0}

    def loss(self, params, state, views, rng):
        del rng
        z_a, z_b, first, batch_stats = self.forward_joint(params, state, views)
        loss = objective(z_a, z_b, temperature=self.config.loss.temperature,
                         block_size=self.config.loss.block_size)
        return loss, self.output(batch_stats, first)


def objective(z_a, z_b, *, temperature: float, block_size: int = 0,
              axis_name: str | None = DATA_AXIS):
    """SimCLR's loss as the reference optimises it: `loss_a + loss_b` = 2 · `nt_xent`.

    Args:
      z_a, z_b: float32 [N_local, D] projections of the two views (normalised inside).
      temperature: τ.
      block_size: > 0 for the blockwise NT-Xent (memory linear in the batch).
      axis_name: the device axis the negatives are gathered over (None: this batch only).

    Returns:
      float32 scalar: the mean over N anchors of view a plus that of view b.
    """
    return 2.0 * losses.nt_xent(z_a, z_b, temperature=temperature, axis_name=axis_name,
                                block_size=block_size or None)
