"""The linear-evaluation program: a linear classifier on the frozen, pretrained encoder.

    python -m ssljax.linear_eval --config=configs/linear_eval_mnist.py \\
        --config.init_from=runs/demo --workdir=runs/demo_linear

Only the exported encoder of the pretraining run is restored (`init_from` is its
workdir or its `encoder/` folder); it stays frozen, BatchNorm in inference mode.
`--config.random_init=True` restores nothing: the same network, freshly initialised
(`seed`), is probed the same way, the random-network baseline. Two protocols (`config.protocol`):

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

from typing import Any

import ml_collections
import numpy as np

from ssljax import cli, parallel, supervised
from ssljax.config_base import linear_eval_base
from ssljax.errors import ConfigError
from ssljax.evaluate import features, linear

base_config = linear_eval_base  # every key with its default (ssljax.config_base)


def _cached(s: supervised.Setup, workdir: str) -> dict[str, Any]:
    """The fast protocol: logistic regression on features extracted once, unaugmented."""
    c, ds = s.config, s.dataset
    forward = features.make_forward(s.encoder, s.source.view)
    variables = {"encoder": s.encoder_vars}
    train = features.split_outputs(forward, variables, ds, ds.get("train_split", "train"),
                                   s.mesh, batch_size=c.eval_batch_size)
    test = features.split_outputs(forward, variables, ds, ds.get("eval_split", "test"),
                                  s.mesh, batch_size=c.eval_batch_size)
    writer = supervised.start_outputs(s, workdir)
    parallel.log_main("linear eval (cached) of %s %s encoder from %s on %s: %d device(s)",
                      s.source.spec.get("method", "?"), s.source.encoder_cfg["name"],
                      c.init_from, ds["name"], s.mesh.devices.size)
    k = c.cached
    try:
        clf = linear.train_linear_classifier(
            train["features"], train["labels"], num_classes=s.num_classes, epochs=k.epochs,
            batch_size=k.batch_size or None, learning_rate=k.learning_rate or None,
            weight_decay=k.weight_decay, optimizer=k.optimizer, seed=c.seed,
        )
    except ValueError as e:
        raise ConfigError(f"cached: {e}") from None
    acc = linear.evaluate_linear(clf, test["features"], test["labels"])
    train_acc = linear.evaluate_linear(clf, train["features"], train["labels"])
    # the objective after each L-BFGS iteration (or epoch), then the final accuracies
    history = np.asarray(clf.loss_history)
    per = max(int(clf.steps) // len(history), 1)  # optimizer steps per history entry
    rows = [{"step": (i + 1) * per, "loss": float(v)}
            for i, v in enumerate(history) if np.isfinite(v)][:-1]
    rows.append({"step": int(clf.steps), "loss": float(clf.final_loss),
                 "train_top1": train_acc["top1"], "test_top1": acc["top1"]})
    for row in rows:
        writer.write(row["step"], row)
    results = {"program": "linear_eval", "protocol": "cached", "optimizer": k.optimizer,
               "steps": int(clf.steps), "top1": acc["top1"], "top5": acc["top5"]}
    return supervised.finish(s, workdir, results, rows, test, writer)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Restores the encoder of `config.init_from`, trains the linear classifier, scores it.

    Everything the run needs is checked before anything is written to `workdir`.

    Returns:
      The results dict (also written to `workdir/results.json`).
    """
    s = supervised.setup(config, workdir, "linear_eval", allow_scratch=False)
    with supervised.attempt(s, workdir):
        if s.config.protocol == "cached":
            return _cached(s, workdir)
        return supervised.fit(s, workdir, frozen=True, extra={"protocol": "paper"})[0]


def run() -> None:
    """Console-script entry point (`ssljax-linear-eval`)."""
    cli.run_main(train_and_evaluate)


if __name__ == "__main__":
    run()
