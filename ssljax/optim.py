"""Optimizers, learning-rate schedules and EMA-target helpers for self-supervised learning.

Everything here is an optax `GradientTransformation`, an optax schedule or a pure pytree
function, usable in any JAX code:

- `lars`: LARS (`optax.lars`) with BatchNorm parameters and biases excluded from both
  weight decay and the trust-ratio adaptation (SimCLR, BYOL);
- `sgd` (PyTorch-style coupled weight decay), `adamw` (decoupled), `make_optimizer` (by
  name, with optional frozen parameters);
- `warmup_cosine`: linear warmup then cosine decay, with the linear / square-root batch
  scaling of the learning rate;
- `ema_update` and `cosine_ema_schedule`: the target ("momentum") network of BYOL,
  MoCo and DINO.

References:
    You et al., "Large Batch Training of Convolutional Networks" (LARS), 2017.
    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations"
    (SimCLR), ICML 2020, Appendix B.
    Grill et al., "Bootstrap Your Own Latent" (BYOL), NeurIPS 2020, Section 3.2 and
    Appendix J.
    Loshchilov & Hutter, "SGDR" (cosine schedule), ICLR 2017; "Decoupled Weight Decay
    Regularization" (AdamW), ICLR 2019.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from ssljax.registry import Registry

PyTree = Any
MaskOrFn = PyTree | Callable[[PyTree], PyTree] | None

SCALINGS = ("linear", "sqrt", "none")
_NO_DECAY_NAMES = ("bias", "scale")


def decay_mask(params: PyTree) -> PyTree:
    """Which parameters get weight decay (and LARS adaptation): False for norms and biases.

    A leaf is excluded (False) when it has `ndim <= 1` (BatchNorm / LayerNorm scales and
    biases, Dense / Conv biases) or when its name is "bias" or "scale" whatever its rank
    (Flax's attention biases are `[heads, head_dim]`); kernels, embeddings, the CLS token
    and position embeddings map to True. This is the SimCLR / BYOL rule and DINO's
    (`name.endswith(".bias") or ndim == 1`). Works on arrays and on
    `jax.ShapeDtypeStruct` leaves (e.g. from `jax.eval_shape`).

    Args:
        params: a parameter pytree.

    Returns:
        A pytree of Python bools with the structure of `params`.
    """

    def decayed(path: tuple[Any, ...], p: Any) -> bool:
        name = _path_str(path[-1:]) if path else ""
        return len(p.shape) > 1 and name not in _NO_DECAY_NAMES

    return jax.tree_util.tree_map_with_path(decayed, params)


def _path_str(path: tuple[Any, ...]) -> str:
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def freeze_mask(params: PyTree, patterns: Sequence[str]) -> PyTree:
    """True for the parameters whose "/"-joined path contains any of `patterns`.

    Args:
        params: a parameter pytree (nested dicts as Flax makes them).
        patterns: substrings of paths, e.g. `("patch_embed",)` matches
            `"patch_embed/kernel"` and `"patch_embed/bias"`.

    Returns:
        A pytree of Python bools with the structure of `params`.
    """
    patterns = tuple(patterns)
    return jax.tree_util.tree_map_with_path(
        lambda path, _: any(s in _path_str(path) for s in patterns), params
    )


def lars(
    learning_rate: optax.ScalarOrSchedule,
    *,
    weight_decay: float,
    momentum: float = 0.9,
    trust_coefficient: float = 1e-3,
    eps: float = 0.0,
    nesterov: bool = False,
    exclude_bn_and_bias: bool = True,
) -> optax.GradientTransformation:
    """LARS with BatchNorm parameters and biases excluded from decay and adaptation.

    For each leaf w with gradient g, `u = g + wd·w` (decayed leaves only); for adapted
    leaves `u ← u · trust_coefficient·‖w‖ / (‖u‖ + eps)` (ratio 1 where ‖w‖ or ‖u‖ is 0);
    then momentum `m ← momentum·m + lr·u` and the update is `−m`. This is `optax.lars`
    and matches the SimCLR and BYOL implementations, whose trust ratio uses the norm of
    the decayed gradient `‖g + wd·w‖`.

    Args:
        learning_rate: scalar or schedule (e.g. `warmup_cosine(...)`).
        weight_decay: decoupled-in-gradient L2 coefficient (SimCLR 1e-6, BYOL 1.5e-6).
        momentum: heavy-ball momentum.
        trust_coefficient: LARS η (1e-3).
        eps: added to the trust-ratio denominator.
        nesterov: Nesterov momentum.
        exclude_bn_and_bias: exclude normalisation parameters and biases (see
            `decay_mask`) from weight decay and trust-ratio scaling; False applies both to
            every leaf.

    Returns:
        An optax `GradientTransformation` (needs `params` in `update`).
    """
    mask = decay_mask if exclude_bn_and_bias else True
    return optax.lars(
        learning_rate,
        weight_decay=weight_decay,
        weight_decay_mask=mask,
        trust_coefficient=trust_coefficient,
        eps=eps,
        trust_ratio_mask=mask,
        momentum=momentum,
        nesterov=nesterov,
    )


def sgd(
    learning_rate: optax.ScalarOrSchedule,
    *,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    mask: MaskOrFn = decay_mask,
) -> optax.GradientTransformation:
    """SGD with momentum and *coupled* L2 weight decay, as `torch.optim.SGD`.

    `g ← g + wd·w` (on the leaves `mask` selects), `m ← momentum·m + g`, update
    `−lr·m`: the weight decay goes through the momentum, as in PyTorch.

    Args:
        learning_rate: scalar or schedule.
        momentum: heavy-ball momentum (0 for plain SGD).
        nesterov: Nesterov momentum.
        weight_decay: L2 coefficient added to the gradient.
        mask: which leaves are decayed (pytree of bools or a function of the params);
            default `decay_mask` (no decay of BN parameters and biases); None decays all.

    Returns:
        An optax `GradientTransformation`.
    """
    tx = optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov)
    if not weight_decay:
        return tx
    return optax.chain(optax.add_decayed_weights(weight_decay, mask=mask), tx)


def adamw(
    learning_rate: optax.ScalarOrSchedule,
    *,
    weight_decay: float,
    b1: float = 0.9,
    b2: float = 0.999,
    mask: MaskOrFn = decay_mask,
) -> optax.GradientTransformation:
    """AdamW (decoupled weight decay, scaled by the learning rate as in PyTorch).

    Args:
        learning_rate: scalar or schedule.
        weight_decay: decoupled decay coefficient (DINO 0.04→0.4, MoCo v3 0.1).
        b1: first-moment decay.
        b2: second-moment decay.
        mask: which leaves are decayed; default `decay_mask`; None decays all.

    Returns:
        An optax `GradientTransformation`.
    """
    return optax.adamw(learning_rate, b1=b1, b2=b2, weight_decay=weight_decay, mask=mask)


@dataclasses.dataclass(frozen=True)
class OptimizerDef:
    """A registered optimizer: its builder and the config keys (besides the lr) it takes.

    Attributes:
        build: `(learning_rate, **kwargs) -> GradientTransformation`.
        reads: the keyword arguments of `build` a config's `optimizer` block may set.
    """

    build: Callable[..., optax.GradientTransformation]
    reads: tuple[str, ...]


OPTIMIZERS: Registry[OptimizerDef] = Registry("optimizer", key="optimizer.name")
OPTIMIZERS.register("lars", OptimizerDef(
    lars, ("weight_decay", "momentum", "trust_coefficient", "nesterov")))
OPTIMIZERS.register("sgd", OptimizerDef(sgd, ("momentum", "nesterov", "weight_decay")))
OPTIMIZERS.register("adamw", OptimizerDef(adamw, ("weight_decay", "b1", "b2")))


def make_optimizer(
    name: str,
    learning_rate: optax.ScalarOrSchedule,
    *,
    freeze: Sequence[str] = (),
    **kwargs: Any,
) -> optax.GradientTransformation:
    """Builds a registered optimizer ("lars", "sgd", "adamw"), optionally with frozen parameters.

    Args:
        name: optimizer name, one of `OPTIMIZERS`.
        learning_rate: scalar or schedule.
        freeze: path substrings (see `freeze_mask`); matching parameters get zero updates
            and no optimizer state, e.g. `("patch_embed",)` for MoCo v3's frozen patch
            projection.
        **kwargs: keyword arguments of `lars` / `sgd` / `adamw`.

    Returns:
        An optax `GradientTransformation`.

    Raises:
        ValueError: unknown name or arguments.
    """
    if name not in OPTIMIZERS:
        raise ValueError(OPTIMIZERS.unknown_message(name))
    try:
        tx = OPTIMIZERS[name].build(learning_rate, **kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for optimizer {name!r}: {e}") from None
    if isinstance(freeze, str):
        freeze = (freeze,)
    if not freeze:
        return tx

    def labels(params: PyTree) -> PyTree:
        frozen = freeze_mask(params, freeze)
        return jax.tree.map(lambda f: "frozen" if f else "trainable", frozen)

    return optax.multi_transform({"trainable": tx, "frozen": optax.set_to_zero()}, labels)


def warmup_cosine(
    base_lr: float,
    batch_size: int,
    warmup_epochs: float,
    total_epochs: float,
    steps_per_epoch: int,
    scaling: str = "linear",
    end_value: float = 0.0,
) -> optax.Schedule:
    """Linear warmup from 0 to the scaled peak, then cosine decay to `end_value`.

    The peak is `base_lr·batch_size/256` ("linear", Goyal et al.; BYOL, MoCo),
    `base_lr·sqrt(batch_size)` ("sqrt", SimCLR Appendix B.1) or `base_lr` ("none").
    Warmup lasts `W = round(warmup_epochs·steps_per_epoch)` steps; the cosine ends at
    `T = round(total_epochs·steps_per_epoch)`: for `W ≤ t ≤ T`,
    `lr = end + (peak − end)·(1 + cos(π(t − W)/(T − W)))/2`, and `end` after T (if the
    warmup covers the whole schedule, the lr stays at the peak after it).

    Args:
        base_lr: learning rate before batch scaling.
        batch_size: global batch size.
        warmup_epochs: epochs of linear warmup (may be 0 or fractional).
        total_epochs: epochs in the whole schedule (≥ warmup_epochs).
        steps_per_epoch: optimizer steps per epoch.
        scaling: "linear", "sqrt" or "none".
        end_value: final learning rate (absolute, not scaled).

    Returns:
        An optax schedule: step → learning rate (jit-safe).

    Raises:
        ValueError: for negative or inconsistent arguments or an unknown scaling.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"unknown lr scaling {scaling!r}; valid: {', '.join(SCALINGS)}")
    if base_lr < 0 or end_value < 0:
        raise ValueError(f"learning rates must be >= 0, got base_lr={base_lr}, "
                         f"end_value={end_value}")
    if batch_size <= 0 or steps_per_epoch <= 0:
        raise ValueError(f"batch_size and steps_per_epoch must be positive, got "
                         f"{batch_size} and {steps_per_epoch}")
    if not 0 <= warmup_epochs <= total_epochs or total_epochs <= 0:
        raise ValueError(f"need 0 <= warmup_epochs <= total_epochs and total_epochs > 0, got "
                         f"warmup_epochs={warmup_epochs}, total_epochs={total_epochs}")
    peak = {"linear": base_lr * batch_size / 256, "sqrt": base_lr * math.sqrt(batch_size),
            "none": base_lr}[scaling]
    warmup_steps = int(round(warmup_epochs * steps_per_epoch))
    total_steps = max(int(round(total_epochs * steps_per_epoch)), 1)
    if warmup_steps == 0:
        return optax.cosine_decay_schedule(peak, total_steps, alpha=_alpha(end_value, peak))
    if warmup_steps >= total_steps:
        return optax.linear_schedule(0.0, peak, warmup_steps)
    return optax.warmup_cosine_decay_schedule(0.0, peak, warmup_steps, total_steps, end_value)


