"""Losses of the classic pretext tasks: classifying a transformation, reconstructing pixels.

- `pretext_ce(logits, labels)`: the cross-entropy of a pretext classifier (RotNet's four
  rotations; jigsaw permutations and patch positions are the same loss);
- `masked_reconstruction(pred, target, mask, *, border_weight, border_width)`: the weighted
  mean squared error of an autoencoder (mask of ones) or of a context encoder (the masked
  region, its inner border band weighted `border_weight` times);
- `cpc_info_nce(preds, targets, *, axis_name)`: contrastive predictive coding's InfoNCE,
  each prediction against every target of the global batch;
- `colorization_ce(logits, ab_targets, *, rebalance_weights)`: colorization's per-pixel
  cross-entropy over quantised ab bins, each pixel weighted by its colour's rarity.

References:
    Gidaris et al., "Unsupervised Representation Learning by Predicting Image Rotations",
    ICLR 2018 (cross-entropy over the 4 rotations of every image). Pathak et al.,
    "Context Encoders: Feature Learning by Inpainting", CVPR 2016, Eq. 1 and
    pathak22/context-encoder `train.lua` (L2 on the region, `overlapL2Weight` 10 on its
    border band of `overlapPred` pixels). Hinton and Salakhutdinov, "Reducing the
    Dimensionality of Data with Neural Networks", Science 2006 (the autoencoder).
    van den Oord, Li and Vinyals, "Representation Learning with Contrastive Predictive
    Coding", arXiv:1807.03748, Eq. 4; Hénaff et al., "Data-Efficient Image Recognition with
    Contrastive Predictive Coding", ICML 2020 (negatives from every patch of the batch).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ssljax.losses._common import (
    AxisName,
    as_f32,
    check_nonnegative,
    check_positive,
    check_same_shape,
    cross_entropy_rows,
    dot,
    gather,
    psum,
    row_offset,
)


def pretext_ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of a pretext classifier.

    Args:
        logits: `[N, K]` scores over the K pretext classes (4 rotations, N permutations,
            8 patch positions, ...).
        labels: int `[N]` true classes in [0, K).

    Returns:
        float32 scalar: mean over the N rows of `-log softmax(logits)[label]`.
    """
    logits = as_f32("logits", logits, 2)
    labels = jnp.asarray(labels)
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape {logits.shape[:1]}, got {labels.shape}")
    logp = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(logp, labels.astype(jnp.int32)[:, None], axis=-1)[:, 0]
    return -jnp.mean(picked)


def _border_band(mask: jax.Array, width: int) -> jax.Array:
    """The pixels of `mask` [N, H, W] within `width` pixels (Chebyshev) of its outside.

    Outside the image counts as outside the mask, so a square region grown from a hole by
    `width` pixels has the ring around the hole as its band wherever it lies.
    """
    padded = jnp.pad(mask, ((0, 0), (width, width), (width, width)))
    eroded = lax.reduce_window(padded, jnp.inf, lax.min, (1, 2 * width + 1, 2 * width + 1),
                               (1, 1, 1), "VALID")
    return mask - eroded


