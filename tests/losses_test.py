"""Tests of `ssljax.losses` against float64 NumPy references (tests/np_reference.py)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import np_reference as ref
import numpy as np
import pytest

from ssljax import losses as L

# --------------------------------------------------------------------------------------------
# The loss table: each case maps arrays (JAX fn) and float64 arrays (reference) to a value.
# DINO takes stacked crops [S, n, K] / [T, n, K] (the library accepts these as crop lists).
# --------------------------------------------------------------------------------------------

K_QUEUE = 6
S_CROPS, T_CROPS = 4, 2


def _inputs(name, rng, n, d, scale):
    """Float32 inputs of one case: a tuple of arrays."""
    normal = lambda *shape: (rng.standard_normal(shape) * scale).astype(np.float32)
    if name == "info_nce":
        return normal(n, d), normal(n, d), normal(K_QUEUE, d)
    if name == "dino":
        return normal(S_CROPS, n, d), normal(T_CROPS, n, d), normal(d)
    if name == "dino_center_update":
        return normal(d), normal(T_CROPS, n, d)
    return normal(n, d), normal(n, d)


CASES = {
    "nt_xent": (
        lambda a, b: L.nt_xent(a, b, temperature=0.1),
        lambda a, b: ref.nt_xent(a, b, 0.1),
    ),
    "nt_xent_t0.5_block3": (
        lambda a, b: L.nt_xent(a, b, temperature=0.5, block_size=3),
        lambda a, b: ref.nt_xent(a, b, 0.5),
    ),
    "info_nce": (
        lambda q, k, queue: L.info_nce(q, k, queue, temperature=0.2),
        lambda q, k, queue: ref.info_nce(q, k, queue, 0.2),
    ),
    "moco_v3": (
        lambda q, k: L.moco_v3(q, k, temperature=0.2),
        lambda q, k: ref.moco_v3(q, k, 0.2),
    ),
    "byol": (L.byol, ref.byol),
    "simsiam": (L.simsiam, ref.simsiam),
    "barlow_twins": (
        lambda a, b: L.barlow_twins(a, b, lambd=0.05),
        lambda a, b: ref.barlow_twins(a, b, 0.05),
    ),
    "vicreg": (L.vicreg, ref.vicreg),
    "dino": (
        lambda s, t, c: L.dino(s, t, c, student_temp=0.1, teacher_temp=0.04),
        lambda s, t, c: ref.dino(list(s), list(t), c, 0.1, 0.04),
    ),
    "dino_center_update": (
        lambda c, t: L.dino_center_update(c, t, momentum=0.8),
        lambda c, t: ref.dino_center_update(c, list(t), 0.8),
    ),
}
SCALAR_CASES = [name for name in CASES if name != "dino_center_update"]
JITTED = {name: jax.jit(fn) for name, (fn, _) in CASES.items()}


def _grad_argnums(name):
    if name == "dino":
        return (0,)  # the teacher is stop-gradient'ed and the center is not a parameter
    return (0, 1, 2) if name == "info_nce" else (0, 1)


@functools.cache
def _jitted_grad(name):
    return jax.jit(jax.grad(CASES[name][0], argnums=_grad_argnums(name)))


# --------------------------------------------------------------------------------------------
# Values and gradients against the references.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "eager"])
@pytest.mark.parametrize("name", list(CASES))
def test_value_matches_float64_reference(name, jit):
    fn, ref_fn = CASES[name]
    fn = JITTED[name] if jit else fn
    rng = np.random.default_rng(0)
    # Eager runs op by op (each op compiled per shape): one shape is enough there.
    for n, d in [(4, 8), (7, 3)] if jit else [(4, 8)]:
        for scale in [1e-4, 1.0, 1e3]:
            args = _inputs(name, rng, n, d, scale)
            got = fn(*args)
            want = ref_fn(*(a.astype(np.float64) for a in args))
            assert got.dtype == jnp.float32
            assert np.all(np.isfinite(got))
            np.testing.assert_allclose(
                got, want, rtol=2e-5, atol=1e-6, err_msg=f"{name} n={n} d={d} scale={scale}"
            )


@pytest.mark.parametrize("name", SCALAR_CASES)
def test_gradient_matches_finite_differences_of_reference(name):
    fn, ref_fn = CASES[name]
    rng = np.random.default_rng(1)
    # Scale 0.5 keeps VICReg's variance hinge active (std < 1) and away from its kink.
    args = _inputs(name, rng, 3, 4, 0.5)
    grads = _jitted_grad(name)(*args)
    args64 = [a.astype(np.float64) for a in args]
    for pos, g in zip(_grad_argnums(name), grads, strict=True):

        def f(x, pos=pos):
            call = list(args64)
            call[pos] = x
            return ref_fn(*call)

        want = ref.numerical_grad(f, args64[pos])
        assert g.dtype == jnp.float32 and g.shape == args[pos].shape
        tol = 1e-4 * max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(g, want, rtol=1e-3, atol=tol, err_msg=f"{name} arg {pos}")


def test_dino_stops_gradient_into_teacher_and_center():
    s, t, c = _inputs("dino", np.random.default_rng(2), 3, 4, 1.0)
    g_t, g_c = jax.jit(jax.grad(CASES["dino"][0], argnums=(1, 2)))(s, t, c)
    assert np.all(g_t == 0) and np.all(g_c == 0)
    # The student gradient is not zero.
    assert np.any(_jitted_grad("dino")(s, t, c)[0] != 0)


@pytest.mark.parametrize("name", list(CASES))
def test_bfloat16_inputs_give_the_float32_result(name):
    args = _inputs(name, np.random.default_rng(3), 4, 8, 1.0)
    bf16 = [jnp.asarray(a, jnp.bfloat16) for a in args]
    got = JITTED[name](*bf16)
    want = JITTED[name](*(a.astype(jnp.float32) for a in bf16))
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


def test_known_values():
    # Shapes [4, 8] and [1, 8] reuse the compilations of the other tests.
    x = np.random.default_rng(4).standard_normal((4, 8)).astype(np.float32)
    one_a, one_b = x[:1], x[1:2]
    np.testing.assert_allclose(JITTED["byol"](x, 3 * x), 0.0, atol=1e-6)
    np.testing.assert_allclose(JITTED["byol"](x, -x), 4.0, atol=1e-6)
    np.testing.assert_allclose(JITTED["simsiam"](x, 2 * x), -1.0, atol=1e-6)
    # One pair: the positive is the only other view, so the softmax is certain.
    np.testing.assert_allclose(JITTED["nt_xent"](one_a, one_b), 0.0, atol=1e-6)
    np.testing.assert_allclose(JITTED["moco_v3"](one_a, one_b), 0.0, atol=1e-6)
    # Barlow Twins of a batch of one: standardized features are 0, so C = 0 and loss = d.
    np.testing.assert_allclose(JITTED["barlow_twins"](one_a, one_b), 8.0, atol=1e-6)
    # Empty queue: the positive is the only logit.
    np.testing.assert_allclose(L.info_nce(x, x, np.zeros((0, 8), np.float32)), 0.0, atol=1e-6)


def test_nt_xent_under_jit_with_traced_temperature_and_under_vmap():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 3, 4, 8)).astype(np.float32)
    f = jax.jit(lambda a, b, t: L.nt_xent(a, b, temperature=t))
    np.testing.assert_allclose(f(a[0], b[0], 0.3), ref.nt_xent(a[0], b[0], 0.3), rtol=2e-5)
    batched = jax.vmap(L.nt_xent)(a, b)
    want = [ref.nt_xent(x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(batched, want, rtol=2e-5)


# --------------------------------------------------------------------------------------------
# Blockwise NT-Xent.
# --------------------------------------------------------------------------------------------

_dense_value_and_grad = jax.jit(jax.value_and_grad(L.nt_xent, argnums=(0, 1)))


@functools.cache
def _blockwise_value_and_grad(block_size):
    loss = lambda a, b: L.nt_xent(a, b, block_size=block_size)
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))


@pytest.mark.parametrize("block_size", [1, 3, 4, 7, 10, 64])
def test_blockwise_nt_xent_equals_dense(block_size):
    # n = 5 pairs, 10 anchors: 3, 4 and 7 do not divide 10; 10 and 64 take the dense path.
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 5, 4)).astype(np.float32)
    b[2] = 0.0  # a zero vector among the candidates
    value, (g_a, g_b) = _blockwise_value_and_grad(block_size)(a, b)
    d_value, (d_a, d_b) = _dense_value_and_grad(a, b)
    np.testing.assert_allclose(value, d_value, rtol=1e-6)
    np.testing.assert_allclose(g_a, d_a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g_b, d_b, rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(g_b))


def test_blockwise_nt_xent_memory_grows_linearly():
    """XLA's compiled temp memory of value-and-grad: dense ~N^2, blockwise ~N."""

    def temp_bytes(n, block_size):
        x = jax.ShapeDtypeStruct((n, 16), jnp.float32)
        f = jax.value_and_grad(lambda a, b: L.nt_xent(a, b, block_size=block_size), (0, 1))
        stats = jax.jit(f).lower(x, x).compile().memory_analysis()
        if stats is None:
            pytest.skip("this backend reports no memory analysis")
        return stats.temp_size_in_bytes

    dense = temp_bytes(512, None)
    assert dense >= 4 * (2 * 512) ** 2  # at least one 2N x 2N float32 matrix
    small, large = temp_bytes(256, 64), temp_bytes(512, 64)
    assert large < dense / 4
    assert large < 2.5 * small, (small, large)


