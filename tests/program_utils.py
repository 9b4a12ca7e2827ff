"""Runs the ssljax programs in subprocesses, as a user would."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Small, fast overrides for the demo config: tests check behaviour, not accuracy.
FAST = (
    "--config.eval.max_train_examples=400",
    "--config.eval.max_eval_examples=200",
    "--config.eval.linear_epochs=5",
    "--config.tensorboard=False",
    "--config.plots=False",
    "--config.log_every_steps=1",
)


def load_config(path: str | Path, variant: str | None = None):
    """`get_config(variant)` of a config file (a path relative to the repository root)."""
    path = REPO / path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant) if variant else module.get_config()


def demo_config(**overrides):
    """`configs/simclr_mnist.py` with the FAST settings and `overrides` (in-process runs)."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("simclr_mnist", REPO / "configs/simclr_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    for flag in FAST:
        key, value = flag[len("--config."):].split("=")
        _set(c, key, {"True": True, "False": False}.get(value, value))
    for key, value in overrides.items():
        _set(c, key.replace("__", "."), value)
    return c


def _set(config, dotted, value):
    *parents, leaf = dotted.split(".")
    node = config
    for p in parents:
        node = node[p]
    old = node[leaf]
    node[leaf] = type(old)(value) if isinstance(old, (int, float)) and not isinstance(
        old, bool) else value


# LLVM optimisation level 0 for the programs' tiny test runs: compilation is most of their
# time, and this halves a 3-step pretraining run (34.6 s -> 18.6 s here). The numerics are
# the same float32 operations. `env_for(optimized=True)` keeps XLA's default, as a user's
# run; tests/pretrain_test.py's results-contract test uses it.
UNOPTIMIZED = "--xla_backend_optimization_level=0"


def env_for(devices: int = 1, optimized: bool = False) -> dict[str, str]:
    """Environment with `devices` fake CPU devices and quiet TensorFlow."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    if not optimized:
        env["XLA_FLAGS"] += " " + UNOPTIMIZED
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["JAX_PLATFORMS"] = "cpu"
    env.setdefault("SSLJAX_CACHE", str(REPO / ".cache"))
    return env


def run(module: str, *args: str, devices: int = 1, timeout: float = 600, check: bool = True,
        optimized: bool = False):
    """Runs `python -m module args...`; returns the CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env_for(devices, optimized),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{module} {' '.join(args)} exited {proc.returncode}\nstderr tail:\n"
            + proc.stderr[-3000:]
        )
    return proc


def last_json(stdout: str) -> dict:
    """The one-line JSON summary that every program prints last."""
    lines = [ln for ln in stdout.strip().splitlines() if ln.strip()]
    assert lines, "program printed nothing on stdout"
    return json.loads(lines[-1])


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file below `directory`."""
    out = {}
    for p in sorted(Path(directory).rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(directory))] = (st.st_size, st.st_mtime_ns)
    return out
