"""A 2-D convolution whose gradients are fast on XLA:CPU, and the XLA:CPU flag they need.

Three things made the convolutions of a CPU training step slow in jaxlib 0.10 (measured
on the 2-core development machine, CIFAR ResNet-18, ``benchmarks/cpu_parity.py``):

1. XLA:CPU hands convolutions to YNNPACK by default. For the 3×3, 64→64 layer on 256
   images of 32×32, XLA's own (Eigen) convolution was about twice as fast.
   `set_cpu_flags` keeps YNNPACK for matrix products and reductions only (`CPU_FLAG`);
   the ``ssljax`` programs call it before JAX starts. It made the
   ResNet-18 forward pass 1.7× faster (2.04 s → 1.23 s for 256 images, one device).
2. XLA writes the kernel gradient ``dW`` as one convolution whose "kernel" is the whole
   output-gradient image: slow on YNNPACK, and on Eigen it needs transposes of every
   activation that cost more than the convolution.
3. It writes the input gradient of a strided convolution as a convolution over a
   zero-dilated image, which neither library runs fast.

`conv2d` is ``lax.conv_general_dilated`` with a custom gradient on the CPU backend:

- the kernel gradient is a sum of small matrix products (`kernel_gradient`)::

      dW[i, j] = sum over chunks of sum_{n, h, w} x_pad[n, h*s + i, w*s + j, :]^T g[n, h, w, :]

  one product per kernel tap ``(i, j)``, inside a ``lax.scan`` over chunks of a few
  images so that the shifted copies of the input stay in cache;
- the input gradient of a strided convolution is one stride-1 convolution per output
  phase (`input_gradient`); stride 1 is XLA's own.

Where ``scripts/build_native.sh`` has built it (a C++ compiler and oneDNN's headers), a
float32 convolution and both its gradients run on oneDNN's direct convolution kernels
instead, through XLA FFI calls (`ssljax.models.native`), for every layer: per layer of
ResNet-18 and of the demo's SmallCNN on the development CPU, 1.1-1.4× faster than XLA's
forward and the input gradients above, and about twice as fast as the per-tap kernel
gradients (``benchmarks/cpu_parity.py`` measures whole steps).

Without it the forward pass is XLA's own. On other backends (GPU, TPU), where the vendor
libraries' gradients are fast, `conv2d` is plain ``lax.conv_general_dilated``.
The environment variable ``SSLJAX_CPU_CONV`` picks the CPU path (``benchmarks/
cpu_parity.py`` measures each): ``auto`` (default) as above; ``taps`` leaves XLA's
flags alone (YNNPACK convolutions) and keeps the custom gradients; ``xla`` is XLA's own
flags and gradients; only ``auto`` uses oneDNN.

The result equals ``lax.conv_general_dilated``'s gradient up to float32 summation order
(``tests/models_conv_test.py`` checks both gradients against a float64 reference at
rtol 1e-5).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from ssljax.errors import ConfigError
from ssljax.models import native

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
CPU_FLAG = "--xla_cpu_experimental_ynn_fusion_type=individual_dot,reduce"
"""XLA:CPU flag: YNNPACK for matrix products and reductions, XLA's own convolutions."""
_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type="
CHUNK_ROWS = 1024
"""Output pixels (images × rows × columns) per chunk of the kernel-gradient scan."""
FEW_CHANNELS = 16
"""Below this many input channels the kernel gradient is one im2col product per chunk."""
PLAIN_MAX_ROWS = 4096
"""Layers with at most this many output pixels in the whole batch keep XLA's gradients."""


def cpu_mode() -> str:
    """The CPU convolution path picked by ``SSLJAX_CPU_CONV``: auto, taps or xla.

    Raises:
      ConfigError: any other value.
    """
    mode = os.environ.get("SSLJAX_CPU_CONV", "auto")
    if mode not in ("auto", "taps", "xla"):
        raise ConfigError(f"SSLJAX_CPU_CONV={mode!r} is not one of auto, taps, xla; unset it "
                         "for the default (auto)")
    return mode


