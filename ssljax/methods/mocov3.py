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
ResNet: 2-layer projector (hidden (4096,)) and 2-layer predictor without the final BN;
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
from ssljax.methods.base import (
    Method,
    SSLModel,
    StepOutput,
    apply_views,
    build_encoder,
    build_head,
    build_predictor,
    embedding_std,
    predictor_defaults,
)
from ssljax.methods.target import EMATarget, ema_defaults
from ssljax.parallel import DATA_AXIS


class MoCoV3(Method):
    """MoCo v3 for ResNets (LARS, T=1.0) and ViTs (AdamW, T=0.2, frozen patch embedding).

    Config: `head`, `predictor`, `loss.temperature`, `ema.tau_base` (0.99),
    `ema.schedule` ("cosine").
    """

    name = "mocov3"
    defaults = {"head.hidden_dims": (4096,), "head.out_dim": 256, "head.last_bn": True,
                "head.last_bn_affine": False,
                **predictor_defaults(4096, 256), "loss.temperature": 1.0,
                **ema_defaults(0.99, "cosine")}

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        encoder = build_encoder(config, self.axis)
        projector = build_head(config.head, config, self.axis)
        self.model = SSLModel(
            encoder=encoder, projector=projector, predictor=build_predictor(config, self.axis)
        )
        self.target = EMATarget(config, SSLModel(encoder=encoder, projector=projector),
                                axis_name=self.axis)
        self.temperature = float(config.loss.temperature)

    def tau(self, step):
        """Momentum m at step k (cosine from tau_base to 1 by default)."""
        return self.target.tau(step, self.total_steps)

    def loss(self, params, state, views, rng):
        del rng
        (o1, o2), batch_stats = apply_views(self.model, params, state.batch_stats, views[:2])
        (t1, t2), target_stats = self.target.forward(
            state.target_params, state.target_batch_stats, views[:2])
        t = self.temperature
        loss = (losses.moco_v3(o1["pred"], t2["proj"], temperature=t, axis_name=DATA_AXIS)
                + losses.moco_v3(o2["pred"], t1["proj"], temperature=t, axis_name=DATA_AXIS))
        tau = self.tau(state.step)
        return loss, StepOutput(
            batch_stats=batch_stats,
            features=o1["features"],
            metrics={"tau": tau, "embedding_std": embedding_std(o1["proj"])},
            carry={"tau": tau, "target_batch_stats": target_stats},
        )

    def after_update(self, state, out):
        return self.target.update(state, out.carry["tau"], out.carry["target_batch_stats"])
