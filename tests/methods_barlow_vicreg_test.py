"""End-to-end steps of Barlow Twins and VICReg, and SimCLR v2's 3-layer head.

Each method trains a tiny CNN for a few engine steps on one fixed batch of real digits,
with deterministic views (the whole image, and the whole image solarized), so the loss
must go down from step to step.
"""

from pathlib import Path

import jax
import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

from ssljax import augment, config_schema, data, losses, methods
from tests import harness

REPO = Path(__file__).resolve().parents[1]
STEPS_PER_EPOCH = 100
# Deterministic views: resized whole image, and the same image solarized.
PLAIN = augment.ViewSpec(out_size=28, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0)
SOLARIZED = augment.ViewSpec(
    out_size=28, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, solarize_p=1.0
)


def _digits(n=32):
    images, labels = data.load_split({"name": "mnist"}, "train")
    idx = np.random.default_rng(0).permutation(len(images))[:n]
    return {"image": images[idx], "label": labels[idx].astype(np.int32)}


def _tiny_config(method):
    return harness.tiny_config(method, num_epochs=1, head__hidden_dims=(32, 32),
                               head__out_dim=32, optimizer__name="lars",
                               optimizer__base_lr=0.5)


def _train(config, steps, specs=(PLAIN, SOLARIZED), num_devices=1):
    """Runs `steps` engine steps on one batch; returns (method, initial state, state, metrics)."""
    run = harness.build(config, num_devices, total_steps=config.num_epochs * STEPS_PER_EPOCH,
                        steps_per_epoch=STEPS_PER_EPOCH, size=28, specs=specs)
    init = jax.device_get(run.state)
    state, batch = run.state, harness.put(_digits(), run)
    history = []
    for _ in range(steps):
        state, metrics = run.step(state, batch)
        history.append({k: float(v) for k, v in jax.device_get(metrics).items()})
    return run.method, init, jax.device_get(state), history


@pytest.fixture(scope="module")
def runs():
    bt = _tiny_config("barlowtwins")
    bt.loss.scale = 0.5  # the optimized loss is scale * L_BT; L_BT is logged unscaled
    return {"barlowtwins": _train(bt, steps=5), "vicreg": _train(_tiny_config("vicreg"), steps=5)}


@pytest.mark.parametrize("name", ["barlowtwins", "vicreg"])
def test_loss_finite_and_decreasing_on_a_fixed_batch(runs, name):
    _, _, state, hist = runs[name]
    loss = [h["loss"] for h in hist]
    assert all(np.isfinite(loss)), loss
    assert all(b < a for a, b in zip(loss, loss[1:], strict=False)), loss
    assert all(h["nonfinite"] == 0 for h in hist)
    assert int(state.step) == 5
    for h in hist:  # the health monitor: std of the normalised projector output
        assert 0.0 < h["embedding_std"] < 1.0


@pytest.mark.parametrize("name", ["barlowtwins", "vicreg"])
def test_first_loss_matches_the_loss_function_on_separate_forward_passes(runs, name):
    config = _tiny_config(name)
    _, init, _, hist = runs[name]
    config.bn = "local"  # = global on one device; lets the model run outside shard_map
    twin = methods.get_method(config, num_classes=10)
    x = _digits()["image"].astype(np.float32) / 255.0
    views = (x, np.where(x >= 0.5, 1.0 - x, x))  # PLAIN and SOLARIZED
    # Each view through the network on its own, BN with that view's batch statistics.
    out = [twin.apply(init.params, init.batch_stats, v, train=True)[0] for v in views]
    z_a, z_b = out[0]["proj"], out[1]["proj"]
    if name == "barlowtwins":
        expected = losses.barlow_twins(z_a, z_b, lambd=5e-3)
        np.testing.assert_allclose(hist[0]["barlow_twins_loss"], float(expected), rtol=1e-4)
        np.testing.assert_allclose(hist[0]["loss"], 0.5 * float(expected), rtol=1e-4)
    else:
        expected = losses.vicreg(z_a, z_b, sim_coeff=25.0, std_coeff=25.0, cov_coeff=1.0)
        np.testing.assert_allclose(hist[0]["loss"], float(expected), rtol=1e-4)
    # The logged health metric is the global-batch std of the normalised projections.
    zn = np.asarray(z_a) / np.linalg.norm(np.asarray(z_a), axis=1, keepdims=True)
    np.testing.assert_allclose(hist[0]["embedding_std"], zn.std(0).mean(), rtol=1e-4)


@pytest.mark.slow  # a 2048-wide head
def test_simclr_v2_three_layer_head_from_command_line_overrides():
    argv = [
        "prog", f"--config={REPO / 'configs' / 'simclr_mnist.py'}",
        "--config.head.hidden_dims=(2048, 2048)", "--config.head.last_bn=True",
        "--config.batch_size=32",
    ]
    fv = flags.FlagValues()
    # The override flags are registered from the argv given at definition (as the programs'
    # flags are from sys.argv).
    config_flags.DEFINE_config_file("config", flag_values=fv, sys_argv=argv)
    fv(argv)
    config = config_schema.resolve(fv.config, warn=False)[0]
    assert tuple(config.head.hidden_dims) == (2048, 2048)
    assert config.head.last_bn is True
    # a tiny encoder keeps the test fast; the head is full size
    config.encoder.channels = (8, 16)
    config.encoder.strides = (2, 2)
    method, init, state, hist = _train(config, steps=1)
    head = init.params["projector"]
    assert sorted(head) == ["bn0", "bn1", "bn2", "dense0", "dense1", "dense2"]
    assert head["dense1"]["kernel"].shape == (2048, 2048)
    assert "bias" not in head["dense2"]  # BN follows the last layer (SimCLR v2)
    assert init.batch_stats["projector"]["bn2"]["mean"].shape == (config.head.out_dim,)
    assert np.isfinite(hist[0]["loss"]) and hist[0]["nonfinite"] == 0
    assert int(state.step) == 1
