"""The pretraining state: one immutable pytree, replicated over the mesh.

Everything a run needs to continue exactly where it stopped lives here:
online parameters and BatchNorm statistics, the optimizer state, the EMA target
(BYOL, MoCo, DINO), method extras such as the MoCo queue or the DINO center,
and the online linear probe. The data order and augmentations are functions of
(seed, step), so restoring this pytree is enough to resume bit-for-bit.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    """Pretraining state.

    Attributes:
      step: int32 scalar, number of optimizer steps taken.
      params: online network parameters (encoder + heads).
      batch_stats: online BatchNorm statistics (`{}` when there is no BN).
      opt_state: optax state of the online network's optimizer.
      target_params: EMA target parameters, or `None` for methods without a target.
      target_batch_stats: the target's own BatchNorm statistics, or `None`.
      extra: method-specific arrays (MoCo queue and pointer, DINO center), a dict.
      probe_params: the online linear probe on stop-gradient features.
      probe_opt_state: optax state of the probe.
      nonfinite_steps: int32 count of steps skipped because of NaN/Inf.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    target_params: Any
    target_batch_stats: Any
    extra: Any
    probe_params: Any
    probe_opt_state: Any
    nonfinite_steps: jax.Array


def init_probe(rng: jax.Array, feature_dim: int, num_classes: int) -> dict[str, jax.Array]:
    """A zero-initialised linear classifier `{"kernel": [D, K], "bias": [K]}`."""
    del rng  # zero init: deterministic and the usual choice for linear probes
    return {
        "kernel": jnp.zeros((feature_dim, num_classes), jnp.float32),
        "bias": jnp.zeros((num_classes,), jnp.float32),
    }


def probe_logits(probe_params: dict[str, jax.Array], features: jax.Array) -> jax.Array:
    """Logits [N, K] of the linear probe on features [N, D]."""
    return features.astype(jnp.float32) @ probe_params["kernel"] + probe_params["bias"]


def probe_optimizer(learning_rate: float) -> optax.GradientTransformation:
    """Adam for the online probe (it sees a moving representation, so no schedule)."""
    return optax.adam(learning_rate)
