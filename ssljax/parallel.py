"""Meshes, multi-host start-up and the explicit-SPMD step wrapper.

One code path runs on 1 CPU, one GPU, a multi-GPU host and a TPU pod: a
`jax.sharding.Mesh` with a single `"data"` axis over `jax.devices()` (all
processes' devices after `jax.distributed.initialize`), and train steps written
per device and wrapped as `jax.jit(jax.shard_map(step, ...))`.

Inside a step, collectives use `DATA_AXIS`. A loss made global with
`lax.pmean(local_loss, DATA_AXIS)` (or a loss from `ssljax.losses` called with
`axis_name=DATA_AXIS`) has gradients with respect to the replicated parameters
that already equal the global-batch gradient: shard_map's transpose of the
implicit replication sums the per-device contributions, so no extra `pmean` of
the gradients is needed (it would be a no-op).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ssljax.errors import ConfigError

DATA_AXIS = "data"

_log = logging.getLogger(__name__)


def set_cpu_devices(count: int) -> None:
    """Splits the host CPU into `count` XLA devices (`jax_num_cpu_devices`); 0 keeps JAX's.

    Each device runs its share of the batch on its own thread, with BatchNorm statistics
    and negatives still over the global batch, so the step computes the same thing.
    XLA:CPU leaves cores idle between the operations of a single device's program;
    two devices on 2 cores made the SimCLR ResNet-18 step 1.08× faster (1.28× with
    YNNPACK's convolutions; `benchmarks/cpu_parity.py`, variant `jax_2dev`). Only the CPU
    backend is affected.
    Must run before JAX's backends start.

    Raises:
      ConfigError: `count` is negative, or the backends have already started.
    """
    if count == 0:
        return
    if count < 0:
        raise ConfigError(f"--cpu_devices={count} must be >= 0 (0 = one CPU device)")
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        raise ConfigError(
            "--cpu_devices must be set before JAX starts its backends; pass it on the "
            "command line (or call set_cpu_devices before any JAX operation)"
        ) from None


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout_s: int = 300,
) -> None:
    """Starts JAX's multi-process runtime when the job spans several processes.

    With explicit arguments, calls `jax.distributed.initialize` with them (on CPU,
    with the gloo collectives so that fake multi-host runs work). Without them,
    auto-detects Cloud TPU pods and SLURM jobs (several tasks) and lets JAX read
    the cluster from the environment; otherwise it is a single-process run and
    nothing happens.

    Args:
      coordinator_address: "host:port" of process 0.
      num_processes: total number of processes.
      process_id: this process's index in [0, num_processes).
      timeout_s: how long to wait for the coordinator before failing.

    Raises:
      ConfigError: incomplete flags, or the coordinator could not be reached in time.
    """
    explicit = [coordinator_address, num_processes, process_id]
    if any(v not in (None, "") for v in explicit):
        if coordinator_address in (None, "") or num_processes is None or process_id is None:
            raise ConfigError(
                "multi-host flags are incomplete: pass all of --coordinator_address=HOST:PORT, "
                "--num_processes=N and --process_id=I (or none of them)"
            )
        if not 0 <= process_id < num_processes:
            raise ConfigError(
                f"--process_id={process_id} is outside [0, --num_processes={num_processes})"
            )
        kwargs = dict(
            coordinator_address=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
        )
    elif _cluster_detected():
        kwargs = {}
    else:
        return
    if jax.config.jax_platforms in (None, "", "cpu") or os.environ.get("JAX_PLATFORMS") == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if kwargs and process_id != 0:
        # JAX aborts the whole process (a C++ check failure) when the coordinator cannot
        # be reached, so find that out first and fail with a readable message instead.
        _wait_for_coordinator(coordinator_address, timeout_s)
    _log.info(
        "joining a %s-process job at %s (timeout %ds)",
        num_processes or "multi",
        coordinator_address or "the auto-detected coordinator",
        timeout_s,
    )
    try:
        jax.distributed.initialize(initialization_timeout=timeout_s, **kwargs)
    except Exception as e:  # noqa: BLE001 - turned into a one-line user error
        where = kwargs.get("coordinator_address", "the auto-detected coordinator")
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"could not join the multi-process job at {where} within {timeout_s}s ({first[:200]}); "
            "check that process 0 is running and the address/port is reachable from this host"
        ) from None


def _wait_for_coordinator(address: str, timeout_s: float) -> None:
    """Polls a TCP connection to `address` until it opens or `timeout_s` passes."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"--coordinator_address={address!r} must look like HOST:PORT, e.g. 10.0.0.2:1234"
        )
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=2.0):
                return
        except OSError as e:
            last = e
            time.sleep(0.5)
    raise ConfigError(
        f"could not reach the coordinator at {address} within {timeout_s:g}s ({last}); "
        "start process 0 first and check the address, port and firewall"
    )


