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

import numpy as np
import pytest

from ssljax import config_schema, data
from tests import harness

REPO = Path(__file__).resolve().parents[1]
STEPS = 100


def _config(stop_gradient):
    spec = importlib.util.spec_from_file_location("simsiam_mnist",
                                                  REPO / "configs" / "simsiam_mnist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = config_schema.resolve(mod.get_config(), warn=False)[0]
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
    # lr ~ constant over the test's steps
    run = harness.build(config, total_steps=10 * STEPS, steps_per_epoch=10 * STEPS, size=28)
    images, labels = data.load_split(config.dataset, "train")
    idx = np.random.default_rng(0).permutation(len(images))[:64]
    batch = harness.put({"image": images[idx], "label": labels[idx].astype(np.int32)}, run)
    state, loss, std = run.state, [], []
    for _ in range(STEPS):
        state, metrics = run.step(state, batch)
        loss.append(float(metrics["loss"]))
        std.append(float(metrics["embedding_std"]))
    return np.array(loss), np.array(std)


@pytest.fixture(scope="module")
def runs():
    """100 steps each: minutes on this CPU, so the test is in the slow tier."""
    return {sg: _history(sg) for sg in (True, False)}


@pytest.mark.slow
def test_without_stop_gradient_the_outputs_collapse(runs):
    loss_sg, std_sg = runs[True]
    loss_nosg, std_nosg = runs[False]
    healthy = 1 / np.sqrt(32)  # std of rows spread uniformly over the 32-d sphere
    assert std_nosg[0] == pytest.approx(std_sg[0])  # same start
    assert std_nosg[0] > 0.8 * healthy
    # Medians over the last 40 steps: at this learning rate both runs are chaotic (a
    # float32 rounding change in step 1 moves the loss of step 100 by 0.2, and single
    # steps spike), so the signature is read from the trend, not from the last few steps.
    def tail(a):
        return np.median(a[-40:])

    # Collapse signature: loss near its minimum -1, output std halved ...
    assert tail(loss_nosg) < -0.75
    assert tail(std_nosg) < 0.6 * std_nosg[0]
    # ... while the stop-gradient run keeps its outputs spread out.
    assert tail(std_sg) > 0.85 * std_sg[0]
    assert tail(std_nosg) < 0.7 * tail(std_sg)
    assert np.all(np.isfinite(loss_sg)) and np.all(np.isfinite(loss_nosg))
