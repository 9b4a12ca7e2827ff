"""The tiny-config harness every method test shares.

`tiny_config(method)` is the method's schema (`pretrain_base(method)`) with a two-stage
SmallCNN and small heads, resolved like a program resolves it; `build` makes the engine's
run (state and step) on a mesh of `devices` fake CPU devices; `batch` makes images with
something to learn (a bright rectangle on a dark background); `run_steps` takes steps and
keeps the host copies of every state (the step donates its input).
"""

from __future__ import annotations

from typing import Any

import jax
import ml_collections
import numpy as np

from ssljax import config_schema, engine, parallel
from ssljax.config_base import pretrain_base

SIZE = 16  # image side: tiny images keep compilation and steps cheap
BATCH = 32


def tiny_config(method: str = "simclr", **overrides: Any) -> ml_collections.ConfigDict:
    """A resolved config of `method` with a tiny encoder and heads.

    `overrides` are dotted keys with "__" for ".", e.g. `ema__tau_base=0.5`.
    """
    c = pretrain_base(method)
    c.batch_size = BATCH
    c.num_epochs = 100  # a nearly constant learning rate over the few steps of a test
    c.encoder.channels = (8, 16)
    c.encoder.strides = (2, 2)
    if method != "dino":
        c.head.hidden_dims = (32,)
        c.head.out_dim = 16
    if "predictor" in c:
        c.predictor.hidden_dims = (32,)
        c.predictor.out_dim = 16
        c.predictor.use_bn = True
        c.predictor.last_bn = False
    c.optimizer.warmup_epochs = 0.0
    c.augment.preset = "digits"
    for key, value in overrides.items():
        *parents, leaf = key.split("__")
        node = c
        for p in parents:
            node = node[p]
        node[leaf] = value
    if c.encoder.name != "small_cnn":  # a ViT: the SmallCNN's attributes do not apply
        for key in ("channels", "strides"):
            del c.encoder[key]
    return config_schema.resolve(c, "pretrain", warn=False)[0]


def batch(seed: int = 0, *, size: int = SIZE, n: int = BATCH,
          channels: int = 1) -> dict[str, np.ndarray]:
    """Images with a bright random rectangle on a dark background, and random labels."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 40, size=(n, size, size, channels)).astype(np.uint8)
    for i in range(n):
        y0, x0 = rng.integers(0, size // 2, size=2)
        h, w = rng.integers(3, size // 2, size=2)
        img[i, y0:y0 + h, x0:x0 + w] = 255
    return {"image": img, "label": rng.integers(0, 10, size=(n,), dtype=np.int32)}


def random_batch(seed: int = 0, *, size: int = SIZE, n: int = BATCH,
                 channels: int = 1) -> dict[str, np.ndarray]:
    """Uniformly random uint8 images and labels."""
    rng = np.random.default_rng(seed)
    return {"image": rng.integers(0, 256, size=(n, size, size, channels), dtype=np.uint8),
            "label": rng.integers(0, 10, size=(n,), dtype=np.int32)}


def build(config: ml_collections.ConfigDict, devices: int = 1, *, total_steps: int = 1000,
          steps_per_epoch: int = 10, size: int = SIZE, channels: int = 1,
          specs: Any = None) -> engine.Run:
    """The engine's run on `devices` devices, its schedules over `total_steps` steps
    (`specs`: fixed views instead of the method's)."""
    mesh = parallel.make_mesh(devices)
    run = engine.build(config, mesh, num_classes=10, image_shape=(size, size, channels),
                       steps_per_epoch=steps_per_epoch, specs=specs)
    # The step is traced at its first call, so the method's schedules can still be re-bound.
    run.method.bind_schedule(total_steps, steps_per_epoch)
    return run


def put(host_batch: dict[str, np.ndarray], run: engine.Run) -> dict[str, jax.Array]:
    """A host batch sharded over the run's mesh."""
    return {k: jax.device_put(v, parallel.batch_sharded(run.mesh)) for k, v in host_batch.items()}


def run_steps(run: engine.Run, host_batch: dict[str, np.ndarray], n: int,
              state: Any = None) -> tuple[list[Any], list[float], dict[str, Any]]:
    """n steps on the same batch: (host states before each step and the final one, losses,
    last metrics)."""
    state = run.state if state is None else state
    b = put(host_batch, run)
    states, losses, metrics = [], [], {}
    for _ in range(n):
        states.append(jax.device_get(state))
        state, metrics = run.step(state, b)
        losses.append(float(metrics["loss"]))
    states.append(jax.device_get(state))
    return states, losses, metrics


def assert_trees_close(a: Any, b: Any, what: str, rtol: float = 2e-4, atol: float = 2e-6) -> None:
    """Leaf-by-leaf `assert_allclose` naming the first differing path."""
    leaves_a = jax.tree_util.tree_leaves_with_path(a)
    leaves_b = jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b), what
    for (path, x), y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_allclose(y, x, rtol=rtol, atol=atol, err_msg=f"{what}{path}")