def _cluster_detected() -> bool:
    """True on a multi-worker Cloud TPU slice or a multi-task SLURM job."""
    if int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_JOB_ID" in os.environ:
        return True
    hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
    return len([h for h in hosts.split(",") if h]) > 1


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh with axis `"data"` over all (or the first `num_devices`) devices.

    Axis types are `Auto`, so jit reshards un-sharded inputs as needed (jax ≥ 0.7
    makes `Explicit` the default, which shard_map would reject for host arrays).
    """
    devices = jax.devices()
    if num_devices is not None:
        if num_devices > len(devices) or num_devices < 1:
            raise ConfigError(f"asked for {num_devices} devices but {len(devices)} are available")
        devices = devices[:num_devices]
    return jax.make_mesh(
        (len(devices),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices
    )


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding of values held whole on every device (the train state)."""
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The sharding of batches: leading axis split over `"data"`."""
    return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_divisible(global_batch_size: int, mesh: Mesh) -> int:
    """Returns the per-device batch size, or raises a one-line `ConfigError`."""
    n = mesh.devices.size
    if global_batch_size <= 0:
        raise ConfigError(f"batch_size must be positive, got {global_batch_size}")
    if global_batch_size % n:
        lo = (global_batch_size // n) * n or n
        raise ConfigError(
            f"batch_size={global_batch_size} is not divisible by the {n} devices; "
            f"use a multiple of {n}, e.g. --config.batch_size={lo}"
        )
    if global_batch_size % jax.process_count():
        raise ConfigError(
            f"batch_size={global_batch_size} is not divisible by the "
            f"{jax.process_count()} processes"
        )
    return global_batch_size // n


def shard_step(
    step_fn: Callable[..., Any],
    mesh: Mesh,
    *,
    in_specs: Any,
    out_specs: Any,
    donate_argnums: tuple[int, ...] = (),
) -> Callable[..., Any]:
    """`jax.jit(jax.shard_map(step_fn, ...))` with the project's mesh and specs."""
    mapped = jax.shard_map(step_fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs)
    return jax.jit(mapped, donate_argnums=donate_argnums)


def local_row_indices(local_batch: int) -> jax.Array:
    """Global row indices of this device's rows (call inside shard_map over `"data"`)."""
    return lax.axis_index(DATA_AXIS) * local_batch + jnp.arange(local_batch, dtype=jnp.int32)


def pmean_tree(tree: Any) -> Any:
    """Averages every leaf over `"data"` (a no-op on values already equal everywhere)."""
    return jax.tree.map(lambda x: lax.pmean(x, DATA_AXIS), tree)


def gather_rows(x: jax.Array) -> jax.Array:
    """All-gathers rows from every device in device order; gradients flow back to owners."""
    return lax.all_gather(x, DATA_AXIS, axis=0, tiled=True)


def shuffle_rows(x: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Shuffle-BN helper (MoCo): gathers all rows and takes a random global permutation.

    Each device receives the rows `perm[d*n:(d+1)*n]` of the gathered batch, so
    BatchNorm statistics are computed on a batch that mixes every device. The
    same `key` must be used on every device. Returns the local shuffled rows and
    the permutation, from which `unshuffle_rows` restores the original order.

    Args:
      x: local rows [n, ...].
      key: PRNG key, identical on every device.
    """
    n = x.shape[0]
    full = gather_rows(x)
    perm = jax.random.permutation(key, full.shape[0])
    mine = lax.dynamic_slice_in_dim(perm, lax.axis_index(DATA_AXIS) * n, n)
    return jnp.take(full, mine, axis=0), perm


def unshuffle_rows(y: jax.Array, perm: jax.Array) -> jax.Array:
    """Inverse of `shuffle_rows` for per-row outputs `y` [n, ...] of the shuffled rows."""
    n = y.shape[0]
    full = gather_rows(y)
    inverse = jnp.argsort(perm)
    mine = lax.dynamic_slice_in_dim(inverse, lax.axis_index(DATA_AXIS) * n, n)
    return jnp.take(full, mine, axis=0)


def process_summary(mesh: Mesh) -> dict[str, Any]:
    """What the run is on, for logs and results.json."""
    return {
        "devices": int(mesh.devices.size),
        "processes": jax.process_count(),
        "platform": jax.devices()[0].platform,
        "device_kind": jax.devices()[0].device_kind,
    }


def is_main_process() -> bool:
    """True on the process that writes logs, summaries and results."""
    return jax.process_index() == 0


def log_main(msg: str, *args: Any) -> None:
    """Logs on process 0 only."""
    if is_main_process():
        _log.info(msg, *args)
