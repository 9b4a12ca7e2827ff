"""`ssljax.models.conv`: the CPU convolution paths (XLA with custom gradients, and oneDNN
where `ssljax.models.native` is built) against float64 NumPy and XLA."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from ssljax.models import conv, native

DN = ("NHWC", "HWIO", "NHWC")


def _np_kernel_gradient(x, g, kshape, strides, padding):
    """dW[i, j] = sum_{n,h,w} x_pad[n, h*s + i, w*s + j, :]^T g[n, h, w, :] in float64."""
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    kh, kw, cin, cout = kshape
    (sh, sw), ((pt, pb), (pl, pr)) = strides, padding
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    _, ho, wo, _ = g.shape
    dw = np.zeros(kshape)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw, :]
            dw[i, j] = np.einsum("nhwc,nhwd->cd", patch, g)
    return dw


def _np_forward(x, w, strides, padding):
    """y[n, h, w, :] = sum_{i,j} x_pad[n, h*s + i, w*s + j, :] @ W[i, j] in float64."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    kh, kw = w.shape[:2]
    (sh, sw), ((pt, pb), (pl, pr)) = strides, padding
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    ho, wo = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], ho, wo, w.shape[3]))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nhwc,cd->nhwd",
                           xp[:, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw],
                           w[i, j])
    return y


def _skip_unbuilt(path):
    if path == "native" and not native.available():
        pytest.skip("the oneDNN kernels are not built (scripts/build_native.sh: no libdnnl-dev)")


def _np_input_gradient(g, w, x_shape, strides, padding):
    """dx_pad[n, h*s + i, w*s + j, :] += g[n, h, w, :] @ W[i, j]^T in float64, then crop."""
    g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
    n, hh, ww, cin = x_shape
    kh, kw = w.shape[:2]
    (sh, sw), ((pt, pb), (pl, pr)) = strides, padding
    _, ho, wo, _ = g.shape
    dxp = np.zeros((n, hh + pt + pb, ww + pl + pr, cin))
    for i in range(kh):
        for j in range(kw):
            dxp[:, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw] += np.einsum(
                "nhwd,cd->nhwc", g, w[i, j])
    return dxp[:, pt : pt + hh, pl : pl + ww]


CASES = [
    # (N, H, C_in, C_out, kernel, stride, padding); N * H_out * W_out > CHUNK_ROWS in the
    # first two, so the scan runs over several chunks.
    (6, 32, 3, 8, 3, 1, ((1, 1), (1, 1))),
    (20, 32, 4, 6, 3, 2, ((1, 1), (1, 1))),
    (3, 9, 5, 7, 1, 2, ((0, 0), (0, 0))),
    (2, 12, 3, 4, 7, 2, ((3, 3), (3, 3))),
    (2, 7, 2, 3, 3, 1, ((0, 2), (1, 0))),
    (1, 7, 2, 3, 3, 2, ((0, 2), (1, 0))),
    (2, 10, 3, 3, 3, 3, ((1, 1), (1, 1))),
    # C_in >= conv.FEW_CHANNELS: one product per tap instead of one im2col product
    (10, 16, 16, 8, 3, 1, ((1, 1), (1, 1))),
    (9, 17, 16, 5, 3, 2, ((1, 0), (0, 1))),
    # small padded layers, where the phases' rows are cropped (the demo's 7 -> 4 layer), a
    # 5x5 kernel with padding 2, and a kernel smaller than the stride (phases with no taps)
    (2, 7, 4, 4, 3, 2, ((1, 1), (1, 1))),
    (1, 5, 2, 2, 5, 2, ((2, 2), (2, 2))),
    (1, 9, 2, 2, 2, 3, ((0, 0), (0, 0))),
]
# The fast tier checks one multi-chunk, one strided and one many-channel case.
FAST_CASES = (1, 2, 7)
CASES = [pytest.param(*c, marks=() if i in FAST_CASES else pytest.mark.slow)
         for i, c in enumerate(CASES)]


