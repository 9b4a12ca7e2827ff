"""From per-process host batches to global `jax.Array`s.

Each process builds its rows of the global batch (`make_train_iterator(...,
process_index=p, process_count=P)` gives rows `[p*b, (p+1)*b)`), and
`make_global_batch` assembles them into arrays sharded `NamedSharding(mesh,
P("data"))` with `jax.make_array_from_process_local_data`. Which rows of the global
array a process's devices hold is fixed by the mesh, not by `jax.process_index()`:
`process_data_shard(mesh)` returns the (index, count) to pass to the iterator so the
two agree on any mesh (for `ssljax.parallel.make_mesh` it is simply
`(jax.process_index(), jax.process_count())`). JAX is imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ssljax.errors import ConfigError

DATA_AXIS = "data"


def _data_blocks(mesh: Any, axis: str) -> dict[int, list[int]]:
    """process index -> sorted row blocks (0..mesh.shape[axis]-1) its devices hold."""
    from jax.sharding import NamedSharding  # noqa: PLC0415
    from jax.sharding import PartitionSpec as P  # noqa: PLC0415

    if axis not in mesh.shape:
        raise ConfigError(f"the mesh has no '{axis}' axis (axes: {', '.join(mesh.axis_names)})")
    n = mesh.shape[axis]
    indices = NamedSharding(mesh, P(axis)).devices_indices_map((n,))
    blocks: dict[int, set[int]] = {}
    for device, index in indices.items():
        blocks.setdefault(device.process_index, set()).add(index[0].start or 0)
    return {p: sorted(b) for p, b in blocks.items()}


def process_data_shard(mesh: Any, axis: str = DATA_AXIS) -> tuple[int, int]:
    """Where this process's rows sit in the global batch: `(index, count)`.

    Pass them as `process_index`/`process_count` to `make_train_iterator` and
    `make_eval_iterator`.

    Raises:
      ConfigError: the mesh gives a process non-contiguous or unequal rows.
    """
    import jax  # noqa: PLC0415

    blocks = _data_blocks(mesh, axis)
    sizes = {len(b) for b in blocks.values()}
    for p, b in blocks.items():
        if b != list(range(b[0], b[0] + len(b))) or len(sizes) != 1:
            raise ConfigError(
                f"the mesh gives process {p} rows {b} of the '{axis}' axis; each process must "
                "hold one contiguous, equal block: build the mesh with ssljax.parallel.make_mesh"
            )
    order = sorted(blocks, key=lambda p: blocks[p][0])
    return order.index(jax.process_index()), len(order)


def make_global_batch(
    local_batch: Mapping[str, np.ndarray], mesh: Any, axis: str = DATA_AXIS
) -> dict[str, Any]:
    """Global arrays sharded over `axis` from this process's rows of the batch.

    Args:
      local_batch: this process's rows, e.g. from `make_train_iterator`; every value
        has leading dimension b (the same for all processes).
      mesh: the `jax.sharding.Mesh` of the train step.
      axis: the mesh axis the batch is split over.

    Returns:
      A dict with the same keys of `jax.Array`s of leading dimension `b * count`,
      sharded `NamedSharding(mesh, P(axis))`.

    Raises:
      ConfigError: b is not divisible by the number of row blocks of this process.
    """
    import jax  # noqa: PLC0415
    from jax.sharding import NamedSharding  # noqa: PLC0415
    from jax.sharding import PartitionSpec as P  # noqa: PLC0415

    blocks = _data_blocks(mesh, axis)
    local_blocks = len(blocks.get(jax.process_index(), ())) or 1
    sharding = NamedSharding(mesh, P(axis))
    out = {}
    for key, value in local_batch.items():
        value = np.asarray(value)
        if value.ndim == 0 or value.shape[0] % local_blocks:
            raise ConfigError(
                f"batch['{key}'] has {value.shape[0] if value.ndim else 0} rows on this process, "
                f"not divisible by its {local_blocks} devices on the '{axis}' axis; use a "
                f"batch_size divisible by the number of devices ({mesh.shape[axis]})"
            )
        out[key] = jax.make_array_from_process_local_data(sharding, value)
    return out
