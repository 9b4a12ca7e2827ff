"""One SimCLR step on 1 device and on 8 fake devices gives the same parameters.

The engine computes the global-batch loss with cross-device BatchNorm and gathered
negatives, so the update must not depend on how the batch is split over devices.
"""

import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    )

import jax  # noqa: E402
import numpy as np  # noqa: E402

from ssljax import engine, methods, parallel  # noqa: E402
from ssljax.config_base import pretrain_base  # noqa: E402


def _config():
    c = pretrain_base()
    c.batch_size = 32
    c.num_epochs = 1
    c.optimizer.warmup_epochs = 0
    c.head.hidden_dims = (32,)
    c.head.out_dim = 16
    return c


def _two_steps(num_devices, batch):
    config = _config()
    mesh = parallel.make_mesh(num_devices)
    method = methods.get_method(config, num_classes=10)
    specs = method.views(28)
    schedule = engine.learning_rate_schedule(config, steps_per_epoch=10)
    tx = engine.make_optimizer(config, schedule)
    state = engine.create_state(method, config, mesh, (28, 28, 1), tx)
    step = engine.make_train_step(method, tx, mesh, specs, config, schedule)
    sharded = {k: jax.device_put(v, parallel.batch_sharded(mesh)) for k, v in batch.items()}
    state, m1 = step(state, sharded)
    after_one = jax.device_get(state)
    state, m2 = step(state, sharded)
    return after_one, [float(m1["loss"]), float(m2["loss"])]


def test_params_after_steps_equal_on_1_and_8_devices():
    assert len(jax.devices()) >= 8
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.integers(0, 256, size=(32, 28, 28, 1), dtype=np.uint8),
        "label": rng.integers(0, 10, size=(32,), dtype=np.int32),
    }
    s1, losses1 = _two_steps(1, batch)
    s8, losses8 = _two_steps(8, batch)
    # Losses of the first two steps agree (the second one depends on the first update).
    np.testing.assert_allclose(losses8, losses1, rtol=1e-5)
    assert int(s8.step) == int(s1.step) == 1
    # Params and BN statistics after one step: equal up to float32 reduction order.
    leaves1 = jax.tree_util.tree_leaves_with_path(s1.params)
    leaves8 = jax.tree.leaves(s8.params)
    for (path, a), b in zip(leaves1, leaves8, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7, err_msg=str(path))
    for a, b in zip(jax.tree.leaves(s1.batch_stats), jax.tree.leaves(s8.batch_stats), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
    # The online probe is trained on the same global batch too.
    for a, b in zip(
        jax.tree.leaves(s1.probe_params), jax.tree.leaves(s8.probe_params), strict=True
    ):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
