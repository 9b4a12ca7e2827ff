"""The training engine shared by every method.

`create_state` initialises the `TrainState` directly replicated over the mesh;
`make_train_step` returns the jitted, shard_mapped step: on-device augmentation
keyed by (seed, step, global row, view), the method's global loss, the optimizer
update, target/extra updates, the online linear probe, and a NaN/Inf guard that
leaves the state untouched (and counts the step) when a loss or gradient is not
finite.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from ssljax import augment, optim, parallel
from ssljax.errors import ConfigError
from ssljax.methods.base import Method
from ssljax.parallel import DATA_AXIS
from ssljax.train_state import TrainState, init_probe, probe_logits, probe_optimizer


def learning_rate_schedule(
    config: ml_collections.ConfigDict, steps_per_epoch: int
) -> optax.Schedule:
    """Warm-up + cosine schedule from `config.optimizer` (base lr scaled by batch size)."""
    o = config.optimizer
    try:
        return optim.warmup_cosine(
            o.base_lr,
            config.batch_size,
            o.get("warmup_epochs", 0),
            config.num_epochs,
            steps_per_epoch,
            scaling=o.get("lr_scaling", "linear"),
        )
    except ValueError as e:
        raise ConfigError(f"optimizer schedule: {e}") from None


def make_optimizer(
    config: ml_collections.ConfigDict, schedule: optax.Schedule
) -> optax.GradientTransformation:
    """The online network's optimizer (`lars`, `sgd` or `adamw`) from `config.optimizer`."""
    o = config.optimizer.to_dict()
    name = o.pop("name")
    for k in ("base_lr", "lr_scaling", "warmup_epochs"):
        o.pop(k, None)
    builder = getattr(optim, name, None) if name in optim.OPTIMIZERS else None
    if builder is not None:
        # Shared config blocks carry keys (e.g. momentum) that only some optimizers take.
        accepted = inspect.signature(builder).parameters
        o = {k: v for k, v in o.items() if k in accepted or k == "freeze"}
    try:
        return optim.make_optimizer(name, schedule, **o)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"optimizer: {e}") from None


def create_state(
    method: Method,
    config: ml_collections.ConfigDict,
    mesh: Mesh,
    input_shape: tuple[int, int, int],
    tx: optax.GradientTransformation,
) -> TrainState:
    """Initialises the train state, created directly with a replicated sharding.

    Args:
      method: the method (holds `model`).
      config: the run's config (seed, probe learning rate).
      mesh: the device mesh.
      input_shape: (H, W, C) of the first view after augmentation.
      tx: the online optimizer.
    """
    probe_tx = probe_optimizer(config.probe.learning_rate)
    rng = jax.random.PRNGKey(config.seed)

    def init() -> TrainState:
        x = jnp.zeros((2, *input_shape), jnp.float32)
        variables = method.model.init(rng, x, train=False)
        params = variables["params"]
        batch_stats = variables.get("batch_stats", {})
        out = method.model.apply(variables, x, train=False)
        dims = {k: v.shape[-1] for k, v in out.items()}
        probe = init_probe(rng, dims["features"], method.num_classes)
        target = jax.tree.map(jnp.copy, params) if method.has_target else None
        target_bs = jax.tree.map(jnp.copy, batch_stats) if method.has_target else None
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            batch_stats=batch_stats,
            opt_state=tx.init(params),
            target_params=target,
            target_batch_stats=target_bs,
            extra=method.init_extra(dims),
            probe_params=probe,
            probe_opt_state=probe_tx.init(probe),
            nonfinite_steps=jnp.zeros((), jnp.int32),
        )

    abstract = jax.eval_shape(init)
    shardings = jax.tree.map(lambda _: parallel.replicated(mesh), abstract)
    return jax.jit(init, out_shardings=shardings)()


