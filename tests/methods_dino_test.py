"""DINO: schedules, multi-crop views, and engine steps checked against hand computations."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssljax import augment, config_schema, data, methods, optim
from ssljax.config_base import pretrain_base
from ssljax.methods.dino import teacher_temperature
from tests import harness

STEPS_PER_EPOCH = 100
TAU_BASE = 0.9
# Deterministic multi-crop views: whole image at 32 px (global), the same solarized
# (second global), and the whole image at 16 px twice (local crops).
_WHOLE = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0)
SPECS = (
    augment.ViewSpec(out_size=32, **_WHOLE),
    augment.ViewSpec(out_size=32, solarize_p=1.0, **_WHOLE),
    augment.ViewSpec(out_size=16, **_WHOLE),
    augment.ViewSpec(out_size=16, **_WHOLE),
)


def _reference_teacher_temps(warmup, final, warmup_epochs, epochs):
    """The authors' schedule: linspace over the warm-up epochs, then constant."""
    return np.concatenate(
        (np.linspace(warmup, final, warmup_epochs), np.ones(epochs - warmup_epochs) * final)
    )


@pytest.mark.parametrize("warmup_epochs", [0, 1, 4, 30])
def test_teacher_temperature_matches_the_reference_schedule(warmup_epochs):
    ref = _reference_teacher_temps(0.04, 0.07, warmup_epochs, 40)
    spe = 7
    steps = jnp.arange(40 * spe)
    got = jax.jit(
        lambda s: teacher_temperature(
            s, spe, warmup_temp=0.04, final_temp=0.07, warmup_epochs=warmup_epochs
        )
    )(steps)
    np.testing.assert_allclose(np.asarray(got), np.repeat(ref, spe), rtol=1e-6)


def test_teacher_temperature_hand_values():
    t = lambda s: float(teacher_temperature(s, 10, warmup_temp=0.04, final_temp=0.07,  # noqa: E731
                                            warmup_epochs=4))
    assert t(0) == pytest.approx(0.04)
    assert t(9) == pytest.approx(0.04)
    assert t(10) == pytest.approx(0.05)
    assert t(25) == pytest.approx(0.06)
    assert t(30) == pytest.approx(0.07)
    assert t(10_000) == pytest.approx(0.07)


def _config(encoder="vit_test"):
    c = pretrain_base("dino")
    c.batch_size = 16
    c.num_epochs = 1
    if encoder == "vit_test":
        c.encoder.name = "vit_test"
    else:
        c.encoder.channels = (8, 16)
        c.encoder.strides = (2, 2)
    c.augment.preset = "dino"
    c.augment.image_size = 32
    c.augment.local_size = 16
    c.augment.num_local = 2
    c.head.hidden_dims = (32, 32)
    c.head.bottleneck_dim = 16
    c.head.out_dim = 64
    c.head.use_bn = False
    c.head.freeze_last_layer_epochs = 0
    c.loss.warmup_teacher_temp = 0.04
    c.loss.teacher_temp = 0.07
    c.loss.warmup_teacher_temp_epochs = 2
    c.ema.tau_base = TAU_BASE
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 4e-3
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 0.04
    return config_schema.resolve(c, warn=False)[0]


def _batch(n=16):
    images, labels = data.load_split({"name": "mnist"}, "train")
    idx = np.random.default_rng(1).permutation(len(images))[:n]
    return {"image": images[idx], "label": labels[idx].astype(np.int32)}


def _train(config, steps, num_devices=1, specs=SPECS):
    run = harness.build(config, num_devices, total_steps=config.num_epochs * STEPS_PER_EPOCH,
                        steps_per_epoch=STEPS_PER_EPOCH, size=32, specs=specs)
    state, batch = run.state, harness.put(_batch(), run)
    states, history = [jax.device_get(state)], []
    for _ in range(steps):
        state, metrics = run.step(state, batch)
        states.append(jax.device_get(state))
        history.append({k: float(v) for k, v in jax.device_get(metrics).items()})
    return run.method, states, history


