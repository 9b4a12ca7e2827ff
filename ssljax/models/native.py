"""The optional native CPU kernel: a convolution's kernel gradient on oneDNN.

`scripts/build_native.sh` (run by the README's set-up commands) compiles
``ssljax/native/dnnl_conv.cc`` into ``ssljax/native/libssljax_dnnl.so`` where a C++
compiler and oneDNN's headers exist (Debian/Ubuntu ``libdnnl-dev``). It is an XLA FFI
handler: `kernel_gradient` calls oneDNN's direct convolution backward-weights primitive
from inside the jitted step, where `ssljax.models.conv` would otherwise run per-tap
matrix products. On the 2-core development CPU it computes ResNet-18's kernel gradients
about twice as fast (``benchmarks/cpu_parity.py``). Without the library, or with
``SSLJAX_CPU_CONV=taps`` or ``xla``, nothing changes: `available()` is False.

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

TARGET = "ssljax_conv_kernel_gradient"
DEFAULT_LIB = Path(__file__).resolve().parents[1] / "native" / "libssljax_dnnl.so"


@functools.cache
def available() -> bool:
    """Whether the oneDNN kernel gradient is built, loads and is registered with XLA."""
    path = os.environ.get("SSLJAX_NATIVE_LIB", str(DEFAULT_LIB))
    if not path or not Path(path).is_file():
        return False
    try:
        lib = ctypes.cdll.LoadLibrary(path)
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.SsljaxConvKernelGradient),
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


def kernel_gradient(x, g, kernel_shape: Sequence[int], strides, padding) -> jax.Array:
    """`ssljax.models.conv.kernel_gradient` on oneDNN (float32; needs `available()`).

    Args:
        x: float32 input images `[N, H, W, C_in]`.
        g: float32 gradient of the output `[N, H_out, W_out, C_out]`.
        kernel_shape: `(kh, kw, C_in, C_out)`.
        strides: `(sh, sw)`.
        padding: `((top, bottom), (left, right))`; the bottom and right padding follow
            from the shapes.

    Returns:
        `dW` `[kh, kw, C_in, C_out]` float32 (inside shard_map, not yet typed as varying
        over the devices: `ssljax.models.conv` casts it as it does its own).
    """
    (sh, sw), ((pt, _), (pl, _)) = strides, padding
    out = jax.ShapeDtypeStruct(tuple(kernel_shape), jnp.float32)
    # under vmap (MoCo v2's split BatchNorm) one call per mapped slice
    return jax.ffi.ffi_call(TARGET, out, vmap_method="sequential")(
        x, g, stride_h=np.int64(sh), stride_w=np.int64(sw), pad_top=np.int64(pt),
        pad_left=np.int64(pl), threads=np.int64(threads_per_device()))
