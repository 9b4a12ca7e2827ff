"""NNCLR: contrast each view's prediction with the nearest neighbour of the other view.

Both views go through encoder → projector (3 layers, BN on each; 2048-2048-256) →
predictor (4096 → 256). For view a, the positive is not its own projection but
`NN(z_a)`, the nearest neighbour (cosine) of the other view's projection in a support
set — a FIFO queue of past projections (`nnclr.queue_size`, 98,304 in the paper) — and
the loss is NT-Xent between `NN(z_b)` and `p_a` (all-gathered negatives), symmetrised:

    L = ½ [nt_xent(NN(z_a), p_b) + nt_xent(NN(z_b), p_a)],   T = 0.1.

The lookup uses the queue as it was before this step; afterwards the (detached, L2-
normalised) projections of the first view of the whole global batch are enqueued in global
row order (`ssljax.methods.queue`), as lightly's example enqueues one view per step. The
queue starts as L2-normalised Gaussian noise, like MoCo's.

Deviation: `nt_xent` takes as negatives the other 2N-2 rows of both sides (the nearest
neighbours and the predictions), as lightly's NNCLR example does with its NT-Xent; the
paper's Eq. 1 contrasts each nearest neighbour with the N predictions only.

Reference: Dwibedi, Aytar, Tompson, Sermanet, Zisserman, "With a Little Help from My
Friends: Nearest-Neighbor Contrastive Learning of Visual Representations", ICCV 2021
(arXiv:2104.14548), Eq. 1-2, §4; lightly `NNMemoryBankModule` and `examples/pytorch/nnclr.py`.
"""

from __future__ import annotations

import jax
from jax import lax

from ssljax import losses
from ssljax.methods import base
from ssljax.methods.queue import check_queue_size, enqueue, gather_keys, init_queue
from ssljax.parallel import DATA_AXIS

_QUEUE_SEED = 0x4E4E  # folded into PRNGKey(config.seed) for the initial support set


class NNCLR(base.Method):
    """NNCLR with a support-set queue, a predictor and symmetric NT-Xent.

    Config: `head` (projector), `predictor`, `loss.temperature` (0.1), `nnclr.queue_size`.
    """

    name = "nnclr"
    uses_predictor = True
    defaults = {"head.hidden_dims": (2048, 2048), "head.out_dim": 256, "head.last_bn": True,
                **base.predictor_defaults(4096, 256), "loss.temperature": 0.1,
                "nnclr.queue_size": 98304}

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        check_queue_size(config.nnclr.queue_size, config.batch_size)

    def init_extra(self, feature_dims):
        key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), _QUEUE_SEED)
        return init_queue(key, self.config.nnclr.queue_size, feature_dims["proj"])

    def loss(self, params, state, views, rng):
        del rng
        (o1, o2), batch_stats = self.forward_views(params, state, views)
        support = lax.stop_gradient(state.extra["queue"])
        nn1 = losses.nearest_neighbour(o1["proj"], support)
        nn2 = losses.nearest_neighbour(o2["proj"], support)
        t = self.config.loss.temperature
        loss = 0.5 * (losses.nt_xent(nn1, o2["pred"], temperature=t, axis_name=DATA_AXIS)
                      + losses.nt_xent(nn2, o1["pred"], temperature=t, axis_name=DATA_AXIS))
        out = self.output(batch_stats, o1)
        out.carry = {"keys": gather_keys(losses.l2_normalize(o1["proj"]))}
        return loss, out

    def after_update(self, state, out):
        queue, ptr = enqueue(state.extra["queue"], state.extra["queue_ptr"], out.carry["keys"])
        return state.replace(extra={**state.extra, "queue": queue, "queue_ptr": ptr})
