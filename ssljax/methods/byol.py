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

This module also holds the helpers shared by the other siamese methods (SimSiam, MoCo
v2/v3): separate forward passes per view, the target forward and the EMA update.

Reference: Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised
Learning", NeurIPS 2020 (arXiv:2006.07733), Section 3 and Appendix J.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from jax import lax

from ssljax import losses, optim
from ssljax.errors import ConfigError
from ssljax.evaluate import health
from ssljax.methods.base import Method, SSLModel, StepOutput, build_encoder, build_head
from ssljax.parallel import DATA_AXIS

# The online sub-networks the target network mirrors (the predictor has no target copy).
TARGET_KEYS = ("encoder", "projector")


# --------------------------------------------------------------------------- helpers


def apply_model(
    model: nn.Module, params: Any, batch_stats: Any, x: jax.Array, *, train: bool = True
) -> tuple[dict[str, jax.Array], Any]:
    """Runs `model` on `x` [n, H, W, C]; returns (outputs dict, updated batch_stats).

    In training mode BatchNorm uses the batch statistics of `x` and the returned
    statistics are the updated running averages; otherwise they are returned unchanged.
    """
    variables = {"params": params}
    if batch_stats:
        variables["batch_stats"] = batch_stats
    if train and batch_stats:
        out, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
        return out, updates["batch_stats"]
    return model.apply(variables, x, train=train), batch_stats


def apply_views(
    model: nn.Module, params: Any, batch_stats: Any, views: Sequence[jax.Array]
) -> tuple[list[dict[str, jax.Array]], Any]:
    """Runs each view separately in training mode, threading the BN running averages.

    Args:
      model: the network.
      params: its parameters.
      batch_stats: its BatchNorm running averages (`{}` without BN).
      views: arrays [n, H, W, C], one per view.

    Returns:
      (one outputs dict per view, batch_stats after all views).
    """
    outs = []
    for x in views:
        out, batch_stats = apply_model(model, params, batch_stats, x, train=True)
        outs.append(out)
    return outs, batch_stats


def subtree(tree: Any, keys: Sequence[str] = TARGET_KEYS) -> Any:
    """The entries `keys` of a top-level dict (missing keys are skipped); `{}` for empty."""
    if not tree:
        return {}
    return {k: tree[k] for k in keys if k in tree}


def merge(tree: Any, updates: Any) -> Any:
    """`tree` with its top-level entries replaced by those of `updates`."""
    if not tree:
        return tree
    return {**tree, **updates}


def replicate_stats(batch_stats: Any, axis_name: str | None) -> Any:
    """Averages locally computed BN statistics over `"data"` so the state stays replicated.

    With global BN (`axis_name="data"`) the statistics are already equal on every device.
    """
    if axis_name is not None or not batch_stats:
        return batch_stats
    return jax.tree.map(lambda s: lax.pmean(s, DATA_AXIS), batch_stats)


def ema_subtrees(
    target: Any, online: Any, tau: jax.Array, keys: Sequence[str] = TARGET_KEYS
) -> Any:
    """EMA update `tau·target + (1 − tau)·online` of the sub-networks `keys` of `target`.

    Entries of `target` not in `keys` (e.g. the unused copy of the predictor that
    `create_state` makes) are left untouched.
    """
    new = dict(target)
    for k in keys:
        if k in target:
            new[k] = optim.ema_update(target[k], online[k], tau)
    return new


def ema_tau(config: ml_collections.ConfigDict, step: jax.Array, total_steps: int,
            default_base: float, default_schedule: str) -> jax.Array:
    """The target decay at `step`: constant or BYOL's cosine schedule (`config.ema`).

    Config keys (all optional): `ema.tau_base` and `ema.schedule` ("cosine" rises to 1
    at the last step; "constant" keeps `tau_base`).
    """
    ema = config.ema if "ema" in config else ml_collections.ConfigDict()
    base = float(ema.get("tau_base", default_base))
    schedule = ema.get("schedule", default_schedule)
    if not 0.0 <= base <= 1.0:
        raise ConfigError(f"ema.tau_base={base} must be in [0, 1], e.g. 0.996")
    if schedule == "cosine":
        return optim.cosine_ema_schedule(step, total_steps, base)
    if schedule == "constant":
        return jnp.asarray(base, jnp.float32)
    raise ConfigError(f"ema.schedule={schedule!r} must be 'cosine' or 'constant'")


