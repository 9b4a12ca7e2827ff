"""The optional native CPU kernels: a convolution and its gradients on oneDNN.

`scripts/build_native.sh` (run by the README's set-up commands) compiles
``ssljax/native/dnnl_conv.cc`` into ``ssljax/native/libssljax_dnnl.so`` where a C++
compiler and oneDNN 2.x or 3.x with its headers exist (Debian/Ubuntu ``libdnnl-dev``;
``ONEDNN_ROOT``; or PyPI's ``onednn-cpu-gomp`` + ``onednn-devel-cpu-gomp`` in the
Python environment). It holds three XLA
FFI handlers, called from inside the jitted step: `forward`, `input_gradient` and
`kernel_gradient` run oneDNN's direct convolution primitives (forward_training,
backward_data, backward_weights) where `ssljax.models.conv` would otherwise run XLA's
convolutions and its per-tap kernel-gradient products. Without the library
`available()` is False and nothing changes; ``SSLJAX_CPU_CONV=taps`` or ``xla`` keep
`ssljax.models.conv` off it too.

``SSLJAX_NATIVE_LIB`` names another build of the library ("" turns it off).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

TARGETS = {"forward": "ssljax_conv_forward", "input_gradient": "ssljax_conv_input_gradient",
           "kernel_gradient": "ssljax_conv_kernel_gradient"}
"""XLA custom-call targets of the three handlers (``dnnl_conv.cc``'s symbols ``SsljaxConv*``)."""
DEFAULT_LIB = Path(__file__).resolve().parents[1] / "native" / "libssljax_dnnl.so"


@functools.cache
def available() -> bool:
    """Whether the oneDNN kernels are built, load and are registered with XLA."""
    path = os.environ.get("SSLJAX_NATIVE_LIB", str(DEFAULT_LIB))
    if not path or not Path(path).is_file():
        return False
    try:
        lib = ctypes.cdll.LoadLibrary(path)
        for symbol, target in zip(("SsljaxConvForward", "SsljaxConvInputGradient",
                                   "SsljaxConvKernelGradient"), TARGETS.values(), strict=True):
            jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)),
                                        platform="cpu")
    except (OSError, AttributeError):
        return False
    return True


def threads_per_device() -> int:
    """OpenMP threads of one call: this process's cores shared by its local devices (XLA
    runs each device's program on its own thread; 8 fake devices on 2 cores get 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // jax.local_device_count())


def _call(kind: str, shape, a, b, strides, padding) -> jax.Array:
    (sh, sw), ((pt, _), (pl, _)) = strides, padding
    out = jax.ShapeDtypeStruct(tuple(shape), jnp.float32)
    # under vmap (MoCo v2's split BatchNorm) one call per mapped slice
    return jax.ffi.ffi_call(TARGETS[kind], out, vmap_method="sequential")(
        a, b, stride_h=np.int64(sh), stride_w=np.int64(sw), pad_top=np.int64(pt),
        pad_left=np.int64(pl), threads=np.int64(threads_per_device()))


def forward(x, w, out_shape: Sequence[int], strides, padding) -> jax.Array:
    """An NHWC/HWIO convolution on oneDNN (float32; needs `available()`).

    Args:
        x: float32 input images `[N, H, W, C_in]`.
        w: float32 kernel `[kh, kw, C_in, C_out]`.
        out_shape: `(N, H_out, W_out, C_out)`.
        strides: `(sh, sw)`.
        padding: `((top, bottom), (left, right))`; the bottom and right padding follow
            from the shapes.

    Returns:
        `y` `[N, H_out, W_out, C_out]` float32.
    """
    return _call("forward", out_shape, x, w, strides, padding)


def input_gradient(g, w, input_shape: Sequence[int], strides, padding) -> jax.Array:
    """`ssljax.models.conv.input_gradient` on oneDNN (float32; needs `available()`).

    Args:
        g: float32 gradient of the output `[N, H_out, W_out, C_out]`.
        w: float32 kernel `[kh, kw, C_in, C_out]`.
        input_shape: `(N, H, W, C_in)`.
        strides, padding: as `forward`.

    Returns:
        `dx` `[N, H, W, C_in]` float32.
    """
    return _call("input_gradient", input_shape, g, w, strides, padding)


def kernel_gradient(x, g, kernel_shape: Sequence[int], strides, padding) -> jax.Array:
    """`ssljax.models.conv.kernel_gradient` on oneDNN (float32; needs `available()`).

    Args:
        x: float32 input images `[N, H, W, C_in]`.
        g: float32 gradient of the output `[N, H_out, W_out, C_out]`.
        kernel_shape: `(kh, kw, C_in, C_out)`.
        strides, padding: as `forward`.

    Returns:
        `dW` `[kh, kw, C_in, C_out]` float32 (inside shard_map, not yet typed as varying
        over the devices: `ssljax.models.conv` casts it as it does its own).
    """
    return _call("kernel_gradient", kernel_shape, x, g, strides, padding)
