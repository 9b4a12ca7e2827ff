"""The transfer / fine-tuning program: a new linear head on the pretrained encoder.

    python -m ssljax.finetune --config=configs/finetune_mnist.py \\
        --config.init_from=runs/demo --config.label_fraction=0.1 --workdir=runs/demo_ft10

- `init_from`: a pretraining workdir (or its `encoder/`); `""` trains the same network
  from a random initialisation (the baseline; `encoder.name` must then be set).
- `label_fraction` in (0, 1]: below 1, a class-balanced subset of the training split
  (the same number of examples from every class, seeded by `seed`) is used, and its
  indices are written to `<workdir>/label_subset.json`. For ImageNet use the standard
  1%/10% subsets of TFDS (`imagenet2012_subset/1pct`, `/10pct`) with fraction 1.0.
- `freeze_encoder=True`: feature extraction (the encoder is frozen, BN in inference
  mode, only the head learns); False: fine-tune everything, the encoder's BatchNorm
  statistics updated (`bn="local"`: per-device batch statistics; `"global"`: across
  devices).
- Crop (+ flip) augmentation on device, SGD with (Nesterov) momentum or AdamW, cosine
  learning rate; the run length is `num_epochs` over the labelled examples, or
  `num_steps` when positive.
- Works with TFDS datasets, image folders (`dataset.name=image_folder`) and the bundled
  digits; images whose channel count differs from the pretrained encoder's are converted
  (luma for colour → grayscale, repeated for grayscale → colour).

Ends with top-1/top-5 on the held-out split in `results.json` and as the last line of
stdout, plus `metrics.jsonl`, TensorBoard summaries, training curves and an embedding plot.

Reference: Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020, Appendix B.5 (fine-tuning on 1%/10% of ImageNet labels:
Nesterov SGD, lr 0.05·batch/256, no weight decay, crop + flip, 60/30 epochs).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from ssljax import checkpoint, cli, data, engine, optim, parallel, transfer
from ssljax.errors import ConfigError, DataError
from ssljax.methods.base import bn_axis
from ssljax.metric_writer import MetricWriter

MODEL_DIR = "model"  # the fine-tuned encoder + head, saved at the end


def base_config() -> ml_collections.ConfigDict:
    """Every fine-tuning key with its default.

    Keys: `init_from` ("" = from scratch), `seed`, `label_fraction`, `freeze_encoder`,
    `num_classes` (0 = from the data), `image_size` (0 = the checkpoint's view size, or
    the dataset's for scratch), `encoder` (empty = the checkpoint's; set values must
    match it; `name` is needed from scratch), `bn`, `dataset`, `batch_size`,
    `num_epochs`, `num_steps` (> 0 overrides num_epochs), `max_steps`, `optimizer`,
    `augment`, `head_bn`, `eval_batch_size`, `log_every_steps`, `tensorboard`, `plots`,
    `embedding_plot`.
    """
    c = ml_collections.ConfigDict()
    c.init_from = ""
    c.seed = 0
    c.label_fraction = 1.0
    c.freeze_encoder = False
    c.num_classes = 0
    c.image_size = 0
    c.encoder = ml_collections.ConfigDict({"name": "", "dtype": ""})
    c.bn = "local"  # local | global: BatchNorm statistics of the fine-tuned encoder
    c.dataset = ml_collections.ConfigDict({
        "name": "", "data_dir": "", "image_size": 0, "train_split": "train",
        "eval_split": "test", "num_classes": 0, "download": False, "skip_corrupt": False,
    })
    c.batch_size = 256
    c.num_epochs = 30
    c.num_steps = 0  # > 0: train this many steps whatever the number of labels
    c.max_steps = -1  # cap on steps; <= 0 means none
    c.optimizer = ml_collections.ConfigDict({
        "name": "sgd", "base_lr": 0.05, "lr_scaling": "linear", "warmup_epochs": 0,
        "momentum": 0.9, "nesterov": True, "weight_decay": 0.0,
    })
    c.augment = ml_collections.ConfigDict({
        "crop_scale": (0.08, 1.0), "crop_ratio": (3 / 4, 4 / 3), "flip": True,
    })
    c.head_bn = False
    c.eval_batch_size = 512
    c.log_every_steps = 50
    c.tensorboard = True
    c.plots = True
    c.embedding_plot = "pca"
    return c



def imagenet_subset_config(subset: str, num_epochs: int) -> ml_collections.ConfigDict:
    """SimCLR's semi-supervised ImageNet recipe (Appendix B.5) on a TFDS label subset.

    Args:
      subset: "1pct" or "10pct" (TFDS `imagenet2012_subset/<subset>`, the SimCLR subsets).
      num_epochs: 60 for 1%, 30 for 10% in the paper.
    """
    c = base_config()
    c.dataset.name = f"imagenet2012_subset/{subset}"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.label_fraction = 1.0  # the TFDS subset already holds only the labelled fraction
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.bn = "global"
    c.batch_size = 4096
    c.num_epochs = num_epochs
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.05
    c.optimizer.nesterov = True
    c.optimizer.weight_decay = 0.0
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.flip = True
    c.eval_batch_size = 1024
    return c

def _training_set(config, dataset, num_classes, fraction):
    """(train data for the iterator, number of labelled examples, subset record or None)."""
    split = dataset.get("train_split", "train")
    if fraction >= 1.0:
        return dataset, data.dataset_info(dataset).num_train_examples, None
    images, labels = data.load_split(dataset, split)
    idx = transfer.balanced_subset(labels, fraction, num_classes, config.seed)
    source = data.from_arrays(images[idx], labels[idx], num_classes=num_classes,
                              name=f"{dataset['name']} ({len(idx)} labels)")
    record = {"dataset": dataset["name"], "split": split, "label_fraction": fraction,
              "seed": int(config.seed), "num_labels": int(len(idx)),
              "per_class": int(len(idx) // num_classes), "indices": idx.tolist()}
    return source, len(idx), record


def _schedule(config, batch_size, steps_per_epoch, num_steps):
    o = config.optimizer
    warmup = round(o.get("warmup_epochs", 0) * steps_per_epoch)
    try:
        return optim.warmup_cosine(o.base_lr, batch_size, min(warmup, num_steps), num_steps, 1,
                                   scaling=o.get("lr_scaling", "linear"))
    except ValueError as e:
        raise ConfigError(f"optimizer schedule: {e}") from None


def fit(config: ml_collections.ConfigDict, workdir: str) -> tuple[dict[str, Any], Any]:
    """Fine-tunes and evaluates; returns (results, final classifier state).

    Everything the run needs is checked before anything is written to `workdir`.
    """
    t_start = time.time()
    fraction = transfer.check_label_fraction(config.label_fraction)
    transfer.check_workdir(workdir, config.init_from)
    source = transfer.resolve_encoder(config, allow_scratch=True)
    dataset = transfer.dataset_block(config, source)
    num_classes = transfer.check_num_classes(config, dataset)
    shape = data.dataset_info(dataset).image_shape
    source = dataclasses.replace(source, image_size=source.image_size or shape[0],
                                 channels=source.channels or shape[2])
    mesh = parallel.make_mesh()
    frozen = bool(config.freeze_encoder)
    encoder = transfer.build_encoder(source.encoder_cfg, None if frozen else bn_axis(config))
    input_shape = (source.image_size, source.image_size, source.channels)
    enc_vars = transfer.encoder_variables(encoder, source, input_shape, mesh, config.seed)
    train_data, num_labels, record = _training_set(config, dataset, num_classes, fraction)
    unit = mesh.devices.size * jax.process_count()
    batch_size = min(config.batch_size, num_labels // unit * unit)
    if batch_size < unit:
        raise DataError(f"only {num_labels} labelled examples for {unit} devices; raise "
                        "label_fraction")
    parallel.check_batch_divisible(batch_size, mesh)
    spe = num_labels // batch_size
    n_steps = config.num_steps if config.num_steps > 0 else config.num_epochs * spe
    if config.max_steps > 0:
        n_steps = min(n_steps, config.max_steps)
    if n_steps <= 0:
        raise ConfigError(f"nothing to train: num_epochs={config.num_epochs}, "
                          f"num_steps={config.num_steps}, max_steps={config.max_steps}")
    schedule = _schedule(config, batch_size, spe, n_steps)
    tx = engine.make_optimizer(config, schedule)
    view = transfer.train_view(config, source)
    head = transfer.LinearHead(num_classes, batch_norm=config.head_bn)
    feature_dim = jax.eval_shape(
        lambda v: encoder.apply(v, jnp.zeros((2, *input_shape)), train=False), enc_vars
    ).shape[-1]
    state = transfer.init_state(enc_vars, head, feature_dim, tx, mesh, train_encoder=not frozen,
                                seed=config.seed)
    step_fn = transfer.make_train_step(encoder, head, tx, schedule, view, source, mesh,
                                       train_encoder=not frozen, seed=config.seed)

    wd = Path(workdir)
    if parallel.is_main_process():
        wd.mkdir(parents=True, exist_ok=True)
        (wd / "metrics.jsonl").unlink(missing_ok=True)
        checkpoint.write_json_atomic(wd / checkpoint.CONFIG_FILE, config.to_dict())
        checkpoint.write_json_atomic(
            wd / transfer.LABEL_SUBSET_FILE,
            record or {"dataset": dataset["name"], "label_fraction": 1.0,
                       "num_labels": int(num_labels), "indices": None},
        )
    writer = MetricWriter(workdir, tensorboard=config.get("tensorboard", True))
    summary = parallel.process_summary(mesh)
    parallel.log_main(
        "finetune (%s init, %s) of %s on %s: %d labels, %d steps at batch %d, %d device(s)",
        source.init, "frozen encoder" if frozen else "full", source.encoder_cfg["name"],
        dataset["name"], num_labels, n_steps, batch_size, summary["devices"],
    )
    it = data.make_train_iterator(train_data, global_batch_size=batch_size, seed=config.seed)
    state, rows = transfer.train(step_fn, state, it, mesh, n_steps, writer,
                                 log_every=config.log_every_steps, desc="finetune")
    forward = transfer.make_forward(encoder, head, source)
    test = transfer.run_split(forward, state["params"], state["batch_stats"], dataset,
                              dataset.get("eval_split", "test"), mesh,
                              config.get("eval_batch_size", 512))
    acc = transfer.accuracy(test["outputs"], test["labels"])
    writer.write(n_steps, {"test_top1": acc["top1"], "test_top5": acc["top5"]})
    writer.close()
    rows.append({"step": n_steps, "test_top1": acc["top1"]})
    results: dict[str, Any] = {
        "program": "finetune", "top1": acc["top1"], "top5": acc["top5"],
        "label_fraction": fraction, "num_labels": int(num_labels), "init": source.init,
        "freeze_encoder": frozen, "steps": int(n_steps), "batch_size": int(batch_size),
        "num_classes": num_classes, "num_test": int(len(test["labels"])),
        "dataset": dataset["name"], "encoder": source.encoder_cfg["name"],
        "method": source.spec.get("method"), "init_from": str(config.init_from),
        "seconds": round(time.time() - t_start, 1), **summary,
    }
    # The fine-tuned network (encoder + head), restorable with
    # orbax.checkpoint.StandardCheckpointer().restore(workdir/model).
    checkpoint.save_variables(wd / MODEL_DIR, {"params": state["params"],
                                               "batch_stats": state["batch_stats"]})
    results["model_dir"] = str((wd / MODEL_DIR).absolute())
    if parallel.is_main_process():
        if config.get("plots", True):
            transfer.save_plots(workdir, rows, test["features"], test["labels"],
                                config.get("embedding_plot", "pca"))
        checkpoint.write_json_atomic(wd / "results.json", results)
    return results, state


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Fine-tunes (or trains from scratch) and evaluates; returns the results dict."""
    return fit(config, workdir)[0]


def run() -> None:
    """Console-script entry point (`ssljax-finetune`)."""
    cli.run_main(train_and_evaluate)


if __name__ == "__main__":
    run()
