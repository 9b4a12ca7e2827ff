"""Test session setup.

Fakes 8 CPU devices for the whole session so that multi-device tests can build an
8-device mesh; this must happen before anything imports jax, which is why it lives
here (pytest imports conftest.py before the test modules). Single-device code is
unaffected: un-sharded computations run on device 0. It also sets the XLA:CPU
convolution flag that the ssljax programs set (`ssljax.models.conv.set_cpu_flags`), so
that in-process tests run the same convolutions as the programs.

In-process tests compile with LLVM's optimisation level 0
(`--xla_backend_optimization_level=0`): their tiny models spend most of their time in
compilation, which this halves (a BYOL step: 9.8 s → 4.8 s to build and compile). The
numerics are the same IEEE float32 operations (XLA:CPU uses no fast-math either way);
the programs started in subprocesses (`tests/program_utils.env_for`) compile as users'
runs do. Set `SSLJAX_TEST_XLA_OPT=1` to keep the default level in-process too.

Compiled programs are kept in JAX's persistent cache under `.cache/jax` (see below).
"""

import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()
if not os.environ.get("SSLJAX_TEST_XLA_OPT") and "--xla_backend_optimization_level" not in (
        os.environ["XLA_FLAGS"]):
    os.environ["XLA_FLAGS"] += " --xla_backend_optimization_level=0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SSLJAX_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache"))
# JAX's persistent compilation cache, shared by the in-process tests and every program they
# start (subprocesses inherit the environment): the suite compiles the same tiny programs
# dozens of times, and a cache hit turns a 3-step pretraining run from 29 s into 12 s here.
# The cache key covers the XLA flags, the device count and the jax version, so a hit is
# the executable a fresh compilation would give.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(os.path.dirname(__file__), "..", ".cache", "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# The suite compiles hundreds of small programs and runs few steps of each: glibc's single
# arena (ssljax.host_memory, which the programs set on a CPU) slows XLA's multi-threaded
# compilation more than the reused step memory saves here (the fast tier, empty compilation
# cache: 164 s without, 176 s with it), so the suite and the programs it starts leave glibc
# alone; tests/host_memory_test.py tests the setting itself.
os.environ.setdefault("SSLJAX_KEEP_MEMORY", "0")

from ssljax.models import conv  # noqa: E402  (imports jax without starting its backends)

conv.set_cpu_flags()


import fcntl  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TINY_PRETRAIN = {"max_steps": 5, "batch_size": 64}


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5-step, batch-64 SimCLR pretraining workdir on the digits, made in-process once.

    Under pytest-xdist the workers share it (the folder above their own basetemp), guarded
    by a file lock.
    """
    from ssljax import pretrain  # noqa: PLC0415
    from tests.program_utils import demo_config  # noqa: PLC0415

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    wd = root / "tiny_simclr_pretrain"
    with open(root / "tiny_simclr_pretrain.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (wd / "encoder_spec.json").exists():
            pretrain.train_and_evaluate(demo_config(**TINY_PRETRAIN), str(wd))
    return wd
