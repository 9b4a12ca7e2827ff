"""SimSiam: a siamese network without negatives, momentum encoder or large batches.

Both views go through the same encoder f and projector (separately, as in the
authors' code); a bottleneck predictor h maps one view's projection to the other's:

    L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2,   D(p, z) = -cos(p, z),

averaged over the global batch. The stop-gradient on z is what prevents collapse: with
`config.stop_gradient=False` the loss quickly reaches its minimum -1 and the std of the
L2-normalised outputs (logged as `embedding_std`) falls to 0 (paper, Figure 2).

Architecture (paper, Section 4): projector = 3 layers of 2048 with BN on every layer,
the output BN without affine parameters (config `head`: hidden_dims (2048, 2048),
out_dim 2048, last_bn True, last_bn_affine False); predictor = 2048 → 512 (BN, ReLU)
→ 2048 (config `predictor`: hidden_dims (512,), last_bn False).

Optimizer (the authors' `main_simsiam.py`): SGD with weight decay on every parameter,
BatchNorm and biases included (`optimizer.exclude_bn_and_bias=False`, the default here);
`--fix-pred-lr` is `optimizer.fixed_lr=("predictor",)` (the predictor stays at the
initial learning rate while the rest follows the cosine).

Reference: Chen and He, "Exploring Simple Siamese Representation Learning", CVPR 2021
(arXiv:2011.10566), Algorithm 1, Section 4 and Figure 2.
"""

from __future__ import annotations

from jax import lax

from ssljax import losses
from ssljax.methods import base
from ssljax.parallel import DATA_AXIS


class SimSiam(base.Method):
    """SimSiam; `config.stop_gradient` (default True) switches the stop-gradient on z."""

    name = "simsiam"
    uses_predictor = True
    defaults = {"optimizer.exclude_bn_and_bias": False,  # SGD over every parameter
                "head.hidden_dims": (2048, 2048), "head.out_dim": 2048, "head.last_bn": True,
                "head.last_bn_affine": False, **base.predictor_defaults(512, 2048),
                "stop_gradient": True}

    def loss(self, params, state, views, rng):
        del rng
        (o1, o2), batch_stats = self.forward_views(params, state, views)
        z1, z2 = o1["proj"], o2["proj"]
        if self.config.stop_gradient:
            z1, z2 = lax.stop_gradient(z1), lax.stop_gradient(z2)
        local = 0.5 * (losses.simsiam(o1["pred"], z2) + losses.simsiam(o2["pred"], z1))
        return lax.pmean(local, DATA_AXIS), self.output(batch_stats, o1)