@pytest.mark.parametrize("path", ["taps", "native"])
@pytest.mark.parametrize("n,h,cin,cout,k,s,pad", CASES)
def test_kernel_gradient_matches_float64_reference(n, h, cin, cout, k, s, pad, path):
    """The per-tap products, and oneDNN's kernel gradient (`ssljax.models.native`, built by
    scripts/build_native.sh where oneDNN's headers exist) jitted as in a step."""
    _skip_unbuilt(path)
    kx, kg = jax.random.split(jax.random.key(n * h + k))
    x = jax.random.normal(kx, (n, h, h, cin))
    y_shape = jax.eval_shape(
        lambda x: lax.conv_general_dilated(x, jnp.zeros((k, k, cin, cout)), (s, s), pad,
                                           dimension_numbers=DN), x).shape
    g = jax.random.normal(kg, y_shape)
    impl = conv.kernel_gradient if path == "taps" else jax.jit(
        native.kernel_gradient, static_argnums=(2, 3, 4))
    got = impl(x, g, (k, k, cin, cout), (s, s), pad)
    want = _np_kernel_gradient(x, g, (k, k, cin, cout), (s, s), pad)
    # float32 sums of N·H·W products: allow a few ulps of the sum of their magnitudes
    scale = _np_kernel_gradient(np.abs(x), np.abs(g), (k, k, cin, cout), (s, s), pad)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=4e-7 * scale.max())


@pytest.mark.parametrize("path", ["phases", "native"])
@pytest.mark.parametrize("n,h,cin,cout,k,s,pad", CASES)
def test_input_gradient_matches_float64_reference(n, h, cin, cout, k, s, pad, path):
    """The per-phase stride-1 convolutions, and oneDNN's backward-data convolution."""
    _skip_unbuilt(path)
    kg, kw = jax.random.split(jax.random.key(n + h * k))
    w = jax.random.normal(kw, (k, k, cin, cout))
    x_shape = (n, h, h, cin)
    y_shape = jax.eval_shape(
        lambda x: lax.conv_general_dilated(x, w, (s, s), pad, dimension_numbers=DN),
        jax.ShapeDtypeStruct(x_shape, jnp.float32)).shape
    g = jax.random.normal(kg, y_shape)
    impl = conv.input_gradient if path == "phases" else jax.jit(
        native.input_gradient, static_argnums=(2, 3, 4))
    got = impl(g, w, x_shape, (s, s), pad)
    want = _np_input_gradient(g, w, x_shape, (s, s), pad)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("n,h,cin,cout,k,s,pad", CASES)
def test_native_forward_matches_float64_reference(n, h, cin, cout, k, s, pad):
    """oneDNN's forward convolution (XLA's own is tested by XLA)."""
    _skip_unbuilt("native")
    kx, kw = jax.random.split(jax.random.key(n * k + h))
    x = jax.random.normal(kx, (n, h, h, cin))
    w = jax.random.normal(kw, (k, k, cin, cout))
    want = _np_forward(x, w, (s, s), pad)
    got = jax.jit(native.forward, static_argnums=(2, 3, 4))(x, w, want.shape, (s, s), pad)
    scale = _np_forward(np.abs(x), np.abs(w), (s, s), pad)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=4e-7 * scale.max())


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_conv2d_value_and_gradients_equal_lax(dtype):
    x = jax.random.normal(jax.random.key(0), (80, 16, 16, 8), dtype)  # > PLAIN_MAX_ROWS outputs
    w = (jax.random.normal(jax.random.key(1), (3, 3, 8, 16)) * 0.1).astype(dtype)
    pad = ((1, 1), (1, 1))

    def loss(fn, x, w):
        y = fn(x, w, (2, 2), pad, dimension_numbers=DN)
        return jnp.sum(jnp.sin(y.astype(jnp.float32)))

    got = jax.jit(jax.value_and_grad(lambda x, w: loss(conv.conv2d, x, w), (0, 1)))(x, w)
    want = jax.jit(jax.value_and_grad(lambda x, w: loss(lax.conv_general_dilated, x, w),
                                      (0, 1)))(x, w)
    tol = 2e-4 if dtype == jnp.float32 else 2e-2  # float32: 5,120-term sums, other order
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32),
                                   rtol=tol, atol=tol)


def test_resnet_conv_takes_the_fast_path_on_cpu():
    x = jnp.ones((20, 16, 16, 4))  # 20 * 16 * 16 output pixels > PLAIN_MAX_ROWS
    w = jnp.ones((3, 3, 4, 8))
    jaxpr = str(jax.make_jaxpr(lambda x, w: conv.conv2d(x, w, (1, 1), ((1, 1), (1, 1)),
                                                         dimension_numbers=DN))(x, w))
    assert "custom_vjp_call" in jaxpr
    # at most PLAIN_MAX_ROWS output pixels in all, XLA's own gradients are kept, unless
    # oneDNN is built
    small = str(jax.make_jaxpr(lambda x, w: conv.conv2d(x[:, :4, :4], w, (1, 1), ((1, 1), (1, 1)),
                                                         dimension_numbers=DN))(x, w))
    assert ("custom_vjp_call" in small) == native.available()


