"""Optimizers, learning-rate schedules and EMA-target helpers for self-supervised learning.

Everything here is an optax `GradientTransformation`, an optax schedule or a pure pytree
function, usable in any JAX code:

- `lars`: LARS (`optax.lars`) with BatchNorm parameters and biases excluded from both
  weight decay and the trust-ratio adaptation (SimCLR, BYOL);
- `sgd` (PyTorch-style coupled weight decay), `adamw` (decoupled), `make_optimizer` (by
  name, with optional frozen parameters);
- `warmup_cosine`: linear warmup then cosine decay, with the linear / square-root batch
  scaling of the learning rate; `cosine_ramp` (DINO's weight-decay schedule);
- `clip_per_tensor`: each gradient tensor clipped to a norm on its own (DINO);
- `layer_decay_multipliers` / `scale_by_layer_decay` (from `ssljax.layer_decay`):
  layer-wise learning-rate decay of ViT fine-tuning (BEiT, MAE);
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
    Caron et al., "Emerging Properties in Self-Supervised Vision Transformers" (DINO),
    ICCV 2021; the authors' `utils.py` (`cosine_scheduler`, `clip_gradients`).
    Bao et al., "BEiT", ICLR 2022, and He et al., "Masked Autoencoders Are Scalable Vision
    Learners", CVPR 2022 (facebookresearch/mae `util/lr_decay.py`: layer-wise lr decay).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from ssljax.layer_decay import layer_decay_multipliers as layer_decay_multipliers
from ssljax.layer_decay import scale_by_layer_decay
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

    return jax.tree_util.tree_map_with_path(_decayed, params)


def _decayed(path: tuple[Any, ...], p: Any) -> bool:
    name = _path_str(path[-1:]) if path else ""
    return len(p.shape) > 1 and name not in _NO_DECAY_NAMES


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
    weight_decay: optax.ScalarOrSchedule = 0.0,
    mask: MaskOrFn = decay_mask,
    exclude_bn_and_bias: bool = True,
) -> optax.GradientTransformation:
    """SGD with momentum and *coupled* L2 weight decay, as `torch.optim.SGD`.

    `g ← g + wd·w` (on the leaves `mask` selects), `m ← momentum·m + g`, update
    `−lr·m`: the weight decay goes through the momentum, as in PyTorch.

    Args:
        learning_rate: scalar or schedule.
        momentum: heavy-ball momentum (0 for plain SGD).
        nesterov: Nesterov momentum.
        weight_decay: L2 coefficient added to the gradient (or a schedule of the step).
        mask: which leaves are decayed (pytree of bools or a function of the params);
            default `decay_mask` (no decay of BN parameters and biases); None decays all.
        exclude_bn_and_bias: False decays every leaf whatever `mask` says, as
            `torch.optim.SGD(model.parameters(), weight_decay=wd)` does (MoCo v2, SimSiam).

    Returns:
        An optax `GradientTransformation`.
    """
    tx = optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov)
    if not callable(weight_decay) and not weight_decay:
        return tx
    mask = mask if exclude_bn_and_bias else None
    return optax.chain(optax.add_decayed_weights(weight_decay, mask=mask), tx)


def adamw(
    learning_rate: optax.ScalarOrSchedule,
    *,
    weight_decay: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    mask: MaskOrFn = decay_mask,
    exclude_bn_and_bias: bool = True,
) -> optax.GradientTransformation:
    """AdamW (decoupled weight decay, scaled by the learning rate as in PyTorch).

    Args:
        learning_rate: scalar or schedule.
        weight_decay: decoupled decay coefficient (MoCo v3 0.1), or a schedule of the
            step (DINO: `cosine_ramp(0.04, 0.4, steps)`).
        b1: first-moment decay.
        b2: second-moment decay.
        mask: which leaves are decayed; default `decay_mask`; None decays all.
        exclude_bn_and_bias: False decays every leaf whatever `mask` says.

    Returns:
        An optax `GradientTransformation`.
    """
    mask = mask if exclude_bn_and_bias else None
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
    lars, ("weight_decay", "momentum", "trust_coefficient", "nesterov", "exclude_bn_and_bias")))
OPTIMIZERS.register("sgd", OptimizerDef(
    sgd, ("momentum", "nesterov", "weight_decay", "exclude_bn_and_bias")))
OPTIMIZERS.register("adamw", OptimizerDef(adamw, ("weight_decay", "b1", "b2",
                                                  "exclude_bn_and_bias")))


def make_optimizer(
    name: str,
    learning_rate: optax.ScalarOrSchedule,
    *,
    freeze: Sequence[str] = (),
    late_start: Mapping[str, int] | None = None,
    fixed_lr: Mapping[str, float] | None = None,
    no_decay_lr_scale: float = 1.0,
    clip_norm_per_tensor: float = 0.0,
    layer_decay: float = 1.0,
    **kwargs: Any,
) -> optax.GradientTransformation:
    """Builds a registered optimizer ("lars", "sgd", "adamw"), optionally with frozen parameters.

    Args:
        name: optimizer name, one of `OPTIMIZERS`.
        learning_rate: scalar or schedule.
        freeze: path substrings (see `freeze_mask`); matching parameters get zero updates
            and no optimizer state, e.g. `("patch_embed",)` for MoCo v3's frozen patch
            projection.
        late_start: `{path component: step}`: the parameters under that component (e.g.
            DINO's `"last_layer"`) get an optimizer of their own whose state and step
            count start at `step`, with the learning-rate (and weight-decay) schedules
            read at the global step. The caller holds those parameters and that state
            fixed before `step` (`ssljax.engine.hold`); then their first update is a fresh
            optimizer's, as PyTorch does for a parameter whose `.grad` was None: no decay,
            no moments and a per-parameter Adam step count (bias correction from 1).
        fixed_lr: `{path component: learning rate}`: the parameters under it are
            optimised at that constant rate (SimSiam's `--fix-pred-lr`: the predictor
            stays at the initial learning rate while the rest follows the cosine).
        no_decay_lr_scale: != 1 gives the parameters `decay_mask` excludes (BN
            parameters, biases) the learning rate times this factor, in a group of their
            own: Barlow Twins' `--learning-rate-biases 0.0048` against
            `--learning-rate-weights 0.2` is 0.024.
        clip_norm_per_tensor: > 0 clips each gradient tensor to this L2 norm on its own
            before the optimizer (`clip_per_tensor`; DINO's `clip_grad` 3.0).
        layer_decay: < 1 scales each ViT parameter's step by its layer's factor
            (`scale_by_layer_decay`; MAE fine-tuning: 0.65 for ViT-B, 0.75 for ViT-L).
        **kwargs: keyword arguments of `lars` / `sgd` / `adamw` (a callable
            `weight_decay` is a schedule of the step).

    Returns:
        An optax `GradientTransformation`.

    Raises:
        ValueError: unknown name or arguments.
    """
    if name not in OPTIMIZERS:
        raise ValueError(OPTIMIZERS.unknown_message(name))

    def build(offset: int, lr: optax.ScalarOrSchedule = learning_rate
              ) -> optax.GradientTransformation:
        shifted = {k: _shift(v, offset) if k == "weight_decay" else v for k, v in kwargs.items()}
        try:
            return OPTIMIZERS[name].build(_shift(lr, offset), **shifted)
        except TypeError as e:
            raise ValueError(f"bad arguments for optimizer {name!r}: {e}") from None

    if isinstance(freeze, str):
        freeze = (freeze,)
    freeze, late_start, fixed_lr = tuple(freeze), dict(late_start or {}), dict(fixed_lr or {})
    groups = {"trainable": build(0)}
    groups.update({key: build(int(start)) for key, start in late_start.items()})
    groups.update({key: build(0, float(lr)) for key, lr in fixed_lr.items()})
    if no_decay_lr_scale != 1.0:
        groups["no_decay"] = build(0, _scaled(learning_rate, no_decay_lr_scale))
    if freeze:
        groups["frozen"] = optax.set_to_zero()

    def labels(params: PyTree) -> PyTree:
        def label(path: tuple[Any, ...], p: Any) -> str:
            if freeze and any(s in _path_str(path) for s in freeze):
                return "frozen"
            names = {_path_str((k,)) for k in path}
            group = next((key for key in (*late_start, *fixed_lr) if key in names), "trainable")
            if group == "trainable" and "no_decay" in groups and not _decayed(path, p):
                return "no_decay"
            return group

        return jax.tree_util.tree_map_with_path(label, params)

    tx = groups["trainable"] if len(groups) == 1 else optax.multi_transform(groups, labels)
    if clip_norm_per_tensor > 0:
        tx = optax.chain(clip_per_tensor(clip_norm_per_tensor), tx)
    if layer_decay != 1.0:
        if not 0.0 < layer_decay < 1.0:
            raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
        tx = optax.chain(tx, scale_by_layer_decay(layer_decay))
    return tx


def _scaled(value: optax.ScalarOrSchedule, factor: float) -> optax.ScalarOrSchedule:
    """`factor` times a learning rate or schedule."""
    if callable(value):
        return lambda count: factor * value(count)
    return factor * value


def _shift(value: Any, offset: int) -> Any:
    """A schedule read `offset` steps later (`value(count + offset)`); constants unchanged."""
    if not callable(value) or offset == 0:
        return value
    return lambda count: value(count + offset)


def clip_per_tensor(max_norm: float) -> optax.GradientTransformation:
    """Clips every gradient tensor to L2 norm `max_norm` on its own (not the global norm).

    `g ← g · min(1, max_norm / (‖g‖ + 1e-6))` per leaf, as DINO's `utils.clip_gradients`
    does per parameter (`clip_coef = clip / (norm + 1e-6)`, applied when below 1).

    Args:
        max_norm: the largest L2 norm a leaf keeps (> 0).

    Returns:
        An optax `GradientTransformation` with no state.
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")

    def update(updates: PyTree, state: Any, params: PyTree = None) -> tuple[PyTree, Any]:
        del params

        def clip(g: jax.Array) -> jax.Array:
            norm = jnp.sqrt(jnp.sum(jnp.square(g.astype(jnp.float32))))
            return (g * jnp.minimum(1.0, max_norm / (norm + 1e-6))).astype(g.dtype)

        return jax.tree.map(clip, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def cosine_ramp(start: float, end: float, total_steps: int) -> optax.Schedule:
    """`end + (start − end)·(1 + cos(π·t/T))/2` for step t < T, then `end`.

    DINO's `cosine_scheduler(start, end, epochs, niter_per_ep)` without warm-up, used for
    its weight decay (0.04 → 0.4 over the run); it may rise or fall.

    Args:
        start: value at step 0.
        end: value approached at step T and kept after it.
        total_steps: T (> 0).

    Returns:
        An optax schedule (jit-safe).
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")

    def schedule(count: jax.Array) -> jax.Array:
        t = jnp.minimum(jnp.asarray(count, jnp.float32), float(total_steps))
        return end + (start - end) * (1.0 + jnp.cos(jnp.pi * t / total_steps)) / 2.0

    return schedule


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
    peak = peak_lr(base_lr, batch_size, scaling)
    warmup_steps = int(round(warmup_epochs * steps_per_epoch))
    total_steps = max(int(round(total_epochs * steps_per_epoch)), 1)
    if warmup_steps == 0:
        return optax.cosine_decay_schedule(peak, total_steps, alpha=_alpha(end_value, peak))
    if warmup_steps >= total_steps:
        return optax.linear_schedule(0.0, peak, warmup_steps)
    return optax.warmup_cosine_decay_schedule(0.0, peak, warmup_steps, total_steps, end_value)


def peak_lr(base_lr: float, batch_size: int, scaling: str = "linear") -> float:
    """`base_lr·batch_size/256` ("linear"), `base_lr·sqrt(batch_size)` ("sqrt") or `base_lr`."""
    if scaling not in SCALINGS:
        raise ValueError(f"unknown lr scaling {scaling!r}; valid: {', '.join(SCALINGS)}")
    return {"linear": base_lr * batch_size / 256, "sqrt": base_lr * math.sqrt(batch_size),
            "none": base_lr}[scaling]


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
