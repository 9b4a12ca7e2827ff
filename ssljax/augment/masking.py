"""Token masks of masked image modelling, keyed per example.

- `random_masking(keys, num_patches, mask_ratio)`: MAE's per-example random masking by
  argsort of uniform noise: which patch tokens the encoder keeps, the binary mask of the
  removed ones and the permutation that puts the decoder's tokens back in place;
- `ijepa_blocks(step_key, keys, grid, ...)`: I-JEPA's target blocks and the context block
  that excludes them, as padded index lists with validity masks (static shapes);
- `block_mask` / `ibot_masks`: BEiT's block-wise masks as DINOv2's `MaskingGenerator`
  draws them, for iBOT's masked patch-token distillation.

Each example draws from its own key (`ssljax.methods.base.example_streams`: the step's
key folded with the example's global row), so a batch is masked alike on 1 or 8 devices
and on a resumed run. No TensorFlow.

References: He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022;
facebookresearch/mae `models_mae.py` `random_masking` (at efb2a80). Assran et al.,
"Self-Supervised Learning from Images with a Joint-Embedding Predictive Architecture",
CVPR 2023; facebookresearch/ijepa `src/masks/multiblock.py` (at 52c1ae9). Bao et al.,
"BEiT", ICLR 2022, and facebookresearch/dinov2 `dinov2/data/masking.py`, `collate.py`
(at b8931f7).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def num_visible(num_patches: int, mask_ratio: float) -> int:
    """Tokens MAE keeps: `int(L · (1 − mask_ratio))`, as the official code truncates
    (49 of 196 at 0.75); raises ValueError unless 0 ≤ ratio < 1 leaves at least one."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    keep = int(num_patches * (1.0 - mask_ratio))
    if keep < 1:
        raise ValueError(f"mask_ratio {mask_ratio} keeps no token of {num_patches}; lower it "
                         "or use smaller patches")
    return keep


