"""Evaluation during and at the end of pretraining.

Features of the un-augmented train and held-out splits go through the frozen
encoder; then a weighted kNN (k=200, T=0.07 by default; Wu et al. 2018) and, at
the end, a linear classifier on the cached features (the fast linear-eval
protocol), plus representation-health metrics (embedding std, effective rank).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from ssljax import data, engine, parallel
from ssljax.errors import ConfigError
from ssljax.evaluate import health, knn, linear

_log = logging.getLogger("ssljax.pretrain")


EVAL_ENCODERS = ("online", "target")


def eval_encoder(config: ml_collections.ConfigDict, method: Any) -> str:
    """Which network is evaluated and exported: `eval.encoder` ("online" when empty).

    "online" is the trained network; "target" is the EMA network. DINO's paper evaluates
    the teacher, which it finds better than the student throughout training (Caron et
    al. 2021, Sec. 5.2 and Fig. 6), so the DINO CIFAR-10/ImageNet configs pick "target".
    On the 450-step digits run the student was better (linear top-1 0.951 vs 0.946).

    Raises:
      ConfigError: an unknown value, or "target" for a method without an EMA target.
    """
    choice = config.eval.get("encoder", "") or "online"
    if choice not in EVAL_ENCODERS:
        raise ConfigError(f"eval.encoder={choice!r} must be one of {', '.join(EVAL_ENCODERS)}")
    if choice == "target" and not method.has_target:
        raise ConfigError(
            f"eval.encoder=target but {method.name} has no EMA target; use eval.encoder=online")
    return choice


def eval_variables(state: Any, encoder: str) -> tuple[Any, Any]:
    """(params, batch_stats) for the evaluated network.

    For "target", the target's subtrees replace the online ones of the same name. The
    engine's targets copy the whole online tree (BYOL/MoCo update only their encoder and
    projector subtrees), so this is the target itself; a target tree missing a subtree
    would keep the online one, which `features` does not read.
    """
    if encoder == "online":
        return state.params, state.batch_stats
    stats = dict(state.batch_stats or {})
    stats.update(state.target_batch_stats or {})
    return {**state.params, **state.target_params}, stats


def _limit(images: np.ndarray, labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if n and n > 0 and len(images) > n:
        idx = np.random.default_rng(0).permutation(len(images))[:n]
        idx.sort()
        return images[idx], labels[idx]
    return images, labels


def evaluate_representation(
    config: ml_collections.ConfigDict,
    method: Any,
    state: Any,
    mesh: Any,
    spec: Any,
    *,
    final: bool,
) -> dict[str, float]:
    """kNN accuracy and health metrics (plus the linear probe when `final`).

    Args:
      config: run config; uses `config.eval` (encoder, knn_k, knn_temperature,
        max_train_examples, max_eval_examples, linear_epochs) and `config.dataset`.
      method: the method (its model's `features` output is evaluated).
      state: the current train state.
      mesh: the device mesh.
      spec: the first view's ViewSpec (size and normalisation of eval inputs).
      final: also train and score the linear classifier.

    Returns:
      Python floats: `knn_top1`, `embedding_std`, `effective_rank` and, when final,
      `linear_top1`, `linear_top5`.
    """
    ev = config.eval
    ds = config.dataset
    tr_x, tr_y = data.load_split(ds, ds.train_split)
    te_x, te_y = data.load_split(ds, ds.eval_split)
    tr_x, tr_y = _limit(tr_x, tr_y, ev.get("max_train_examples", 0))
    te_x, te_y = _limit(te_x, te_y, ev.get("max_eval_examples", 0))
    feature_fn = engine.make_feature_fn(method, mesh, spec)
    params, stats = eval_variables(state, eval_encoder(config, method))
    f_tr = engine.extract_features(feature_fn, params, stats, tr_x, mesh)
    f_te = engine.extract_features(feature_fn, params, stats, te_x, mesh)
    num_classes = method.num_classes
    out: dict[str, float] = {}
    knn_res = knn.knn_accuracy(
        f_tr,
        tr_y,
        f_te,
        te_y,
        num_classes=num_classes,
        k=ev.get("knn_k", 200),
        temperature=ev.get("knn_temperature", 0.07),
    )
    out["knn_top1"] = float(knn_res["top1"])
    h = health.health_metrics(f_te)
    out["embedding_std"] = float(h["embedding_std"])
    out["effective_rank"] = float(h["effective_rank"])
    if final:
        clf = linear.train_linear_classifier(
            f_tr,
            tr_y,
            num_classes=num_classes,
            epochs=ev.get("linear_epochs", 100),
            seed=0,
        )
        res = linear.evaluate_linear(clf, f_te, te_y)
        out["linear_top1"] = float(res["top1"])
        out["linear_top5"] = float(res["top5"])
        out["_features"] = (np.asarray(f_te), np.asarray(te_y))
    parallel.log_main(
        "eval at step %d: %s",
        int(jax.device_get(state.step)),
        ", ".join(f"{k}={v:.4f}" for k, v in out.items() if isinstance(v, float)),
    )
    return out


def save_plots(workdir: str, rows: list[dict[str, Any]], ev: dict[str, Any]) -> None:
    """Training curves and a PCA embedding of the held-out features, as PNGs."""
    from ssljax.evaluate import plots  # noqa: PLC0415 - matplotlib is slow to import

    wd = Path(workdir)
    try:
        if rows:
            plots.plot_training_curves(rows, wd / "training_curves.png")
        if "_features" in ev:
            feats, labels = ev.pop("_features")
            plots.plot_embedding_2d(feats, labels, wd / "embedding_pca.png", method="pca")
    except Exception as e:  # noqa: BLE001 - a plot must never fail a finished run
        _log.warning("could not write plots: %s", e)