def _alpha(end_value: float, peak: float) -> float:
    return 0.0 if peak == 0 else end_value / peak


def ema_update(target: PyTree, online: PyTree, tau: float | jax.Array) -> PyTree:
    """Exponential moving average of parameters: `tau·target + (1 − tau)·online`.

    The target ("momentum", "teacher") network update of BYOL, MoCo and DINO;
    `optax.incremental_update` with step size `1 − tau`.

    Args:
        target: the target pytree (e.g. target params or batch stats).
        online: the online pytree, same structure.
        tau: decay in [0, 1] (1 keeps the target); may be traced.

    Returns:
        The new target pytree.
    """
    return optax.incremental_update(new_tensors=online, old_tensors=target, step_size=1.0 - tau)


def cosine_ema_schedule(
    step: int | jax.Array, total_steps: int, tau_base: float, tau_end: float = 1.0
) -> jax.Array:
    """BYOL's target decay: `tau_end − (tau_end − tau_base)·(cos(π·k/K) + 1)/2`.

    Rises from `tau_base` at k = 0 to `tau_end` (1) at k = K and stays there for k > K.
    Used by BYOL (0.996→1), MoCo v3 (0.99→1) and DINO (0.996→1).

    Args:
        step: current step k (Python int or traced integer array).
        total_steps: K, the total number of training steps (> 0).
        tau_base: decay at step 0.
        tau_end: decay at step K.

    Returns:
        float32 scalar tau_k.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    k = jnp.clip(jnp.asarray(step, jnp.float32), 0.0, float(total_steps))
    return tau_end - (tau_end - tau_base) * (jnp.cos(jnp.pi * k / total_steps) + 1.0) / 2.0
