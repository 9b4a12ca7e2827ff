"""Property tests (hypothesis) of `ssljax.losses`: invariances the papers' losses have.

Shapes are fixed so that each jitted function compiles once; hypothesis varies the values,
the scale factors, the shifts and the permutations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ssljax import losses as L

N, D, K_QUEUE = 6, 5, 7
SETTINGS = settings(max_examples=25, deadline=None)

seeds = st.integers(0, 2**32 - 1)
# Per-row positive factors. Rows have norms ~sqrt(D), far above the normalization epsilon.
row_factors = hnp.arrays(np.float32, (N, 1), elements=st.floats(1 / 64, 64.0, width=32))
dim_shifts = hnp.arrays(np.float32, (D,), elements=st.floats(-10, 10, width=32))

nt_xent = jax.jit(L.nt_xent)
byol = jax.jit(L.byol)
simsiam = jax.jit(L.simsiam)
barlow_twins = jax.jit(L.barlow_twins)
info_nce = jax.jit(L.info_nce)
moco_v3 = jax.jit(lambda q, k: L.moco_v3(q, k, temperature=0.2))
vicreg_var_cov = jax.jit(lambda a, b: L.vicreg(a, b, sim_coeff=0.0))
vicreg = jax.jit(L.vicreg)


def _pair(seed, n=N, d=D):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((2, n, d)).astype(np.float32)


def _close(x, y, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@SETTINGS
@given(seed=seeds, f_a=row_factors, f_b=row_factors)
def test_nt_xent_invariant_to_positive_rescaling(seed, f_a, f_b):
    a, b = _pair(seed)
    _close(nt_xent(a * f_a, b * f_b), nt_xent(a, b))


@SETTINGS
@given(seed=seeds, perm=st.permutations(range(N)), swap=st.booleans())
def test_nt_xent_invariant_to_permuting_pairs(seed, perm, swap):
    a, b = _pair(seed)
    a_p, b_p = a[list(perm)], b[list(perm)]
    if swap:  # swapping the two views of every pair is a permutation of the 2N views too
        a_p, b_p = b_p, a_p
    _close(nt_xent(a_p, b_p), nt_xent(a, b))


@SETTINGS
@given(seed=seeds, perm=st.permutations(range(N)))
def test_moco_v3_invariant_to_permuting_pairs(seed, perm):
    q, k = _pair(seed)
    _close(moco_v3(q[list(perm)], k[list(perm)]), moco_v3(q, k))


@SETTINGS
@given(seed=seeds, f_p=row_factors, f_z=row_factors)
def test_byol_and_simsiam_invariant_to_positive_rescaling(seed, f_p, f_z):
    p, z = _pair(seed)
    _close(byol(p * f_p, z * f_z), byol(p, z))
    _close(simsiam(p * f_p, z * f_z), simsiam(p, z))


@SETTINGS
@given(seed=seeds, shift_a=dim_shifts, shift_b=dim_shifts)
def test_barlow_twins_invariant_to_per_dimension_shifts(seed, shift_a, shift_b):
    a, b = _pair(seed)
    # Shifts of up to 10 on unit-variance data cost ~1e-6 relative in float32 centering.
    _close(barlow_twins(a + shift_a, b + shift_b), barlow_twins(a, b), rtol=1e-4, atol=1e-4)


@SETTINGS
@given(seed=seeds, shift=dim_shifts)
def test_vicreg_variance_and_covariance_invariant_to_per_dimension_shifts(seed, shift):
    a, b = _pair(seed)
    _close(vicreg_var_cov(a + shift, b - shift), vicreg_var_cov(a, b), rtol=1e-4, atol=1e-4)
    # The invariance term sees the shift: a common shift of both views leaves all unchanged.
    _close(vicreg(a + shift, b + shift), vicreg(a, b), rtol=1e-4, atol=1e-4)


@SETTINGS
@given(seed=seeds, perm=st.permutations(range(K_QUEUE)))
def test_info_nce_invariant_to_queue_row_permutation(seed, perm):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((2, N, D)).astype(np.float32)
    queue = rng.standard_normal((K_QUEUE, D)).astype(np.float32)
    _close(info_nce(q, k, queue[list(perm)]), info_nce(q, k, queue))


# Fuzzing: every loss, over shapes, input scales and degenerate batches, gives a finite
# scalar and finite input gradients of the input's shape.
FUZZ_SHAPES = [(2, 1), (2, 3), (3, 8), (8, 2), (5, 16)]


def _fuzz_inputs(kind, shape, scale, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((2, *shape)) * scale).astype(np.float32)
    if kind == "zeros":
        a, b = np.zeros_like(a), np.zeros_like(b)
    elif kind == "identical views":
        b = a.copy()
    elif kind == "constant batch":
        a = np.broadcast_to(a[:1], a.shape).copy()
        b = a.copy()
    elif kind == "one-hot rows":
        a = np.eye(shape[0], shape[1], dtype=np.float32) * scale
        b = a.copy()
    return a, b


FUZZ_LOSSES = {
    "nt_xent": lambda a, b: L.nt_xent(a, b, temperature=0.1),
    "nt_xent_blockwise": lambda a, b: L.nt_xent(a, b, temperature=0.1, block_size=3),
    "info_nce": lambda a, b: L.info_nce(a, b, jnp.concatenate([b, -a]), temperature=0.2),
    "moco_v3": lambda a, b: L.moco_v3(a, b, temperature=0.2),
    "byol": L.byol,
    "simsiam": L.simsiam,
    "barlow_twins": L.barlow_twins,
    "vicreg": L.vicreg,
    "dino": lambda a, b: L.dino([a, b, a[:, ::-1]], [b, a], jnp.zeros((1, a.shape[1]))),
}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(sorted(FUZZ_LOSSES)),
    kind=st.sampled_from(["random", "zeros", "identical views", "constant batch",
                          "one-hot rows"]),
    shape=st.sampled_from(FUZZ_SHAPES),
    log_scale=st.integers(-6, 4),
    seed=seeds,
)
@pytest.mark.slow  # hypothesis fuzzing
def test_fuzz_every_loss_finite_value_and_gradients(name, kind, shape, log_scale, seed):
    a, b = _fuzz_inputs(kind, shape, 10.0 ** log_scale, seed)
    value, grads = _FUZZ_JIT[name](a, b)
    assert value.shape == () and np.isfinite(float(value)), (name, kind, shape, log_scale)
    for g, x in zip(grads, (a, b), strict=True):
        assert g.shape == x.shape and np.all(np.isfinite(np.asarray(g))), (name, kind, shape)


_FUZZ_JIT = {
    name: jax.jit(jax.value_and_grad(f, argnums=(0, 1))) for name, f in FUZZ_LOSSES.items()
}