def masked_reconstruction(
    pred: jax.Array,
    target: jax.Array,
    mask: jax.Array | None = None,
    *,
    border_weight: float = 1.0,
    border_width: int = 0,
    axis_name: AxisName = None,
) -> jax.Array:
    """Weighted mean squared reconstruction error over a region of each image.

        w = mask · (1 + (border_weight − 1) · band),   L = Σ w·(pred − target)² / (C · Σ w)

    where `band` is the part of the mask within `border_width` pixels of its outside (the
    context encoder's overlap, where the prediction meets the visible context).

    Args:
        pred: reconstructions `[N, H, W, C]`.
        target: the true images `[N, H, W, C]` (the caller stops gradients if needed).
        mask: `[N, H, W]` in {0, 1}: 1 where the error counts (the masked region of a
            context encoder); None: every pixel (a plain or denoising autoencoder).
        border_weight: weight of the band relative to the rest of the region (the
            context encoder's 10).
        border_width: width of the band in pixels (0: no band).
        axis_name: inside `shard_map`, the mesh axis of the batch: the sums run over the
            global batch (masks of different sizes per device give the global mean).

    Returns:
        float32 scalar: the weighted mean over pixels and channels (0 for an empty mask).
    """
    pred = as_f32("pred", pred, 4)
    target = as_f32("target", target, 4)
    check_same_shape("pred", pred, "target", target)
    check_positive("border_weight", border_weight)
    check_nonnegative("border_width", border_width)
    n, h, w, c = pred.shape
    if mask is None:
        mask = jnp.ones((n, h, w), jnp.float32)
    mask = as_f32("mask", mask, 3)
    if mask.shape != (n, h, w):
        raise ValueError(f"mask must have shape {(n, h, w)}, got {tuple(mask.shape)}")
    weights = mask
    if border_width > 0 and border_weight != 1.0:
        weights = mask * (1.0 + (border_weight - 1.0) * _border_band(mask, int(border_width)))
    err = jnp.sum(jnp.square(pred - target), axis=-1)
    total = psum(jnp.sum(weights * err), axis_name)
    return total / (c * jnp.maximum(psum(jnp.sum(weights), axis_name), 1e-12))


def cpc_info_nce(preds: jax.Array, targets: jax.Array, *, axis_name: AxisName = None) -> jax.Array:
    """InfoNCE of contrastive predictive coding: each prediction picks its own target.

    The logits of prediction i are its dot products with every target of the global batch
    (`targets` gathered from all devices: the other patches of the same and of other
    images are the negatives); the label is i's own target, row i:

        L = mean_i −log( exp(p_i·z_i) / Σ_j exp(p_i·z_j) )

    Args:
        preds: `[m, d]` predicted patch embeddings (local rows when `axis_name` is set).
        targets: `[m, d]` the embeddings they predict, `targets[i]` the positive of
            `preds[i]` (the caller decides whether gradients flow into them; CPC lets them).
        axis_name: mesh axis of the enclosing `shard_map` to gather targets over, or None.

    Returns:
        The float32 scalar loss of the (global) batch.
    """
    preds = as_f32("preds", preds, 2)
    targets = as_f32("targets", targets, 2)
    check_same_shape("preds", preds, "targets", targets)
    m = preds.shape[0]
    if m == 0:
        raise ValueError(f"preds must hold at least one row, got shape {tuple(preds.shape)}")
    every = gather(targets, axis_name)  # [M, d]
    logits = dot(preds, every)  # [m, M]
    labels = row_offset(m, axis_name) + jnp.arange(m)
    return psum(jnp.sum(cross_entropy_rows(logits, labels)), axis_name) / every.shape[0]


def colorization_ce(logits: jax.Array, ab_targets: jax.Array, *,
                    rebalance_weights: jax.Array | None = None) -> jax.Array:
    """Colorization's class-rebalanced multinomial cross-entropy.

        L = −mean over pixels of v(Z) · Σ_q Z_q · log softmax(logits)_q,
        v(Z) = rebalance_weights[argmax_q Z_q]

    Args:
        logits: `[N, H, W, Q]` scores over the Q quantised ab bins.
        ab_targets: `[N, H, W, Q]` soft-encoded true colours (`augment.lab.soft_encode`),
            each pixel's row summing to 1.
        rebalance_weights: `[Q]` per-bin weights (`augment.lab.rebalance_weights`), or None
            for 1 everywhere.

    Returns:
        float32 scalar: the mean over the N·H·W pixels.
    """
    logits = as_f32("logits", logits, 4)
    ab_targets = as_f32("ab_targets", ab_targets, 4)
    check_same_shape("logits", logits, "ab_targets", ab_targets)
    ce = -jnp.sum(ab_targets * jax.nn.log_softmax(logits, axis=-1), axis=-1)
    if rebalance_weights is not None:
        w = jnp.asarray(rebalance_weights, jnp.float32)
        if w.shape != logits.shape[-1:]:
            raise ValueError(f"rebalance_weights must have shape {logits.shape[-1:]}, got "
                             f"{tuple(w.shape)}")
        ce = ce * w[jnp.argmax(ab_targets, axis=-1)]
    return jnp.mean(ce)
