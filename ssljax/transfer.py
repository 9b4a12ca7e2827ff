"""What `linear_eval` and `finetune` share: the pretrained encoder and a classifier on it.

- `resolve_encoder` reads `config.init_from` (a pretraining workdir or its `encoder/`)
  and its `encoder_spec.json` and checks the config's `encoder` block against it
  (`init_from=""`: a random init, the from-scratch baseline); `encoder_variables`
  restores `{"params", "batch_stats"}` (or initialises them), replicated over the mesh.
- `balanced_subset` picks the same number of labelled examples from every class.
- `make_train_step` + `train` fit encoder + `LinearHead` with the encoder frozen
  (inference-mode BN, no gradient: the "paper" linear protocol, feature extraction) or
  fine-tuned (BN statistics updated), crop (+ flip) done on device and keyed like
  pretraining by (seed, step, global row); `make_forward` + `run_split` give the
  features and logits of a whole split without augmentation (the checkpoint's eval view).

Reference: Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020, Appendix B.5-B.6 (linear evaluation and fine-tuning
protocols); He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022
(BatchNorm without affine parameters before the linear classifier).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax import lax
from jax.sharding import PartitionSpec as P

from ssljax import augment, checkpoint, data, models, parallel
from ssljax.errors import CheckpointError, ConfigError, DataError, SSLJaxError
from ssljax.evaluate.linear import topk_accuracy
from ssljax.metric_writer import progress_bar
from ssljax.parallel import DATA_AXIS

_log = logging.getLogger("ssljax.transfer")
LABEL_SUBSET_FILE = "label_subset.json"
# Weights of the ITU-R 601 luma, used to feed colour images to a grayscale encoder.
_LUMA = (0.299, 0.587, 0.114)
_BN_MOMENTUM = 0.9


class NumericalError(SSLJaxError):
    """The classifier's loss stopped being finite."""


# ----------------------------------------------------------------------------- inputs


def check_workdir(workdir: str, init_from: str) -> None:
    """Raises `CheckpointError` if `workdir` is a file or the pretraining workdir itself."""
    wd = Path(workdir)
    if wd.exists() and not wd.is_dir():
        raise CheckpointError(f"--workdir={wd} is a file, not a directory; pick another path")
    if init_from:
        src = Path(init_from).absolute()
        src = src.parent if src.name == checkpoint.ENCODER_DIR else src
        if wd.absolute() == src:
            raise ConfigError(
                f"--workdir={wd} is the pretraining workdir given as init_from; pick a separate "
                "--workdir for the evaluation results"
            )


@dataclasses.dataclass(frozen=True)
class EncoderSource:
    """Where the encoder comes from and how to feed it.

    Attributes:
      encoder_cfg: the encoder config block (`name`, `dtype`, the encoder's own kwargs).
      enc_dir: the exported encoder folder, or None for a random init ("scratch").
      spec: the pretraining run's `encoder_spec.json` ({} for scratch).
      image_size: side of the encoder's input images.
      channels: channels of the encoder's input images (None: take the dataset's).
      mean: per-channel normalisation mean (None: inputs stay in [0, 1]).
      std: per-channel normalisation std.
    """

    encoder_cfg: dict[str, Any]
    enc_dir: Path | None
    spec: dict[str, Any]
    image_size: int
    channels: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    @property
    def init(self) -> str:
        """"ssl" (restored from a pretraining run) or "scratch"."""
        return "scratch" if self.enc_dir is None else "ssl"