def _views():
    """The 4 crops of `_batch()` exactly as the engine makes them (SPECS ignore the keys)."""
    x = jnp.asarray(_batch()["image"], jnp.float32) / 255.0
    keys = jax.random.split(jax.random.PRNGKey(0), x.shape[0])
    return [augment.augment_view(keys, x, spec) for spec in SPECS]


@pytest.fixture(scope="module")
def vit_run():
    config = _config()
    config.head.freeze_last_layer_epochs = 1  # all 4 steps are in epoch 0
    return _train(config, steps=4)


def test_loss_finite_and_decreasing(vit_run):
    _, _, hist = vit_run
    loss = [h["loss"] for h in hist]
    assert all(np.isfinite(loss)), loss
    assert all(b < a for a, b in zip(loss, loss[1:], strict=False)), loss
    assert all(0.0 < h["embedding_std"] < 1.0 for h in hist)
    assert all(0.0 <= h["teacher_entropy"] <= np.log(64) + 1e-4 for h in hist)


def test_logged_schedules(vit_run):
    method, _, hist = vit_run
    for k, h in enumerate(hist):
        assert h["teacher_temp"] == pytest.approx(0.04)  # epoch 0 of a 2-epoch warm-up
        tau = TAU_BASE + (1 - TAU_BASE) * (1 - np.cos(np.pi * k / method.total_steps)) / 2
        assert h["tau"] == pytest.approx(tau, rel=1e-6)


@pytest.mark.slow
def test_first_step_center_and_teacher_ema_by_hand(vit_run):
    method, states, hist = vit_run
    s0, s1 = states[0], states[1]
    # The teacher starts as a copy of the student.
    for a, b in zip(jax.tree.leaves(s0.target_params), jax.tree.leaves(s0.params), strict=True):
        np.testing.assert_array_equal(a, b)
    # Center: 0.9 * 0 + 0.1 * mean of the initial teacher's logits on the 2 global crops.
    views = _views()
    t_logits = method.model.apply({"params": s0.target_params}, views[:2], train=False)["proj"]
    np.testing.assert_allclose(s1.extra["center"], 0.1 * t_logits.mean(0, keepdims=True),
                               rtol=1e-4, atol=1e-6)
    # Teacher: tau_0 * teacher + (1 - tau_0) * updated student, tau_0 = TAU_BASE.
    expected = jax.tree.map(lambda t, s: TAU_BASE * t + (1 - TAU_BASE) * s,
                            s0.target_params, s1.params)
    for a, b in zip(jax.tree.leaves(s1.target_params), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert hist[0]["tau"] == pytest.approx(TAU_BASE)


@pytest.mark.slow
def test_first_loss_by_hand(vit_run):
    method, states, hist = vit_run
    s0 = states[0]
    views = _views()
    s = method.model.apply({"params": s0.params}, views, train=False)["proj"].reshape(4, 16, -1)
    t = s[:2]  # teacher == student at step 0, and the ViT has no BN nor drop path here
    tp = jax.nn.softmax(t / 0.04, -1)
    ls = jax.nn.log_softmax(s / 0.1, -1)
    pairs = [(i, j) for i in range(2) for j in range(4) if i != j]
    ref = np.mean([float(-(tp[i] * ls[j]).sum(-1).mean()) for i, j in pairs])
    np.testing.assert_allclose(hist[0]["loss"], ref, rtol=1e-4)


@pytest.mark.slow  # a second compiled run
def test_two_steps_on_8_devices_match_1_device(vit_run):
    """Cross-device center, loss and teacher: 8 fake devices = 1 device on the whole batch."""
    assert len(jax.devices()) >= 8  # tests/conftest.py fakes 8 CPU devices
    _, states, hist = vit_run
    config = _config()
    config.head.freeze_last_layer_epochs = 1
    _, states8, hist8 = _train(config, steps=2, num_devices=8)
    for h1, h8 in zip(hist[:2], hist8, strict=True):
        for k in ("loss", "embedding_std", "teacher_entropy"):
            np.testing.assert_allclose(h8[k], h1[k], rtol=2e-5, err_msg=k)
    s1, s8 = states[2], states8[2]
    for what in ("params", "target_params", "extra"):
        a_tree, b_tree = getattr(s1, what), getattr(s8, what)
        for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(a_tree),
                                jax.tree.leaves(b_tree), strict=True):
            name = jax.tree_util.keystr(path)
            # The attention key bias cancels in the softmax: its exact gradient is 0 and
            # what it holds (~1e-6) is float noise, which Adam does not average away.
            atol = 2e-5 if "['key']['bias']" in name else 2e-6
            np.testing.assert_allclose(b, a, rtol=2e-4, atol=atol, err_msg=f"{what}{name}")


