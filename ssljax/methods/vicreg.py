"""VICReg: variance-invariance-covariance regularisation of two views' embeddings.

The two views go through the same encoder and expander one after the other (as in the
authors' code). The expander is three Linear layers (8192-8192-8192 on ImageNet),
BatchNorm + ReLU after the two hidden ones, a plain Linear last. The loss is
`ssljax.losses.vicreg` with `axis_name="data"`: the variance and covariance terms use the
statistics of the GLOBAL batch, as the authors' `FullGatherLayer` does, with the paper's
coefficients λ = μ = 25 (invariance, variance) and ν = 1 (covariance).

Reference: Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization
for Self-Supervised Learning", ICLR 2022 (arXiv:2105.04906), Eq. 1–6 and Appendix C.
"""

from __future__ import annotations

from ssljax import losses
from ssljax.methods import base
from ssljax.parallel import DATA_AXIS


class VICReg(base.Method):
    """VICReg with global (cross-device) or local BatchNorm.

    Config keys: `head` (expander: `hidden_dims`, `out_dim`, `use_bn`, `last_bn`) and
    `loss.sim_coeff`, `loss.std_coeff`, `loss.cov_coeff` (25, 25, 1 in the paper).
    """

    name = "vicreg"
    defaults = {"head.hidden_dims": (8192, 8192), "head.out_dim": 8192,
                "loss.sim_coeff": 25.0, "loss.std_coeff": 25.0, "loss.cov_coeff": 1.0}

    def loss(self, params, state, views, rng):
        del rng
        (a, b), batch_stats = self.forward_views(params, state, views)
        c = self.config.loss
        loss = losses.vicreg(a["proj"], b["proj"], sim_coeff=c.sim_coeff, std_coeff=c.std_coeff,
                             cov_coeff=c.cov_coeff, axis_name=DATA_AXIS)
        return loss, self.output(batch_stats, a)