def resolve_encoder(config: ml_collections.ConfigDict, *, allow_scratch: bool) -> EncoderSource:
    """Reads `config.init_from` and checks `config.encoder` against the checkpoint.

    Every non-empty key of `config.encoder` except `dtype` (e.g. `encoder.name`) must
    equal the pretraining run's value; empty values mean "the checkpoint's".

    Raises:
      CheckpointError: `init_from` is missing, not a pretraining workdir, or its encoder
        differs from the one the config asks for.
      ConfigError: `init_from=""` where a checkpoint is required, or no encoder name.
    """
    own = {k: v for k, v in config.encoder.to_dict().items() if v not in ("", None)}
    size = int(config.get("image_size", 0) or 0)
    if not config.init_from:
        if not allow_scratch:
            raise ConfigError("init_from is empty; pass --config.init_from=<pretrain workdir>")
        if "name" not in own:
            raise ConfigError(
                "init_from is empty (training from scratch) but encoder.name is not set; pass "
                "--config.encoder.name=small_cnn (or resnet18, ...)"
            )
        return EncoderSource(own, None, {}, size, None, None, None)
    enc_dir, spec = checkpoint.load_encoder_spec(config.init_from)
    saved = dict(spec.get("encoder") or {})
    if "name" not in saved:
        raise CheckpointError(
            f"{config.init_from}: {checkpoint.ENCODER_SPEC} names no encoder; re-export it "
            "with a current `ssljax.pretrain`"
        )
    for key, value in own.items():
        same = json.loads(json.dumps(saved.get(key))) == json.loads(json.dumps(value))
        if key != "dtype" and not same:
            raise CheckpointError(
                f"init_from={config.init_from} holds a {saved['name']!r} encoder with "
                f"{key}={saved.get(key)!r}, but this config sets encoder.{key}={value!r}; "
                f"set --config.encoder.{key}= (empty: use the checkpoint's) or pick a "
                "matching checkpoint"
            )
    enc_cfg = {**saved, "dtype": own.get("dtype", saved.get("dtype", "float32"))}
    view = spec.get("eval_view") or {}
    shape = spec.get("input_shape") or [0, 0, 0]
    mean, std = view.get("mean"), view.get("std")
    as_tuple = lambda v: None if v is None else tuple(np.atleast_1d(v).tolist())  # noqa: E731
    return EncoderSource(enc_cfg, enc_dir, spec, size or int(view.get("out_size") or shape[0]),
                         int(shape[2]) if len(shape) == 3 else None, as_tuple(mean),
                         as_tuple(std))


def dataset_block(config: ml_collections.ConfigDict, source: EncoderSource) -> dict[str, Any]:
    """The `dataset` block to use: the config's, or the pretraining run's when name is ""."""
    ds = config.dataset.to_dict()
    if not ds.get("name"):
        if not source.spec.get("dataset"):
            raise ConfigError("dataset.name is empty; set e.g. --config.dataset.name=mnist")
        ds = {**source.spec["dataset"], **{k: v for k, v in ds.items() if v not in ("", 0)}}
        ds["name"] = source.spec["dataset"]["name"]
    return ds


def check_num_classes(config: ml_collections.ConfigDict, dataset: dict[str, Any]) -> int:
    """The head's number of classes; raises `DataError` if config and dataset disagree."""
    actual = data.dataset_info({**dataset, "num_classes": 0}).num_classes
    for what, value in (("num_classes", config.get("num_classes", 0)),
                        ("dataset.num_classes", dataset.get("num_classes", 0))):
        if value and actual and int(value) != actual:
            raise DataError(
                f"{what}={value} but dataset '{dataset['name']}' has {actual} classes; set "
                f"--config.{what}=0 (take it from the data) or pick the right dataset"
            )
    n = int(config.get("num_classes", 0) or dataset.get("num_classes", 0) or actual)
    if n < 2:
        raise DataError(
            f"dataset '{dataset['name']}' has {n} class(es) as far as ssljax can tell; a "
            "classifier needs at least 2 (set --config.num_classes if the data does not say)"
        )
    return n


