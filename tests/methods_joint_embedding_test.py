"""DirectPred, SwAV, NNCLR, DCL/DCLW and SupCon: engine steps and their method-specific state.

Each method trains the harness's tiny CNN for a few steps on a fixed batch; the checks
are the methods' own mechanics against NumPy: DirectPred's predictor from `eigh` of F and
F's EMA; SwAV's unit prototypes, frozen during the first epoch; NNCLR's queue (global row
order) and nearest neighbours; SupCon's use of the labels.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ssljax import losses, methods, parallel
from ssljax.methods import base
from ssljax.methods.directpred import predictor_from_correlation
from tests import harness

BATCH = harness.BATCH


def _run(method, steps=3, **overrides):
    # Local BN: on one device the same as global, and the tests can apply the network
    # outside shard_map.
    overrides.setdefault("bn", "local")
    run = harness.build(harness.tiny_config(method, **overrides), steps_per_epoch=2)
    return run, *harness.run_steps(run, harness.batch(), steps)


# --------------------------------------------------------------------------- DirectPred


def test_directpred_predictor_from_eigh_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 6))
    corr = (x.T @ x / 50).astype(np.float32)
    s, u = np.linalg.eigh(corr.astype(np.float64))
    p = np.maximum(np.sqrt(np.clip(s, 0, None) / s.max()) + 0.01, 1e-4)
    want = u @ np.diag(p) @ u.T
    got = np.asarray(predictor_from_correlation(corr, eps=0.01))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, got.T, atol=1e-6)  # symmetric
    assert np.linalg.eigvalsh(got).min() > 0  # positive definite
    copy = np.asarray(predictor_from_correlation(corr, eps=0.01, mode="copy"))
    np.testing.assert_allclose(copy, corr / s.max() + 0.01 * np.eye(6), rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def directpred_run():
    return _run("directpred", steps=3, directpred__rho=0.3)


def test_directpred_f_is_the_ema_of_the_uncentred_correlation(directpred_run):
    run, states, losses_, _ = directpred_run
    assert np.all(np.isfinite(losses_))
    x = np.asarray(harness.batch()["image"], np.float32) / 255.0
    rho, corr = 0.3, None
    for k in range(3):
        st = states[k]
        # Both views' projections as the step computed them (the same per-example keys).
        (o1, o2), _ = base.apply_views(run.method.model, st.params, st.batch_stats,
                                       _views(run, k, x)[:2])
        z = np.concatenate([np.asarray(o1["proj"]), np.asarray(o2["proj"])]).astype(np.float64)
        batch = z.T @ z / z.shape[0]  # uncentred, both views, the whole batch
        corr = batch if corr is None else rho * corr + (1 - rho) * batch
        np.testing.assert_allclose(states[k + 1].extra["corr"], corr, rtol=2e-3, atol=2e-5)
        want_w = predictor_from_correlation(states[k + 1].extra["corr"], eps=0.01)
        np.testing.assert_allclose(states[k + 1].extra["predictor"], want_w, rtol=1e-5,
                                   atol=1e-6)
    # W is set, not learned: the online parameters hold no predictor.
    assert "predictor" not in states[0].params


def _views(run, step, x):
    from ssljax import augment  # noqa: PLC0415

    key = jax.random.fold_in(jax.random.PRNGKey(0), 1)
    rows = np.arange(x.shape[0])
    return [augment.augment_view(augment.example_keys(key, step, v, rows), x, spec)
            for v, spec in enumerate(run.specs)]


def test_directpred_batch_correlation_is_psd_and_symmetric(directpred_run):
    _, states, _, _ = directpred_run
    corr = np.asarray(states[1].extra["corr"], np.float64)  # the first batch's correlation
    np.testing.assert_allclose(corr, corr.T, atol=1e-6)
    assert np.linalg.eigvalsh(corr).min() > -1e-5


# --------------------------------------------------------------------------- SwAV


@pytest.fixture(scope="module")
def swav_run():
    # 2 steps per epoch and freeze_prototypes_epochs=1: steps 0 and 1 frozen, step 2 not.
    return _run("swav", steps=3, head__num_prototypes=20, augment__num_local=2,
                augment__local_size=8, optimizer__name="sgd", optimizer__weight_decay=1e-3)


def test_swav_prototypes_are_unit_vectors_and_frozen_in_the_first_epoch(swav_run):
    _, states, losses_, metrics = swav_run
    assert np.all(np.isfinite(losses_)) and float(metrics["nonfinite"]) == 0
    protos = [np.asarray(s.params["head"]["prototypes"]["kernel"]) for s in states]
    for p in protos:
        np.testing.assert_allclose(np.linalg.norm(p, axis=0), 1.0, rtol=1e-5)
    # Frozen: no gradient step (up to the renormalisation's rounding) ...
    np.testing.assert_allclose(protos[1], protos[0], atol=1e-6)
    np.testing.assert_allclose(protos[2], protos[1], atol=1e-6)
    assert np.abs(protos[3] - protos[2]).max() > 1e-4  # trained from the second epoch
    # ... and no optimizer state (momentum) accumulated for them, as PyTorch's `.grad = None`.
    momentum = [_under(s.opt_state, "prototypes") for s in states]
    assert momentum[0] and all(np.all(m == 0) for m in momentum[2])
    assert any(np.any(m != 0) for m in momentum[3])
    assert not np.allclose(np.asarray(jax.tree.leaves(states[0].params["encoder"])[0]),
                           np.asarray(jax.tree.leaves(states[1].params["encoder"])[0]))


def _under(tree, key):
    """The leaves of `tree` whose path has the dict key `key`."""
    return [np.asarray(x) for path, x in jax.tree_util.tree_leaves_with_path(tree)
            if any(getattr(k, "key", None) == key for k in path)]


@pytest.mark.slow  # its own compiled run
def test_swav_queue_fills_then_enters_the_loss():
    run, states, _, _ = _run("swav", steps=4, head__num_prototypes=20, augment__num_local=0,
                             swav__queue_length=2 * BATCH, swav__queue_start_epoch=0)
    fill = [int(s.extra["queue_fill"]) for s in states]
    assert fill == [0, BATCH, 2 * BATCH, 3 * BATCH, 4 * BATCH]
    q = np.asarray(states[2].extra["queue"])  # full after two steps: unit embeddings
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------- NNCLR


@pytest.mark.slow
def test_nnclr_enqueues_the_first_views_projections_in_order_and_learns():
    run, states, losses_, _ = _run("nnclr", steps=3, nnclr__queue_size=4 * BATCH)
    assert np.all(np.isfinite(losses_))
    ptr = [int(s.extra["queue_ptr"]) for s in states]
    assert ptr == [0, BATCH, 2 * BATCH, 3 * BATCH]
    q0, q1 = np.asarray(states[0].extra["queue"]), np.asarray(states[1].extra["queue"])
    np.testing.assert_array_equal(q1[BATCH:], q0[BATCH:])  # only the oldest rows replaced
    np.testing.assert_allclose(np.linalg.norm(q1[:BATCH], axis=1), 1.0, rtol=1e-5)
    # The new rows are the first view's projections of step 0 (the step's own forward).
    x = np.asarray(harness.batch()["image"], np.float32) / 255.0
    v0 = _views(run, 0, x)[0]
    s0 = states[0]
    z = run.method.model.apply({"params": s0.params, "batch_stats": s0.batch_stats},
                               np.asarray(v0), train=True, mutable=["batch_stats"])[0]["proj"]
    np.testing.assert_allclose(q1[:BATCH], np.asarray(losses.l2_normalize(z)), rtol=2e-4,
                               atol=2e-5)


def test_nnclr_queue_must_hold_whole_batches():
    with pytest.raises(Exception, match="queue_size"):
        methods.get_method(harness.tiny_config("nnclr", nnclr__queue_size=BATCH + 1), 10)


# --------------------------------------------------------------------------- DCL, SupCon


@pytest.mark.parametrize("method", [pytest.param("dcl", marks=pytest.mark.slow),
                                    pytest.param("dclw", marks=pytest.mark.slow)])
def test_dcl_steps_learn(method):
    _, _, losses_, metrics = _run(method, steps=4, optimizer__name="lars",
                                  optimizer__base_lr=2.0)
    assert np.all(np.isfinite(losses_)) and losses_[-1] < losses_[0]
    assert 0 < float(metrics["embedding_std"]) < 1


@pytest.mark.slow
def test_supcon_uses_the_labels():
    run = harness.build(harness.tiny_config("supcon"))
    b = harness.batch()
    start = jax.device_get(run.state)  # the step donates its input: keep a host copy
    _, l_true, _ = harness.run_steps(run, b, 1)
    relabelled = {**b, "label": np.zeros_like(b["label"])}  # every example one class
    _, l_one, _ = harness.run_steps(run, relabelled, 1,
                                    state=jax.device_put(start, parallel.replicated(run.mesh)))
    assert np.isfinite(l_true[0]) and np.isfinite(l_one[0]) and l_true[0] != l_one[0]
    assert run.method.uses_labels and not methods.METHODS["simclr"].uses_labels


# --------------------------------------------------------------------------- SimCLR


def _tf_contrastive_loss(hidden, temperature):
    """google-research/simclr `tf2/objective.py` `add_contrastive_loss` in float64 NumPy:
    l2-normalise, split into the two views, logits_ab|aa with the self-similarity masked by
    LARGE_NUM, loss = mean CE of view a's anchors + mean CE of view b's anchors."""
    large = 1e9
    h = hidden / np.linalg.norm(hidden, axis=1, keepdims=True)
    h1, h2 = np.split(h, 2, axis=0)
    n = h1.shape[0]
    masks = np.eye(n)

    def ce(logits):
        logits = logits - logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -np.mean(logp[np.arange(n), np.arange(n)])  # label = the positive in logits_ab

    aa = h1 @ h1.T / temperature - masks * large
    bb = h2 @ h2.T / temperature - masks * large
    loss_a = ce(np.concatenate([h1 @ h2.T / temperature, aa], axis=1))
    loss_b = ce(np.concatenate([h2 @ h1.T / temperature, bb], axis=1))
    return loss_a + loss_b


@pytest.mark.slow
def test_simclr_objective_is_the_tf_references_value_and_gradient():
    from ssljax.methods.simclr import objective  # noqa: PLC0415

    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((12, 5))
    z = jax.numpy.asarray(hidden, jax.numpy.float32)

    def f(x):
        return objective(x[:6], x[6:], temperature=0.5, axis_name=None)

    value, grad = jax.value_and_grad(f)(z)
    np.testing.assert_allclose(value, _tf_contrastive_loss(hidden, 0.5), rtol=1e-5)
    np.testing.assert_allclose(value, 2 * losses.nt_xent(z[:6], z[6:], temperature=0.5),
                               rtol=1e-6)
    eps, num = 1e-6, np.zeros_like(hidden)
    for idx in np.ndindex(hidden.shape):
        d = np.zeros_like(hidden)
        d[idx] = eps
        num[idx] = (_tf_contrastive_loss(hidden + d, 0.5)
                    - _tf_contrastive_loss(hidden - d, 0.5)) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-3, atol=1e-5)
