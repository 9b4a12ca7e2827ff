"""Evaluation during and at the end of pretraining.

Features of the un-augmented train and held-out splits go through the frozen
encoder; then a weighted kNN (k=200, T=0.07 by default; Wu et al. 2018) and, at
the end, a linear classifier on the cached features (the fast linear-eval
protocol), plus representation-health metrics (embedding std, effective rank).
"""

from __future__ import annotations

import logging
from typing import Any

import jax
import ml_collections

from ssljax import augment, models, parallel
from ssljax.errors import ConfigError
from ssljax.evaluate import features, health, knn, linear

_log = logging.getLogger("ssljax.pretrain")


EVAL_ENCODERS = ("online", "target")


def eval_encoder(config: ml_collections.ConfigDict, method: Any) -> str:
    """Which network is evaluated and exported: `eval.encoder` ("online" when empty).

    "online" is the trained network; "target" is the EMA network. DINO's paper evaluates
    the teacher, which it finds better than the student throughout training (Caron et
    al. 2021, Sec. 5.2 and Fig. 6), so the DINO CIFAR-10/ImageNet configs pick "target".
    On an earlier, shorter digits run the student scored higher, so `configs/dino_mnist.py`
    evaluates the student.

    Raises:
      ConfigError: an unknown value, or "target" for a method without an EMA target.
    """
    if config.eval.get("vit_features", "") or config.eval.get("feature_layer", 0):
        eval_module(config, method)  # checks eval.vit_features / feature_layer up front
    choice = config.eval.encoder or "online"
    if choice not in EVAL_ENCODERS:
        raise ConfigError(f"eval.encoder={choice!r} must be one of {', '.join(EVAL_ENCODERS)}")
    if choice == "target" and not method.has_target:
        raise ConfigError(
            f"eval.encoder=target but {method.name} has no EMA target; use eval.encoder=online")
    return choice


def eval_module(config: ml_collections.ConfigDict, method: Any) -> Any:
    """The encoder module the evaluation runs: the method's, with `eval.vit_features`.

    `eval.vit_features` ("" = as trained; "cls", "cls_last4", "cls_avgpool") picks which
    ViT tokens the kNN and linear probe read (`ssljax.models.ViT.features`; DINO's linear
    evaluation of ViT-S/16 reads the last 4 blocks' CLS tokens).

    `eval.feature_layer` (0 = the last stage) pools the output of stage k of a ResNet or
    SmallCNN instead (RotNet's best features are at an intermediate block). The method's
    `eval_encoder_attrs` apply first (CPC's encoder reads its patch grid).

    Raises:
      ConfigError: `eval.vit_features` set for an encoder that is not a ViT, or unknown;
        `eval.feature_layer` for an encoder without stages, or out of range.
    """
    encoder = method.model.encoder
    if method.eval_encoder_attrs():
        encoder = encoder.clone(**method.eval_encoder_attrs())
    layer = int(config.eval.get("feature_layer", 0) or 0)
    if layer:
        encoder = with_feature_layer(encoder, layer, "eval.feature_layer")
    choice = config.eval.get("vit_features", "")
    if not choice:
        return encoder
    if not isinstance(encoder, models.ViT):
        raise ConfigError(f"eval.vit_features={choice!r} applies to ViT encoders, not "
                          f"{config.encoder.name}; set --config.eval.vit_features=")
    if choice not in models.VIT_FEATURES:
        raise ConfigError(f"eval.vit_features={choice!r} must be one of "
                          f"{', '.join(models.VIT_FEATURES)}")
    return encoder.clone(features=choice)