def set_cpu_flags() -> bool:
    """Adds `CPU_FLAG` to ``XLA_FLAGS``; returns whether XLA:CPU will run with it.

    Must run before JAX starts its backends: XLA reads ``XLA_FLAGS`` once, then. Leaves
    ``XLA_FLAGS`` alone when it already chooses YNNPACK's operations, or when
    ``SSLJAX_CPU_CONV`` is ``taps`` or ``xla``.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if cpu_mode() == "auto" and _YNN_FLAG not in flags and not _backends_started():
        os.environ["XLA_FLAGS"] = f"{flags} {CPU_FLAG}".strip()
    return eigen_convolutions()


def eigen_convolutions() -> bool:
    """Whether ``XLA_FLAGS`` keeps convolutions out of YNNPACK (XLA's own, on Eigen)."""
    values = [f[len(_YNN_FLAG):] for f in os.environ.get("XLA_FLAGS", "").split()
              if f.startswith(_YNN_FLAG)]
    return bool(values) and "convolution" not in values[-1]


def _backends_started() -> bool:
    from jax._src import xla_bridge  # no public API says whether backends are up

    return xla_bridge.backends_are_initialized()


def _plain(x, w, strides, padding):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=DIMENSION_NUMBERS)


def _chunk(n: int, pixels: int) -> int:
    """The largest divisor of `n` with at most CHUNK_ROWS output rows per chunk."""
    best = 1
    for d in range(1, n + 1):
        if n % d == 0 and d * pixels <= CHUNK_ROWS:
            best = d
    return best


