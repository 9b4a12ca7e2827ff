"""BYOL and SimSiam: end-to-end steps with a tiny encoder, the EMA target, stop-gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssljax import methods, optim
from ssljax.errors import ConfigError
from tests import harness


def _tiny(method: str):
    return harness.tiny_config(method)


def _setup(config, total_steps: int = 1000):
    run = harness.build(config, total_steps=total_steps)
    return run.method, run


def _run(run, n):
    """n steps on the same batch; returns (host states before each step + final, losses)."""
    states, losses, metrics = harness.run_steps(run, harness.batch(), n)
    assert float(metrics["nonfinite"]) == 0.0
    return states, losses, metrics


@pytest.fixture(scope="module")
def byol_run():
    c = _tiny("byol")
    c.ema.tau_base = 0.5  # far from 1 so that the EMA check is sensitive
    c.ema.schedule = "cosine"
    c.optimizer.base_lr = 2.0
    method, run = _setup(c, total_steps=3)
    states, losses, metrics = _run(run, 6)
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
    # Past K the target is frozen (tau = 1); the predictor has no target copy at all.
    for a, b in zip(jax.tree.leaves(states[4].target_params),
                    jax.tree.leaves(states[5].target_params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(states[0].target_params) == {"encoder", "projector"}
    assert set(states[0].target_batch_stats) <= {"encoder", "projector"}


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


def _simsiam_run(stop_gradient: bool):
    """8 steps on the same batch (the same init whatever `stop_gradient`)."""
    _, run = _setup(_simsiam(stop_gradient))
    return _run(run, 8)


@pytest.fixture(scope="module")
def simsiam_run():
    return _simsiam_run(True)


def test_simsiam_loss_finite_and_decreasing(simsiam_run):
    states, losses, metrics = simsiam_run
    assert np.all(np.isfinite(losses))
    assert -1.0 <= min(losses) and max(losses) <= 1.0
    assert np.mean(losses[-2:]) < np.mean(losses[:2]) - 0.05, losses
    # The projector's output BN has no affine parameters (SimSiam's output layer).
    assert "bn2" not in states[0].params["projector"]
    assert "bn2" in states[0].batch_stats["projector"]
    assert "embedding_std" in metrics


@pytest.mark.slow  # a second compiled run
def test_simsiam_without_stop_gradient_collapses_faster(simsiam_run):
    """Without the stop-gradient the loss falls faster by making outputs alike (Fig. 2)."""
    nosg_run = _simsiam_run(False)
    sg_losses, nosg_losses = simsiam_run[1], nosg_run[1]
    assert sg_losses[0] == pytest.approx(nosg_losses[0], abs=1e-6)  # same start
    assert nosg_losses[-1] < sg_losses[-1] - 0.1, (sg_losses, nosg_losses)
    std_sg = float(simsiam_run[2]["embedding_std"])
    std_nosg = float(nosg_run[2]["embedding_std"])
    assert std_nosg < std_sg, (std_sg, std_nosg)