def test_last_layer_frozen_during_the_first_epoch(vit_run):
    _, states, _ = vit_run
    head0, head4 = states[0].params["head"], states[4].params["head"]
    # Frozen as PyTorch freezes a parameter whose .grad is None: no step and no AdamW decay
    # (bit-identical), and its own optimizer state (moments, step count) untouched.
    jax.tree.map(np.testing.assert_array_equal, head4["last_layer"], head0["last_layer"])
    last0, last4 = (s.opt_state.inner_states["last_layer"] for s in (states[0], states[4]))
    jax.tree.map(np.testing.assert_array_equal, last4, last0)
    assert not np.allclose(head4["dense0"]["kernel"], head0["dense0"]["kernel"])


@pytest.mark.slow  # a second compiled run
def test_batchnorm_teacher_keeps_its_own_running_statistics():
    config = _config(encoder="small_cnn")
    specs = tuple(dataclasses.replace(s, out_size=16 if s.out_size == 32 else 8) for s in SPECS)
    config.augment.image_size = 16
    method, states, hist = _train(config, steps=2, specs=specs)
    assert np.isfinite(hist[-1]["loss"])
    t0, t2 = states[0].target_batch_stats, states[2].target_batch_stats
    s2 = states[2].batch_stats
    changed = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(t0), jax.tree.leaves(t2),
                                                     strict=True)]
    assert all(changed)
    # The teacher's statistics come from its own forward passes, not from the student's.
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(t2), jax.tree.leaves(s2),
                                                     strict=True))


def test_digits_multicrop_views_and_crop_scale_overrides():
    config = _config(encoder="small_cnn")
    config.augment.preset = "digits"
    config.augment.image_size = 0
    config.augment.local_size = 14
    config.augment.num_local = 3
    config.augment.crop_scale = (0.5, 1.0)
    config.augment.local_crop_scale = (0.1, 0.3)
    specs = methods.get_method(config, 10).views(28)
    assert [s.out_size for s in specs] == [28, 28, 14, 14, 14]
    assert [s.crop_scale for s in specs] == [(0.5, 1.0)] * 2 + [(0.1, 0.3)] * 3
    assert all(s.flip_p == 0.0 for s in specs)
    config.augment.preset = "dino"
    config.augment.crop_scale = ()
    config.augment.local_crop_scale = ()
    specs = methods.get_method(config, 10).views(28)
    assert [s.crop_scale for s in specs] == [(0.4, 1.0)] * 2 + [(0.05, 0.4)] * 3
    # Multi-crop works with any preset: its global views, then local crops of the first.
    config.augment.preset = "simclr"
    specs = methods.get_method(config, 10).views(28)
    assert [s.out_size for s in specs] == [28, 28, 14, 14, 14]
    assert specs[2] == dataclasses.replace(specs[0], out_size=14, crop_scale=(0.05, 0.4))


def test_ema_update_helper():
    target = {"w": jnp.array([1.0, 2.0])}
    online = {"w": jnp.array([3.0, 6.0])}
    new = optim.ema_update(target, online, 0.75)
    np.testing.assert_allclose(new["w"], [1.5, 3.0])