def kernel_gradient(x, g, kernel_shape: Sequence[int], strides, padding) -> jax.Array:
    """Kernel gradient of an NHWC/HWIO convolution as per-tap matrix products.

    Each chunk of images contributes ``g^T x_tap`` (``[C_out, C_in]``) per kernel tap: the
    output gradient as the left operand was the faster order on XLA:CPU. With fewer than
    `FEW_CHANNELS` input channels (an RGB stem) the taps are concatenated into one
    ``[C_out, kh·kw·C_in]`` product instead (im2col), as nine products of 3 channels waste
    the matrix unit.

    Args:
        x: input images `[N, H, W, C_in]`.
        g: gradient of the output `[N, H_out, W_out, C_out]`.
        kernel_shape: `(kh, kw, C_in, C_out)`.
        strides: `(sh, sw)`.
        padding: `((top, bottom), (left, right))`.

    Returns:
        `dW` `[kh, kw, C_in, C_out]` in float32 (accumulated in float32 for any input dtype).
    """
    kh, kw, cin, cout = kernel_shape
    (sh, sw), ((pt, pb), (pl, pr)) = strides, padding
    n, ho, wo, _ = g.shape
    nb = _chunk(n, ho * wo)
    xs = x.reshape(n // nb, nb, *x.shape[1:])
    gs = g.reshape(n // nb, nb, *g.shape[1:])
    columns = cin < FEW_CHANNELS

    def body(acc, chunk):
        # padded per chunk: the padded copy stays in cache instead of a second copy of
        # every activation in memory
        xc = jnp.pad(chunk[0], ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        gc = chunk[1]
        taps = [
            lax.slice(xc, (0, i, j, 0), (nb, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, cin),
                      (1, sh, sw, 1))
            for i in range(kh) for j in range(kw)
        ]
        if columns:
            taps = [jnp.concatenate(taps, axis=-1)]
        prods = [jnp.einsum("nhwd,nhwc->dc", gc, t, preferred_element_type=jnp.float32)
                 for t in taps]
        return acc + (prods[0] if columns else jnp.stack(prods)), None

    # inside shard_map the scan carry must vary like the per-device data
    shape = (cout, kh * kw * cin) if columns else (kh * kw, cout, cin)
    acc = varying_like(jnp.zeros(shape, jnp.float32), x)
    acc, _ = lax.scan(body, acc, (xs, gs))
    if columns:  # [C_out, (i, j, C_in)]
        return acc.T.reshape(kh, kw, cin, cout)
    return acc.swapaxes(1, 2).reshape(kh, kw, cin, cout)


def _phase_taps(k: int, pad: int, stride: int, size: int, taps: int, out: int):
    """One spatial dimension of input phase `k` (input rows `i ≡ k` modulo the stride):
    (residue of its padded rows, kernel taps of that residue, low and high padding of the
    output gradient, rows of the phase). Rows `i = s·t + k`, t = 0 .. ceil(size/s)-1 — the
    last may lie past the input and is cropped — take the padded rows `s·u + r` with
    `r = (k + pad) mod s` and `u = t + (k + pad) // s`."""
    r, u0 = (k + pad) % stride, (k + pad) // stride
    rows = -(-size // stride)
    m = len(range(r, taps, stride))
    # output t reads g[u0 + t - m + 1 .. u0 + t]
    return r, m, m - 1 - u0, rows - out + u0, rows


def input_gradient(g, w, input_shape: Sequence[int], strides, padding) -> jax.Array:
    """Input gradient of an NHWC/HWIO convolution, strided ones as stride-1 convolutions.

    XLA writes the input gradient of a strided convolution as a convolution over the
    zero-dilated output gradient, which XLA:CPU's fast convolution library does not take.
    Each input phase `(k, l)` (input rows `≡ k`, columns `≡ l` modulo the stride) is a
    plain stride-1 convolution of `g` with the kernel taps of one residue, flipped::

        dx_pad[s*u + r] = sum_m g[u - m] w[r + m*s]          (per spatial dimension)

    computed only at the `ceil(H/s)` rows (columns) of the phase that lie in the unpadded
    input (the phases of a small, padded layer would otherwise compute up to twice the
    rows they need), and the phases are interleaved back. Stride 1 is XLA's own gradient.

    Args:
        g: gradient of the output `[N, H_out, W_out, C_out]`.
        w: kernel `[kh, kw, C_in, C_out]`.
        input_shape: `(N, H, W, C_in)`.
        strides: `(sh, sw)`.
        padding: `((top, bottom), (left, right))`.

    Returns:
        `dx` `[N, H, W, C_in]` in `g`'s dtype.
    """
    if tuple(strides) == (1, 1):
        x = varying_like(jnp.zeros(input_shape, g.dtype), g)
        return jax.vjp(lambda x_: _plain(x_, w, strides, padding), x)[1](g)[0]
    n, h, wd, cin = input_shape
    kh, kw = w.shape[:2]
    (sh, sw), ((pt, _), (pl, _)) = strides, padding
    ho, wo = g.shape[1:3]
    wt = jnp.flip(w, (0, 1)).swapaxes(2, 3)  # flipped, [kh, kw, C_out, C_in]
    rows = []
    for k in range(sh):
        r, mh, low_h, high_h, th = _phase_taps(k, pt, sh, h, kh, ho)
        cols = []
        for q in range(sw):
            c, mw, low_w, high_w, tw = _phase_taps(q, pl, sw, wd, kw, wo)
            if mh == 0 or mw == 0:
                cols.append(varying_like(jnp.zeros((n, th, tw, cin), g.dtype), g))
                continue
            # the flipped kernel's taps of this residue: w[r + m*s] for m = mh-1 .. 0
            sub = wt[(kh - 1 - r) % sh :: sh][:mh, (kw - 1 - c) % sw :: sw][:, :mw]
            cols.append(lax.conv_general_dilated(
                g, sub, (1, 1), ((low_h, high_h), (low_w, high_w)),
                dimension_numbers=DIMENSION_NUMBERS))
        rows.append(jnp.stack(cols, axis=3).reshape(n, th, tw * sw, cin))
    dx = jnp.stack(rows, axis=2).reshape(n, th * sh, tw * sw, cin)
    return dx[:, :h, :wd]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_fast(x, w, strides, padding):
    if _native(x, w):
        y = native.forward(x, w, _output_shape(x, w, strides, padding), strides, padding)
        return varying_like(y, x)
    return _plain(x, w, strides, padding)


def _fwd(x, w, strides, padding):
    return _conv_fast(x, w, strides, padding), (x, w)


def _bwd(strides, padding, res, g):
    x, w = res
    if _native(x, g):
        dw = varying_like(native.kernel_gradient(x, g, w.shape, strides, padding), x)
        # dx after dW: XLA would otherwise run the two calls (or dW and the layers below
        # it) at once, two OpenMP teams on the same cores (1.5% slower ResNet-18 steps)
        dw, g = lax.optimization_barrier((dw, g))
        dx = varying_like(native.input_gradient(g, w, x.shape, strides, padding), g)
        return dx, dw.astype(w.dtype)
    dx = input_gradient(g, w, x.shape, strides, padding).astype(x.dtype)
    dw = kernel_gradient(x, g, w.shape, strides, padding).astype(w.dtype)
    return dx, dw


def _native(x, y) -> bool:
    """Whether the convolution of `x` (and `y`: the kernel or the output gradient) runs on
    oneDNN (`ssljax.models.native`): float32, the ``auto`` CPU path, and the library built."""
    return (x.dtype == jnp.float32 and y.dtype == jnp.float32 and cpu_mode() == "auto"
            and native.available())


def _output_shape(x, w, strides, padding) -> tuple[int, ...]:
    """`[N, H_out, W_out, C_out]` of the NHWC/HWIO convolution of `x` with `w`."""
    spatial = tuple((size + lo + hi - k) // s + 1 for size, k, s, (lo, hi)
                    in zip(x.shape[1:3], w.shape[:2], strides, padding, strict=True))
    return (x.shape[0], *spatial, w.shape[3])


_conv_fast.defvjp(_fwd, _bwd)


def varying_like(a, ref):
    """`a` cast to vary over the manual mesh axes `ref` varies over (inside shard_map).

    Arrays built inside the backward pass (zeros, the scan's accumulator) must have the
    per-device type of the data. So must the kernel (and `ssljax.models.batch_norm`'s
    per-channel operands): the custom VJP returns a gradient computed from per-device
    data, and JAX's transpose of this cast is the `psum` over devices that the implicit
    broadcast of a replicated parameter would have.
    """
    extra = tuple(sorted(_varying_axes(ref) - _varying_axes(a)))
    return lax.pcast(a, extra, to="varying") if extra else a


def _varying_axes(a) -> frozenset:
    manual = getattr(jax.typeof(a), "manual_axis_type", None)
    return frozenset(manual.varying) if manual is not None else frozenset()


def conv2d(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    precision=None,
    **kwargs,
):
    """Drop-in for `lax.conv_general_dilated` (the `conv_general_dilated` of `nn.Conv`).

    Plain 2-D NHWC/HWIO convolutions with explicit padding on the CPU backend take the
    fast kernel-gradient path; everything else (dilation, groups, other layouts, string
    padding, GPU/TPU) is `lax.conv_general_dilated` unchanged.
    """
    fast = (
        jax.default_backend() == "cpu"
        and cpu_mode() != "xla"
        and lhs.ndim == 4
        and not isinstance(padding, str)
        and dimension_numbers is not None
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        == lax.conv_dimension_numbers(lhs.shape, rhs.shape, DIMENSION_NUMBERS)
        and feature_group_count == 1
        and all(d == 1 for d in (lhs_dilation or (1, 1)))
        and all(d == 1 for d in (rhs_dilation or (1, 1)))
        and precision is None
        and not kwargs
    )
    if not fast:
        return lax.conv_general_dilated(
            lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
            feature_group_count, precision=precision, **kwargs,
        )
    padding = tuple(tuple(int(p) for p in pair) for pair in padding)
    strides = tuple(int(s) for s in window_strides)
    n, ho, wo, _ = _output_shape(lhs, rhs, strides, padding)
    if n * ho * wo <= PLAIN_MAX_ROWS and not _native(lhs, rhs):
        # A few chunks' worth of output pixels (e.g. 256 images of 4×4, ResNet-18's last
        # stage): the per-tap gradients gain nothing there, so XLA's own are used (oneDNN,
        # where it is built, is faster there too).
        return _plain(lhs, rhs, strides, padding)
    return _conv_fast(lhs, varying_like(rhs, lhs), strides, padding)
