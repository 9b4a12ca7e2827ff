"""RotNet: learn features by predicting which of four rotations an image was given.

Every image of the batch is fed in all four rotations (0°, 90°, 180°, 270°; the paper
found feeding all four copies of an image together better than one random rotation), so the
encoder sees 4N images per step, in one batch (BatchNorm statistics over all of them, as
in the authors' code); a classifier on the encoder's features (`head`: an MLP whose
output has the 4 classes) is trained with cross-entropy (`losses.pretext_ce`):

    L = mean over the 4N images of CE(classifier(f(rot_k(x))), k)

The augmentation (`config.augment`; its first view only) comes before the rotations; crop
the views square (`augment.image_size`). Evaluation reads the encoder's pooled output, or
an intermediate stage's with `eval.feature_layer=k` (pretraining) and
`encoder.feature_layer=k` (`linear_eval`, `finetune`): the paper's best features sit at
conv block 2 of its Network-In-Network, deeper blocks specialising in the pretext task.

Reference: Gidaris, Singh and Komodakis, "Unsupervised Representation Learning by
Predicting Image Rotations", ICLR 2018 (arXiv:1803.07728);
gidariss/FeatureLearningRotNet (`dataloader.py` `rotate_img`, `algorithms/
ClassificationModel.py`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import augment, losses, models
from ssljax.methods import base
from ssljax.parallel import DATA_AXIS

NUM_ROTATIONS = 4


class ClassifierModel(nn.Module):
    """Encoder → pretext classifier; returns `features` [N, D], `proj` (= features, for the
    collapse monitor) and `logits` [N, K]."""

    encoder: nn.Module
    classifier: nn.Module

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        h = self.encoder(x, train=train).astype(jnp.float32)
        return {"features": h, "proj": h, "logits": self.classifier(h, train=train)}


class RotNet(base.Method):
    """RotNet. Config: `head` (the rotation classifier: `hidden_dims`, `use_bn`; its output
    is the 4 rotations, `head.out_dim` is not read)."""

    name = "rotnet"
    # The reference's optimizer is torch.optim.SGD over every parameter: BN and biases decay.
    defaults = {"head.hidden_dims": (), "head.use_bn": True,
                "optimizer.exclude_bn_and_bias": False}
    ignores = ("head.out_dim", "head.last_bn", "head.last_bn_affine", "head.last_bn_center",
               "head.last_bias")

    def build_model(self) -> nn.Module:
        c = self.config
        classifier = models.MLPHead(
            hidden_dims=tuple(c.head.hidden_dims), out_dim=NUM_ROTATIONS,
            use_bn=c.head.use_bn, dtype=base.compute_dtype(c), bn_axis_name=self.axis)
        return ClassifierModel(encoder=base.build_encoder(c, self.axis), classifier=classifier)

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        """The first view of `config.augment` (one view per image; rotations come after)."""
        return base.view_specs(self.config, image_size)[:1]

    def loss(self, params, state, views, rng):
        del rng
        x = views[0]
        rotated, labels = augment.rotations(x)
        out, batch_stats = self.apply(params, state.batch_stats, rotated)
        logits = out["logits"]
        local = losses.pretext_ce(logits, labels)
        acc = (logits.argmax(-1) == labels).mean()
        n = x.shape[0]
        first = {"features": out["features"][:n], "proj": out["proj"][:n]}
        return lax.pmean(local, DATA_AXIS), self.output(
            batch_stats, first, rotation_accuracy=lax.pmean(acc, DATA_AXIS))
