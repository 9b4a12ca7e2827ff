"""A classifier on an encoder: the head, its SPMD train step and the training loop.

`linear_eval --protocol=paper` (frozen encoder, BatchNorm-without-affine head) and
`finetune` (frozen or not) both train with these, through `ssljax.supervised.fit`:

- `LinearHead`: a zero-initialised linear layer, optionally after a BatchNorm without
  affine parameters (MoCo v3 / MAE linear probing);
- `init_state` + `make_train_step`: crop (+ flip) on device keyed like pretraining by
  (seed, step, global row), the encoder frozen (inference-mode BN, no gradient) or
  trained (BN statistics updated, averaged over devices), cross-entropy, the optimizer;
- `train`: the loop with a progress bar, metric rows and a NaN/Inf stop;
- `accuracy`: top-1/top-5 of held-out logits.

Reference: Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020, Appendix B.5-B.6; He et al., "Masked Autoencoders Are Scalable
Vision Learners", CVPR 2022 (BatchNorm without affine parameters before the classifier).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import PartitionSpec as P

from ssljax import augment, data, parallel
from ssljax.errors import NumericalError
from ssljax.evaluate.linear import topk_accuracy
from ssljax.metric_writer import progress_bar
from ssljax.parallel import DATA_AXIS

_BN_MOMENTUM = 0.9


class LinearHead(nn.Module):
    """A zero-initialised linear classifier, optionally after a BatchNorm without affine.

    The normalisation's running statistics (momentum 0.9) start from the first training
    batch's statistics rather than from (0, 1), so features of any scale are evaluated
    correctly even after a few steps.
    """

    num_classes: int
    batch_norm: bool = False
    axis_name: str | None = DATA_AXIS

    @nn.compact
    def __call__(self, h: jax.Array, train: bool = False) -> jax.Array:
        h = h.astype(jnp.float32)
        if self.batch_norm:
            d = h.shape[-1]
            ra_mean = self.variable("batch_stats", "mean", jnp.zeros, (d,), jnp.float32)
            ra_var = self.variable("batch_stats", "var", jnp.ones, (d,), jnp.float32)
            seen = self.variable("batch_stats", "seen", jnp.zeros, (), jnp.float32)
            if train:
                mean, mean_sq = jnp.mean(h, 0), jnp.mean(h * h, 0)
                if self.axis_name is not None:
                    mean, mean_sq = lax.pmean((mean, mean_sq), self.axis_name)
                var = jnp.maximum(mean_sq - mean * mean, 0.0)
                if not self.is_initializing():
                    m = jnp.where(seen.value > 0, _BN_MOMENTUM, 0.0)
                    ra_mean.value = m * ra_mean.value + (1 - m) * mean
                    ra_var.value = m * ra_var.value + (1 - m) * var
                    seen.value = seen.value + 1
            else:
                mean, var = ra_mean.value, ra_var.value
            h = (h - mean) * lax.rsqrt(var + 1e-6)
        return nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros)(h)


def _vars(params: Any, stats: Any) -> dict[str, Any]:
    return {"params": params, "batch_stats": stats} if stats else {"params": params}


def init_state(encoder_vars: dict[str, Any], head: nn.Module, feature_dim: int,
               tx: optax.GradientTransformation, mesh: Any, *, train_encoder: bool,
               seed: int) -> dict[str, Any]:
    """The classifier train state (a dict pytree), replicated over the mesh."""

    def init(enc):
        hv = head.init(jax.random.PRNGKey(seed + 1), jnp.zeros((2, feature_dim)), train=False)
        params = {"encoder": enc["params"], "head": hv["params"]}
        trainable = params if train_encoder else {"head": params["head"]}
        return {"step": jnp.zeros((), jnp.int32), "params": params,
                "batch_stats": {"encoder": enc["batch_stats"],
                                "head": hv.get("batch_stats", {})},
                "opt_state": tx.init(trainable)}

    return jax.jit(init, out_shardings=parallel.replicated(mesh))(encoder_vars)


def make_train_step(encoder: nn.Module, head: nn.Module, tx: optax.GradientTransformation,
                    schedule: optax.Schedule, view: augment.ViewSpec, channels: int | None,
                    mesh: Any, *, train_encoder: bool, seed: int,
                    label_smoothing: float = 0.0) -> Callable[..., Any]:
    """The jitted SPMD step `(state, global batch) -> (state, metrics)` (global scalars).

    `label_smoothing` > 0: cross-entropy against `optax.smooth_labels` targets (MAE's
    fine-tuning: 0.1).

    Frozen encoder (`train_encoder=False`): inference-mode BN and no gradient through
    it, so its parameters and statistics never change; otherwise its BN statistics are
    updated (per device with local BN, then averaged across devices).
    """
    root = jax.random.PRNGKey(seed)
    aug_root, drop_root = jax.random.fold_in(root, 1), jax.random.fold_in(root, 2)

    def step(state, batch):
        n = batch["image"].shape[0]
        keys = augment.example_keys(aug_root, state["step"], 0, parallel.local_row_indices(n))
        x = augment.match_channels(batch["image"].astype(jnp.float32) / 255.0, channels)
        x = augment.augment_view(keys, x, view)
        y = batch["label"]
        bs = state["batch_stats"]
        rng = jax.random.fold_in(jax.random.fold_in(drop_root, state["step"]),
                                 lax.axis_index(DATA_AXIS))

        def loss_fn(trainable):
            params = {**state["params"], **trainable}
            enc_vars = _vars(params["encoder"], bs["encoder"])
            if train_encoder:
                h, upd = encoder.apply(enc_vars, x, train=True, mutable=["batch_stats"],
                                       rngs={"dropout": rng})
                enc_bs = upd.get("batch_stats", {})
            else:
                h = lax.stop_gradient(encoder.apply(enc_vars, x, train=False))
                enc_bs = bs["encoder"]
            logits, hupd = head.apply(_vars(params["head"], bs["head"]), h, train=True,
                                      mutable=["batch_stats"])
            if label_smoothing > 0:
                targets = optax.smooth_labels(jax.nn.one_hot(y, logits.shape[-1]),
                                              label_smoothing)
                ce = optax.softmax_cross_entropy(logits, targets).mean()
            else:
                ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            acc = (jnp.argmax(logits, -1) == y).astype(jnp.float32).mean()
            return lax.pmean(ce, DATA_AXIS), (enc_bs, hupd.get("batch_stats", {}),
                                              lax.pmean(acc, DATA_AXIS))

        trainable = state["params"] if train_encoder else {"head": state["params"]["head"]}
        (loss, (enc_bs, head_bs, acc)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable)
        updates, opt_state = tx.update(grads, state["opt_state"], trainable)
        trainable = optax.apply_updates(trainable, updates)
        if train_encoder:
            enc_bs = parallel.pmean_tree(enc_bs)
        new = {"step": state["step"] + 1, "params": {**state["params"], **trainable},
               "batch_stats": {"encoder": enc_bs, "head": head_bs},
               "opt_state": opt_state}
        metrics = {"loss": loss, "train_top1": acc,
                   "lr": jnp.asarray(schedule(state["step"]), jnp.float32)}
        return new, metrics

    return parallel.shard_step(step, mesh, in_specs=(P(), P(DATA_AXIS)), out_specs=(P(), P()),
                               donate_argnums=(0,))


def train(step_fn: Callable[..., Any], state: Any, iterator: Any, mesh: Any, num_steps: int,
          writer: Any, *, log_every: int, desc: str) -> tuple[Any, list[dict[str, float]]]:
    """Runs `num_steps` steps with a progress bar; logs every `log_every` steps.

    Raises:
      NumericalError: the loss became NaN/Inf.
    """
    bar = progress_bar(num_steps, 0, desc)
    rows = []
    t_window, window_start = time.time(), 0
    for step in range(1, num_steps + 1):
        state, metrics = step_fn(state, data.make_global_batch(next(iterator), mesh))
        if bar is not None:
            bar.update(1)
        if step % max(1, log_every) == 0 or step == num_steps:
            host = {k: float(v) for k, v in jax.device_get(metrics).items()}
            if not np.isfinite(host["loss"]):
                raise NumericalError(f"the classifier's loss became {host['loss']} at step "
                                     f"{step}; lower --config.optimizer.base_lr")
            now = time.time()
            host["steps_per_s"] = (step - window_start) / max(now - t_window, 1e-9)
            t_window, window_start = now, step
            writer.write(step, host)
            rows.append({"step": step, **host})
            if bar is not None:
                bar.set_postfix(loss=f"{host['loss']:.4f}", top1=f"{host['train_top1']:.3f}")
    if bar is not None:
        bar.close()
    return state, rows


def accuracy(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1 and top-5 accuracy (top-5 is 1.0 with at most 5 classes)."""
    return {"top1": float(topk_accuracy(logits, labels, 1)),
            "top5": float(topk_accuracy(logits, labels, 5))}
