"""ssljax.host_memory: freed step buffers are reused instead of faulted in again."""

import subprocess
import sys

import pytest

from ssljax import host_memory
from tests import program_utils

# A 48 MB output per call (over glibc's 32 MB mmap ceiling): without the settings every call
# maps fresh pages (12,288 page faults); with them it reuses the freed ones. The median over
# calls: now and then a buffer is freed only after the next call has allocated its own. The
# heap settles over the first calls: after 10 warm-up calls 8 of 20 processes still faulted
# in some measured calls (one in three under pytest had a median of 12,288: a failure), after
# 30 one of 20 did, in 2 of its 9 calls.
SCRIPT = """
import resource, statistics
from ssljax import host_memory
print(host_memory.keep_freed_memory())
import jax, jax.numpy as jnp
f = jax.jit(lambda x: x * 2.0)
x = jnp.ones((3072, 4096), jnp.float32)
for _ in range(30):
    f(x).block_until_ready()
faults = []
for _ in range(9):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    f(x).block_until_ready()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(statistics.median(faults))
"""
PAGES = 3072 * 4096 * 4 // 4096


def _faults_per_call(**env: str) -> tuple[bool, float]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env={**program_utils.env_for(), **env}, cwd=program_utils.REPO,
                          timeout=300, check=True)
    applied, faults = proc.stdout.split()[-2:]
    return applied == "True", float(faults)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt")
def test_freed_buffers_are_reused_without_page_faults():
    off_applied, off = _faults_per_call(SSLJAX_KEEP_MEMORY="0")
    on_applied, on = _faults_per_call(SSLJAX_KEEP_MEMORY="")  # the default
    assert (off_applied, on_applied) == (False, True)
    assert off > 0.9 * PAGES, off  # the unset process maps every call's output afresh
    assert on < 0.1 * PAGES, on


def test_only_where_jax_runs_on_the_cpu(monkeypatch):
    monkeypatch.delenv(host_memory.ENV, raising=False)
    monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
    assert not host_memory.cpu_only()
    assert not host_memory.keep_freed_memory()  # and changes nothing
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert host_memory.cpu_only()
    monkeypatch.setenv(host_memory.ENV, "0")
    assert not host_memory.keep_freed_memory()
