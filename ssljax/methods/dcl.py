"""DCL and DCLW: SimCLR with the decoupled contrastive loss.

SimCLR's network and views (both views through the network as one batch, so BatchNorm
sees 2N examples), with `ssljax.losses.dcl` instead of NT-Xent: the positive pair is
removed from the denominator, which removes the negative-positive coupling that makes
NT-Xent need large batches. DCLW (`dclw`) also weighs each positive by the von
Mises-Fisher weighting `2 − N softmax(s(z_a, z_b)/σ)`, σ = 0.5.

Reference: Yeh, Hong, Hsu, Liu, Chen, LeCun, "Decoupled Contrastive Learning", ECCV 2022
(arXiv:2110.06848), Eq. 6 and 8; lightly's `DCLLoss`/`DCLWLoss` (one logsumexp over the
same-view and cross-view negatives, weights without gradient).
"""

from __future__ import annotations

from ssljax import losses
from ssljax.methods import base
from ssljax.parallel import DATA_AXIS


class DCL(base.Method):
    """DCL; `DCLW` is the weighted form. Config: `head`, `loss.temperature` (0.1),
    `loss.sigma` (DCLW's 0.5)."""

    name = "dcl"
    weighted = False
    defaults = {"loss.temperature": 0.1, "loss.sigma": 0.5}

    def loss(self, params, state, views, rng):
        del rng
        z_a, z_b, first, batch_stats = self.forward_joint(params, state, views)
        loss = losses.dcl(z_a, z_b, temperature=self.config.loss.temperature,
                          weighted=self.weighted, sigma=self.config.loss.sigma,
                          axis_name=DATA_AXIS)
        return loss, self.output(batch_stats, first)


class DCLW(DCL):
    """DCLW: DCL with the von Mises-Fisher weighting of the positives."""

    name = "dclw"
    weighted = True