# --------------------------------------------------------------------------------------------
# Degenerate inputs.
# --------------------------------------------------------------------------------------------


def _degenerate_inputs(name, kind):
    rng = np.random.default_rng(7)
    n = 1 if kind == "batch_of_one" else 4
    args = list(_inputs(name, rng, n, 8, 1.0))
    if kind == "zeros":
        args = [np.zeros_like(a) for a in args]
    elif kind == "identical_views":
        if name == "dino":
            args[1] = args[0][:T_CROPS].copy()  # teacher crops equal to the student's
        elif name == "dino_center_update":
            args[1][1] = args[1][0]
        else:
            args[1] = args[0].copy()
    elif kind == "constant_batch":
        args = [np.broadcast_to(a[..., :1, :] if a.ndim > 1 else a, a.shape).copy() for a in args]
    return args


@pytest.mark.parametrize("kind", ["zeros", "identical_views", "constant_batch", "batch_of_one"])
@pytest.mark.parametrize("name", list(CASES))
def test_degenerate_inputs_give_finite_values_and_gradients(name, kind):
    args = _degenerate_inputs(name, kind)
    if name == "vicreg" and kind == "batch_of_one":
        with pytest.raises(ValueError, match="z_a"):
            JITTED[name](*args)
        return
    value = JITTED[name](*args)
    assert np.all(np.isfinite(value)), value
    if name in SCALAR_CASES:
        for g in _jitted_grad(name)(*args):
            assert np.all(np.isfinite(g)), (name, kind, g)


