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

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ssljax import losses
from ssljax.methods.base import Method, SSLModel, StepOutput, build_encoder, build_head
from ssljax.parallel import DATA_AXIS


def two_view_forward(
    method: Method, params: Any, batch_stats: Any, views: tuple[jax.Array, ...]
) -> tuple[dict[str, jax.Array], dict[str, jax.Array], Any]:
    """Runs the online model on the first two views, one after the other.

    BatchNorm normalises each view with its own batch statistics (the authors' code
    calls the backbone once per view); the running statistics are updated by both
    calls in turn.

    Args:
      method: the method (its `apply` runs the model).
      params: online parameters.
      batch_stats: online BatchNorm statistics.
      views: augmented views; `views[0]`, `views[1]` are `[n, H, W, C]`.

    Returns:
      (outputs of view 0, outputs of view 1, updated batch_stats); the outputs are the
      model's dicts (`features` [n, D], `proj` [n, P]).
    """
    out_a, batch_stats = method.apply(params, batch_stats, views[0], train=True)
    out_b, batch_stats = method.apply(params, batch_stats, views[1], train=True)
    return out_a, out_b, batch_stats


def embedding_std_metric(z: jax.Array, eps: float = 1e-12) -> jax.Array:
    """`health.embedding_std` of the GLOBAL batch of stop-gradient embeddings.

    The per-dimension std of the L2-normalised rows is taken over all devices' rows (two
    `psum`s of `[P]` vectors, no gather), so the value does not depend on the device
    count: `mean_d std_n (z_n / |z_n|)_d`, population std.

    Args:
      z: `[n, P]` local embeddings (inside shard_map over "data").
      eps: floor of the row norms.

    Returns:
      float32 scalar, the same on every device: 0 for a collapsed batch, about
      `1/sqrt(P)` for rows spread over the sphere.

    Reference:
      Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021, §4.1.
    """
    z = lax.stop_gradient(z).astype(jnp.float32)
    zn = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), eps)
    count = zn.shape[0] * lax.axis_size(DATA_AXIS)
    mean = lax.psum(jnp.sum(zn, axis=0), DATA_AXIS) / count
    var = lax.psum(jnp.sum(jnp.square(zn - mean), axis=0), DATA_AXIS) / count
    return jnp.mean(jnp.sqrt(var))


class BarlowTwins(Method):
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

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        self.model = SSLModel(
            encoder=build_encoder(config, self.axis),
            projector=build_head(config.head, config, self.axis),
        )

    def loss(self, params, state, views, rng):
        del rng
        out_a, out_b, batch_stats = two_view_forward(self, params, state.batch_stats, views)
        z_a, z_b = out_a["proj"], out_b["proj"]
        bt = losses.barlow_twins(
            z_a, z_b, lambd=self.config.loss.get("lambd", 5e-3), axis_name=DATA_AXIS
        )
        scale = self.config.loss.get("scale", 1.0)
        return scale * bt, StepOutput(
            batch_stats=batch_stats,
            features=out_a["features"],
            embeddings=z_a,
            metrics={"embedding_std": embedding_std_metric(z_a), "barlow_twins_loss": bt},
        )
