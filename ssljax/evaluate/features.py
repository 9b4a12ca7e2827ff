"""The one feature-extraction path: un-augmented images → frozen encoder (→ head) → arrays.

Used by the pretraining program's kNN monitor and final linear probe, by `linear_eval`,
`finetune`'s test-set scoring and by exported encoders, so that every number ssljax
reports comes from the same preprocessing (`ssljax.augment.EvalView`: uint8 → [0, 1],
channels, resize, normalise) and the same inference-mode network (running BN statistics,
no stochastic depth).

    forward = make_forward(encoder, view)                 # jitted
    out = split_outputs(forward, variables, dataset, "test", mesh)
    out["features"], out["labels"]                        # NumPy [N, D], [N]

`variables` is `{"encoder": {"params", "batch_stats"}}` (plus `"head"` when a head is
given). Batches come from `ssljax.data.make_eval_iterator`: every example once, in order,
padded to a multiple of the device count and sharded over the mesh; every process gets
all rows back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from ssljax import augment, data
from ssljax.errors import DataError


def _variables(v: dict[str, Any]) -> dict[str, Any]:
    out = {"params": v["params"]}
    if v.get("batch_stats"):
        out["batch_stats"] = v["batch_stats"]
    return out


def make_forward(encoder: nn.Module, view: augment.EvalView,
                 head: nn.Module | None = None) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """Jitted `(variables, images) -> (features [B, D], outputs)` in inference mode.

    Args:
      encoder: the encoder module.
      view: how images enter it.
      head: an optional module on the features (a classifier); without one the outputs
        are the features.
    """

    def forward(variables, images):
        x = augment.eval_inputs(images, view)
        h = encoder.apply(_variables(variables["encoder"]), x, train=False)
        if head is None:
            return h, h
        return h, head.apply(_variables(variables["head"]), h, train=False)

    return jax.jit(forward)


def _host(x: jax.Array) -> np.ndarray:
    if jax.process_count() == 1:
        return np.asarray(x)
    from jax.experimental import multihost_utils  # noqa: PLC0415

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def split_outputs(forward: Callable[..., Any], variables: Any, dataset: Any, split: str,
                  mesh: Any, *, batch_size: int = 512,
                  max_examples: int = 0) -> dict[str, np.ndarray]:
    """`features`, `outputs` and `labels` of every example of a split, in order.

    Args:
      forward: from `make_forward`.
      variables: its variables.
      dataset: the `dataset` config block (or a `Source`).
      split: the split name.
      mesh: the device mesh (batches are sharded over it).
      batch_size: global batch size (rounded down to a multiple of the device count).
      max_examples: > 0: a fixed subset of that many examples (see
        `data.make_eval_iterator`).

    Raises:
      DataError: the split is empty.
    """
    unit = mesh.devices.size * jax.process_count()
    bs = max(unit, batch_size // unit * unit)
    feats, outs, labels = [], [], []
    for batch in data.make_eval_iterator(dataset, split, bs, max_examples=max_examples):
        g = data.make_global_batch({k: batch[k] for k in ("image", "label", "mask")}, mesh)
        h, o = forward(variables, g["image"])
        keep = _host(g["mask"]).astype(bool)
        feats.append(_host(h)[keep])
        outs.append(_host(o)[keep])
        labels.append(_host(g["label"])[keep])
    if not feats or not sum(len(f) for f in feats):
        name = getattr(dataset, "name", None) or data.parse_config(dataset).name
        raise DataError(f"split '{split}' of dataset '{name}' is empty")
    return {"features": np.concatenate(feats), "outputs": np.concatenate(outs),
            "labels": np.concatenate(labels).astype(np.int32)}

