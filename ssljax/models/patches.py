"""Encoders applied to a grid of patches: CPC v2's way of reading an image.

A ResNet or SmallCNN with `patch_px > 0` cuts each image into the overlapping grid of
`augment.patch_grid` (patches of `patch_px` pixels every `patch_stride` pixels), encodes
every patch on its own and returns the mean of the patch features. CPC trains its encoder
on such patches, and its evaluation reads them the same way: "the encoder is used to form
a representation z = f(x) of new observations" from the patch grid, spatially mean-pooled
(Hénaff et al., "Data-Efficient Image Recognition with Contrastive Predictive Coding",
ICML 2020, Sec. 3.2; the 7×7 grid of 64-px patches of a 256-px image at stride 32).
"""

from __future__ import annotations

import jax

from ssljax.augment.pretext import grid_side, patch_grid


def check_patches(image_size: int, patch_px: int, patch_stride: int) -> None:
    """Raises ValueError unless the grid of `patch_px`-px patches every `patch_stride` px
    fits `image_size`-px images exactly."""
    grid_side(image_size, patch_px, patch_stride)


def to_patches(x: jax.Array, patch_px: int, patch_stride: int) -> jax.Array:
    """`[N, H, W, C]` → the patches of each image's grid, `[N·G·G, patch_px, patch_px, C]`
    (image-major, then row-major over the grid)."""
    grid = patch_grid(x, patch_px, patch_stride)
    return grid.reshape(-1, *grid.shape[3:])


def mean_over_patches(h: jax.Array, n: int) -> jax.Array:
    """Patch features `[N·G·G, D]` (image-major) → each image's mean `[N, D]`."""
    return h.reshape(n, -1, h.shape[-1]).mean(axis=1)
