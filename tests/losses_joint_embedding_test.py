"""DCL/DCLW, SupCon, Sinkhorn-Knopp, SwAV and NNCLR's nearest neighbour against float64 NumPy.

The references (tests/np_reference.py) are written from the papers and the official code;
the 8-device equivalence of these losses is in tests/losses_multidevice_test.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssljax import losses as L
from tests import np_reference as ref

RNG = np.random.default_rng(0)
A, B = RNG.standard_normal((2, 6, 5)).astype(np.float32)
B[2] = 0.0  # a zero vector
LABELS = np.array([0, 1, 0, 2, 1, 0], np.int32)
SCORES = [np.tanh(RNG.standard_normal((6, 4))).astype(np.float32) for _ in range(4)]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_dcl_matches_reference(weighted, temperature):
    got = jax.jit(lambda a, b: L.dcl(a, b, temperature=temperature, weighted=weighted))(A, B)
    want = ref.dcl(A, B, temperature, weighted)
    np.testing.assert_allclose(float(got), want, rtol=2e-5)


def test_dcl_is_nt_xent_without_the_positive_in_the_denominator():
    # With one pair there are no negatives left: log of an empty sum is -inf in NT-Xent's
    # decoupled form, so use 3 pairs and compare term by term through the reference.
    a, b = A[:3], B[:3]
    assert float(L.dcl(a, b)) < float(L.nt_xent(a, b))  # dropping the positive lowers it


@pytest.mark.parametrize("views", [1, 2, 3])
def test_supcon_matches_reference(views):
    z = RNG.standard_normal((6, views, 5)).astype(np.float32)
    got = L.supcon(z, LABELS, temperature=0.1, base_temperature=0.07)
    want = ref.supcon(z, LABELS, 0.1, 0.07)
    np.testing.assert_allclose(float(got), want, rtol=2e-5)


def test_supcon_without_labels_in_common_is_simclr_like():
    # Distinct labels and 2 views: the only positive of each view is its twin (NT-Xent).
    z = np.stack([A, B], axis=1)
    got = L.supcon(z, np.arange(6), temperature=0.2)
    np.testing.assert_allclose(float(got), float(L.nt_xent(A, B, temperature=0.2)), rtol=1e-5)


@pytest.mark.parametrize("iterations", [1, 3, 10])
def test_sinkhorn_matches_the_official_algorithm(iterations):
    scores = SCORES[0]
    got = np.asarray(L.sinkhorn_knopp(scores, epsilon=0.05, iterations=iterations))
    want = ref.sinkhorn(scores, 0.05, iterations)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)  # each sample's code


def test_sinkhorn_equipartitions_and_survives_large_scores():
    codes = np.asarray(L.sinkhorn_knopp(SCORES[0], epsilon=0.5, iterations=200))
    np.testing.assert_allclose(codes.sum(axis=0), 6 / 4, rtol=1e-4)  # B/K per prototype
    # Scores whose exp(s/ε) over- or underflows in float32 still give finite codes.
    codes = np.asarray(L.sinkhorn_knopp(SCORES[0] * 1000.0, epsilon=0.05, iterations=50))
    assert np.all(np.isfinite(codes)) and np.all(codes >= 0)
    np.testing.assert_allclose(codes.sum(axis=1), 1.0, rtol=1e-5)


def test_sinkhorn_passes_no_gradient():
    g = jax.grad(lambda s: jnp.sum(L.sinkhorn_knopp(s) * SCORES[1]))(SCORES[0])
    np.testing.assert_array_equal(np.asarray(g), 0.0)


@pytest.mark.parametrize("num_low", [0, 2])
def test_swav_matches_the_official_loop(num_low):
    highs, lows = SCORES[:2], SCORES[2:2 + num_low]
    got = L.swav(highs, lows, temperature=0.1, epsilon=0.05, sinkhorn_iterations=3)
    want = ref.swav(highs, lows, 0.1, 0.05, 3)
    np.testing.assert_allclose(float(got), want, rtol=2e-5)


def test_swav_queue_scores_enter_the_equipartition_only():
    queue = [np.tanh(RNG.standard_normal((10, 4))).astype(np.float32) for _ in range(2)]
    got = L.swav(SCORES[:2], [], queue_scores=queue)
    # By hand: codes of [queue; batch], keep the batch's rows.
    q = [ref.sinkhorn(np.concatenate([queue[i], SCORES[i]]))[-6:] for i in range(2)]
    log_p = [np.log(np.exp(s / 0.1) / np.exp(s / 0.1).sum(1, keepdims=True)) for s in SCORES[:2]]
    want = 0.5 * (-np.mean(np.sum(q[0] * log_p[1], 1)) - np.mean(np.sum(q[1] * log_p[0], 1)))
    np.testing.assert_allclose(float(got), want, rtol=2e-5)


def test_nearest_neighbour_matches_numpy_argmax_of_cosines():
    support = RNG.standard_normal((9, 5)).astype(np.float32)
    got = np.asarray(L.nearest_neighbour(A, support))
    cos = (A / np.linalg.norm(A, axis=1, keepdims=True)) @ (
        support / np.linalg.norm(support, axis=1, keepdims=True)).T
    np.testing.assert_array_equal(got, support[np.argmax(cos, axis=1)])
    g = jax.grad(lambda z: jnp.sum(L.nearest_neighbour(z, support)))(A)
    np.testing.assert_array_equal(np.asarray(g), 0.0)


@pytest.mark.parametrize("fn", [
    lambda: L.dcl(A, B[:3]), lambda: L.dcl(A, B, sigma=0.0), lambda: L.supcon(A, LABELS),
    lambda: L.supcon(A[:, None], LABELS[:3]), lambda: L.sinkhorn_knopp(A, iterations=0),
    lambda: L.swav(SCORES[:1], []), lambda: L.swav(SCORES[:2], [A]),
    lambda: L.nearest_neighbour(A, A[:, :3]),
])
def test_bad_input_is_a_value_error(fn):
    with pytest.raises(ValueError):
        fn()
