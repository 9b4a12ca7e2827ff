"""EMA target networks ("momentum encoder", "teacher"): what they copy, how fast, their BN.

BYOL, MoCo v2/v3 and DINO (and every later method with a momentum network) keep a target
network in `state.target_params` / `state.target_batch_stats`. `EMATarget` owns it:

- **which subtrees**: the top-level entries `keys` of the online parameters (BYOL and MoCo
  v3: `encoder` and `projector`, never the predictor; DINO: `encoder` and `head`); the
  target is built from them alone at step 0 (`init`);
- **the decay schedule** `tau(step, total_steps)` from `config.ema`: `schedule="cosine"`
  is BYOL's `tau_k = 1 - (1 - tau_base)(cos(pi k / K) + 1) / 2` (rising to 1 at the last
  step K), `"constant"` keeps `tau_base` (MoCo v2's m = 0.999), `"linear"` rises
  linearly from `tau_base` to 1 over the run (I-JEPA's `momentum_scheduler`, 0.996 → 1);
- **its BatchNorm statistics**: the target runs in training mode when it has BatchNorm
  (batch statistics of its own input, as the reference code of BYOL, MoCo and DINO does:
  the target is never put in eval mode) and keeps its own running averages, updated from
  those passes, not averaged from the online ones. With local BN they are averaged over
  devices so that the state stays replicated. Without BN (ViTs) it runs in inference mode
  (no stochastic depth, as DINO builds its teacher with `drop_path_rate=0`);
- **the update** `target ← tau·target + (1 − tau)·online` after each optimizer step.

Reference: Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, §3 and Appendix J;
He et al., "Momentum Contrast", CVPR 2020, §3.2; Caron et al., DINO, ICCV 2021, §3.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ssljax import optim, parallel
from ssljax.methods.base import Method, SSLModel, StepOutput, apply_model

# The online sub-networks a siamese target mirrors (the predictor has no target copy).
TARGET_KEYS = ("encoder", "projector")


def ema_defaults(tau_base: float, schedule: str) -> dict[str, Any]:
    """`Method.defaults` entries of the `ema` block."""
    return {"ema.tau_base": tau_base, "ema.schedule": schedule}


def subtree(tree: Any, keys: Sequence[str]) -> Any:
    """The entries `keys` of a top-level dict (missing keys skipped); `{}` for an empty tree."""
    if not tree:
        return {}
    return {k: tree[k] for k in keys if k in tree}


class EMATarget:
    """An EMA copy of some subtrees of the online network, with its own BN statistics.

    Args:
      config: the run's config (`ema.tau_base`, `ema.schedule`).
      model: the target network's module; it is applied to `subtree(params, keys)`.
      keys: the online parameter subtrees the target copies.
      axis_name: the BatchNorm axis ("data": global BN, the statistics are already the
        same on every device; None: local BN, they are averaged over devices).
    """

    def __init__(self, config: ml_collections.ConfigDict, model: nn.Module, *,
                 keys: Sequence[str] = TARGET_KEYS, axis_name: str | None):
        self.model = model
        self.keys = tuple(keys)
        self.axis = axis_name
        self.tau_base = float(config.ema.tau_base)
        self.schedule = config.ema.schedule

    def tau(self, step: jax.Array, total_steps: int) -> jax.Array:
        """The decay at 0-based `step` of a run of `total_steps` steps (float32 scalar)."""
        if self.schedule == "cosine":
            return optim.cosine_ema_schedule(step, total_steps, self.tau_base)
        if self.schedule == "linear":
            frac = jnp.minimum(jnp.asarray(step, jnp.float32) / total_steps, 1.0)
            return self.tau_base + (1.0 - self.tau_base) * frac
        return jnp.asarray(self.tau_base, jnp.float32)

    def init(self, params: Any, batch_stats: Any) -> tuple[Any, Any]:
        """The target at step 0: copies of the online `keys` subtrees (params and BN stats)."""
        copy = lambda t: jax.tree.map(jnp.copy, subtree(t, self.keys))  # noqa: E731
        return copy(params), copy(batch_stats)

    def apply(self, target_params: Any, target_stats: Any, x: Any) -> tuple[Any, Any]:
        """The target's outputs on `x` and its new BN statistics (not yet replicated)."""
        out, stats = apply_model(self.model, target_params, target_stats, x,
                                 train=bool(target_stats))
        return jax.lax.stop_gradient(out), stats

    def forward(self, target_params: Any, target_stats: Any,
                views: Sequence[jax.Array]) -> tuple[list[Any], Any]:
        """The target on each view in turn; returns (outputs per view, replicated stats)."""
        outs = []
        for x in views:
            out, target_stats = self.apply(target_params, target_stats, x)
            outs.append(out)
        return outs, self.replicate(target_stats)

    def replicate(self, stats: Any) -> Any:
        """Averages locally computed BN statistics over devices (a no-op for global BN)."""
        if self.axis is not None or not stats:
            return stats
        return parallel.pmean_tree(stats)

    def update(self, state: Any, tau: jax.Array, target_stats: Any) -> Any:
        """`state` with `target ← tau·target + (1 − tau)·online` and the new BN statistics."""
        online = subtree(state.params, self.keys)
        return state.replace(
            target_params=optim.ema_update(state.target_params, online, tau),
            target_batch_stats=target_stats if target_stats else state.target_batch_stats,
        )


class EMAMethod(Method):
    """A method with an EMA target (`self.target`): its decay, step output and update.

    The target is `build_target()`: by default an EMA of the online encoder and projector
    (no predictor). `loss` returns `self.target_output(...)`; `after_update` applies the EMA.
    """

    def __init__(self, config: ml_collections.ConfigDict, num_classes: int):
        super().__init__(config, num_classes)
        self.target = self.build_target()

    def build_target(self) -> EMATarget:
        """An `EMATarget` of the online encoder and projector (no predictor)."""
        model = SSLModel(encoder=self.model.encoder, projector=self.model.projector)
        return EMATarget(self.config, model, axis_name=self.axis)

    def target_views(self, state: Any, views: Sequence[jax.Array]) -> tuple[list[Any], Any]:
        """The target on the first two views (outputs, replicated new BN statistics)."""
        return self.target.forward(state.target_params, state.target_batch_stats, views[:2])

    def tau(self, step: jax.Array) -> jax.Array:
        """The target decay at 0-based `step` (`config.ema`)."""
        return self.target.tau(step, self.total_steps)

    def target_output(self, state: Any, batch_stats: Any, out: dict[str, jax.Array],
                      target_stats: Any, metrics: dict[str, jax.Array] | None = None,
                      **carry: Any) -> StepOutput:
        """`Method.output` plus the decay `tau` (logged) and what `after_update` needs."""
        tau = self.tau(state.step)
        step_out = self.output(batch_stats, out, tau=tau, **(metrics or {}))
        step_out.carry = {"tau": tau, "target_batch_stats": target_stats, **carry}
        return step_out

    def after_update(self, state: Any, out: StepOutput) -> Any:
        return self.target.update(state, out.carry["tau"], out.carry["target_batch_stats"])
