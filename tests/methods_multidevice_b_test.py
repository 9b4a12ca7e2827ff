"""Barlow Twins and VICReg steps give the same result on 1 and on 8 devices.

Global BatchNorm, the cross-device loss statistics (Barlow Twins' cross-correlation,
VICReg's variance and covariance), the global-batch health metric and the per-example
augmentation keys make two steps on 8 fake CPU devices equal to two steps on one device
with the whole batch. (DINO's 1-vs-8 check lives in tests/methods_dino_test.py, where it
reuses that module's one-device run.)
"""

import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    )

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ssljax import augment, data, engine, methods, parallel  # noqa: E402
from ssljax.config_base import pretrain_base  # noqa: E402

# Cheap but random views: crop + flip only, each example keyed by its global row.
CROP = augment.ViewSpec(out_size=28, crop_scale=(0.3, 1.0))


def _config(name):
    c = pretrain_base()
    c.method = name
    c.batch_size = 32
    c.num_epochs = 2
    c.optimizer.warmup_epochs = 0
    c.head.hidden_dims = (32, 32)
    c.head.out_dim = 32
    c.encoder.channels = (8, 16)
    c.encoder.strides = (2, 2)
    return c


def _two_steps(name, num_devices, batch):
    config = _config(name)
    mesh = parallel.make_mesh(num_devices)
    method = methods.get_method(config, num_classes=10)
    method.bind_schedule(20, 10)
    specs = (CROP, CROP)
    schedule = engine.learning_rate_schedule(config, steps_per_epoch=10)
    tx = engine.make_optimizer(config, schedule)
    state = engine.create_state(method, config, mesh, (28, 28, 1), tx)
    step = engine.make_train_step(method, tx, mesh, specs, config, schedule)
    sharded = {k: jax.device_put(v, parallel.batch_sharded(mesh)) for k, v in batch.items()}
    losses = []
    for _ in range(2):
        state, metrics = step(state, sharded)
        losses.append(float(metrics["loss"]))
    return jax.device_get(state), losses, jax.device_get(metrics)


@pytest.mark.parametrize("name", ["barlowtwins", "vicreg"])
def test_two_steps_equal_on_1_and_8_devices(name):
    assert len(jax.devices()) >= 8
    # Real digits: on uniform noise the first BN layer's statistics are so ill-conditioned
    # that float32 summation order alone moves a bias by 1e-4 after two steps.
    images, labels = data.load_split(pretrain_base().dataset, "train")
    idx = np.random.default_rng(0).permutation(len(images))[:32]
    batch = {"image": images[idx], "label": labels[idx].astype(np.int32)}
    s1, l1, m1 = _two_steps(name, 1, batch)
    s8, l8, m8 = _two_steps(name, 8, batch)
    np.testing.assert_allclose(l8, l1, rtol=2e-5)
    np.testing.assert_allclose(m8["embedding_std"], m1["embedding_std"], rtol=1e-4)
    trees = [("params", s1.params, s8.params), ("batch_stats", s1.batch_stats, s8.batch_stats)]
    for what, a_tree, b_tree in trees:
        leaves1 = jax.tree_util.tree_leaves_with_path(a_tree)
        for (path, a), b in zip(leaves1, jax.tree.leaves(b_tree), strict=True):
            np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-6, err_msg=f"{what}{path}")
