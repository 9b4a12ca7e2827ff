"""BYOL, MoCo v3 and SimSiam on 1 device and on 8 fake devices give the same training; MoCo v2's
queue and shuffle-BN on 8 devices.

With global BatchNorm and per-device losses made global with pmean / all-gathered keys,
two steps on 8 devices must match two steps on 1 device: loss, online and target
parameters and BN statistics. MoCo v2's queue must receive the keys of every device in
global row order.
"""

import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    )

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from ssljax import engine, methods, parallel  # noqa: E402
from ssljax.config_base import pretrain_base  # noqa: E402
from ssljax.methods import mocov2  # noqa: E402

SIZE = 16
BATCH = 32


def _config(method: str) -> ml_collections.ConfigDict:
    c = pretrain_base()
    c.method = method
    c.bn = "global"
    c.batch_size = BATCH
    c.num_epochs = 1
    c.optimizer.warmup_epochs = 0
    c.encoder.channels = (8, 16)
    c.encoder.strides = (2, 2)
    c.head.hidden_dims = (32,)
    c.head.out_dim = 16
    c.predictor = ml_collections.ConfigDict()
    c.predictor.hidden_dims = (32,)
    c.predictor.out_dim = 16
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.ema = ml_collections.ConfigDict()
    c.ema.tau_base = 0.9  # a target that moves visibly in two steps
    c.ema.schedule = "cosine"
    if method == "mocov3":
        c.head.last_bn = True
        c.head.last_bn_affine = False
        c.loss.temperature = 0.2
    if method == "mocov2":
        c.head.use_bn = False
        c.queue_size = 3 * BATCH
        c.symmetric = False
        c.loss.temperature = 0.2
        c.ema.schedule = "constant"
        c.optimizer.name = "sgd"
        c.optimizer.base_lr = 0.5
        c.optimizer.weight_decay = 1e-4
    return c


def _batch():
    rng = np.random.default_rng(0)
    return {
        "image": rng.integers(0, 256, size=(BATCH, SIZE, SIZE, 1), dtype=np.uint8),
        "label": rng.integers(0, 10, size=(BATCH,), dtype=np.int32),
    }


def _two_steps(config, num_devices):
    mesh = parallel.make_mesh(num_devices)
    method = methods.get_method(config, num_classes=10)
    method.bind_schedule(10, 10)
    specs = method.views(SIZE)
    schedule = engine.learning_rate_schedule(config, steps_per_epoch=10)
    tx = engine.make_optimizer(config, schedule)
    state = engine.create_state(method, config, mesh, (SIZE, SIZE, 1), tx)
    step = engine.make_train_step(method, tx, mesh, specs, config, schedule)
    batch = {k: jax.device_put(v, parallel.batch_sharded(mesh)) for k, v in _batch().items()}
    losses = []
    for _ in range(2):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    return jax.device_get(state), losses


def _assert_trees_close(a, b, what):
    leaves_a = jax.tree_util.tree_leaves_with_path(a)
    leaves_b = jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for (path, x), y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_allclose(y, x, rtol=2e-4, atol=2e-6, err_msg=f"{what}{path}")


@pytest.mark.parametrize("method", ["byol", "mocov3", "simsiam"])
def test_two_steps_equal_on_1_and_8_devices(method):
    assert len(jax.devices()) >= 8
    config = _config(method)
    s1, l1 = _two_steps(config, 1)
    s8, l8 = _two_steps(config, 8)
    assert np.all(np.isfinite(l1))
    np.testing.assert_allclose(l8, l1, rtol=1e-5)
    _assert_trees_close(s1.params, s8.params, "params")
    _assert_trees_close(s1.batch_stats, s8.batch_stats, "batch_stats")
    _assert_trees_close(s1.target_params, s8.target_params, "target_params")
    _assert_trees_close(s1.target_batch_stats, s8.target_batch_stats, "target_batch_stats")


def test_mocov2_enqueues_all_devices_keys_in_global_row_order():
    mesh = parallel.make_mesh(8)
    k, d = 3 * BATCH, 4
    keys = np.arange(BATCH * d, dtype=np.float32).reshape(BATCH, d)
    queue0 = -np.ones((k, d), np.float32)

    def f(local_keys, queue, ptr):
        return mocov2.enqueue(queue, ptr, mocov2.gather_keys(local_keys))

    queue, ptr = jax.jit(jax.shard_map(
        f, mesh=mesh, in_specs=(P("data"), P(), P()), out_specs=(P(), P()),
    ))(jax.device_put(keys, parallel.batch_sharded(mesh)), queue0,
       jnp.asarray(BATCH, jnp.int32))
    want = queue0.copy()
    want[BATCH:2 * BATCH] = keys
    np.testing.assert_array_equal(np.asarray(queue), want)
    assert int(ptr) == 2 * BATCH


def test_mocov2_shuffle_bn_on_8_devices():
    config = _config("mocov2")
    config.bn = "shuffle"
    s8, losses = _two_steps(config, 8)
    assert np.all(np.isfinite(losses))
    assert int(s8.extra["queue_ptr"]) == 2 * BATCH
    np.testing.assert_allclose(
        np.linalg.norm(np.asarray(s8.extra["queue"])[: 2 * BATCH], axis=1), 1.0, rtol=1e-5)
    # Local BN on shuffled batches: the key encoder's statistics are averaged over devices
    # so that the replicated state is well defined; they moved away from the init.
    stats = jax.tree.leaves(s8.target_batch_stats)
    assert stats and all(np.all(np.isfinite(s)) for s in stats)