# --------------------------------------------------------------------------------------------
# Input checks.
# --------------------------------------------------------------------------------------------

_A = np.ones((4, 8), np.float32)
_CROPS = [np.ones((4, 10), np.float32)] * 3

BAD_CALLS = {
    "rank": (lambda: L.nt_xent(_A[0], _A[0]), r"z_a must have rank 2.*\(8,\)"),
    "batch": (lambda: L.nt_xent(_A, _A[:3]), r"z_a and z_b .*\(4, 8\).*\(3, 8\)"),
    "features": (lambda: L.barlow_twins(_A, _A[:, :5]), r"z_a and z_b .*\(4, 5\)"),
    "temperature": (lambda: L.nt_xent(_A, _A, temperature=0.0), "temperature"),
    "block_size0": (lambda: L.nt_xent(_A, _A, block_size=0), "block_size"),
    "block_size_float": (lambda: L.nt_xent(_A, _A, block_size=2.0), "block_size"),
    "queue_dim": (lambda: L.info_nce(_A, _A, np.ones((6, 5))), r"queue .*\(6, 5\).*\(4, 8\)"),
    "queue_rank": (lambda: L.info_nce(_A, _A, np.ones(8)), "queue must have rank 2"),
    "q_rank": (lambda: L.info_nce(_A[None], _A, _A), "q must have rank 2"),
    "info_nce_temp": (lambda: L.info_nce(_A, _A, _A, temperature=-1.0), "temperature"),
    "moco_v3": (lambda: L.moco_v3(_A, _A[:2]), "q and k"),
    "moco_v3_temp": (lambda: L.moco_v3(_A, _A, temperature=0), "temperature"),
    "byol": (lambda: L.byol(_A, _A[:, :2]), "p and z"),
    "simsiam": (lambda: L.simsiam(_A[None], _A[None]), "p must have rank 2"),
    "lambd": (lambda: L.barlow_twins(_A, _A, lambd=-1.0), "lambd"),
    "vicreg_one": (lambda: L.vicreg(_A[:1], _A[:1]), r"z_a.*at least 2.*\(1, 8\)"),
    "vicreg_eps": (lambda: L.vicreg(_A, _A, eps=0.0), "eps"),
    "center_dim": (lambda: L.dino(_CROPS, _CROPS[:2], np.zeros(9)), r"center.*\(9,\)"),
    "center_rank": (lambda: L.dino(_CROPS, _CROPS[:2], np.zeros((2, 10))), "center"),
    "teacher_count": (lambda: L.dino(_CROPS[:1], _CROPS[:2], np.zeros(10)), "teacher_logits"),
    "no_pairs": (lambda: L.dino(_CROPS[:1], _CROPS[:1], np.zeros(10)), "student_logits"),
    "crop_shapes": (
        lambda: L.dino([_CROPS[0], _A], _CROPS[:1], np.zeros(10)),
        r"student_logits\[1\] has shape \(4, 8\)",
    ),
    "empty_crops": (lambda: L.dino([], _CROPS[:1], np.zeros(10)), "student_logits"),
    "student_temp": (
        lambda: L.dino(_CROPS, _CROPS[:2], np.zeros(10), student_temp=0),
        "student_temp",
    ),
    "center_update_k": (lambda: L.dino_center_update(np.zeros(9), _CROPS), "teacher_logits"),
    "momentum": (lambda: L.dino_center_update(np.zeros(10), _CROPS, momentum=1.5), "momentum"),
    "under_jit": (lambda: jax.jit(L.vicreg)(_A, _A[:, :3]), "z_a and z_b"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_input_raises_value_error_naming_the_argument(case):
    call, match = BAD_CALLS[case]
    with pytest.raises(ValueError, match=match):
        call()
