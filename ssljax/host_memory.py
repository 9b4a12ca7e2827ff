"""Keeps freed host memory for the next training step (Linux, glibc, JAX on the CPU).

XLA:CPU allocates every step's scratch buffer (all the activations and gradients of the
step: 91 MB for the demo's SmallCNN step, more for a ResNet) afresh with `malloc` and frees
it when the step ends. glibc serves an allocation that large with a fresh `mmap` and gives
it back with `munmap` — the threads of XLA's pool allocate in their own arenas, which map
anything over 32 MB directly — so the kernel hands out, and zeroes, every page of it again
in every step: 22,352 page faults and 44 ms of system time per demo step on the 2-core
machine of `benchmarks/cpu_parity.py`.

`keep_freed_memory()` sets three `mallopt` parameters that make glibc keep that memory:
one arena for all threads (`M_ARENA_MAX=1`: the main arena, which grows with `brk`), no
`mmap` for large blocks (`M_MMAP_MAX=0`) and no trimming of the heap's free top below
2 GiB (`M_TRIM_THRESHOLD`). The next step's buffer then reuses the last one's pages: 2,235
page faults per demo step, and the step is 15–20% faster (demo: 0.18 → 0.15 s; ResNet-18
SimCLR: 4.29 → 3.91 s; `benchmarks/cpu_parity.py`). The price: the process keeps its
largest step's memory until it exits, which a training run does anyway, and XLA compiles
more slowly (its compiler threads now share one arena: the demo step's compilation took
3.8 s instead of 2.2 s). A whole demo run (`configs/simclr_mnist.py`, 900 steps) took 188 s
instead of 207 s; the test suite, which compiles hundreds of programs and runs a few steps
of each, turns it off (`tests/conftest.py`). Without the single arena the buffer would still
be mapped afresh: XLA's threads would keep their own arenas, which map anything over 64 MB
whatever `M_MMAP_MAX` says.

It must run before JAX starts its CPU backend (XLA's threads choose their arena at their
first allocation); the ssljax programs and the benchmarks call it first.
In your own script or notebook, call it before the first JAX computation::

    from ssljax import host_memory
    host_memory.keep_freed_memory()

It does nothing (and returns False) where JAX may run on an accelerator (a GPU or TPU
plugin is installed, or ``JAX_PLATFORMS`` names another platform: the host's allocations
there are the input pipeline's, which one arena would serialise), on a C library other
than glibc, or with ``SSLJAX_KEEP_MEMORY=0``; ``SSLJAX_KEEP_MEMORY=1`` sets it even with an
accelerator plugin installed.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
import sys

# mallopt's parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
TRIM_THRESHOLD = 2**31 - 1  # bytes; mallopt takes an int
ENV = "SSLJAX_KEEP_MEMORY"
_ACCELERATOR_MODULES = ("libtpu", "jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                        "jax_rocm7_plugin")


def keep_freed_memory() -> bool:
    """Sets glibc's `mallopt` so that freed step buffers are reused; returns whether it did.

    Call before the first JAX computation. See the module docstring for when it applies.
    """
    choice = os.environ.get(ENV, "")
    if choice == "0" or sys.platform != "linux":
        return False
    if choice != "1" and not cpu_only():
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has another mallopt)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in (
        (M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)))


def cpu_only() -> bool:
    """Whether JAX can only run on the CPU here: ``JAX_PLATFORMS`` says ``cpu``, or no GPU or
    TPU plugin is installed."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip()
    if platforms:
        return all(p.strip() == "cpu" for p in platforms.split(","))
    if any(importlib.util.find_spec(name) is not None for name in _ACCELERATOR_MODULES):
        return False
    return not list(importlib.metadata.entry_points(group="jax_plugins"))
