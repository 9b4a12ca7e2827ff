"""BYOL and SimSiam: end-to-end steps with a tiny encoder, the EMA target, stop-gradient."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ssljax import engine, methods, optim, parallel
from ssljax.config_base import pretrain_base
from ssljax.errors import ConfigError

SIZE = 16  # image side: tiny images keep compilation and steps cheap
BATCH = 32


def _tiny(method: str) -> ml_collections.ConfigDict:
    c = pretrain_base()
    c.method = method
    c.batch_size = BATCH
    c.num_epochs = 100  # a nearly constant learning rate over the few steps of a test
    c.encoder.channels = (8, 16)
    c.encoder.strides = (2, 2)
    c.head.hidden_dims = (32,)
    c.head.out_dim = 16
    c.predictor = ml_collections.ConfigDict()
    c.predictor.hidden_dims = (32,)
    c.predictor.out_dim = 16
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.optimizer.warmup_epochs = 0
    return c


def _batch(seed: int = 0) -> dict[str, np.ndarray]:
    """Images with a bright random rectangle on a dark background (something to learn)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 40, size=(BATCH, SIZE, SIZE, 1)).astype(np.uint8)
    for i in range(BATCH):
        y0, x0 = rng.integers(0, SIZE // 2, size=2)
        h, w = rng.integers(3, SIZE // 2, size=2)
        img[i, y0:y0 + h, x0:x0 + w] = 255
    return {"image": img, "label": rng.integers(0, 10, size=(BATCH,), dtype=np.int32)}


def _setup(config, total_steps: int = 1000):
    mesh = parallel.make_mesh(1)
    method = methods.get_method(config, num_classes=10)
    method.bind_schedule(total_steps, 10)
    specs = method.views(SIZE)
    schedule = engine.learning_rate_schedule(config, steps_per_epoch=10)
    tx = engine.make_optimizer(config, schedule)
    state = engine.create_state(method, config, mesh, (SIZE, SIZE, 1), tx)
    step = engine.make_train_step(method, tx, mesh, specs, config, schedule)
    batch = {k: jax.device_put(v, parallel.batch_sharded(mesh)) for k, v in _batch().items()}
    return method, state, step, batch


def _run(state, step, batch, n):
    """n steps on the same batch; returns (host states before each step + final, losses)."""
    states, losses = [], []
    for _ in range(n):
        states.append(jax.device_get(state))  # the step donates its input state
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
        assert float(metrics["nonfinite"]) == 0.0
    states.append(jax.device_get(state))
    return states, losses, metrics


@pytest.fixture(scope="module")
def byol_run():
    c = _tiny("byol")
    c.ema = ml_collections.ConfigDict()
    c.ema.tau_base = 0.5  # far from 1 so that the EMA check is sensitive
    c.ema.schedule = "cosine"
    c.optimizer.base_lr = 2.0
    method, state, step, batch = _setup(c, total_steps=3)
    states, losses, metrics = _run(state, step, batch, 6)
    return method, states, losses, metrics


def test_byol_loss_finite_and_decreasing(byol_run):
    _, _, losses, metrics = byol_run
    assert np.all(np.isfinite(losses))
    assert 0.0 <= losses[0] <= 8.0  # two directions of 2 - 2 cos
    assert np.mean(losses[-2:]) < np.mean(losses[:2]) - 0.1, losses
    assert "tau" in metrics and "embedding_std" in metrics


def test_byol_ema_target_matches_hand_computation(byol_run):
    _, states, _, _ = byol_run
    k_total, base = 3, 0.5
    for k in (0, 1, 3):
        before, after = states[k], states[k + 1]
        tau = 1.0 - (1.0 - base) * (np.cos(np.pi * min(k, k_total) / k_total) + 1.0) / 2.0
        for part in ("encoder", "projector"):
            want = jax.tree.map(
                lambda t, o, tau=tau: tau * np.asarray(t, np.float64)
                + (1 - tau) * np.asarray(o, np.float64),
                before.target_params[part], after.params[part],
            )
            for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(after.target_params[part]),
                            strict=True):
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # Past K the target is frozen (tau = 1); the unused predictor copy never moves.
    for a, b in zip(jax.tree.leaves(states[4].target_params),
                    jax.tree.leaves(states[5].target_params), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(states[0].target_params["predictor"]),
                    jax.tree.leaves(states[-1].target_params["predictor"]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_byol_tau_metric_and_schedule():
    assert float(optim.cosine_ema_schedule(0, 10, 0.996)) == pytest.approx(0.996)
    c = _tiny("byol")
    method = methods.get_method(c, num_classes=10)
    method.bind_schedule(100, 10)
    assert float(method.tau(jnp.asarray(0))) == pytest.approx(0.996, abs=1e-7)
    assert float(method.tau(jnp.asarray(50))) == pytest.approx(0.998, abs=1e-6)
    assert float(method.tau(jnp.asarray(100))) == pytest.approx(1.0)


def test_byol_target_batch_stats_follow_the_target_pass(byol_run):
    _, states, _, _ = byol_run
    s0, s1 = states[0], states[1]
    # Updated from the target's own forward pass: changed, and not a copy of the online stats.
    moved = [not np.allclose(a, b) for a, b in zip(
        jax.tree.leaves(s0.target_batch_stats["encoder"]),
        jax.tree.leaves(s1.target_batch_stats["encoder"]), strict=True)]
    assert all(moved)
    assert set(s1.target_batch_stats) == set(s0.target_batch_stats)


def test_predictor_out_dim_must_match_projector():
    c = _tiny("byol")
    c.predictor.out_dim = 8
    with pytest.raises(ConfigError, match="predictor.out_dim"):
        methods.get_method(c, num_classes=10)


def _simsiam(stop_gradient: bool):
    c = _tiny("simsiam")
    c.stop_gradient = stop_gradient
    c.head.hidden_dims = (32, 32)
    c.head.out_dim = 32
    c.head.last_bn = True
    c.head.last_bn_affine = False
    c.predictor.hidden_dims = (8,)
    c.predictor.out_dim = 32
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 16.0  # lr 2.0 at batch 32: visible progress in a few steps
    c.optimizer.weight_decay = 1e-4
    return c


@pytest.fixture(scope="module")
def simsiam_runs():
    """8 steps on the same batch with and without the stop-gradient, from the same init."""
    runs = {}
    for sg in (True, False):
        _, state, step, batch = _setup(_simsiam(sg))
        states, losses, metrics = _run(state, step, batch, 8)
        runs[sg] = (states, losses, metrics)
    return runs


def test_simsiam_loss_finite_and_decreasing(simsiam_runs):
    states, losses, metrics = simsiam_runs[True]
    assert np.all(np.isfinite(losses))
    assert -1.0 <= min(losses) and max(losses) <= 1.0
    assert np.mean(losses[-2:]) < np.mean(losses[:2]) - 0.05, losses
    # The projector's output BN has no affine parameters (SimSiam's output layer).
    assert "bn2" not in states[0].params["projector"]
    assert "bn2" in states[0].batch_stats["projector"]
    assert "embedding_std" in metrics


def test_simsiam_without_stop_gradient_collapses_faster(simsiam_runs):
    """Without the stop-gradient the loss falls faster by making outputs alike (Fig. 2)."""
    sg_losses, nosg_losses = simsiam_runs[True][1], simsiam_runs[False][1]
    assert sg_losses[0] == pytest.approx(nosg_losses[0], abs=1e-6)  # same start
    assert nosg_losses[-1] < sg_losses[-1] - 0.1, (sg_losses, nosg_losses)
    std_sg = float(simsiam_runs[True][2]["embedding_std"])
    std_nosg = float(simsiam_runs[False][2]["embedding_std"])
    assert std_nosg < std_sg, (std_sg, std_nosg)
