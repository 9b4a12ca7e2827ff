"""Every method's training is the same on 1 device and on 8 fake devices.

With global BatchNorm, per-device losses made global (pmean, all-gathered negatives and
keys, psum'd batch statistics) and per-example augmentation keys, two steps on 8 devices
must match two steps on 1 device: losses, the logged `embedding_std` (a global-batch
statistic), online and target parameters, BN statistics and the online probe. MoCo v2's
queue must receive the keys of every device in global row order. (DINO's 1-vs-8 check
lives in tests/methods_dino_test.py, where it reuses that module's one-device run.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from ssljax import augment, data, parallel
from ssljax.methods import mocov2
from tests import harness

BATCH = harness.BATCH
# Cheap but random views: crop + flip only, each example keyed by its global row.
CROP = augment.ViewSpec(out_size=28, crop_scale=(0.3, 1.0))
FAST = ("simclr",)  # in the fast tier; the other methods run in the full suite


def _config(method: str):
    c = harness.tiny_config(method, bn="global", num_epochs=2)
    if "ema" in c:
        c.ema.tau_base = 0.9  # a target that moves visibly in two steps
    if method in ("barlowtwins", "vicreg"):
        c.head.hidden_dims, c.head.out_dim = (32, 32), 32
    if method == "mocov3":
        c.head.last_bn, c.head.last_bn_affine, c.loss.temperature = True, False, 0.2
    if method == "mocov2":
        c.head.use_bn, c.queue_size, c.loss.temperature = False, 3 * BATCH, 0.2
        c.optimizer.name, c.optimizer.base_lr, c.optimizer.weight_decay = "sgd", 0.5, 1e-4
    if method == "swav":
        c.head.num_prototypes, c.augment.num_local = 20, 0
    if method == "nnclr":
        c.nnclr.queue_size = 3 * BATCH
    if method in ("autoencoder", "context_encoder"):  # keys by global row: noise, holes
        c.decoder.channels = (16, 8, 8)
    if method == "autoencoder":
        c.autoencoder.noise, c.autoencoder.noise_amount = "masking", 0.25
    if method == "context_encoder":
        c.context_encoder.region, c.context_encoder.overlap_px = "random", 1
    if method == "jigsaw":
        c.jigsaw.num_permutations, c.jigsaw.tile_px = 8, 7
    if method == "cpc":
        c.cpc.patch_px, c.cpc.stride_px, c.cpc.context_hidden = 8, 4, 16
    return c


def _digits():
    # Real digits: on uniform noise the first BN layer's statistics are so ill-conditioned
    # that float32 summation order alone moves a bias by 1e-4 after two steps.
    images, labels = data.load_split({"name": "mnist"}, "train")
    idx = np.random.default_rng(0).permutation(len(images))[:BATCH]
    return {"image": images[idx], "label": labels[idx].astype(np.int32)}


def _two_steps(config, devices):
    run = harness.build(config, devices, total_steps=20, size=28, specs=(CROP, CROP))
    states, losses, metrics = harness.run_steps(run, _digits(), 2)
    return states[-1], losses, jax.device_get(metrics)


@pytest.mark.parametrize("method", [
    pytest.param(m, marks=() if m in FAST else pytest.mark.slow)
    for m in ("simclr", "byol", "simsiam", "mocov2", "mocov3", "barlowtwins", "vicreg",
              "directpred", "swav", "nnclr", "dcl", "dclw", "supcon", "rotnet", "autoencoder",
              "context_encoder", "jigsaw", "context_prediction", "cpc")
])
def test_two_steps_equal_on_1_and_8_devices(method):
    assert len(jax.devices()) >= 8  # tests/conftest.py fakes 8 CPU devices
    config = _config(method)
    s1, l1, m1 = _two_steps(config, 1)
    s8, l8, m8 = _two_steps(config, 8)
    assert np.all(np.isfinite(l1))
    np.testing.assert_allclose(l8, l1, rtol=2e-5)
    np.testing.assert_allclose(m8["embedding_std"], m1["embedding_std"], rtol=1e-4)
    for what in ("params", "batch_stats", "target_params", "target_batch_stats",
                 "probe_params"):
        harness.assert_trees_close(getattr(s1, what), getattr(s8, what), what)
    # Queues hold unit embeddings of the second step's forward pass: float32 rounding of
    # the cross-device BatchNorm reaches ~1e-5 there.
    harness.assert_trees_close(s1.extra, s8.extra, "extra", atol=2e-5)


@pytest.mark.slow
def test_context_encoder_with_adversarial_loss_equal_on_1_and_8_devices():
    """The discriminator (global BN, its own Adam) and the generator's adversarial term."""
    config = _config("context_encoder")
    config.context_encoder.adversarial_weight = 0.3
    config.context_encoder.disc_channels = 8
    s1, l1, m1 = _two_steps(config, 1)
    s8, l8, m8 = _two_steps(config, 8)
    np.testing.assert_allclose(l8, l1, rtol=2e-5)
    for key in ("reconstruction", "adversarial", "discriminator"):
        np.testing.assert_allclose(m8[key], m1[key], rtol=2e-5)
    for what in ("params", "batch_stats", "opt_state"):
        harness.assert_trees_close(getattr(s1, what), getattr(s8, what), what)


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


@pytest.mark.slow
def test_mocov2_shuffle_bn_on_8_devices():
    config = _config("mocov2")
    config.bn = "shuffle"
    s8, losses, _ = _two_steps(config, 8)
    assert np.all(np.isfinite(losses))
    assert int(s8.extra["queue_ptr"]) == 2 * BATCH
    np.testing.assert_allclose(
        np.linalg.norm(np.asarray(s8.extra["queue"])[: 2 * BATCH], axis=1), 1.0, rtol=1e-5)
    # Local BN on shuffled batches: the key encoder's statistics are averaged over devices
    # so that the replicated state is well defined.
    stats = jax.tree.leaves(s8.target_batch_stats)
    assert stats and all(np.all(np.isfinite(s)) for s in stats)
    # Split BN: one device with shuffle_groups=8 computes what 8 devices compute (the
    # same key shuffle, the same 8 BN batches in each encoder).
    s1, losses1, _ = _two_steps(config, 1)
    np.testing.assert_allclose(losses1, losses, rtol=2e-5)
    for what in ("params", "batch_stats", "target_params", "target_batch_stats"):
        harness.assert_trees_close(getattr(s1, what), getattr(s8, what), what)
    harness.assert_trees_close(s1.extra, s8.extra, "extra", atol=2e-5)
