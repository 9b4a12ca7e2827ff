"""The training engine shared by every method.

`create_state` initialises the `TrainState` directly replicated over the mesh (the
method builds its own EMA target, `Method.init_target`);
`make_train_step` returns the jitted, shard_mapped step: on-device augmentation
keyed by (seed, step, global row, view), the method's global loss, the optimizer
update, target/extra updates, the online linear probe, and a NaN/Inf guard that
leaves the state untouched (and counts the step) when a loss or gradient is not
finite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from ssljax import augment, methods, parallel, training
from ssljax.errors import ConfigError
from ssljax.methods.base import Method
from ssljax.parallel import DATA_AXIS
from ssljax.train_state import TrainState, init_probe, probe_logits, probe_optimizer


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
        target, target_bs = method.init_target(params, batch_stats)
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


def hold(new: Any, old: Any, frozen: dict[str, jax.Array]) -> Any:
    """`new` with the leaves under a frozen key (any path component) taken from `old`.

    Args:
      new: the updated tree (parameters or optimizer state).
      old: the tree before the update, same structure.
      frozen: parameter-path components -> traced bools, e.g. `{"prototypes": step < 313}`.
    """

    def pick(path, a, b):
        names = {getattr(k, "key", getattr(k, "name", None)) for k in path}
        for key, flag in frozen.items():
            if key in names:
                return jnp.where(flag, b, a)
        return a

    return jax.tree_util.tree_map_with_path(pick, new, old)


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
        given = {"labels": batch["label"]} if method.uses_labels else {}
        (loss, out), grads = jax.value_and_grad(method.loss, has_aux=True)(
            state.params, state, views, rng, **given
        )
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        frozen = method.frozen(state.step)
        if frozen:  # as a parameter without gradient in PyTorch: no update, no optimizer state
            params = hold(params, state.params, frozen)
            opt_state = hold(opt_state, state.opt_state, frozen)
        new = state.replace(
            step=state.step + 1,
            params=params,
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


@dataclasses.dataclass
class Run:
    """A pretraining run's pieces, built from a resolved config by `build`.

    Attributes:
      method: the method (model, target, loss).
      specs: its views' augmentation specs.
      schedule: the learning-rate schedule.
      tx: the online optimizer.
      state: the initial `TrainState`, replicated over the mesh.
      step: the jitted SPMD train step `(state, global batch) -> (state, metrics)`.
      mesh: the device mesh.
    """

    method: Method
    specs: tuple[Any, ...]
    schedule: optax.Schedule
    tx: optax.GradientTransformation
    state: TrainState
    step: Callable[..., Any]
    mesh: Mesh


def build(config: ml_collections.ConfigDict, mesh: Mesh, *, num_classes: int,
          image_shape: tuple[int, int, int], steps_per_epoch: int,
          specs: tuple[Any, ...] | None = None) -> Run:
    """Method, views, schedule, optimizer, initial state and step of a pretraining run.

    Args:
      config: a config resolved by `ssljax.config_schema.resolve`.
      mesh: the device mesh.
      num_classes: classes of the online probe.
      image_shape: (H, W, C) of the dataset's images (the views' default size is H).
      steps_per_epoch: optimizer steps per epoch; the schedules run over
        `num_epochs × steps_per_epoch` steps.
      specs: views to use instead of the method's own (tests use fixed views).
    """
    method = methods.get_method(config, num_classes)
    for line in method.device_warnings(mesh.devices.size):
        parallel.log_main("warning: %s", line)
    specs = method.views(image_shape[0]) if specs is None else tuple(specs)
    planned = max(1, int(round(config.num_epochs * steps_per_epoch)))
    method.bind_schedule(planned, steps_per_epoch)
    schedule = training.learning_rate(config.optimizer, config.batch_size, steps_per_epoch,
                                      planned)
    tx = training.optimizer(config.optimizer, schedule, schedule_steps=planned,
                            batch_size=config.batch_size,
                            late_start=method.late_start())
    tx = training.with_own_optimizers(tx, method.own_optimizers())
    view_shape = (specs[0].out_size, specs[0].out_size, image_shape[2])
    try:
        state = create_state(method, config, mesh, view_shape, tx)
    except (ValueError, TypeError) as e:  # the model cannot take these inputs (e.g. patch size)
        raise ConfigError(f"model: {' '.join(str(e).split())[:300]}") from None
    step = make_train_step(method, tx, mesh, specs, config, schedule)
    return Run(method, specs, schedule, tx, state, step, mesh)
