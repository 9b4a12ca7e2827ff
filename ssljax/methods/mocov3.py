"""MoCo v3: in-batch contrastive learning with a momentum encoder and a predictor.

Both views go (separately, as in the authors' code) through the online network
(encoder → projector → predictor) giving queries q1, q2, and through the momentum
encoder (EMA of encoder + projector) giving keys k1, k2. The loss is symmetric,

    L = ctr(q1, k2) + ctr(q2, k1),   ctr = `ssljax.losses.moco_v3` (× 2T),

where each query is contrasted against the keys of the whole global batch
(all-gathered over `"data"`; no queue). The momentum rises from `ema.tau_base` (0.99;
0.996 for the 1000-epoch ResNet-50 run) to 1 with the cosine schedule (`--moco-m-cos`).

Heads as the reference code: every Linear is bias-free and followed by BN (the last one
without affine parameters, `last_bn_affine=False`), hidden layers 4096, output 256.
ResNet: 2-layer projector (hidden (4096,)) and 2-layer predictor without the final BN,
whose last Linear is bias-free with `predictor.last_bias=False` (the paper configs; the
digits recipe keeps the bias it was measured with);
ViT: 3-layer projector (hidden (4096, 4096)) and a predictor ending in BN. The paper's
text describes a 3-layer projector; the released ResNet recipe uses 2 (configs follow
the code). For ViTs, `optimizer.freeze=("patch_embed",)` keeps the random patch
projection fixed (the paper's stability trick, Section 4.2). The ResNet recipe's
minimum crop area 0.2 is `augment.crop_scale=(0.2, 1.0)`.

Reference: Chen, Xie and He, "An Empirical Study of Training Self-Supervised Vision
Transformers", ICCV 2021 (arXiv:2104.02057), Algorithm 1, Sections 4–5 and the
reference code facebookresearch/moco-v3.
"""

from __future__ import annotations

from ssljax import losses
from ssljax.methods import base
from ssljax.methods.target import EMAMethod, ema_defaults
from ssljax.parallel import DATA_AXIS


class MoCoV3(EMAMethod):
    """MoCo v3 for ResNets (LARS, T=1.0) and ViTs (AdamW, T=0.2, frozen patch embedding).

    Config: `head`, `predictor`, `loss.temperature`, `ema.tau_base` (0.99),
    `ema.schedule` ("cosine").
    """

    name = "mocov3"
    uses_predictor = True
    defaults = {"head.hidden_dims": (4096,), "head.out_dim": 256, "head.last_bn": True,
                "head.last_bn_affine": False,
                **base.predictor_defaults(4096, 256), "loss.temperature": 1.0,
                **ema_defaults(0.99, "cosine")}

    def loss(self, params, state, views, rng):
        del rng
        (o1, o2), batch_stats = self.forward_views(params, state, views)
        (t1, t2), target_stats = self.target_views(state, views)
        t = self.config.loss.temperature
        ctr = lambda q, k: losses.moco_v3(q, k, temperature=t, axis_name=DATA_AXIS)  # noqa: E731
        loss = ctr(o1["pred"], t2["proj"]) + ctr(o2["pred"], t1["proj"])
        return loss, self.target_output(state, batch_stats, o1, target_stats)