def make_train_step(
    method: Method,
    tx: optax.GradientTransformation,
    mesh: Mesh,
    view_specs: tuple[Any, ...],
    config: ml_collections.ConfigDict,
    schedule: optax.Schedule,
) -> Callable[[TrainState, dict[str, jax.Array]], tuple[TrainState, dict[str, jax.Array]]]:
    """The jitted SPMD train step `(state, global_batch) -> (state, metrics)`.

    The batch holds `image` uint8 [B, H, W, C] and `label` int32 [B], sharded on
    its leading axis; the state is replicated and donated. All metrics are global
    scalars.
    """
    probe_tx = probe_optimizer(config.probe.learning_rate)
    root = jax.random.PRNGKey(config.seed)
    aug_root = jax.random.fold_in(root, 1)
    step_root = jax.random.fold_in(root, 2)

    def step(state: TrainState, batch: dict[str, jax.Array]):
        n = batch["image"].shape[0]
        rows = parallel.local_row_indices(n)
        x = batch["image"].astype(jnp.float32) / 255.0
        views = tuple(
            augment.augment_view(augment.example_keys(aug_root, state.step, v, rows), x, spec)
            for v, spec in enumerate(view_specs)
        )
        rng = jax.random.fold_in(step_root, state.step)
        (loss, out), grads = jax.value_and_grad(method.loss, has_aux=True)(
            state.params, state, views, rng
        )
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            opt_state=opt_state,
            batch_stats=parallel.pmean_tree(out.batch_stats),
        )
        new = method.after_update(new, out)

        feats = lax.stop_gradient(out.features)
        labels = batch["label"]

        def probe_loss(pp):
            logits = probe_logits(pp, feats)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            acc = (jnp.argmax(logits, -1) == labels).astype(jnp.float32).mean()
            return lax.pmean(ce, DATA_AXIS), lax.pmean(acc, DATA_AXIS)

        (p_loss, p_acc), p_grads = jax.value_and_grad(probe_loss, has_aux=True)(state.probe_params)
        p_updates, p_state = probe_tx.update(p_grads, state.probe_opt_state, state.probe_params)
        new = new.replace(
            probe_params=optax.apply_updates(state.probe_params, p_updates),
            probe_opt_state=p_state,
        )

        grad_norm = optax.tree.norm(grads)
        # The update is kept only if the loss, the gradients and the new parameters are
        # all finite, so no state that reaches a checkpoint is ever poisoned.
        finite = (
            jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(optax.tree.norm(new.params))
        )
        skipped = state.replace(step=state.step + 1, nonfinite_steps=state.nonfinite_steps + 1)
        new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, skipped)
        metrics = {
            "loss": loss,
            "lr": jnp.asarray(schedule(state.step), jnp.float32),
            "grad_norm": grad_norm,
            "probe_loss": p_loss,
            "probe_top1": p_acc,
            "nonfinite": 1.0 - finite.astype(jnp.float32),
            **out.metrics,
        }
        return new, metrics

    return parallel.shard_step(
        step, mesh, in_specs=(P(), P(DATA_AXIS)), out_specs=(P(), P()), donate_argnums=(0,)
    )


def eval_preprocess(images: jax.Array, spec: Any) -> jax.Array:
    """Un-augmented evaluation input: uint8 → [0, 1], resize to the view size, normalize."""
    x = images.astype(jnp.float32) / 255.0
    size = spec.out_size
    if x.shape[1] != size or x.shape[2] != size:
        x = jax.image.resize(x, (x.shape[0], size, size, x.shape[3]), method="bilinear")
    if spec.mean is not None:
        x = augment.normalize(x, spec.mean, spec.std)
    return x


def make_feature_fn(method: Method, mesh: Mesh, spec: Any) -> Callable[..., jax.Array]:
    """Jitted `(params, batch_stats, images uint8 [B,H,W,C]) -> features [B, D]`.

    Runs in inference mode (running BN statistics), partitioned over the mesh by
    jit, with a replicated output so that every process can read it; B must be
    divisible by the device count (`extract_features` pads).
    """

    def features(params, batch_stats, images):
        x = eval_preprocess(images, spec)
        out, _ = method.apply(params, batch_stats, x, train=False)
        return out["features"]

    return jax.jit(features, out_shardings=parallel.replicated(mesh))


def extract_features(
    feature_fn: Callable[..., jax.Array],
    params: Any,
    batch_stats: Any,
    images: Any,
    mesh: Mesh,
    batch_size: int = 512,
) -> jax.Array:
    """Features [N, D] of uint8 images [N, H, W, C], in fixed-size padded batches.

    Every process passes the same images (the evaluation split is small and held in
    memory); each device encodes its rows of a batch.
    """
    n = len(images)
    nd = mesh.devices.size
    bs = max(nd, (batch_size // nd) * nd)
    out = []
    sharding = parallel.batch_sharded(mesh)
    for start in range(0, n, bs):
        chunk = np.asarray(images[start : start + bs])
        pad = bs - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
        x = jax.make_array_from_callback(chunk.shape, sharding, lambda idx, c=chunk: c[idx])
        feats = feature_fn(params, batch_stats, x)
        out.append(np.asarray(feats)[: bs - pad])
    return jnp.asarray(np.concatenate(out, axis=0))