def with_feature_layer(encoder: Any, layer: int, key: str) -> Any:
    """`encoder` pooling the output of its stage `layer` (a ResNet or SmallCNN).

    Raises:
      ConfigError: an encoder without stages, or a stage it does not have.
    """
    if not isinstance(encoder, (models.ResNet, models.SmallCNN)):
        raise ConfigError(f"{key}={layer} applies to ResNet and SmallCNN encoders, not "
                          f"{type(encoder).__name__}; set --config.{key}=0")
    stages = len(getattr(encoder, "stage_sizes", None) or encoder.channels)
    if not 0 <= layer <= stages:
        raise ConfigError(f"{key}={layer}: this encoder has stages 1..{stages} (0 = the last)")
    return encoder.clone(feature_layer=layer)


def eval_variables(state: Any, encoder: str) -> tuple[Any, Any]:
    """(params, batch_stats) for the evaluated network.

    For "target", the target's subtrees (`EMATarget.keys`: the encoder and projector or
    head) replace the online ones of the same name; the evaluation reads the encoder.
    """
    if encoder == "online":
        return state.params, state.batch_stats
    stats = dict(state.batch_stats or {})
    stats.update(state.target_batch_stats or {})
    return {**state.params, **state.target_params}, stats


def evaluate_representation(
    config: ml_collections.ConfigDict,
    method: Any,
    state: Any,
    mesh: Any,
    view: augment.EvalView,
    *,
    final: bool,
) -> dict[str, Any]:
    """kNN accuracy and health metrics (plus the linear probe when `final`).

    Features come from `ssljax.evaluate.features` (the path `linear_eval` uses): the
    evaluated network's encoder, in inference mode, on un-augmented images.

    Args:
      config: run config; uses `config.eval` (encoder, knn_k, knn_temperature,
        max_train_examples, max_eval_examples, linear_epochs, batch_size) and
        `config.dataset`.
      method: the method (its model's `encoder` is evaluated).
      state: the current train state.
      mesh: the device mesh.
      view: how images enter the encoder (the first training view's size and normalisation).
      final: also train and score the linear classifier.

    Returns:
      Python floats: `knn_top1`, `encoder_std` and `encoder_effective_rank` (the health
      metrics of the held-out encoder features; training logs `embedding_std` of the
      projector outputs) and, when final,
      `linear_top1`, `linear_top5`; when final also `_features`: (held-out features,
      labels) for the embedding plot.
    """
    ev, ds = config.eval, config.dataset
    params, stats = eval_variables(state, eval_encoder(config, method))
    variables = {"encoder": {"params": params["encoder"],
                             "batch_stats": (stats or {}).get("encoder", {})}}
    forward = features.make_forward(eval_module(config, method), view)
    tr = features.split_outputs(forward, variables, ds, ds.train_split, mesh,
                                batch_size=ev.batch_size, max_examples=ev.max_train_examples)
    te = features.split_outputs(forward, variables, ds, ds.eval_split, mesh,
                                batch_size=ev.batch_size, max_examples=ev.max_eval_examples)
    f_tr, tr_y, f_te, te_y = tr["features"], tr["labels"], te["features"], te["labels"]
    num_classes = method.num_classes
    out: dict[str, Any] = {}
    knn_res = knn.knn_accuracy(f_tr, tr_y, f_te, te_y, num_classes=num_classes,
                               k=ev.knn_k, temperature=ev.knn_temperature)
    out["knn_top1"] = float(knn_res["top1"])
    h = health.health_metrics(f_te)  # of the encoder's features, not the projector's
    out["encoder_std"] = float(h["embedding_std"])
    out["encoder_effective_rank"] = float(h["effective_rank"])
    if final:
        clf = linear.train_linear_classifier(f_tr, tr_y, num_classes=num_classes,
                                             epochs=ev.linear_epochs, seed=0)
        res = linear.evaluate_linear(clf, f_te, te_y)
        out["linear_top1"] = float(res["top1"])
        out["linear_top5"] = float(res["top5"])
        out["_features"] = (f_te, te_y)
    parallel.log_main(
        "eval at step %d: %s",
        int(jax.device_get(state.step)),
        ", ".join(f"{k}={v:.4f}" for k, v in out.items() if isinstance(v, float)),
    )
    return out