def check_label_fraction(fraction: Any) -> float:
    """`fraction` as a float in (0, 1], else a `ConfigError`."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"label_fraction={fraction!r} must lie in (0, 1], e.g. 0.01, 0.1 or 1.0")
    return value


def balanced_subset(labels: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """Indices of a class-balanced labelled subset, the same count from every class.

    Each class contributes `max(1, round(fraction * N / num_classes))` examples (at most
    the size of the smallest class): the first ones of a permutation of the class's
    indices seeded with `[seed, class]`, so for one seed the 1% subset lies inside the
    10% subset.

    Args:
      labels: int labels [N] of the training split.
      fraction: share of the training split to keep, in (0, 1].
      num_classes: number of classes C.
      seed: the subset's seed.

    Returns:
      Sorted int64 indices into `labels`.

    Raises:
      DataError: a class has no training example.
    """
    labels = np.asarray(labels)
    members = [np.flatnonzero(labels == c) for c in range(num_classes)]
    empty = [c for c, m in enumerate(members) if len(m) == 0]
    if empty:
        raise DataError(
            f"class(es) {empty[:5]} have no training examples, so no class-balanced subset "
            "exists; check dataset.num_classes / num_classes"
        )
    per_class = max(1, int(round(fraction * len(labels) / num_classes)))
    per_class = min(per_class, min(len(m) for m in members))
    chosen = [m[np.random.default_rng([seed, c]).permutation(len(m))[:per_class]]
              for c, m in enumerate(members)]
    return np.sort(np.concatenate(chosen))


# ----------------------------------------------------------------------------- encoder


def build_encoder(encoder_cfg: dict[str, Any], axis_name: str | None) -> nn.Module:
    """The encoder module of a config block; bad names/kwargs become a `ConfigError`."""
    kwargs = {k: v for k, v in encoder_cfg.items() if k not in ("name", "dtype")}
    dtype = encoder_cfg.get("dtype", "float32")
    if dtype not in ("float32", "bfloat16"):
        raise ConfigError(f"encoder.dtype={dtype!r} must be 'float32' or 'bfloat16'")
    try:
        return models.get_encoder(
            encoder_cfg["name"], dtype=jnp.bfloat16 if dtype == "bfloat16" else jnp.float32,
            bn_axis_name=axis_name, **kwargs,
        )
    except (ValueError, TypeError) as e:
        raise ConfigError(f"encoder: {e}") from None


def encoder_variables(encoder: nn.Module, source: EncoderSource, input_shape: tuple[int, ...],
                      mesh: Any, seed: int) -> dict[str, Any]:
    """`{"params", "batch_stats"}` of the encoder, restored (or initialised), replicated.

    Raises:
      CheckpointError: the saved encoder does not fit the encoder built from the spec.
    """
    rep = parallel.replicated(mesh)

    def init():
        v = encoder.init(jax.random.PRNGKey(seed), jnp.zeros((2, *input_shape)), train=False)
        return {"params": v["params"], "batch_stats": v.get("batch_stats", {})}

    if source.enc_dir is None:
        return jax.jit(init, out_shardings=rep)()
    abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=rep),
                            jax.eval_shape(init))
    restored = checkpoint.restore_encoder(source.enc_dir, abstract)
    want = jax.tree.map(lambda s: (s.shape, str(s.dtype)), abstract)
    got = jax.tree.map(lambda a: (a.shape, str(a.dtype)), restored)
    if want != got:
        raise CheckpointError(
            f"the encoder in {source.enc_dir} does not match the {source.encoder_cfg['name']!r} "
            f"encoder of its {checkpoint.ENCODER_SPEC} (parameter shapes differ); re-export it"
        )
    return restored


# ----------------------------------------------------------------------------- images


def match_channels(x: jax.Array, channels: int | None) -> jax.Array:
    """Float images [N, H, W, c] with `channels` channels (luma for 3 → 1, repeat for 1 → 3)."""
    if channels is None or x.shape[-1] == channels:
        return x
    if channels == 1 and x.shape[-1] == 3:
        return jnp.tensordot(x, jnp.asarray(_LUMA, x.dtype), axes=([-1], [0]))[..., None]
    if channels == 3 and x.shape[-1] == 1:
        return jnp.repeat(x, 3, axis=-1)
    raise DataError(f"images have {x.shape[-1]} channels; the encoder takes {channels}")


def eval_inputs(images: jax.Array, source: EncoderSource) -> jax.Array:
    """Un-augmented encoder input from uint8 images: [0, 1], channels, resize, normalise."""
    x = match_channels(images.astype(jnp.float32) / 255.0, source.channels)
    size = source.image_size
    if x.shape[1:3] != (size, size):
        x = jax.image.resize(x, (x.shape[0], size, size, x.shape[3]), method="bilinear")
    if source.mean is not None:
        x = augment.normalize(x, source.mean, source.std)
    return x


def train_view(config: ml_collections.ConfigDict, source: EncoderSource) -> augment.ViewSpec:
    """Training augmentation from `config.augment`: random resized crop (+ flip)."""
    a = config.augment
    try:
        return augment.ViewSpec(
            out_size=source.image_size, crop_scale=tuple(a.crop_scale),
            crop_ratio=tuple(a.crop_ratio), flip_p=0.5 if a.flip else 0.0,
            mean=source.mean, std=source.std,
        )
    except ValueError as e:
        raise ConfigError(f"augment: {e}") from None


# ----------------------------------------------------------------------------- classifier


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
                    schedule: optax.Schedule, view: augment.ViewSpec, source: EncoderSource,
                    mesh: Any, *, train_encoder: bool, seed: int) -> Callable[..., Any]:
    """The jitted SPMD step `(state, global batch) -> (state, metrics)` (global scalars).

    Frozen encoder (`train_encoder=False`): inference-mode BN and no gradient through
    it, so its parameters and statistics never change; otherwise its BN statistics are
    updated (per device with local BN, then averaged across devices).
    """
    root = jax.random.PRNGKey(seed)
    aug_root, drop_root = jax.random.fold_in(root, 1), jax.random.fold_in(root, 2)

    def step(state, batch):
        n = batch["image"].shape[0]
        keys = augment.example_keys(aug_root, state["step"], 0, parallel.local_row_indices(n))
        x = match_channels(batch["image"].astype(jnp.float32) / 255.0, source.channels)
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
    for step in range(1, num_steps + 1):
        state, metrics = step_fn(state, data.make_global_batch(next(iterator), mesh))
        if bar is not None:
            bar.update(1)
        if step % max(1, log_every) == 0 or step == num_steps:
            host = {k: float(v) for k, v in jax.device_get(metrics).items()}
            if not np.isfinite(host["loss"]):
                raise NumericalError(f"the classifier's loss became {host['loss']} at step "
                                     f"{step}; lower --config.optimizer.base_lr")
            writer.write(step, host)
            rows.append({"step": step, **host})
            if bar is not None:
                bar.set_postfix(loss=f"{host['loss']:.4f}", top1=f"{host['train_top1']:.3f}")
    if bar is not None:
        bar.close()
    return state, rows


# ----------------------------------------------------------------------------- evaluation


def make_forward(encoder: nn.Module, head: nn.Module | None,
                 source: EncoderSource) -> Callable[..., Any]:
    """Jitted `(params, batch_stats, uint8 images) -> (features, logits or features)`."""

    def forward(params, batch_stats, images):
        x = eval_inputs(images, source)
        h = encoder.apply(_vars(params["encoder"], batch_stats["encoder"]), x, train=False)
        if head is None:
            return h, h
        return h, head.apply(_vars(params["head"], batch_stats["head"]), h, train=False)

    return jax.jit(forward)


def _host(x: jax.Array) -> np.ndarray:
    if jax.process_count() == 1:
        return np.asarray(x)
    from jax.experimental import multihost_utils  # noqa: PLC0415

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def run_split(forward: Callable[..., Any], params: Any, batch_stats: Any, dataset: Any,
              split: str, mesh: Any, batch_size: int) -> dict[str, np.ndarray]:
    """`features`, `outputs` (logits) and `labels` of every example of a split, in order."""
    unit = mesh.devices.size * jax.process_count()
    bs = max(unit, batch_size // unit * unit)
    feats, outs, labels = [], [], []
    for batch in data.make_eval_iterator(dataset, split, bs):
        g = data.make_global_batch({k: batch[k] for k in ("image", "label", "mask")}, mesh)
        h, o = forward(params, batch_stats, g["image"])
        keep = _host(g["mask"]).astype(bool)
        feats.append(_host(h)[keep])
        outs.append(_host(o)[keep])
        labels.append(_host(g["label"])[keep])
    if not feats:
        raise DataError(f"split '{split}' of dataset '{dataset['name']}' is empty")
    return {"features": np.concatenate(feats), "outputs": np.concatenate(outs),
            "labels": np.concatenate(labels).astype(np.int32)}


def accuracy(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1 and top-5 accuracy (top-5 is 1.0 with at most 5 classes)."""
    return {"top1": float(topk_accuracy(logits, labels, 1)),
            "top5": float(topk_accuracy(logits, labels, 5))}


# ----------------------------------------------------------------------------- outputs


def save_plots(workdir: str, rows: list[dict[str, Any]], features: np.ndarray,
               labels: np.ndarray, method: str = "pca") -> None:
    """`training_curves.png` and `embedding_<method>.png` of the test features."""
    from ssljax.evaluate import plots  # noqa: PLC0415 - matplotlib is slow to import

    wd = Path(workdir)
    try:
        if rows:
            plots.plot_training_curves(rows, wd / "training_curves.png")
        plots.plot_embedding_2d(features, labels, wd / f"embedding_{method}.png", method=method,
                                title=f"{method.upper()} of test features")
    except Exception as e:  # noqa: BLE001 - a plot must never fail a finished run
        _log.warning("could not write plots: %s", e)
