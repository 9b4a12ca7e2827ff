"""Losses of masked image modelling.

- `mae_reconstruction(pred, target_patches, mask, *, norm_pix, axis_name)`: MAE's mean
  squared error over the masked patches only, against (optionally) per-patch normalised
  pixels;
- `ijepa(pred, target, valid, *, distance, axis_name)`: I-JEPA's regression of the
  target encoder's layer-normalised patch representations.

References:
    He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022, and
    facebookresearch/mae `models_mae.py` `forward_loss` (at efb2a80).
    Assran et al., "Self-Supervised Learning from Images with a Joint-Embedding Predictive
    Architecture", CVPR 2023, and facebookresearch/ijepa `src/train.py` (at 52c1ae9).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ssljax.losses._common import AxisName, as_f32, check_same_shape, psum

NORM_PIX_EPS = 1e-6  # MAE's `(var + 1.e-6) ** .5`


def mae_reconstruction(pred: jax.Array, target_patches: jax.Array, mask: jax.Array, *,
                       norm_pix: bool = True, axis_name: AxisName = None) -> jax.Array:
    """MAE's reconstruction loss: per-patch MSE, averaged over the masked patches.

        t̂ = (t − mean(t)) / sqrt(var(t) + 1e-6)   per patch (with `norm_pix`),
        L = Σ_{n,l} mask_nl · mean_k (pred_nlk − t̂_nlk)² / Σ_{n,l} mask_nl

    with `var` the **unbiased** variance over the patch's p·p·C values, as torch's
    `Tensor.var` in the official code. Visible patches (mask 0) do not count.

    Args:
        pred: `[N, L, K]` the decoder's predicted pixels of every patch (K = p·p·C).
        target_patches: `[N, L, K]` the image's patches (`ssljax.augment.patchify`);
            no gradient flows into them.
        mask: `[N, L]`, 1 for a masked (removed) patch, 0 for a visible one.
        norm_pix: normalise each target patch by its own mean and std (MAE's
            `norm_pix_loss`, the paper's default); needs K ≥ 2.
        axis_name: mesh axis of the enclosing `shard_map`: numerator and denominator are
            summed over all devices (equal to the official per-GPU mean whenever every
            example masks the same number of patches, as MAE's masking does).

    Returns:
        The float32 scalar loss (0 when nothing is masked).
    """
    pred = as_f32("pred", pred, 3)
    target = jax.lax.stop_gradient(as_f32("target_patches", target_patches, 3))
    check_same_shape("pred", pred, "target_patches", target)
    mask = as_f32("mask", mask, 2)
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask must have shape [N, L] = {tuple(pred.shape[:2])}, got "
                         f"{tuple(mask.shape)}")
    if norm_pix:
        if pred.shape[-1] < 2:
            raise ValueError("norm_pix needs at least 2 values per patch (its unbiased "
                             f"variance), got patches of {pred.shape[-1]}; use norm_pix=False")
        mean = jnp.mean(target, axis=-1, keepdims=True)
        var = jnp.var(target, axis=-1, keepdims=True, ddof=1)
        target = (target - mean) / jnp.sqrt(var + NORM_PIX_EPS)
    per_patch = jnp.mean(jnp.square(pred - target), axis=-1)  # [N, L]
    total = psum(jnp.sum(per_patch * mask), axis_name)
    count = psum(jnp.sum(mask), axis_name)
    return total / jnp.maximum(count, 1.0)


TARGET_LN_EPS = 1e-5  # torch.nn.functional.layer_norm's default
DISTANCES = ("smooth_l1", "l2")


def ijepa(pred: jax.Array, target: jax.Array, valid: jax.Array | None = None, *,
          distance: str = "smooth_l1", axis_name: AxisName = None) -> jax.Array:
    """I-JEPA's loss: predicted patch representations against the target encoder's.

        t̂ = LayerNorm(t) over the feature dimension (no affine, eps 1e-5),
        L = mean over valid tokens and features of d(pred − t̂)

    with d the smooth L1 (Huber, β = 1) of the official code's `F.smooth_l1_loss`, or
    the squared error the paper writes (`distance="l2"`). No gradient flows into the
    target. Each token counts once (the reference's blocks all have one size per batch,
    so its plain mean is the same).

    Args:
        pred: `[M, K, D]` the predictor's outputs at the target positions (M = examples ×
            target blocks).
        target: `[M, K, D]` the target encoder's (un-normalised) tokens there.
        valid: optional bool `[M, K]`: which of the K positions are real tokens (padding
            of `ssljax.augment.ijepa_blocks`); None: all.
        distance: "smooth_l1" (the code) or "l2" (the paper's text).
        axis_name: mesh axis of the enclosing `shard_map`: the mean over the global batch.

    Returns:
        The float32 scalar loss.
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance={distance!r} must be one of {', '.join(DISTANCES)}")
    pred = as_f32("pred", pred, 3)
    target = jax.lax.stop_gradient(as_f32("target", target, 3))
    check_same_shape("pred", pred, "target", target)
    mean = jnp.mean(target, axis=-1, keepdims=True)
    var = jnp.var(target, axis=-1, keepdims=True)
    target = (target - mean) / jnp.sqrt(var + TARGET_LN_EPS)
    diff = pred - target
    if distance == "l2":
        err = jnp.square(diff)
    else:
        err = jnp.where(jnp.abs(diff) < 1.0, 0.5 * jnp.square(diff), jnp.abs(diff) - 0.5)
    per_token = jnp.mean(err, axis=-1)  # [M, K]
    weight = (jnp.ones(per_token.shape, jnp.float32) if valid is None
              else as_f32("valid", valid, 2))
    if weight.shape != per_token.shape:
        raise ValueError(f"valid must have shape [M, K] = {tuple(per_token.shape)}, got "
                         f"{tuple(weight.shape)}")
    total = psum(jnp.sum(per_token * weight), axis_name)
    return total / jnp.maximum(psum(jnp.sum(weight), axis_name), 1.0)
