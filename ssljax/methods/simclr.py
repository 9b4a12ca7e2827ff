"""SimCLR: contrastive learning with NT-Xent over all-gathered negatives.

Both views go through the network as one batch (as the authors' TF code does, so
BatchNorm sees 2N examples), the projector is a 2-layer MLP (SimCLR v1) or the
3-layer head of SimCLR v2 (`head.hidden_dims` of length 2), and the loss is
`ssljax.losses.nt_xent` with the negatives gathered from every device.

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
        loss = losses.nt_xent(
            z_a, z_b, temperature=self.config.loss.temperature, axis_name=DATA_AXIS,
            block_size=self.config.loss.block_size or None,
        )
        return loss, self.output(batch_stats, first)
