"""SwAV: swapped prediction of online cluster assignments, with multi-crop.

Every crop (2 global crops and `augment.num_local` local crops, `ssljax.methods.multicrop`)
goes through encoder → projection MLP (`head.hidden_dims`, BatchNorm + ReLU, to
`head.out_dim` = 128) → L2 normalisation → the prototypes, a bias-free linear layer of
`head.num_prototypes` (3000) unit vectors, giving cosine scores. The codes of the two
global crops come from Sinkhorn-Knopp on the scores of the global batch (ε = 0.05, 3
iterations, prototype sums all-reduced over devices); every other crop predicts them
through `softmax(scores / 0.1)` (`ssljax.losses.swav`).

As in the official code:
- the prototypes are renormalised to unit length after every optimizer step (and start
  that way), outside the gradient;
- during the first `swav.freeze_prototypes_epochs` epochs the prototypes are frozen: no
  gradient step, weight decay or momentum (`Method.frozen`, as their `.grad = None`);
- for small batches, a queue of the last `swav.queue_length` embeddings of each global
  crop (from epoch `swav.queue_start_epoch` on) adds its scores to the Sinkhorn
  equipartition once it is full. The queue is the global one: device d uses its
  `1/D`-th share, so the Sinkhorn problem is the same on any device count (the reference
  keeps a per-GPU queue of `queue_length / world_size` rows, the same total).

Reference: Caron et al., "Unsupervised Learning of Visual Features by Contrasting Cluster
Assignments", NeurIPS 2020 (arXiv:2006.09882), §3 and Appendix; facebookresearch/swav
`main_swav.py` (train loop, `distributed_sinkhorn`) and `src/resnet50.py` (head).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import losses, models
from ssljax.errors import ConfigError
from ssljax.methods import base
from ssljax.methods.multicrop import MultiCropModel, split_crops
from ssljax.methods.queue import enqueue
from ssljax.parallel import DATA_AXIS


def _unit_rows(key, shape, dtype=jnp.float32):
    """A prototype kernel `[d, K]` whose K columns (prototypes) are unit vectors."""
    w = jax.random.normal(key, shape, dtype)
    return w / jnp.linalg.norm(w, axis=0, keepdims=True)


class SwAVHead(nn.Module):
    """Projection MLP → L2 normalisation → prototypes (cosine scores).

    Returns `{"proj": [N, out_dim] unit embeddings, "scores": [N, num_prototypes]}`.
    """

    hidden_dims: tuple[int, ...]
    out_dim: int
    num_prototypes: int
    dtype: object = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, h, train: bool = True):
        z = models.MLPHead(hidden_dims=self.hidden_dims, out_dim=self.out_dim, use_bn=True,
                           dtype=self.dtype, bn_axis_name=self.bn_axis_name,
                           name="projector")(h, train=train)
        z = losses.l2_normalize(z.astype(jnp.float32))
        scores = nn.Dense(self.num_prototypes, use_bias=False, kernel_init=_unit_rows,
                          name="prototypes")(z)
        return {"proj": z, "scores": scores}


class SwAV(base.Method):
    """SwAV with multi-crop, frozen-then-trained prototypes and an optional queue.

    Config: `head` (`hidden_dims`, `out_dim`, `num_prototypes`), `loss.temperature` (0.1),
    `loss.epsilon` (0.05), `loss.sinkhorn_iterations` (3), `swav.freeze_prototypes_epochs`
    (1), `swav.queue_length` (0: none), `swav.queue_start_epoch` (15), `augment.num_local`.
    """

    name = "swav"
    num_global = 2
    defaults = {
        "head.hidden_dims": (2048,), "head.out_dim": 128, "head.num_prototypes": 3000,
        "loss.temperature": 0.1, "loss.epsilon": 0.05, "loss.sinkhorn_iterations": 3,
        "swav.freeze_prototypes_epochs": 1.0, "swav.queue_length": 0,
        "swav.queue_start_epoch": 15, "augment.num_local": 6,
        "augment.crop_scale": (0.14, 1.0), "augment.local_crop_scale": (0.05, 0.14),
    }
    ignores = ("head.use_bn", "head.last_bn", "head.last_bn_affine",
               "head.last_bn_center", "head.last_bias")

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        q, b = config.swav.queue_length, config.batch_size
        if q < 0 or (q and q % b):
            raise ConfigError(
                f"swav.queue_length={q} must be 0 (no queue) or a positive multiple of the "
                f"global batch {b}, e.g. {max(1, q // b) * b}")

    def build_model(self):
        c = self.config
        head = SwAVHead(tuple(c.head.hidden_dims), c.head.out_dim, c.head.num_prototypes,
                        dtype=base.compute_dtype(c), bn_axis_name=self.axis)
        return MultiCropModel(encoder=base.build_encoder(c, self.axis), head=head)

    def init_extra(self, feature_dims):
        q = self.config.swav.queue_length
        if not q:
            return {}
        return {"queue": jnp.zeros((self.num_global, q, self.config.head.out_dim), jnp.float32),
                "queue_ptr": jnp.zeros((), jnp.int32), "queue_fill": jnp.zeros((), jnp.int32)}

    def frozen(self, step):
        steps = int(round(self.config.swav.freeze_prototypes_epochs * self.steps_per_epoch))
        return {"prototypes": step < steps} if steps > 0 else {}

    def loss(self, params, state, views, rng):
        del rng
        c, n, ng = self.config, views[0].shape[0], self.num_global
        out, batch_stats = base.apply_model(self.model, params, state.batch_stats, list(views))
        scores = split_crops(out["scores"], n, len(views))
        embeddings = split_crops(out["proj"], n, ng)
        swav = lambda queue_scores=None: losses.swav(  # noqa: E731
            scores[:ng], scores[ng:], temperature=c.loss.temperature, epsilon=c.loss.epsilon,
            sinkhorn_iterations=c.loss.sinkhorn_iterations, queue_scores=queue_scores,
            axis_name=DATA_AXIS)
        loss, carry = swav(), {}
        if c.swav.queue_length:
            use, queue_scores = self._queue_scores(params, state)
            loss = jnp.where(use, swav(queue_scores), loss)
            carry = {"embeddings": [lax.all_gather(lax.stop_gradient(e), DATA_AXIS, axis=0,
                                                   tiled=True, to="invarying")
                                    for e in embeddings]}
        step_out = self.output(batch_stats, {"features": out["features"][:n],
                                             "proj": embeddings[0]})
        step_out.carry = carry
        return loss, step_out

    def _queue_scores(self, params, state):
        """(whether the queue is in use, this device's share of its scores per global crop).

        The queue is used from epoch `swav.queue_start_epoch` on, once it is full.
        """
        queue = lax.stop_gradient(state.extra["queue"])  # [2, Q, d], replicated
        devices, q = lax.axis_size(DATA_AXIS), queue.shape[1]
        share = lax.dynamic_slice_in_dim(queue, lax.axis_index(DATA_AXIS) * (q // devices),
                                         q // devices, axis=1)
        kernel = lax.stop_gradient(params["head"]["prototypes"]["kernel"])
        start = self.config.swav.queue_start_epoch * self.steps_per_epoch
        use = (state.step >= start) & (state.extra["queue_fill"] >= q)
        return use, [share[i] @ kernel for i in range(self.num_global)]

    def after_update(self, state, out):
        params = state.params
        kernel = params["head"]["prototypes"]["kernel"]
        kernel = kernel / jnp.maximum(jnp.linalg.norm(kernel, axis=0, keepdims=True), 1e-12)
        head = {**params["head"], "prototypes": {**params["head"]["prototypes"], "kernel": kernel}}
        state = state.replace(params={**params, "head": head})
        if not self.config.swav.queue_length:
            return state
        extra = state.extra
        start = self.config.swav.queue_start_epoch * self.steps_per_epoch
        active = state.step > start  # state.step is already the new step count
        queues, ptr = [], extra["queue_ptr"]
        for i, e in enumerate(out.carry["embeddings"]):
            new_q, new_ptr = enqueue(extra["queue"][i], extra["queue_ptr"], e)
            queues.append(jnp.where(active, new_q, extra["queue"][i]))
            ptr = jnp.where(active, new_ptr, extra["queue_ptr"])
        pushed = out.carry["embeddings"][0].shape[0]
        fill = jnp.where(active, extra["queue_fill"] + pushed, extra["queue_fill"])
        return state.replace(extra={**extra, "queue": jnp.stack(queues), "queue_ptr": ptr,
                                    "queue_fill": fill})
