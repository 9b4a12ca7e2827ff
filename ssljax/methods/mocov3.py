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
projection fixed (the paper's stability trick, Section 4.2); `augment.crop_min`
overrides the minimum crop area of the preset (0.2 in the ResNet recipe; 0 keeps the
preset's value).

Reference: Chen, Xie and He, "An Empirical Study of Training Self-Supervised Vision
Transformers", ICCV 2021 (arXiv:2104.02057), Algorithm 1, Sections 4–5 and the
reference code facebookresearch/moco-v3.
"""

from __future__ import annotations

import dataclasses

import jax
from jax import lax

from ssljax import losses
from ssljax.errors import ConfigError
from ssljax.methods.base import Method, SSLModel, StepOutput, build_encoder, build_head
from ssljax.methods.byol import (
    apply_views,
    build_predictor,
    check_ema_config,
    ema_subtrees,
    ema_tau,
    embedding_std,
    merge,
    replicate_stats,
    subtree,
)
from ssljax.parallel import DATA_AXIS


class MoCoV3(Method):
    """MoCo v3 for ResNets (LARS, T=1.0) and ViTs (AdamW, T=0.2, frozen patch embedding).

    Config: `head`, `predictor`, `loss.temperature`, `ema.tau_base` (0.99),
    `ema.schedule` ("cosine"), `augment.crop_min` (optional).
    """

    name = "mocov3"
    has_target = True

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        encoder = build_encoder(config, self.axis)
        projector = build_head(config.head, config, self.axis)
        self.model = SSLModel(
            encoder=encoder, projector=projector, predictor=build_predictor(config, self.axis)
        )
        self.target_model = SSLModel(encoder=encoder, projector=projector)
        self.temperature = float(config.loss.temperature)
        if self.temperature <= 0:
            raise ConfigError(f"loss.temperature={self.temperature} must be positive")
        check_ema_config(config, 0.99, "cosine")

    def views(self, image_size):
        specs = super().views(image_size)
        crop_min = float(self.config.augment.get("crop_min", 0.0) or 0.0)
        if not crop_min:
            return specs
        if not 0.0 < crop_min <= 1.0:
            raise ConfigError(f"augment.crop_min={crop_min} must be in (0, 1], e.g. 0.2")
        return tuple(dataclasses.replace(s, crop_scale=(crop_min, 1.0)) for s in specs)

    def tau(self, step: jax.Array) -> jax.Array:
        """Momentum m at step k (cosine from tau_base to 1 by default)."""
        return ema_tau(self.config, step, self.total_steps, 0.99, "cosine")

    def loss(self, params, state, views, rng):
        del rng
        v1, v2 = views[0], views[1]
        (o1, o2), batch_stats = apply_views(self.model, params, state.batch_stats, (v1, v2))
        (t1, t2), target_stats = apply_views(
            self.target_model, subtree(state.target_params),
            subtree(state.target_batch_stats), (v1, v2),
        )
        k1 = lax.stop_gradient(t1["proj"])
        k2 = lax.stop_gradient(t2["proj"])
        t = self.temperature
        loss = (losses.moco_v3(o1["pred"], k2, temperature=t, axis_name=DATA_AXIS)
                + losses.moco_v3(o2["pred"], k1, temperature=t, axis_name=DATA_AXIS))
        tau = self.tau(state.step)
        return loss, StepOutput(
            batch_stats=batch_stats,
            features=o1["features"],
            embeddings=o1["proj"],
            metrics={"tau": tau, "embedding_std": embedding_std(o1["proj"])},
            carry={"tau": tau, "target_batch_stats": replicate_stats(target_stats, self.axis)},
        )

    def after_update(self, state, out):
        return state.replace(
            target_params=ema_subtrees(state.target_params, state.params, out.carry["tau"]),
            target_batch_stats=merge(state.target_batch_stats,
                                     out.carry["target_batch_stats"]),
        )
