"""MoCo v2 (queue, shuffle-BN) and MoCo v3: queue arithmetic, shuffles, end-to-end steps."""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from ssljax import config_schema, methods, parallel, training
from ssljax.errors import ConfigError
from ssljax.methods import mocov2
from tests import harness

SIZE, BATCH = harness.SIZE, harness.BATCH


def _mocov2_config(**overrides) -> ml_collections.ConfigDict:
    c = harness.tiny_config("mocov2", bn="shuffle", queue_size=4 * BATCH, symmetric=False,
                            head__use_bn=False, ema__tau_base=0.9, ema__schedule="constant",
                            optimizer__name="sgd", optimizer__base_lr=2.0,
                            optimizer__weight_decay=1e-4)
    for k, v in overrides.items():
        c[k] = v
    return c


def _setup(config, num_devices=1):
    run = harness.build(config, num_devices)
    return run.method, run.state, run.step, harness.put(harness.batch(), run), run.mesh


# --------------------------------------------------------------------------- queue


def test_enqueue_fifo_with_wraparound_matches_numpy():
    k, d, n = 12, 3, 4
    rng = np.random.default_rng(0)
    queue = rng.normal(size=(k, d)).astype(np.float32)
    ref, ptr_ref = queue.copy(), 0
    q, ptr = jnp.asarray(queue), jnp.zeros((), jnp.int32)
    enq = jax.jit(mocov2.enqueue)
    for step in range(7):  # 28 keys through a queue of 12: wraps around twice
        keys = rng.normal(size=(n, d)).astype(np.float32)
        for row in keys:  # NumPy reference: one key at a time into the oldest slot
            ref[ptr_ref] = row
            ptr_ref = (ptr_ref + 1) % k
        q, ptr = enq(q, ptr, jnp.asarray(keys))
        np.testing.assert_array_equal(np.asarray(q), ref, err_msg=f"step {step}")
        assert int(ptr) == ptr_ref
    # Not a multiple of the queue size: the write itself wraps around.
    q2, ptr2 = mocov2.enqueue(jnp.asarray(queue[:10]), jnp.asarray(8, jnp.int32),
                              jnp.asarray(keys))
    want = queue[:10].copy()
    want[[8, 9, 0, 1]] = keys
    np.testing.assert_array_equal(np.asarray(q2), want)
    assert int(ptr2) == 2


def test_initial_queue_is_normalised_and_seeded():
    c = _mocov2_config()
    method = methods.get_method(c, num_classes=10)
    extra = method.init_extra({"proj": 16, "features": 16})
    assert extra["queue"].shape == (4 * BATCH, 16)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(extra["queue"]), axis=1), 1.0,
                               rtol=1e-5)
    assert int(extra["queue_ptr"]) == 0 and extra["queue_ptr"].dtype == jnp.int32
    again = methods.get_method(c, num_classes=10).init_extra({"proj": 16, "features": 16})
    np.testing.assert_array_equal(extra["queue"], again["queue"])


def test_queue_size_not_divisible_by_batch_is_a_config_error():
    with pytest.raises(ConfigError, match="queue_size=100"):
        methods.get_method(_mocov2_config(queue_size=100), num_classes=10)
    # Symmetric MoCo enqueues both views' keys: a multiple of 2 x batch is needed.
    with pytest.raises(ConfigError, match="multiple"):
        methods.get_method(_mocov2_config(queue_size=3 * BATCH, symmetric=True), 10)
    methods.get_method(_mocov2_config(queue_size=4 * BATCH, symmetric=True), 10)


# --------------------------------------------------------------------------- shuffle-BN


def test_shuffle_bn_on_one_device_without_split_bn_is_a_warning():
    method = methods.get_method(_mocov2_config(shuffle_groups=1), 10)
    (line,) = method.device_warnings(1)
    assert "bn=shuffle on one device" in line and "shuffle_groups=8" in line
    assert method.device_warnings(8) == []
    assert methods.get_method(_mocov2_config(), 10).device_warnings(1) == []  # split BN
    assert methods.get_method(_mocov2_config(bn="global"), 10).device_warnings(1) == []
    with pytest.raises(ConfigError, match="shuffle_groups=0 must be >= 1"):
        methods.get_method(_mocov2_config(shuffle_groups=0), 10)


