"""A FIFO queue of embeddings kept in the train state: MoCo's keys, NNCLR's support set,
SwAV's feature queue.

The queue is `[K, d]` plus an int32 pointer in `state.extra`. Each step the embeddings of
the whole global batch — all-gathered from every device in global row order, so every
device's copy stays identical and the state replicated — replace the oldest rows; the
pointer wraps around.

Reference: He et al., "Momentum Contrast for Unsupervised Visual Representation
Learning", CVPR 2020, Algorithm 1 (`enqueue`/`dequeue`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ssljax import losses
from ssljax.errors import ConfigError
from ssljax.parallel import DATA_AXIS


def gather_keys(k: jax.Array) -> jax.Array:
    """All-gathers keys [n, d] from every device in global row order → [N, d].

    Typed as device-invariant (`to="invarying"`), so the queue they update is provably
    replicated for shard_map's `out_specs=P()`; keys carry no gradient.
    """
    return lax.all_gather(lax.stop_gradient(k), DATA_AXIS, axis=0, tiled=True, to="invarying")


def check_queue_size(queue_size: int, global_batch: int) -> None:
    """Raises a one-line `ConfigError` unless `queue_size` is a positive multiple of the batch.

    Args:
      queue_size: K, the number of keys in the queue.
      global_batch: the number of keys enqueued per step (all devices).
    """
    if global_batch <= 0 or queue_size <= 0 or queue_size % global_batch:
        hint = max(global_batch, (max(queue_size, 0) // max(global_batch, 1)) * global_batch)
        raise ConfigError(
            f"queue_size={queue_size} must be a positive multiple of the {global_batch} keys "
            f"enqueued per step (the global batch); use e.g. --config.queue_size={hint}"
        )


def init_queue(key: jax.Array, queue_size: int, dim: int) -> dict[str, jax.Array]:
    """A queue of `queue_size` L2-normalised Gaussian keys [K, dim] and a zero pointer."""
    queue = losses.l2_normalize(jax.random.normal(key, (queue_size, dim), jnp.float32))
    return {"queue": queue, "queue_ptr": jnp.zeros((), jnp.int32)}


def enqueue(queue: jax.Array, ptr: jax.Array, keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """FIFO update: writes `keys` [N, d] at rows ptr, ptr+1, ... (mod K), oldest first out.

    Args:
      queue: [K, d] current queue.
      ptr: int32 scalar, the row where the next key goes (the oldest key).
      keys: [N, d] new keys, N ≤ K, in global batch order.

    Returns:
      (new queue [K, d], new pointer (ptr + N) mod K).
    """
    k, n = queue.shape[0], keys.shape[0]
    if n > k:
        raise ValueError(f"cannot enqueue {n} keys into a queue of {k}")
    rows = (ptr + jnp.arange(n, dtype=jnp.int32)) % k
    return queue.at[rows].set(keys.astype(queue.dtype)), ((ptr + n) % k).astype(jnp.int32)
