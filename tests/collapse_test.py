"""SimSiam without the stop-gradient shows the collapse signature; with it, it does not.

A tiny SimSiam (the digits config with a 2-stage CNN and 32-wide heads) trains for 100
steps on one batch of 64 real digits, once with and once without the stop-gradient on z.
Without it the symmetric negative cosine heads to its minimum −1 while the std of the
L2-normalised projector outputs (the in-step `embedding_std` health metric) falls; with
it the std stays near its initial, spread-out value (SimSiam paper, Figure 2). The
projector's output BatchNorm keeps each dimension's batch mean at 0, so the std cannot
reach 0 with a small batch; the test asks for it to halve. `benchmarks/collapse.py` runs
the full-size version and also reports kNN accuracy and effective rank.
"""

import importlib.util
from pathlib import Path

import jax
import numpy as np
import pytest

from ssljax import data, engine, methods, parallel

REPO = Path(__file__).resolve().parents[1]
STEPS = 100


def _config(stop_gradient):
    spec = importlib.util.spec_from_file_location("simsiam_mnist",
                                                  REPO / "configs" / "simsiam_mnist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config()
    c.stop_gradient = stop_gradient
    c.batch_size = 64
    c.num_epochs = 1
    c.encoder.channels = (8, 16)
    c.encoder.strides = (2, 2)
    c.head.hidden_dims = (32, 32)
    c.head.out_dim = 32
    c.predictor.hidden_dims = (8,)
    c.predictor.out_dim = 32
    c.optimizer.base_lr = 2.0  # SGD lr 0.5 at batch 64: collapse within ~100 steps
    c.optimizer.warmup_epochs = 0
    return c


def _history(stop_gradient):
    config = _config(stop_gradient)
    mesh = parallel.make_mesh(1)
    method = methods.get_method(config, num_classes=10)
    method.bind_schedule(10 * STEPS, 10 * STEPS)  # lr ~ constant over the test's steps
    schedule = engine.learning_rate_schedule(config, 10 * STEPS)
    tx = engine.make_optimizer(config, schedule)
    state = engine.create_state(method, config, mesh, (28, 28, 1), tx)
    step = engine.make_train_step(method, tx, mesh, method.views(28), config, schedule)
    images, labels = data.load_split(config.dataset, "train")
    idx = np.random.default_rng(0).permutation(len(images))[:64]
    batch = {"image": images[idx], "label": labels[idx].astype(np.int32)}
    batch = {k: jax.device_put(v, parallel.batch_sharded(mesh)) for k, v in batch.items()}
    loss, std = [], []
    for _ in range(STEPS):
        state, metrics = step(state, batch)
        loss.append(float(metrics["loss"]))
        std.append(float(metrics["embedding_std"]))
    return np.array(loss), np.array(std)


@pytest.fixture(scope="module")
def runs():
    return {sg: _history(sg) for sg in (True, False)}


def test_without_stop_gradient_the_outputs_collapse(runs):
    loss_sg, std_sg = runs[True]
    loss_nosg, std_nosg = runs[False]
    healthy = 1 / np.sqrt(32)  # std of rows spread uniformly over the 32-d sphere
    assert std_nosg[0] == pytest.approx(std_sg[0])  # same start
    assert std_nosg[0] > 0.8 * healthy
    # Collapse signature: loss near its minimum -1, output std halved ...
    assert loss_nosg[-10:].mean() < -0.75
    assert std_nosg[-10:].mean() < 0.6 * std_nosg[0]
    # ... while the stop-gradient run keeps its outputs spread out.
    assert std_sg[-10:].mean() > 0.85 * std_sg[0]
    assert std_nosg[-10:].mean() < 0.7 * std_sg[-10:].mean()
    assert np.all(np.isfinite(loss_sg)) and np.all(np.isfinite(loss_nosg))


@pytest.mark.parametrize("name", sorted(methods.METHODS))
def test_every_method_logs_the_in_step_embedding_std(name):
    """The health monitor: each method's step returns a scalar `embedding_std` metric.

    Checked by tracing (no compilation) the step of `configs/<name>_mnist.py` with a tiny
    encoder.
    """
    path = REPO / "configs" / f"{name}_mnist.py"
    spec = importlib.util.spec_from_file_location(f"{name}_mnist", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    config = mod.get_config()
    config.batch_size = 16
    if config.encoder.name == "small_cnn":
        config.encoder.channels = (8, 16)
        config.encoder.strides = (2, 2)
    mesh = parallel.make_mesh(1)
    method = methods.get_method(config, num_classes=10)
    method.bind_schedule(100, 10)
    specs = method.views(28)
    schedule = engine.learning_rate_schedule(config, 10)
    tx = engine.make_optimizer(config, schedule)
    size = specs[0].out_size
    state = jax.eval_shape(lambda: engine.create_state(method, config, mesh, (size, size, 1), tx))
    step = engine.make_train_step(method, tx, mesh, specs, config, schedule)
    batch = {"image": jax.ShapeDtypeStruct((16, 28, 28, 1), np.uint8),
             "label": jax.ShapeDtypeStruct((16,), np.int32)}
    _, metrics = jax.eval_shape(step, state, batch)
    assert "embedding_std" in metrics, sorted(metrics)
    assert metrics["embedding_std"].shape == ()
