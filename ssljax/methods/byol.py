"""BYOL: an online network predicts an EMA target network's projection of another view.

Each view goes through the networks on its own (as the authors' code does, so that
BatchNorm statistics are per view). The online network is encoder → projector →
predictor, the target network is an exponential moving average (EMA) of the online
encoder and projector; the loss is the symmetric regression loss

    L = byol(p1, sg(z2')) + byol(p2, sg(z1')),   byol(p, z) = 2 - 2 cos(p, z),

averaged over the global batch. The target decay follows BYOL's cosine schedule
`tau_k = 1 - (1 - tau_base)(cos(pi k / K) + 1) / 2` from `tau_base` (0.996) to 1 over
the K steps of the run.

Target BatchNorm: the target runs in training mode (batch statistics of its own input,
as in the authors' code, where `forward.apply(target_params, target_state, ...,
is_training=True)` returns the new target state); its running averages are updated from
that pass, not by EMA of the online statistics. They are only used if one evaluates the
target network itself, and updating them from the target's own activations keeps them
consistent with the target's own (EMA) weights. With local BN they are averaged over
devices so that the state stays replicated.

Reference: Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised
Learning", NeurIPS 2020 (arXiv:2006.07733), Section 3 and Appendix J.
"""

from __future__ import annotations

from jax import lax

from ssljax import losses
from ssljax.methods import base
from ssljax.methods.target import EMAMethod, ema_defaults
from ssljax.parallel import DATA_AXIS


class BYOL(EMAMethod):
    """BYOL with an EMA target network (global BN by default, as the paper).

    Config: `head` (projector, BYOL: hidden (4096,), out 256), `predictor` (same
    shape), `ema.tau_base` (0.996) and `ema.schedule` ("cosine").
    """

    name = "byol"
    uses_predictor = True
    defaults = {"head.hidden_dims": (4096,), "head.out_dim": 256,
                **base.predictor_defaults(4096, 256), **ema_defaults(0.996, "cosine")}

    def loss(self, params, state, views, rng):
        del rng
        (o1, o2), batch_stats = self.forward_views(params, state, views)
        (t1, t2), target_stats = self.target_views(state, views)
        local = losses.byol(o1["pred"], t2["proj"]) + losses.byol(o2["pred"], t1["proj"])
        return lax.pmean(local, DATA_AXIS), self.target_output(state, batch_stats, o1,
                                                               target_stats)
