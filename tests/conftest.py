"""Test session setup.

Fakes 8 CPU devices for the whole session so that multi-device tests can build an
8-device mesh; this must happen before anything imports jax, which is why it lives
here (pytest imports conftest.py before the test modules). Single-device code is
unaffected: un-sharded computations run on device 0. It also sets the XLA:CPU
convolution flag that the ssljax programs set (`ssljax.models.conv.set_cpu_flags`), so
that in-process tests run the same convolutions as the programs.
"""

import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SSLJAX_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache"))

from ssljax.models import conv  # noqa: E402  (imports jax without starting its backends)

conv.set_cpu_flags()
