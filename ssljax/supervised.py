"""Labelled training on a pretrained encoder: what `linear_eval` and `finetune` share.

`setup(config, workdir, program)` runs the checks every evaluation program needs before it
writes anything — the config against the schema, the workdir, the checkpoint in
`init_from` against the config's `encoder` block, the dataset and its classes — and
restores the encoder (`Setup`). `fit(setup, workdir)` then trains a classifier on it,
frozen (`linear_eval --protocol=paper`, `finetune --config.freeze_encoder=True`) or not
(`finetune`), on all labels or a class-balanced fraction, and scores it on the held-out
split. `start_outputs` / `finish` write the workdir's files the same way for both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ssljax import checkpoint, config_schema, data, encoder_io, parallel, training, workdir
from ssljax.augment import ViewSpec
from ssljax.errors import CheckpointError, ConfigError, DataError, as_os_error, os_error_message
from ssljax.evaluate import classifier, features
from ssljax.evaluate.plots import save_run_plots
from ssljax.metric_writer import MetricWriter

LABEL_SUBSET_FILE = "label_subset.json"
MODEL_DIR = "model"  # the fine-tuned encoder + head, saved at the end


@dataclasses.dataclass
class Setup:
    """An evaluation run, checked and ready: its config, data, mesh and encoder."""

    config: ml_collections.ConfigDict
    program: str
    source: encoder_io.EncoderSource
    dataset: dict[str, Any]
    num_classes: int
    mesh: Any
    encoder: nn.Module
    encoder_vars: dict[str, Any]
    input_shape: tuple[int, int, int]
    t_start: float

    @property
    def feature_dim(self) -> int:
        """Size D of the encoder's features."""
        x = jnp.zeros((2, *self.input_shape))
        return jax.eval_shape(lambda v: self.encoder.apply(v, x, train=False),
                              self.encoder_vars).shape[-1]


def dataset_block(config: ml_collections.ConfigDict,
                  source: encoder_io.EncoderSource) -> dict[str, Any]:
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
    for what, value in (("num_classes", config.num_classes),
                        ("dataset.num_classes", dataset.get("num_classes", 0))):
        if value and actual and int(value) != actual:
            raise DataError(
                f"{what}={value} but dataset '{dataset['name']}' has {actual} classes; set "
                f"--config.{what}=0 (take it from the data) or pick the right dataset")
    n = int(config.num_classes or dataset.get("num_classes", 0) or actual)
    if n < 2:
        raise DataError(
            f"dataset '{dataset['name']}' has {n} class(es) as far as ssljax can tell; a "
            "classifier needs at least 2 (set --config.num_classes if the data does not say)")
    return n


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
            "exists; check dataset.num_classes / num_classes")
    per_class = max(1, int(round(fraction * len(labels) / num_classes)))
    per_class = min(per_class, min(len(m) for m in members))
    chosen = [m[np.random.default_rng([seed, c]).permutation(len(m))[:per_class]]
              for c, m in enumerate(members)]
    return np.sort(np.concatenate(chosen))


def setup(config: Any, workdir_path: str, program: str, *, allow_scratch: bool,
          bn_axis: str | None = None) -> Setup:
    """Every check of an evaluation run, then the encoder restored; nothing is written.

    Args:
      config: the loaded config.
      workdir_path: the --workdir.
      program: "linear_eval" or "finetune".
      allow_scratch: `init_from=""` trains from a random initialisation.
      bn_axis: the encoder's BatchNorm axis when it is trained ("data": global BN).
    """
    t_start = time.time()
    config, _ = config_schema.resolve(config, program)
    # init_from first: "not a pretraining run" says more than "--workdir is inside it"
    source = encoder_io.resolve_encoder(config, allow_scratch=allow_scratch)
    if config.get("random_init", False):
        if source.enc_dir is None or config.get("projector_layers", 0):
            raise ConfigError("random_init=True initialises init_from's network afresh: set "
                              "--config.init_from=<pretrain workdir> and projector_layers=0")
        source = dataclasses.replace(source, enc_dir=None)
    workdir.check(workdir_path, program=program, config=config.to_dict(),
                  init_from=config.init_from)
    dataset = dataset_block(config, source)
    num_classes = check_num_classes(config, dataset)
    shape = data.dataset_info(dataset).image_shape
    view = dataclasses.replace(source.view, out_size=source.view.out_size or shape[0],
                               channels=source.view.channels or shape[2])
    source = dataclasses.replace(source, view=view)
    mesh = parallel.make_mesh()
    encoder = encoder_io.build_encoder(source.encoder_cfg, bn_axis)
    input_shape = (view.out_size, view.out_size, view.channels)
    layers = int(config.get("projector_layers", 0))
    # SimCLR v2: fine-tune from the projector's first layer(s), checked before restoring.
    trunk = encoder_io.projector_trunk(encoder, source, layers, bn_axis) if layers else None
    enc_vars = encoder_io.encoder_variables(encoder, source, input_shape, mesh, config.seed)
    if trunk is not None:
        encoder = trunk
        enc_vars = encoder_io.trunk_variables(trunk, enc_vars, source, input_shape, mesh)
    main = parallel.is_main_process()
    if main:
        workdir.probe(workdir_path, checkpoints=False)
    workdir.claim(workdir_path, program=program, main_process=main)
    return Setup(config, program, source, dataset, num_classes, mesh, encoder, enc_vars,
                 input_shape, t_start)