def test_split_bn_statistics_per_group_match_numpy():
    """Each group of rows normalised with its own mean and (biased) variance; the running
    averages move by the mean over groups (SplitBatchNorm)."""
    import flax.linen as nn  # noqa: PLC0415

    from ssljax.models.resnet import batch_norm  # noqa: PLC0415

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            return {"y": batch_norm(True, name="bn")(x)}

    net = Net()
    x = np.random.default_rng(0).standard_normal((12, 3)).astype(np.float32) * 3 + 1
    variables = net.init(jax.random.key(0), x)

    def apply(params, stats, rows):
        out, new = net.apply({"params": params, "batch_stats": stats}, rows,
                             mutable=["batch_stats"])
        return out, new["batch_stats"]

    out, stats = mocov2.split_apply(apply, variables["params"], variables["batch_stats"],
                                    jnp.asarray(x), 4)
    groups = x.astype(np.float64).reshape(4, 3, 3)
    mean, var = groups.mean(axis=1, keepdims=True), groups.var(axis=1, keepdims=True)
    want = ((groups - mean) / np.sqrt(var + 1e-5)).reshape(12, 3)
    np.testing.assert_allclose(out["y"], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats["bn"]["mean"], 0.1 * mean.mean(axis=0)[0], rtol=1e-5)
    np.testing.assert_allclose(stats["bn"]["var"], 0.9 + 0.1 * var.mean(axis=0)[0], rtol=1e-5)
    with pytest.raises(ConfigError, match="12 rows per device do not split into 5 groups"):
        mocov2.split_apply(apply, variables["params"], variables["batch_stats"],
                           jnp.asarray(x), 5)


