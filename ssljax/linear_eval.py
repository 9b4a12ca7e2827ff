"""The linear-evaluation program: a linear classifier on the frozen, pretrained encoder.

    python -m ssljax.linear_eval --config=configs/linear_eval_mnist.py \\
        --config.init_from=runs/demo --workdir=runs/demo_linear

Only the exported encoder of the pretraining run is restored (`init_from` is its
workdir or its `encoder/` folder); it stays frozen, BatchNorm in inference mode. Two
protocols (`config.protocol`):

- `"cached"` (fast): features of the train and test splits are extracted once, without
  augmentation (the pretraining run's evaluation view: resize + normalise), and an
  L2-regularised logistic regression is trained on them on device
  (`ssljax.evaluate.linear.train_linear_classifier`, L-BFGS by default).
- `"paper"`: every step crops (+ flips) the training images on device, runs them
  through the frozen encoder and trains a linear layer (after a BatchNorm without
  affine parameters, as MoCo v3 / MAE do, so that one learning rate fits every
  encoder) with SGD, Nesterov momentum 0.9, cosine decay, no weight decay, lr =
  0.1·batch/256, 90 epochs (SimCLR, Appendix B.6).

Both score top-1/top-5 on the un-augmented held-out split and end with `results.json`
and the same JSON as the last line of stdout; `metrics.jsonl`, TensorBoard summaries,
`training_curves.png` and a 2-D embedding of the test features land in `--workdir`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import ml_collections

from ssljax import checkpoint, cli, data, engine, optim, parallel, transfer
from ssljax.errors import ConfigError
from ssljax.evaluate import linear
from ssljax.metric_writer import MetricWriter

PROTOCOLS = ("cached", "paper")


def base_config() -> ml_collections.ConfigDict:
    """Every linear-eval key with its default (the bundled-digits setting).

    Keys: `init_from` (pretrain workdir), `protocol` ("cached" | "paper"), `seed`,
    `num_classes` (0 = from the data), `image_size` (0 = the checkpoint's view size),
    `encoder` (empty values = the checkpoint's; a set value must match it), `dataset`
    (name "" = the pretraining run's), `cached` (the fast protocol's classifier),
    `batch_size`/`num_epochs`/`max_steps`/`optimizer`/`augment`/`head_bn` (the paper
    protocol), `eval_batch_size`, `log_every_steps`, `tensorboard`, `plots`,
    `embedding_plot` ("pca" | "tsne").
    """
    c = ml_collections.ConfigDict()
    c.init_from = ""
    c.protocol = "cached"
    c.seed = 0
    c.num_classes = 0
    c.image_size = 0
    c.encoder = ml_collections.ConfigDict({"name": "", "dtype": ""})
    c.dataset = ml_collections.ConfigDict({
        "name": "", "data_dir": "", "image_size": 0, "train_split": "train",
        "eval_split": "test", "num_classes": 0, "download": False, "skip_corrupt": False,
    })
    c.cached = ml_collections.ConfigDict({
        "optimizer": "lbfgs", "epochs": 500, "weight_decay": 5e-4, "batch_size": 0,
        "learning_rate": 0.0,
    })
    # The paper protocol (SimCLR B.6): Nesterov SGD, lr 0.1·bs/256, cosine, no decay.
    c.batch_size = 256
    c.num_epochs = 90
    c.max_steps = -1  # cap on steps; <= 0 means none
    c.optimizer = ml_collections.ConfigDict({
        "name": "sgd", "base_lr": 0.1, "lr_scaling": "linear", "warmup_epochs": 0,
        "momentum": 0.9, "nesterov": True, "weight_decay": 0.0,
    })
    c.augment = ml_collections.ConfigDict({
        "crop_scale": (0.08, 1.0), "crop_ratio": (3 / 4, 4 / 3), "flip": True,
    })
    c.head_bn = True  # BatchNorm without affine before the linear layer (MoCo v3, MAE)
    c.eval_batch_size = 512
    c.log_every_steps = 50
    c.tensorboard = True
    c.plots = True
    c.embedding_plot = "pca"
    return c


def _paper_schedule(config: ml_collections.ConfigDict, steps_per_epoch: int):
    o = config.optimizer
    try:
        return optim.warmup_cosine(
            o.base_lr, config.batch_size, o.get("warmup_epochs", 0), config.num_epochs,
            steps_per_epoch, scaling=o.get("lr_scaling", "linear"),
        )
    except ValueError as e:
        raise ConfigError(f"optimizer schedule: {e}") from None


def _num_steps(config: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
    steps = config.num_epochs * steps_per_epoch
    if config.get("max_steps", 0) > 0:
        steps = min(steps, config.max_steps)
    if steps <= 0:
        raise ConfigError(
            f"nothing to train: num_epochs={config.num_epochs}, max_steps={config.max_steps}"
        )
    return steps


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Restores the encoder of `config.init_from`, trains the linear classifier, scores it.

    Everything the run needs is checked before anything is written to `workdir`.

    Returns:
      The results dict (also written to `workdir/results.json`).
    """
    t_start = time.time()
    protocol = config.protocol
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol={protocol!r} must be one of {', '.join(PROTOCOLS)}")
    transfer.check_workdir(workdir, config.init_from)
    source = transfer.resolve_encoder(config, allow_scratch=False)
    dataset = transfer.dataset_block(config, source)
    num_classes = transfer.check_num_classes(config, dataset)
    mesh = parallel.make_mesh()
    encoder = transfer.build_encoder(source.encoder_cfg, None)
    channels = source.channels or data.dataset_info(dataset).image_shape[2]
    input_shape = (source.image_size, source.image_size, channels)
    enc_vars = transfer.encoder_variables(encoder, source, input_shape, mesh, config.seed)
    if protocol == "paper":
        parallel.check_batch_divisible(config.batch_size, mesh)
        spe = data.steps_per_epoch(dataset, config.batch_size)
        n_steps = _num_steps(config, spe)
        schedule = _paper_schedule(config, spe)
        tx = engine.make_optimizer(config, schedule)
        view = transfer.train_view(config, source)

    wd = Path(workdir)
    if parallel.is_main_process():
        wd.mkdir(parents=True, exist_ok=True)
        (wd / "metrics.jsonl").unlink(missing_ok=True)
        checkpoint.write_json_atomic(wd / checkpoint.CONFIG_FILE, config.to_dict())
    writer = MetricWriter(workdir, tensorboard=config.get("tensorboard", True))
    summary = parallel.process_summary(mesh)
    parallel.log_main(
        "linear eval (%s) of %s %s encoder from %s on %s: %d device(s)", protocol,
        source.spec.get("method", "?"), source.encoder_cfg["name"], config.init_from,
        dataset["name"], summary["devices"],
    )
    eval_bs = config.get("eval_batch_size", 512)
    results: dict[str, Any] = {"program": "linear_eval", "protocol": protocol}
    if protocol == "cached":
        forward = transfer.make_forward(encoder, None, source)
        params, stats = {"encoder": enc_vars["params"]}, {"encoder": enc_vars["batch_stats"]}
        train = transfer.run_split(forward, params, stats, dataset,
                                   dataset.get("train_split", "train"), mesh, eval_bs)
        test = transfer.run_split(forward, params, stats, dataset,
                                  dataset.get("eval_split", "test"), mesh, eval_bs)
        c = config.cached
        try:
            clf = linear.train_linear_classifier(
                train["features"], train["labels"], num_classes=num_classes, epochs=c.epochs,
                batch_size=c.batch_size or None, learning_rate=c.learning_rate or None,
                weight_decay=c.weight_decay, optimizer=c.optimizer, seed=config.seed,
            )
        except ValueError as e:
            raise ConfigError(f"cached: {e}") from None
        acc = linear.evaluate_linear(clf, test["features"], test["labels"])
        train_acc = linear.evaluate_linear(clf, train["features"], train["labels"])
        rows = [{"step": int(clf.steps), "loss": float(clf.final_loss),
                 "train_top1": train_acc["top1"], "test_top1": acc["top1"]}]
        writer.write(rows[0]["step"], rows[0])
        results.update({"optimizer": c.optimizer, "steps": int(clf.steps)})
    else:
        head = transfer.LinearHead(num_classes, batch_norm=config.head_bn)
        feature_dim = jax.eval_shape(
            lambda v: encoder.apply(v, jax.numpy.zeros((2, *input_shape)), train=False),
            enc_vars).shape[-1]
        state = transfer.init_state(enc_vars, head, feature_dim, tx, mesh,
                                    train_encoder=False, seed=config.seed)
        step_fn = transfer.make_train_step(encoder, head, tx, schedule, view, source, mesh,
                                           train_encoder=False, seed=config.seed)
        it = data.make_train_iterator(dataset, global_batch_size=config.batch_size,
                                      seed=config.seed)
        state, rows = transfer.train(step_fn, state, it, mesh, n_steps, writer,
                                     log_every=config.log_every_steps, desc="linear eval")
        forward = transfer.make_forward(encoder, head, source)
        test = transfer.run_split(forward, state["params"], state["batch_stats"], dataset,
                                  dataset.get("eval_split", "test"), mesh, eval_bs)
        acc = transfer.accuracy(test["outputs"], test["labels"])
        writer.write(n_steps, {"test_top1": acc["top1"], "test_top5": acc["top5"]})
        rows.append({"step": n_steps, "test_top1": acc["top1"]})
        results.update({"steps": n_steps, "epochs": n_steps / spe,
                        "batch_size": config.batch_size})
    writer.close()
    results.update({
        "top1": acc["top1"], "top5": acc["top5"], "num_classes": num_classes,
        "num_test": int(len(test["labels"])), "dataset": dataset["name"],
        "method": source.spec.get("method"), "pretrain_step": source.spec.get("step"),
        "init_from": str(config.init_from), "seconds": round(time.time() - t_start, 1),
        **summary,
    })
    if parallel.is_main_process():
        if config.get("plots", True):
            transfer.save_plots(workdir, rows, test["features"], test["labels"],
                                config.get("embedding_plot", "pca"))
        checkpoint.write_json_atomic(wd / "results.json", results)
    return results


def run() -> None:
    """Console-script entry point (`ssljax-linear-eval`)."""
    cli.run_main(train_and_evaluate)


if __name__ == "__main__":
    run()
