"""DirectPred: BYOL whose linear predictor is set from the representation's correlation.

BYOL (online network, EMA target, symmetric `2 − 2 cos` loss) with one change: the
predictor is a linear layer `p = W z` without bias or BatchNorm that gets no gradient.
After every optimizer step, F — an exponential moving average of the *uncentred*
correlation `mean z zᵀ` of the detached online projector outputs over both views and the
global batch — is updated, `F ← ρ F + (1 − ρ) mean(z zᵀ)` (the first step sets F to the
batch's correlation), and W is set directly from its eigendecomposition `F = U diag(s) Uᵀ`:

    s ← clamp(s, 0) / max(s);   p = max(s^½ + ε, 1e-4);   W = U diag(p) Uᵀ

with ρ = `directpred.rho` (0.3) and ε = `directpred.eps` (0.01), as the authors' command
line for DirectPred (`predictor_reg=corr predictor_freq=1 dyn_lambda=0.3 dyn_eps=0.01
balance_type=boost_scale`). The forward pass at step t uses the W set after step t − 1;
step 0 uses W's random initialisation (PyTorch `nn.Linear`'s uniform ±1/√d), as the
reference does. `directpred.mode="copy"` is DirectCopy (Wang et al., 2021): `W = F/‖F‖₂ +
ε I`, F normalised by its largest eigenvalue (the reference code's `directcopy` branch
adds εI to the unnormalised F).

W, F and whether F has been set live in `state.extra` (`predictor`, `corr`, `corr_seen`),
so they are checkpointed and replicated like the rest of the state.

Deviation: the reference still trains the predictor by SGD between overwrites; with
`predictor_freq=1` every such step is overwritten before it is used, so no gradient is
computed here at all.

Reference: Tian, Chen and Ganguli, "Understanding self-supervised Learning Dynamics without
Contrastive Pairs", ICML 2021 (arXiv:2102.06810), §5 Eq. 18-19; the authors' code
facebookresearch/luckmatters `ssl/real-dataset/byol_trainer.py` (`compute_w_corr`,
`regulate_predictor`). DirectCopy: Wang, Chen, Du, Tian, "Towards Demystifying
Representation Learning with Non-contrastive Self-supervision", arXiv:2110.04947.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ssljax import losses
from ssljax.errors import ConfigError
from ssljax.methods.target import EMAMethod, ema_defaults
from ssljax.parallel import DATA_AXIS

MODES = ("eigen", "copy")
_W_SEED = 0xD1E  # folded into PRNGKey(config.seed) for W's initialisation


def predictor_from_correlation(corr: jax.Array, *, eps: float = 0.01,
                               mode: str = "eigen") -> jax.Array:
    """DirectPred's (or DirectCopy's) linear predictor `W [d, d]` from a correlation `F`.

    Args:
      corr: `[d, d]` symmetric correlation matrix F.
      eps: ε added to the square-rooted normalised eigenvalues ("eigen") or to the
        diagonal ("copy").
      mode: "eigen" (DirectPred) or "copy" (DirectCopy).

    Returns:
      float32 `[d, d]`, symmetric.

    Reference:
      Tian et al., ICML 2021, Eq. 18-19 and `compute_w_corr` (`boost_scale`).
    """
    corr = jnp.asarray(corr, jnp.float32)
    s, u = jnp.linalg.eigh(0.5 * (corr + corr.T))
    top = jnp.max(s)
    safe_top = jnp.where(top > 0, top, 1.0)
    if mode == "copy":
        return corr / safe_top + eps * jnp.eye(corr.shape[0], dtype=jnp.float32)
    p = jnp.maximum(jnp.sqrt(jnp.clip(s, 0.0) / safe_top) + eps, 1e-4)
    return (u * p) @ u.T


class DirectPred(EMAMethod):
    """DirectPred (and DirectCopy): BYOL with a predictor set from F, no predictor gradient.

    Config: `head` (projector), `directpred.rho` (0.3), `directpred.eps` (0.01),
    `directpred.mode` ("eigen" | "copy"), `ema.tau_base` (0.996), `ema.schedule` ("cosine").
    """

    name = "directpred"
    defaults = {"head.hidden_dims": (4096,), "head.out_dim": 256, "directpred.rho": 0.3,
                "directpred.eps": 0.01, "directpred.mode": "eigen",
                **ema_defaults(0.996, "cosine")}

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        d = config.directpred
        if d.mode not in MODES:
            raise ConfigError(f"directpred.mode={d.mode!r} must be one of {', '.join(MODES)}")
        if not 0.0 <= d.rho < 1.0:
            raise ConfigError(f"directpred.rho={d.rho} must lie in [0, 1), e.g. 0.3")

    def init_extra(self, feature_dims):
        dim = feature_dims["proj"]
        key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), _W_SEED)
        bound = 1.0 / dim ** 0.5
        return {"predictor": jax.random.uniform(key, (dim, dim), jnp.float32, -bound, bound),
                "corr": jnp.zeros((dim, dim), jnp.float32),
                "corr_seen": jnp.zeros((), jnp.bool_)}

    def loss(self, params, state, views, rng):
        del rng
        (o1, o2), batch_stats = self.forward_views(params, state, views)
        (t1, t2), target_stats = self.target_views(state, views)
        w = lax.stop_gradient(state.extra["predictor"])
        p1, p2 = o1["proj"] @ w.T, o2["proj"] @ w.T
        local = losses.byol(p1, t2["proj"]) + losses.byol(p2, t1["proj"])
        z = lax.stop_gradient(jnp.concatenate([o1["proj"], o2["proj"]]))
        corr = lax.psum(z.T @ z, DATA_AXIS) / (z.shape[0] * lax.axis_size(DATA_AXIS))
        return lax.pmean(local, DATA_AXIS), self.target_output(
            state, batch_stats, o1, target_stats, batch_corr=corr)

    def after_update(self, state, out):
        state = super().after_update(state, out)
        d, extra = self.config.directpred, state.extra
        batch = out.carry["batch_corr"]
        corr = jnp.where(extra["corr_seen"], d.rho * extra["corr"] + (1 - d.rho) * batch, batch)
        w = predictor_from_correlation(corr, eps=d.eps, mode=d.mode)
        return state.replace(extra={**extra, "predictor": w, "corr": corr,
                                    "corr_seen": jnp.ones((), jnp.bool_)})