def test_shuffle_rows_round_trip_on_8_devices_mixes_devices():
    assert len(jax.devices()) >= 8
    mesh = parallel.make_mesh(8)
    n_local, n = 4, 32
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    key = jax.random.PRNGKey(3)

    def f(x_local):
        shuffled, perm = parallel.shuffle_rows(x_local, key)
        back = parallel.unshuffle_rows(shuffled * 2.0, perm)  # a per-row function of it
        return shuffled, back, perm

    shuffled, back, perm = jax.jit(jax.shard_map(
        f, mesh=mesh, in_specs=P("data"), out_specs=(P("data"), P("data"), P()),
    ))(jax.device_put(x, parallel.batch_sharded(mesh)))
    perm = np.asarray(perm)
    assert sorted(perm.tolist()) == list(range(n))
    np.testing.assert_array_equal(np.asarray(shuffled), x[perm])
    np.testing.assert_array_equal(np.asarray(back), 2.0 * x)
    # Each device's shuffled rows come from several devices (not a local permutation).
    sources = [len(set((perm[d * n_local:(d + 1) * n_local] // n_local).tolist()))
               for d in range(8)]
    assert max(sources) > 1 and np.mean(sources) > 2, sources


# --------------------------------------------------------------------------- MoCo v2


@pytest.fixture(scope="module")
def mocov2_run():
    c = _mocov2_config()
    method, state, step, batch, mesh = _setup(c)
    extra0 = jax.device_get(state.extra)
    s0 = jax.device_get(state)
    state, metrics = step(state, batch)
    s1 = jax.device_get(state)
    # Learning check: the same batch with the queue held at its initial content, so the
    # keys of earlier steps (near-copies of the positives) do not enter the negatives.
    losses = [float(metrics["loss"])]
    for _ in range(5):
        state = state.replace(extra=jax.device_put(extra0, parallel.replicated(mesh)))
        state, m = step(state, batch)
        losses.append(float(m["loss"]))
    return method, s0, s1, metrics, losses


def test_mocov2_step_enqueues_normalised_keys(mocov2_run):
    _, s0, s1, metrics, _ = mocov2_run
    assert np.isfinite(float(metrics["loss"])) and float(metrics["nonfinite"]) == 0
    assert int(s1.extra["queue_ptr"]) == BATCH
    new = np.asarray(s1.extra["queue"])
    np.testing.assert_allclose(np.linalg.norm(new[:BATCH], axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(new[:BATCH], np.asarray(s0.extra["queue"])[:BATCH])
    np.testing.assert_array_equal(new[BATCH:], np.asarray(s0.extra["queue"])[BATCH:])
    assert float(metrics["tau"]) == pytest.approx(0.9)


def test_mocov2_key_encoder_is_ema_with_constant_momentum(mocov2_run):
    _, s0, s1, _, _ = mocov2_run
    for part in ("encoder", "projector"):
        for t0, p1, t1 in zip(jax.tree.leaves(s0.target_params[part]),
                              jax.tree.leaves(s1.params[part]),
                              jax.tree.leaves(s1.target_params[part]), strict=True):
            np.testing.assert_allclose(t1, 0.9 * t0 + 0.1 * p1, rtol=1e-5, atol=1e-6)


def test_mocov2_loss_decreases_with_a_fixed_queue(mocov2_run):
    _, _, _, _, losses = mocov2_run
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-2:]) < np.mean(losses[:2]) - 0.05, losses


# --------------------------------------------------------------------------- MoCo v3


def _mocov3_config() -> ml_collections.ConfigDict:
    return harness.tiny_config("mocov3", head__last_bn=True, head__last_bn_affine=False,
                               ema__tau_base=0.99, ema__schedule="cosine", loss__temperature=0.2,
                               optimizer__name="lars", optimizer__base_lr=2.0)


@pytest.mark.slow
def test_mocov3_loss_finite_and_decreasing():
    method, state, step, batch, _ = _setup(_mocov3_config())
    s0 = jax.device_get(state)
    losses = []
    for _ in range(6):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert np.all(np.isfinite(losses))
    # Two directions of 2T·CE with N = 32 keys: at most about 2·2T·log N at the start.
    assert 0.0 < losses[0] < 2 * 2 * 0.2 * np.log(BATCH) + 1.0
    assert np.mean(losses[-2:]) < np.mean(losses[:2]) - 0.05, losses
    assert float(metrics["tau"]) == pytest.approx(
        1 - 0.01 * (np.cos(np.pi * 5 / 1000) + 1) / 2, abs=1e-7)
    assert "bn1" not in s0.params["projector"]  # last BN without affine
    assert "predictor" in s0.params


def test_mocov3_crop_scale_overrides_the_preset():
    c = _mocov3_config()
    c.augment.crop_scale = (0.2, 1.0)  # the ResNet recipe's minimum crop area
    specs = methods.get_method(c, num_classes=10).views(SIZE)
    assert all(s.crop_scale == (0.2, 1.0) for s in specs)
    c.augment.crop_scale = (1.5, 1.0)
    with pytest.raises(ConfigError, match="crop_scale"):
        methods.get_method(c, num_classes=10).views(SIZE)


def test_mocov3_vit_config_freezes_the_patch_embedding():
    spec = importlib.util.spec_from_file_location(
        "mocov3_imagenet", Path(__file__).resolve().parents[1] / "configs/mocov3_imagenet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = config_schema.resolve(module.get_config("vit_small"), warn=False)[0]
    assert tuple(c.optimizer.freeze) == ("patch_embed",) and c.optimizer.name == "adamw"
    c.encoder.name = "vit_test"  # same recipe, a tiny ViT
    c.encoder.patch_size = 8
    c.head.hidden_dims = (32, 32)
    c.predictor.hidden_dims = (32,)
    c.optimizer.warmup_epochs = 0
    method = methods.get_method(c, num_classes=10)
    shapes = jax.eval_shape(lambda: method.model.init(
        jax.random.PRNGKey(0), jnp.zeros((2, SIZE, SIZE, 3)), train=False))["params"]
    params = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), shapes)
    tx = training.optimizer(c.optimizer, training.learning_rate(c.optimizer, 256, 10, 100))
    updates, _ = jax.jit(lambda p: tx.update(p, tx.init(p), p))(params)
    frozen = updates["encoder"]["patch_embed"]
    assert all(float(jnp.abs(u).max()) == 0.0 for u in jax.tree.leaves(frozen))
    assert float(jnp.abs(updates["encoder"]["cls_token"]).max()) > 0.0
    assert float(jnp.abs(updates["projector"]["dense0"]["kernel"]).max()) > 0.0
