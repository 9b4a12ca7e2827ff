"""Barlow Twins: redundancy reduction between the embeddings of two views.

The two views go through the same encoder and projector one after the other (as in
the authors' code, so every BatchNorm normalises each view with its own — global,
cross-device — statistics). The projector is three Linear layers (8192-8192-8192 on
ImageNet), BatchNorm + ReLU after the two hidden ones, a plain Linear last. The loss is
`ssljax.losses.barlow_twins` with `axis_name="data"`: the per-dimension standardisation
and the cross-correlation matrix use the statistics of the GLOBAL batch, as the
authors' `BatchNorm1d(affine=False)` + `all_reduce(c)` do.

Reference: Zbontar, Jing, Misra, LeCun, Deny, "Barlow Twins: Self-Supervised Learning
via Redundancy Reduction", ICML 2021 (arXiv:2103.03230), Algorithm 1 and §4.
"""

from __future__ import annotations

from ssljax import losses
from ssljax.methods import base
from ssljax.parallel import DATA_AXIS


class BarlowTwins(base.Method):
    """Barlow Twins with global (cross-device) or local BatchNorm.

    Config keys: `head` (projector: `hidden_dims`, `out_dim`, `use_bn`, `last_bn`),
    `loss.lambd` (off-diagonal weight λ, 5e-3 in the paper) and `loss.scale` (default 1):
    the optimized loss is `scale · L_BT` (logged unscaled as `barlow_twins_loss`). With
    LARS, whose trust ratio makes the weights' updates independent of the loss scale, the
    scale only sets the step of the parameters LARS leaves unadapted (biases and BN): the
    paper's separate learning rates, 0.2 for weights and 0.0048 for biases and BN
    parameters, are a single rate of 0.2 with `scale = 0.0048 / 0.2 = 0.024` — the
    `--scale-loss 0.024` of the first release of the authors' code (the weight decay,
    added to the scaled gradient, then weighs 1/scale times more).
    """

    name = "barlowtwins"
    defaults = {"head.hidden_dims": (8192, 8192), "head.out_dim": 8192,
                "loss.lambd": 5e-3, "loss.scale": 1.0}

    def loss(self, params, state, views, rng):
        del rng
        (a, b), batch_stats = self.forward_views(params, state, views)
        bt = losses.barlow_twins(a["proj"], b["proj"], lambd=self.config.loss.lambd,
                                 axis_name=DATA_AXIS)
        return self.config.loss.scale * bt, self.output(batch_stats, a, barlow_twins_loss=bt)
