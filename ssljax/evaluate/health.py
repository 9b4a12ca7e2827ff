"""Representation-health metrics of a batch of embeddings: cheap collapse detectors.

Both metrics are pure, jit-safe functions of one batch ``z [N, D]`` and stay finite for a
collapsed (constant) or all-zero batch, so they can be logged from inside a train step.
Inside ``shard_map`` they see the local batch only; ``lax.all_gather(z, "data",
tiled=True)`` first to measure the global batch.

References:
    Chen & He. "Exploring Simple Siamese Representation Learning", CVPR 2021, Section 4.1
    (std of the L2-normalised output: 0 under collapse, ~1/sqrt(D) when healthy).
    Roy & Vetterli. "The effective rank: A measure of effective dimensionality", EUSIPCO
    2007; Garrido et al. "RankMe: Assessing the Downstream Performance of Pretrained
    Self-Supervised Representations by Their Rank", ICML 2023.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import entr

_EPS = 1e-12


def _check(z: jax.Array) -> jax.Array:
    z = jnp.asarray(z)
    if z.ndim != 2:
        raise ValueError(f"health: embeddings must be [N, D]; got shape {z.shape}")
    return z.astype(jnp.float32)


def embedding_std(z: jax.Array) -> jax.Array:
    """Mean over dimensions of the per-dimension std of the L2-normalised embeddings.

    ``mean_d std_n (z_n / ||z_n||)_d`` with the population (ddof=0) std over the batch.
    A collapsed batch (all rows parallel) gives 0; rows spread uniformly on the sphere
    give about ``1 / sqrt(D)``.

    Args:
        z: embeddings ``[N, D]``.

    Returns:
        float32 scalar.

    Reference:
        Chen & He, SimSiam, CVPR 2021, Section 4.1 and Figure 2 (middle).
    """
    z = _check(z)
    zn = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), _EPS)
    return jnp.mean(jnp.std(zn, axis=0))


def global_embedding_std(z: jax.Array, axis_name: str | None = None) -> jax.Array:
    """`embedding_std` of the GLOBAL batch, inside `shard_map` over `axis_name`.

    The per-dimension mean and variance of the L2-normalised rows are summed over all
    devices (two `psum`s of `[D]` vectors, no gather), so the value does not depend on the
    device count: `mean_d std_n (z_n / |z_n|)_d` over all rows, population std. Gradients
    are stopped. `axis_name=None` is `embedding_std` of the local batch.

    Args:
        z: local embeddings `[n, D]`.
        axis_name: the mesh axis the batch is sharded over ("data"), or None.

    Returns:
        float32 scalar, the same on every device: 0 for a collapsed batch, about
        `1/sqrt(D)` for rows spread over the sphere.

    Reference:
        Chen & He, SimSiam, CVPR 2021, Section 4.1.
    """
    z = jax.lax.stop_gradient(_check(z))
    zn = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), _EPS)
    psum = (lambda x: x) if axis_name is None else (lambda x: jax.lax.psum(x, axis_name))
    count = zn.shape[0] * (1 if axis_name is None else jax.lax.axis_size(axis_name))
    mean = psum(jnp.sum(zn, axis=0)) / count
    var = psum(jnp.sum(jnp.square(zn - mean), axis=0)) / count
    return jnp.mean(jnp.sqrt(var))


def effective_rank(z: jax.Array) -> jax.Array:
    """Effective rank ``exp(H(p))`` of the embedding matrix, ``p = sigma / ||sigma||_1``.

    ``sigma`` are the singular values of ``z`` itself (not centred, as in RankMe). It lies
    in ``[1, min(N, D)]``: 1 for a rank-one (e.g. constant) batch, ``min(N, D)`` when all
    singular values are equal. An all-zero batch gives 1.

    Args:
        z: embeddings ``[N, D]``.

    Returns:
        float32 scalar.

    Reference:
        Roy & Vetterli, EUSIPCO 2007, Definition 1; Garrido et al., RankMe, ICML 2023.
    """
    z = _check(z)
    s = jnp.linalg.svd(z, compute_uv=False)
    p = s / jnp.maximum(jnp.sum(s), _EPS)
    return jnp.exp(jnp.sum(entr(p)))


def health_metrics(z: jax.Array) -> dict[str, jax.Array]:
    """All representation-health metrics of one batch.

    Args:
        z: embeddings ``[N, D]``.

    Returns:
        ``{"embedding_std": s, "embedding_std_normalized": s * sqrt(D),
        "effective_rank": r}``, float32 scalars. ``embedding_std_normalized`` is ~1 for
        a healthy representation and 0 for a collapsed one, whatever ``D``.
    """
    z = _check(z)
    std = embedding_std(z)
    return {
        "embedding_std": std,
        "embedding_std_normalized": std * jnp.sqrt(jnp.float32(z.shape[1])),
        "effective_rank": effective_rank(z),
    }
