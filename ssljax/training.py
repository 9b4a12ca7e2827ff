"""What the three programs share about a training run: its length, learning rate and optimizer.

- `total_steps`: `num_epochs × steps_per_epoch`, or `num_steps`, capped by `max_steps`;
- `learning_rate`: the warm-up + cosine schedule of an `optimizer` config block over the
  run (base lr scaled by the batch size, `ssljax.optim.warmup_cosine`);
- `optimizer`: the optax transformation the block names (`ssljax.optim.OPTIMIZERS`), with
  exactly the keys that optimizer reads (the schema warns about the others), a cosine
  weight-decay schedule and per-tensor gradient clipping where the block asks for them.

Pretraining, `linear_eval --protocol=paper` and `finetune` all call these, so a run of
the same length and block gets the same schedule in every program.
"""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
import optax

from ssljax import layer_decay, optim
from ssljax.errors import ConfigError


def total_steps(num_epochs: float, steps_per_epoch: int, max_steps: int = 0,
                num_steps: int = 0) -> int:
    """Optimizer steps of a run: `num_steps` if > 0, else `num_epochs × steps_per_epoch`,
    capped by `max_steps` when that is > 0.

    Raises:
      ConfigError: the run would have no step.
    """
    steps = int(num_steps) if num_steps > 0 else int(round(num_epochs * steps_per_epoch))
    if max_steps > 0:
        steps = min(steps, int(max_steps))
    if steps <= 0:
        raise ConfigError(f"nothing to train: num_epochs={num_epochs}, num_steps={num_steps}, "
                          f"max_steps={max_steps} (with {steps_per_epoch} steps per epoch)")
    return steps


def learning_rate(block: ml_collections.ConfigDict, batch_size: int, steps_per_epoch: int,
                  schedule_steps: int) -> optax.Schedule:
    """Linear warm-up over `block.warmup_epochs` epochs, then cosine to `block.end_lr`.

    Args:
      block: an `optimizer` config block (`base_lr`, `lr_scaling`, `warmup_epochs`, `end_lr`).
      batch_size: the global batch size (for the lr scaling).
      steps_per_epoch: optimizer steps per epoch.
      schedule_steps: steps over which the cosine decays (the run's planned length).

    Raises:
      ConfigError: inconsistent values.
    """
    warmup = min(int(round(block.warmup_epochs * steps_per_epoch)), schedule_steps)
    try:
        return optim.warmup_cosine(block.base_lr, batch_size, warmup, schedule_steps, 1,
                                   scaling=block.lr_scaling, end_value=block.end_lr)
    except ValueError as e:
        raise ConfigError(f"optimizer schedule: {e}") from None


def optimizer(block: ml_collections.ConfigDict, schedule: optax.ScalarOrSchedule, *,
              schedule_steps: int = 0, batch_size: int = 0,
              late_start: dict[str, int] | None = None) -> optax.GradientTransformation:
    """The optimizer `block.name` with the keys it reads, `block.freeze` and the common options.

    Common options: `weight_decay_end` (>= 0: the weight decay follows a cosine from
    `weight_decay` to it over `schedule_steps`, DINO's `wd_schedule`; < 0: constant) and
    `clip_norm_per_tensor` (> 0: each gradient tensor clipped to that norm, DINO's
    `clip_grad`) and `fixed_lr` (parameter-path components optimised at the peak learning
    rate throughout, SimSiam's `--fix-pred-lr`: `("predictor",)`; needs `batch_size`) and
    `patch_embed_lr_mult` (!= 1: the ViT patch embedding's updates scaled, DINOv2's 0.2).
    `late_start` is the method's `{parameter subtree: first step}`
    (`ssljax.optim.make_optimizer`).

    Raises:
      ConfigError: unknown name or bad arguments.
    """
    name = block.name
    if name not in optim.OPTIMIZERS:
        raise ConfigError(optim.OPTIMIZERS.unknown_message(name))
    kwargs: dict[str, Any] = {k: block[k] for k in optim.OPTIMIZERS[name].reads}
    wd_end = block.get("weight_decay_end", -1.0)
    if wd_end is not None and wd_end >= 0:
        if name == "lars" or schedule_steps <= 0:
            raise ConfigError(f"optimizer.weight_decay_end={wd_end}: a weight-decay schedule "
                              "needs optimizer.name=sgd or adamw; set weight_decay_end=-1 "
                              "for a constant weight decay")
        kwargs["weight_decay"] = optim.cosine_ramp(block.weight_decay, wd_end, schedule_steps)
    fixed = tuple(block.get("fixed_lr", ()))
    try:
        peak = optim.peak_lr(block.base_lr, batch_size, block.lr_scaling) if fixed else 0.0
        tx = optim.make_optimizer(name, schedule, freeze=tuple(block.freeze),
                                    late_start=late_start,
                                    fixed_lr={key: peak for key in fixed},
                                    no_decay_lr_scale=block.get("no_decay_lr_scale", 1.0),
                                    clip_norm_per_tensor=block.get("clip_norm_per_tensor", 0.0),
                                    layer_decay=block.get("layer_decay", 1.0),
                                    **kwargs)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"optimizer: {e}") from None
    patch_lr = float(block.get("patch_embed_lr_mult", 1.0))
    if patch_lr <= 0:
        raise ConfigError(f"optimizer.patch_embed_lr_mult={patch_lr} must be > 0")
    if patch_lr == 1.0:
        return tx  # the same optimizer state as before the option existed
    return optax.chain(tx, layer_decay.scale_by_path({"patch_embed": patch_lr}))


def with_own_optimizers(tx: optax.GradientTransformation,
                        own: dict[str, optax.GradientTransformation]
                        ) -> optax.GradientTransformation:
    """`tx` for every parameter except the top-level subtrees named in `own`, each of which
    gets its own transformation and state (`Method.own_optimizers`); `tx` unchanged when
    `own` is empty."""
    if not own:
        return tx
    if "main" in own:
        raise ValueError("a parameter subtree with its own optimizer cannot be called 'main'")

    def labels(params: Any) -> Any:
        return {k: jax.tree.map(lambda _, k=k: k if k in own else "main", v)
                for k, v in params.items()}

    return optax.multi_transform({"main": tx, **own}, labels)