def random_masking(keys: jax.Array, num_patches: int, mask_ratio: float
                   ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """MAE's random masking: each example keeps the tokens of its smallest noise values.

    Args:
        keys: `[N]` PRNG keys, one per example.
        num_patches: L, patch tokens per image.
        mask_ratio: fraction removed (MAE: 0.75).

    Returns:
        `(keep, mask, restore)`: int32 `[N, K]` indices of the kept tokens in the order the
        encoder sees them (K = `num_visible(L, mask_ratio)`); float32 `[N, L]` mask, 1 for
        a removed token and 0 for a kept one; int32 `[N, L]` `restore`, the inverse
        permutation (the decoder's token at grid position l is its sequence entry
        `restore[l]`, the kept tokens first, then the mask tokens).
    """
    keep_count = num_visible(num_patches, mask_ratio)
    noise = jax.vmap(lambda k: jax.random.uniform(k, (num_patches,)))(keys)
    shuffle = jnp.argsort(noise, axis=1).astype(jnp.int32)  # ascending: small ones are kept
    restore = jnp.argsort(shuffle, axis=1).astype(jnp.int32)
    mask = (restore >= keep_count).astype(jnp.float32)
    return shuffle[:, :keep_count], mask, restore


# --------------------------------------------------------------------------- I-JEPA blocks


def _block_size(r: Any, grid: tuple[int, int], scale: tuple[float, float],
                aspect: tuple[float, float], xp: Any = jnp, edges: bool = False
                ) -> tuple[Any, Any]:
    """I-JEPA's `_sample_block_size` for uniform r (one draw sets both scale and aspect;
    round half to even, as Python's `round`), sides capped at g − 1 (g with `edges`);
    `xp` is jax.numpy or numpy."""
    gh, gw = grid
    reach = 0 if edges else 1
    area = xp.floor(gh * gw * (scale[0] + r * (scale[1] - scale[0])))
    ratio = aspect[0] + r * (aspect[1] - aspect[0])
    h = xp.minimum(xp.round(xp.sqrt(area * ratio)), gh - reach)
    w = xp.minimum(xp.round(xp.sqrt(area / ratio)), gw - reach)
    return h.astype(xp.int32), w.astype(xp.int32)


def max_block_tokens(grid: tuple[int, int], scale: tuple[float, float],
                     aspect: tuple[float, float], edges: bool = False) -> int:
    """The most tokens a block of `ijepa_blocks` can cover (its static capacity)."""
    h, w = _block_size(np.linspace(0.0, 1.0, 20001), grid, scale, aspect, xp=np,
                       edges=edges)
    return max(1, int(np.max(h * w)))


def _block_masks(keys: jax.Array, grid: tuple[int, int], h: jax.Array, w: jax.Array,
                 edges: bool = False) -> jax.Array:
    """Boolean `[len(keys), gh, gw]` h×w blocks, top-left uniform in [0, g − size)
    (the reference's), or in [0, g − size] with `edges` (so a block may touch the last
    row and column)."""
    gh, gw = grid
    rows, cols = jnp.arange(gh)[:, None], jnp.arange(gw)[None, :]
    reach = 1 if edges else 0

    def one(key):
        u = jax.random.uniform(key, (2,))
        top = jnp.floor(u[0] * (gh - h + reach)).astype(jnp.int32)
        left = jnp.floor(u[1] * (gw - w + reach)).astype(jnp.int32)
        return (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)

    return jax.vmap(one)(keys)


def _indices(masks: jax.Array, capacity: int) -> tuple[jax.Array, jax.Array]:
    """Token indices of boolean `[..., L]` masks in raster order, padded to `capacity`:
    (int32 `[..., capacity]`, bool validity)."""
    order = jnp.argsort(~masks, axis=-1, stable=True)[..., :capacity].astype(jnp.int32)
    valid = jnp.take_along_axis(masks, order, axis=-1)
    return order, valid


def ijepa_blocks(step_key: jax.Array, keys: jax.Array, grid: tuple[int, int], *,
                 num_targets: int = 4, target_scale: tuple[float, float] = (0.15, 0.2),
                 target_aspect: tuple[float, float] = (0.75, 1.5),
                 context_scale: tuple[float, float] = (0.85, 1.0), min_keep: int = 10,
                 tries: int = 20, edges: bool = False) -> dict[str, jax.Array]:
    """I-JEPA's multi-block masks: `num_targets` target blocks and one context block that
    excludes them, per example.

    As facebookresearch/ijepa `src/masks/multiblock.py` `MaskCollator`: the target and
    context block sizes are drawn once per step (`step_key`; the same for every example
    of the global batch) — one uniform r sets both a block's scale and its aspect ratio,
    side = round(sqrt(area·ratio)) capped below the grid side; the context block is
    square. Each example then places its blocks (its own key): a top-left corner uniform
    in [0, g − side). The context keeps only tokens outside every target block; a
    placement leaving `min_keep` tokens or fewer is redrawn (`tries` times), and after
    that the last target's exclusion is dropped, then the one before (the reference's
    "decreasing acceptable regions").

    Static shapes: the tokens are returned as index lists padded to the blocks' largest
    possible size (`max_block_tokens`) with a validity mask — the reference instead cuts
    every example's list to the batch's shortest.

    Args:
        step_key: a key shared by the whole batch (block sizes).
        keys: `[N]` per-example keys (positions).
        grid: `(gh, gw)` patches.
        num_targets, target_scale, target_aspect, context_scale, min_keep, tries: the
            reference's `npred`, `pred_mask_scale`, `aspect_ratio`, `enc_mask_scale`,
            `min_keep` and its 20 tries.
        edges: False (the reference's): a block's side is at most g − 1 and its corner
            below g − side, so no block ever touches the grid's last row or column (on
            I-JEPA's 14×14 grids one row and column of 14; on a 4×4 grid 7 of the 16
            tokens, and the context block is always the top-left 3×3). True: sides up
            to g and corners in [0, g − side], every token reachable.

    Returns:
        `context` int32 `[N, Kc]` and `context_valid` bool `[N, Kc]`; `targets` int32
        `[N, num_targets, Kt]` and `targets_valid` bool (each target block's tokens in
        raster order); `context_mask` bool `[N, L]`, `target_masks` bool
        `[N, num_targets, L]`.
    """
    gh, gw = grid
    length = gh * gw
    r_target, r_context = jax.random.uniform(step_key, (2,))
    th, tw = _block_size(r_target, grid, target_scale, target_aspect, edges=edges)
    ch, cw = _block_size(r_context, grid, context_scale, (1.0, 1.0), edges=edges)
    cap_t = max_block_tokens(grid, target_scale, target_aspect, edges)
    cap_c = max_block_tokens(grid, context_scale, (1.0, 1.0), edges)
    levels = num_targets + 1  # exclusions dropped: 0 … num_targets

    def per_example(key):
        k_t, k_c = jax.random.split(key)
        targets = _block_masks(jax.random.split(k_t, num_targets), grid, th, tw, edges)
        blocks = _block_masks(jax.random.split(k_c, levels * tries), grid, ch, cw, edges)
        blocks = blocks.reshape(levels, tries, gh, gw)
        # Level t excludes the first num_targets − t targets.
        used = jnp.arange(num_targets)[None, :] < (num_targets - jnp.arange(levels))[:, None]
        excluded = jnp.any(used[:, :, None, None] & targets[None], axis=1)  # [levels, gh, gw]
        candidates = (blocks & ~excluded[:, None]).reshape(levels * tries, length)
        ok = jnp.sum(candidates, axis=-1) > min_keep
        first = jnp.argmax(ok)  # the first acceptable draw (level-major), else draw 0
        return candidates[first], targets.reshape(num_targets, length)

    context_mask, target_masks = jax.vmap(per_example)(keys)
    context, context_valid = _indices(context_mask, cap_c)
    targets, targets_valid = _indices(target_masks, cap_t)
    return {"context": context, "context_valid": context_valid, "targets": targets,
            "targets_valid": targets_valid, "context_mask": context_mask,
            "target_masks": target_masks}


# --------------------------------------------------------------------------- iBOT / DINOv2


def block_mask(key: jax.Array, grid: tuple[int, int], num_mask: jax.Array, *,
               min_patches: int = 4, max_patches: float | None = None,
               min_aspect: float = 0.3, attempts: int = 10) -> jax.Array:
    """BEiT's block-wise mask of about `num_mask` tokens, as DINOv2's `MaskingGenerator`.

    Rectangles are added until `num_mask` tokens are masked: each round draws up to
    `attempts` rectangles (area uniform in [min_patches, remaining], aspect log-uniform in
    [min_aspect, 1/min_aspect], sides rounded, top-left uniform over the places it fits)
    and keeps the first that adds between 1 and `remaining` new tokens (remaining capped at
    `max_patches`); a round that keeps none ends the mask, as the reference's loop.

    Args:
        key: one PRNG key.
        grid: `(gh, gw)` patches.
        num_mask: the target count (int, may be traced; 0 gives an empty mask).
        min_patches, max_patches, min_aspect, attempts: the reference's
            `min_num_patches` 4, `max_num_patches` (DINOv2: half the tokens),
            `min_aspect` 0.3 and its 10 tries.

    Returns:
        bool `[gh·gw]` (raster order).
    """
    gh, gw = grid
    cap = float(gh * gw if max_patches is None else max_patches)
    lo, hi = math.log(min_aspect), math.log(1.0 / min_aspect)
    rows, cols = jnp.arange(gh)[None, :, None], jnp.arange(gw)[None, None, :]
    num_mask = jnp.asarray(num_mask, jnp.int32)

    def one_round(carry, k):
        mask, count, done = carry
        room = jnp.minimum(num_mask - count, cap).astype(jnp.float32)
        u = jax.random.uniform(k, (4, attempts))
        area = min_patches + u[0] * (room - min_patches)  # random.uniform(a, b), any order
        aspect = jnp.exp(lo + u[1] * (hi - lo))
        h = jnp.round(jnp.sqrt(area * aspect)).astype(jnp.int32)
        w = jnp.round(jnp.sqrt(area / aspect)).astype(jnp.int32)
        fits = (w < gw) & (h < gh)
        top = jnp.floor(u[2] * (gh - h + 1)).astype(jnp.int32)[:, None, None]
        left = jnp.floor(u[3] * (gw - w + 1)).astype(jnp.int32)[:, None, None]
        rect = ((rows >= top) & (rows < top + h[:, None, None]) & (cols >= left)
                & (cols < left + w[:, None, None]))  # [attempts, gh, gw]
        new = jnp.sum(rect & ~mask[None], axis=(1, 2))
        ok = fits & (new > 0) & (new <= room)
        take = ok.any() & ~done
        first = jnp.argmax(ok)
        mask = jnp.where(take, mask | rect[first], mask)
        count = count + jnp.where(take, new[first], 0)
        done = done | ~ok.any() | (count >= num_mask)
        return (mask, count, done), None

    # Derived from num_mask so that, inside shard_map, the carry varies over devices as
    # its updates do.
    start = (jnp.zeros((gh, gw), bool) & (num_mask < 0), num_mask * 0, num_mask <= 0)
    (mask, _, _), _ = jax.lax.scan(one_round, start, jax.random.split(key, gh * gw))
    return mask.reshape(gh * gw)


def ibot_masks(keys: jax.Array, grid: tuple[int, int], *, probability: float = 0.5,
               ratio: tuple[float, float] = (0.1, 0.5), max_ratio: float = 0.5
               ) -> dict[str, jax.Array]:
    """The student's masked patch tokens of DINOv2 / iBOT, one image per key.

    An image is masked with `probability` (DINOv2's `mask_sample_probability` 0.5); a
    masked image hides `int(L·r)` tokens, r uniform in `ratio` (0.1–0.5), laid out by
    `block_mask` with at most `max_ratio`·L tokens per rectangle budget. (DINOv2's collator
    masks exactly half the batch with ratios stratified over it; here each image draws
    from its own key, so 1 and 8 devices agree.)

    Args:
        keys: `[B]` PRNG keys, one per image (crop).
        grid: `(gh, gw)` patches.
        probability, ratio, max_ratio: as above.

    Returns:
        `mask` bool `[B, L]`; `index` int32 `[B, K]` and `valid` bool `[B, K]`: the
        masked tokens in raster order padded to K = int(L·max(ratio)).
    """
    gh, gw = grid
    length = gh * gw
    capacity = max(1, int(length * max(ratio)))

    def one(key):
        k_on, k_ratio, k_mask = jax.random.split(key, 3)
        r = ratio[0] + jax.random.uniform(k_ratio) * (ratio[1] - ratio[0])
        count = jnp.where(jax.random.bernoulli(k_on, probability),
                          jnp.floor(length * r).astype(jnp.int32), 0)
        return block_mask(k_mask, grid, count, max_patches=max_ratio * length)

    mask = jax.vmap(one)(keys)
    index, valid = _indices(mask, capacity)
    return {"mask": mask, "index": index, "valid": valid}