def _training_set(s: Setup) -> tuple[Any, int, dict[str, Any]]:
    """(train data for the iterator, number of labelled examples, subset record)."""
    c, dataset = s.config, s.dataset
    split = dataset.get("train_split", "train")
    if c.label_fraction >= 1.0:
        n = data.dataset_info(dataset).num_train_examples
        return dataset, n, {"dataset": dataset["name"], "label_fraction": 1.0,
                            "num_labels": int(n), "indices": None}
    images, labels = data.load_split(dataset, split)
    idx = balanced_subset(labels, c.label_fraction, s.num_classes, c.seed)
    subset = data.from_arrays(images[idx], labels[idx], num_classes=s.num_classes,
                              name=f"{dataset['name']} ({len(idx)} labels)")
    record = {"dataset": dataset["name"], "split": split, "label_fraction": c.label_fraction,
              "seed": int(c.seed), "num_labels": int(len(idx)),
              "per_class": int(len(idx) // s.num_classes), "indices": idx.tolist()}
    return subset, len(idx), record


def train_view(config: ml_collections.ConfigDict, s: Setup) -> ViewSpec:
    """Training augmentation from `config.augment`: random resized crop (+ flip)."""
    a, v = config.augment, s.source.view
    try:
        return ViewSpec(out_size=v.out_size, crop_scale=tuple(a.crop_scale),
                        crop_ratio=tuple(a.crop_ratio), flip_p=0.5 if a.flip else 0.0,
                        mean=v.mean, std=v.std)
    except ValueError as e:
        raise ConfigError(f"augment: {e}") from None


def start_outputs(s: Setup, workdir_path: str) -> MetricWriter:
    """Creates the workdir (process 0), writes its `config.json` and a `results.json` with
    status "running", opens the metric writer."""
    wd = Path(workdir_path)
    if parallel.is_main_process():
        wd.mkdir(parents=True, exist_ok=True)
        (wd / "metrics.jsonl").unlink(missing_ok=True)
        checkpoint.write_json_atomic(wd / checkpoint.CONFIG_FILE, s.config.to_dict())
        checkpoint.write_json_atomic(wd / "results.json",
                                     {"program": s.program, "status": "running"})
    return MetricWriter(workdir_path, tensorboard=s.config.tensorboard)


@contextlib.contextmanager
def attempt(s: Setup, workdir_path: str) -> Iterator[None]:
    """Runs an evaluation program's work; if it ends early after `start_outputs`, its
    `results.json` says "failed" (with the error) or "interrupted", and a file-system error
    becomes one line. These programs keep no checkpoints: a rerun starts again."""
    path = Path(workdir_path) / "results.json"
    try:
        yield
    except (Exception, KeyboardInterrupt) as e:
        os_error = as_os_error(e) if isinstance(e, Exception) else None
        error = e if os_error is None else CheckpointError(
            os_error_message(os_error, "a write in --workdir failed"))
        if parallel.is_main_process():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                started = json.loads(path.read_text()).get("status") == "running"
                if started:
                    interrupted = isinstance(e, KeyboardInterrupt)
                    checkpoint.write_json_atomic(path, {
                        "program": s.program,
                        "status": "interrupted" if interrupted else "failed",
                        **({} if interrupted else {"error": " ".join(str(error).split())})})
        if os_error is None:
            raise
        raise error from None


def finish(s: Setup, workdir_path: str, results: dict[str, Any], rows: list[dict[str, Any]],
           test: dict[str, np.ndarray], writer: MetricWriter) -> dict[str, Any]:
    """Adds the common keys to `results`, writes plots and `results.json`; returns results."""
    writer.close()
    results.update({
        "num_classes": s.num_classes, "num_test": int(len(test["labels"])),
        "dataset": s.dataset["name"], "encoder": s.source.encoder_cfg["name"],
        "method": s.source.spec.get("method"), "pretrain_step": s.source.spec.get("step"),
        "init_from": str(s.config.init_from), "seconds": round(time.time() - s.t_start, 1),
        "random_init": bool(s.config.get("random_init", False)),
        "projector_layers": int(s.config.get("projector_layers", 0)),
        "feature_layer": int(s.source.encoder_cfg.get("feature_layer", 0)),
        "feature_dim": int(s.feature_dim),
        **parallel.process_summary(s.mesh),
    })
    if parallel.is_main_process():
        if s.config.plots:
            methods = ("pca", "tsne") if s.config.embedding_plot == "both" else (
                s.config.embedding_plot,)
            save_run_plots(workdir_path, rows, test["features"], test["labels"], methods=methods,
                           what=f"{s.program} of {s.source.spec.get('method') or 'scratch'} "
                                f"{s.source.encoder_cfg['name']} on {s.dataset['name']}, "
                                f"{s.dataset.get('eval_split', 'test')} split")
        checkpoint.write_json_atomic(Path(workdir_path) / "results.json", results)
    return results


def _export_finetuned(s: Setup, workdir_path: str, state: Any, step: int) -> None:
    """The fine-tuned encoder as `encoder/` + `encoder_spec.json`, as a pretraining run
    exports its own: `ssljax.load_encoder(workdir)` and `linear_eval` read it."""
    spec = {k: v for k, v in s.source.spec.items() if k != "projector"}
    spec.update({"method": spec.get("method") or "scratch", "network": "finetuned",
                 "step": step, "encoder": dict(s.source.encoder_cfg),
                 "input_shape": list(s.input_shape), "eval_view": s.source.view.to_json(),
                 "dataset": s.dataset, "finetuned_from": str(s.config.init_from)})
    encoder_io.export_encoder(workdir_path, state["params"]["encoder"],
                              state["batch_stats"]["encoder"], spec)


def fit(s: Setup, workdir_path: str, *, frozen: bool, save_model: bool = False,
        extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    """Trains encoder + `LinearHead` on the labelled data, scores the held-out split, writes
    the workdir's outputs (and, with `save_model`, the trained network in `model/`);
    `extra` entries are added to the results.

    Returns:
      (the results dict, also in `results.json`; the final classifier state).
    """
    c = s.config
    train_data, num_labels, record = _training_set(s)
    unit = s.mesh.devices.size * jax.process_count()
    batch_size = min(c.batch_size, num_labels // unit * unit)
    if batch_size < unit:
        raise DataError(f"only {num_labels} labelled examples for {unit} devices; raise "
                        "label_fraction")
    parallel.check_batch_divisible(batch_size, s.mesh)
    spe = num_labels // batch_size
    planned = training.total_steps(c.num_epochs, spe, num_steps=c.num_steps)
    n_steps = training.total_steps(c.num_epochs, spe, c.max_steps, c.num_steps)
    schedule = training.learning_rate(c.optimizer, batch_size, spe, planned)
    tx = training.optimizer(c.optimizer, schedule, schedule_steps=planned,
                            batch_size=batch_size)
    head = classifier.LinearHead(s.num_classes, batch_norm=c.head_bn)
    state = classifier.init_state(s.encoder_vars, head, s.feature_dim, tx, s.mesh,
                                  train_encoder=not frozen, seed=c.seed)
    step_fn = classifier.make_train_step(s.encoder, head, tx, schedule, train_view(c, s),
                                         s.source.view.channels, s.mesh,
                                         train_encoder=not frozen, seed=c.seed,
                                         label_smoothing=c.get("label_smoothing", 0.0))
    writer = start_outputs(s, workdir_path)
    if parallel.is_main_process():
        checkpoint.write_json_atomic(Path(workdir_path) / LABEL_SUBSET_FILE, record)
    parallel.log_main(
        "%s (%s init, %s) of %s on %s: %d labels, %d steps at batch %d, %d device(s)",
        s.program, s.source.init, "frozen encoder" if frozen else "full",
        s.source.encoder_cfg["name"], s.dataset["name"], num_labels, n_steps, batch_size,
        s.mesh.devices.size,
    )
    it = data.make_train_iterator(train_data, global_batch_size=batch_size, seed=c.seed)
    state, rows = classifier.train(step_fn, state, it, s.mesh, n_steps, writer,
                                   log_every=c.log_every_steps, desc=s.program)
    forward = features.make_forward(s.encoder, s.source.view, head)
    variables = {name: {"params": state["params"][name],
                        "batch_stats": state["batch_stats"][name]} for name in ("encoder", "head")}
    test = features.split_outputs(forward, variables, s.dataset,
                                  s.dataset.get("eval_split", "test"), s.mesh,
                                  batch_size=c.eval_batch_size)
    acc = classifier.accuracy(test["outputs"], test["labels"])
    writer.write(n_steps, {"test_top1": acc["top1"], "test_top5": acc["top5"]})
    rows.append({"step": n_steps, "test_top1": acc["top1"]})
    results = {"program": s.program, "top1": acc["top1"], "top5": acc["top5"],
               "label_fraction": float(c.label_fraction), "num_labels": int(num_labels),
               "init": s.source.init, "freeze_encoder": frozen, "steps": int(n_steps),
               "epochs": n_steps / spe, "batch_size": int(batch_size), **(extra or {})}
    if save_model:
        # The trained network (encoder + head), restorable with
        # orbax.checkpoint.StandardCheckpointer().restore(workdir/model).
        model_dir = Path(workdir_path).absolute() / MODEL_DIR
        checkpoint.save_variables(model_dir, {"params": state["params"],
                                              "batch_stats": state["batch_stats"]})
        results["model_dir"] = str(model_dir)
        if not int(c.get("projector_layers", 0)):
            _export_finetuned(s, workdir_path, state, int(n_steps))
    return finish(s, workdir_path, results, rows, test, writer), state