def test_unsupported_forms_fall_back_to_lax():
    x = jnp.ones((1, 6, 6, 4))
    w = jnp.ones((3, 3, 2, 4))
    # feature groups and string padding are not on the fast path: same result as lax.
    got = conv.conv2d(x, w, (1, 1), "SAME", dimension_numbers=DN, feature_group_count=2)
    want = lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=DN,
                                    feature_group_count=2)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("path", ["taps", "native"])
@pytest.mark.parametrize("k,s,cin", [(3, 1, 4), (3, 2, 4), (1, 2, 4), (3, 1, conv.FEW_CHANNELS)])
def test_conv2d_inside_shard_map_equals_single_device_lax(k, s, cin, path, monkeypatch):
    """Fast path on 2 devices (batch split, kernel replicated) = lax on the whole batch,
    with the per-tap kernel gradient and with oneDNN's."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    if path == "taps":
        monkeypatch.setattr(conv, "_native", lambda x, g: False)
    _skip_unbuilt(path)

    mesh = Mesh(np.array(jax.devices()[:2]), ("data",))
    pad = ((k // 2, k // 2),) * 2
    x = jax.random.normal(jax.random.key(0), (2 * 80, 16, 16, cin))  # 80*8*8 > PLAIN_MAX_ROWS
    w = jax.random.normal(jax.random.key(1), (k, k, cin, 8)) * 0.1

    def loss(fn, x, w):
        return jnp.sum(jnp.sin(fn(x, w, (s, s), pad, dimension_numbers=DN)))

    def per_device(x, w):
        value, grads = jax.value_and_grad(lambda x, w: loss(conv.conv2d, x, w), (0, 1))(x, w)
        return jax.lax.psum(value, "data"), grads[0], grads[1]

    sharded = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(P("data"), P()),
                                    out_specs=(P(), P("data"), P())))
    got = sharded(jax.device_put(x, NamedSharding(mesh, P("data"))), w)
    value, (dx, dw) = jax.value_and_grad(
        lambda x, w: loss(lax.conv_general_dilated, x, w), (0, 1))(x, w)
    jaxpr = str(jax.make_jaxpr(sharded)(x, w))
    if path == "taps":
        assert "scan" in jaxpr  # the kernel-gradient scan ran
    else:
        assert all(t in jaxpr for t in native.TARGETS.values()) and "scan" not in jaxpr
    # oneDNN sums each device's 20,480 products of the kernel gradient in another order
    # (one OpenMP thread per device here): its float32 error reaches ~1e-3 on entries ~3
    atol = {"value": 2e-4, "dx": 2e-4, "dw": 2e-3 if path == "native" else 2e-4}
    for a, b, name in zip(got, (value, dx, dw), atol, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=atol[name])


SET_FLAGS = """
import os, sys
from ssljax.models import conv
print(conv.set_cpu_flags(), os.environ.get("XLA_FLAGS", ""))
import jax
jax.devices()
os.environ["XLA_FLAGS"] = ""
print(conv.set_cpu_flags(), os.environ["XLA_FLAGS"])  # too late: the backends are up
"""


@pytest.mark.parametrize("env,first", [
    ({}, f"True {conv.CPU_FLAG}"),
    ({"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"},
     f"True --xla_cpu_enable_fast_math=false {conv.CPU_FLAG}"),
    ({"SSLJAX_CPU_CONV": "taps"}, "False"),
    ({"SSLJAX_CPU_CONV": "xla"}, "False"),
    ({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=individual_convolution"},
     "False --xla_cpu_experimental_ynn_fusion_type=individual_convolution"),
])
def test_set_cpu_flags_only_before_the_backends_start(env, first):
    """The flag is added to XLA_FLAGS unless the user chose otherwise or it is too late."""
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "SSLJAX_CPU_CONV")}
    env = {**base, **env, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SET_FLAGS], env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert [line.strip() for line in out] == [first, "False"]


def test_bad_cpu_mode_is_a_config_error(monkeypatch):
    from ssljax.errors import ConfigError

    monkeypatch.setenv("SSLJAX_CPU_CONV", "fast")
    with pytest.raises(ConfigError, match="SSLJAX_CPU_CONV='fast' is not one of auto, taps"):
        conv.conv2d(jnp.ones((1, 4, 4, 1)), jnp.ones((3, 3, 1, 1)), (1, 1), ((1, 1), (1, 1)),
                    dimension_numbers=DN)
