"""Barlow Twins, VICReg and DINO steps give the same result on 1 and on 8 devices.

Global BatchNorm, the cross-device loss statistics (Barlow Twins' cross-correlation,
VICReg's variance/covariance, DINO's center) and the per-example augmentation keys make
two steps on 8 fake CPU devices equal to two steps on one device with the whole batch.
"""

import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    )

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ssljax import augment, data, engine, methods, parallel  # noqa: E402
from ssljax.config_base import pretrain_base  # noqa: E402

# Cheap but random views: crop + flip only, so each example's crop depends on its key.
CROP = augment.ViewSpec(out_size=28, crop_scale=(0.3, 1.0))
GLOBAL = augment.ViewSpec(out_size=32, crop_scale=(0.4, 1.0))
LOCAL = augment.ViewSpec(out_size=16, crop_scale=(0.05, 0.4))


def _config(name):
    c = pretrain_base()
    c.method = name
    c.batch_size = 32
    c.num_epochs = 2
    c.optimizer.warmup_epochs = 0
    c.head.hidden_dims = (32, 32)
    c.head.out_dim = 32
    if name == "dino":
        c.encoder = ml_collections.ConfigDict({"name": "vit_test", "dtype": "float32"})
        c.head.use_bn = False
        c.head.bottleneck_dim = 16
        c.head.freeze_last_layer_epochs = 0
        c.ema = ml_collections.ConfigDict({"tau_base": 0.9})
        c.optimizer.name = "adamw"
        c.optimizer.base_lr = 1e-3
        c.optimizer.weight_decay = 0.04
    else:
        c.encoder.channels = (8, 16)
        c.encoder.strides = (2, 2)
    return c


def _two_steps(name, num_devices, batch):
    config = _config(name)
    mesh = parallel.make_mesh(num_devices)
    method = methods.get_method(config, num_classes=10)
    method.bind_schedule(20, 10)
    specs = (GLOBAL, GLOBAL, LOCAL, LOCAL) if name == "dino" else (CROP, CROP)
    schedule = engine.learning_rate_schedule(config, steps_per_epoch=10)
    tx = engine.make_optimizer(config, schedule)
    size = specs[0].out_size
    state = engine.create_state(method, config, mesh, (size, size, 1), tx)
    step = engine.make_train_step(method, tx, mesh, specs, config, schedule)
    sharded = {k: jax.device_put(v, parallel.batch_sharded(mesh)) for k, v in batch.items()}
    losses = []
    for _ in range(2):
        state, metrics = step(state, sharded)
        losses.append(float(metrics["loss"]))
    return jax.device_get(state), losses, jax.device_get(metrics)


@pytest.mark.parametrize("name", ["barlowtwins", "vicreg", "dino"])
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
    if name == "dino":
        trees += [("target", s1.target_params, s8.target_params),
                  ("center", s1.extra, s8.extra)]
    for what, a_tree, b_tree in trees:
        leaves1 = jax.tree_util.tree_leaves_with_path(a_tree)
        for (path, a), b in zip(leaves1, jax.tree.leaves(b_tree), strict=True):
            np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-6, err_msg=f"{what}{path}")