def check_ema_config(config: ml_collections.ConfigDict, default_base: float,
                     default_schedule: str) -> None:
    """Validates `config.ema` at construction (raises a one-line `ConfigError`)."""
    ema_tau(config, jnp.zeros((), jnp.int32), 1, default_base, default_schedule)


def build_predictor(config: ml_collections.ConfigDict, axis_name: str | None) -> nn.Module:
    """The predictor MLP from `config.predictor`; its output must match the projector's."""
    if "predictor" not in config:
        raise ConfigError(f"method {config.method!r} needs a `predictor` config block "
                          "(hidden_dims, out_dim, use_bn, last_bn)")
    if config.predictor.out_dim != config.head.out_dim:
        raise ConfigError(
            f"predictor.out_dim={config.predictor.out_dim} must equal head.out_dim="
            f"{config.head.out_dim} (the predictor regresses the projection)"
        )
    return build_head(config.predictor, config, axis_name)


def embedding_std(z: jax.Array) -> jax.Array:
    """Global mean per-dimension std of L2-normalised embeddings (collapse monitor)."""
    return lax.pmean(health.embedding_std(lax.stop_gradient(z)), DATA_AXIS)


# --------------------------------------------------------------------------- BYOL


class BYOL(Method):
    """BYOL with an EMA target network (global BN by default, as the paper).

    Config: `head` (projector, BYOL: hidden (4096,), out 256), `predictor` (same
    shape), `ema.tau_base` (0.996) and `ema.schedule` ("cosine").
    """

    name = "byol"
    has_target = True

    def __init__(self, config, num_classes):
        super().__init__(config, num_classes)
        encoder = build_encoder(config, self.axis)
        projector = build_head(config.head, config, self.axis)
        self.model = SSLModel(
            encoder=encoder, projector=projector, predictor=build_predictor(config, self.axis)
        )
        self.target_model = SSLModel(encoder=encoder, projector=projector)
        check_ema_config(config, 0.996, "cosine")

    def tau(self, step: jax.Array) -> jax.Array:
        """Target decay tau_k at step k."""
        return ema_tau(self.config, step, self.total_steps, 0.996, "cosine")

    def loss(self, params, state, views, rng):
        del rng
        v1, v2 = views[0], views[1]
        (o1, o2), batch_stats = apply_views(self.model, params, state.batch_stats, (v1, v2))
        (t1, t2), target_stats = apply_views(
            self.target_model, subtree(state.target_params),
            subtree(state.target_batch_stats), (v1, v2),
        )
        z1_t = lax.stop_gradient(t1["proj"])
        z2_t = lax.stop_gradient(t2["proj"])
        local = losses.byol(o1["pred"], z2_t) + losses.byol(o2["pred"], z1_t)
        loss = lax.pmean(local, DATA_AXIS)
        tau = self.tau(state.step)
        target_stats = replicate_stats(target_stats, self.axis)
        return loss, StepOutput(
            batch_stats=batch_stats,
            features=o1["features"],
            embeddings=o1["proj"],
            metrics={"tau": tau, "embedding_std": embedding_std(o1["proj"])},
            carry={"tau": tau, "target_batch_stats": target_stats},
        )

    def after_update(self, state, out):
        return state.replace(
            target_params=ema_subtrees(state.target_params, state.params, out.carry["tau"]),
            target_batch_stats=merge(state.target_batch_stats,
                                     out.carry["target_batch_stats"]),
        )
