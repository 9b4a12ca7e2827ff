"""Input transforms of the classic pretext tasks: rotations, corruption and holes.

Batched and pure like the rest of `ssljax.augment`; the random ones take one PRNG key per
example (`example_keys`), so a batch is transformed identically on 1 or 8 devices.

- `rotations(x)`: every image in the four rotations of RotNet, with their labels;
- `corrupt(keys, x, noise, amount)`: the input corruption of a denoising autoencoder;
- `region_masks(...)`, `fill_holes(...)`: a context encoder's holes and the regions it
  reconstructs (the hole plus an overlap band);
- `tile_grid(keys, x, grid, tile)`, `standardize_tiles`, `permutation_set(n)`: jigsaw
  puzzles and context prediction's patches;
- `patch_grid(x, patch, stride)`: contrastive predictive coding's overlapping patches.

References:
    Gidaris, Singh and Komodakis, "Unsupervised Representation Learning by Predicting
    Image Rotations", ICLR 2018 (gidariss/FeatureLearningRotNet, `dataloader.py`
    `rotate_img`). Vincent et al., "Extracting and Composing Robust Features with Denoising
    Autoencoders", ICML 2008 (masking noise); "Stacked Denoising Autoencoders", JMLR 2010
    (additive Gaussian noise). Pathak et al., "Context Encoders: Feature Learning by
    Inpainting", CVPR 2016 (pathak22/context-encoder `train.lua`: the central hole filled
    with the mean, the prediction overlapping the context by `overlapPred` pixels).
    Noroozi and Favaro, "Unsupervised Learning of Visual Representations by Solving
    Jigsaw Puzzles", ECCV 2016 (tiles with gaps, per-tile normalisation, Algorithm 1's
    permutation set). Doersch, Gupta and Efros, "Unsupervised Visual Representation
    Learning by Context Prediction", ICCV 2015 (a patch and one of its 8 neighbours).
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

NOISES = ("none", "gaussian", "masking")


def rotations(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Each image rotated by 0, 90, 180 and 270 degrees counter-clockwise.

    Args:
        x: images `[N, H, W, C]` with H == W.

    Returns:
        (`[4N, H, W, C]` images: the N images unrotated, then all N at 90°, at 180°, at
        270°; int32 labels `[4N]`: k for a rotation by k·90°, as RotNet's `rotate_img`
        (90° is `np.flipud(np.transpose(img))`, i.e. `np.rot90(img, 1)`)).

    Raises:
        ValueError: non-square images (a 90° rotation would change their shape).
    """
    if x.ndim != 4 or x.shape[1] != x.shape[2]:
        raise ValueError(f"rotations needs square NHWC images, got shape {tuple(x.shape)}; "
                         "crop them square first (augment.image_size)")
    rotated = [jnp.rot90(x, k, axes=(1, 2)) for k in range(4)]
    labels = jnp.repeat(jnp.arange(4, dtype=jnp.int32), x.shape[0])
    return jnp.concatenate(rotated), labels


def corrupt(keys: jax.Array, x: jax.Array, noise: str, amount: float) -> jax.Array:
    """The corrupted input of a denoising autoencoder (the clean `x` is its target).

    Args:
        keys: one PRNG key per image, `[N]` (typed) or `[N, 2]` (raw).
        x: images `[N, H, W, C]`.
        noise: "none" (returns `x`), "gaussian" (adds `amount`·N(0, 1) to every value) or
            "masking" (sets each pixel, all its channels, to 0 with probability `amount`).
        amount: the Gaussian's standard deviation, or the masking probability in [0, 1).

    Raises:
        ValueError: an unknown noise or an out-of-range amount.
    """
    if noise not in NOISES:
        raise ValueError(f"noise={noise!r} is unknown; use one of {NOISES}")
    if noise == "none":
        return x
    if noise == "masking" and not 0 <= amount < 1:
        raise ValueError(f"masking noise needs a drop probability in [0, 1), got {amount}")
    if noise == "gaussian" and not amount >= 0:
        raise ValueError(f"gaussian noise needs a standard deviation >= 0, got {amount}")

    def one(key: jax.Array, img: jax.Array) -> jax.Array:
        if noise == "gaussian":
            return img + amount * jax.random.normal(key, img.shape, img.dtype)
        keep = jax.random.bernoulli(key, 1.0 - amount, img.shape[:2] + (1,))
        return jnp.where(keep, img, jnp.zeros_like(img))

    return jax.vmap(one)(keys, x)


REGIONS = ("center", "random")


def region_masks(keys: jax.Array | None, n: int, size: int, hole: int, overlap: int,
                 region: str = "center") -> tuple[jax.Array, jax.Array]:
    """The context encoder's square holes and the regions it reconstructs.

    The hole (side `hole`) is what the encoder does not see; the reconstructed region is
    the hole grown by `overlap` pixels on each side (the prediction overlaps the visible
    context there, where the loss weights errors more).

    Args:
        keys: one PRNG key per image (used by "random"; None for "center").
        n: number of images.
        size: image side.
        hole: side of the hole, 1 <= hole and hole + 2·overlap <= size.
        overlap: width of the overlap band.
        region: "center" (the hole in the middle, Pathak et al.'s central region) or
            "random" (one hole per image at a uniformly random position, the region inside
            the image).

    Returns:
        (hole masks, region masks): float32 `[N, size, size]` in {0, 1}.

    Raises:
        ValueError: an unknown region or a hole that does not fit.
    """
    if region not in REGIONS:
        raise ValueError(f"region={region!r} is unknown; use one of {REGIONS}")
    if not (hole >= 1 and overlap >= 0 and hole + 2 * overlap <= size):
        raise ValueError(f"a hole of {hole} px with a {overlap} px overlap does not fit a "
                         f"{size} px image; lower the hole size or the overlap")
    span = size - hole - 2 * overlap  # positions of the region's top-left corner: 0..span
    if region == "center":
        corner = jnp.full((n, 2), span // 2, jnp.int32)
    else:
        if keys is None:
            raise ValueError("region='random' needs one PRNG key per image")
        corner = jax.vmap(lambda k: jax.random.randint(k, (2,), 0, span + 1))(keys)
    idx = jnp.arange(size)

    def square(top_left: jax.Array, offset: int, side: int) -> jax.Array:
        rows = (idx >= top_left[0] + offset) & (idx < top_left[0] + offset + side)
        cols = (idx >= top_left[1] + offset) & (idx < top_left[1] + offset + side)
        return (rows[:, None] & cols[None, :]).astype(jnp.float32)

    holes = jax.vmap(lambda c: square(c, overlap, hole))(corner)
    regions = jax.vmap(lambda c: square(c, 0, hole + 2 * overlap))(corner)
    return holes, regions


def fill_holes(x: jax.Array, holes: jax.Array, fill: jax.Array) -> jax.Array:
    """`x` with its holes `[N, H, W]` set to `fill` (per channel `[C]`, e.g. the mean)."""
    m = holes[..., None]
    return x * (1.0 - m) + jnp.asarray(fill, x.dtype) * m


def tile_grid(keys: jax.Array, x: jax.Array, grid: int, tile: int) -> jax.Array:
    """A `grid`×`grid` grid of cells per image and one randomly placed tile in each.

    The image's central `grid·cell` square (cell = H // grid) is split into cells; each
    cell gives a `tile`×`tile` crop at a random offset inside it (0 … cell − tile in each
    direction, drawn per tile), so neighbouring tiles are separated by a random gap —
    the jigsaw puzzle's and context prediction's defence against matching edges.

    Args:
        keys: one PRNG key per image, `[N]` (typed) or `[N, 2]` (raw).
        x: square images `[N, H, W, C]`.
        grid: cells per side (3 for the jigsaw puzzle and context prediction).
        tile: tile side, 1 <= tile <= H // grid.

    Returns:
        `[N, grid·grid, tile, tile, C]` tiles in row-major cell order (cell 4 of a 3×3 grid
        is the centre).

    Raises:
        ValueError: tiles that do not fit their cells, or non-square images.
    """
    if x.ndim != 4 or x.shape[1] != x.shape[2]:
        raise ValueError(f"tile_grid needs square NHWC images, got shape {tuple(x.shape)}")
    cell = x.shape[1] // grid
    if not 1 <= tile <= cell:
        raise ValueError(f"{tile} px tiles do not fit the {cell} px cells of a {grid}x{grid} "
                         f"grid on {x.shape[1]} px images; use tiles of at most {cell} px")
    start = (x.shape[1] - grid * cell) // 2
    origins = jnp.asarray([(start + r * cell, start + c * cell)
                           for r in range(grid) for c in range(grid)], jnp.int32)

    def one(key: jax.Array, img: jax.Array) -> jax.Array:
        offsets = jax.random.randint(key, (grid * grid, 2), 0, cell - tile + 1)
        corners = origins + offsets
        return jax.vmap(lambda yx: jax.lax.dynamic_slice(
            img, (yx[0], yx[1], 0), (tile, tile, img.shape[-1])))(corners)

    return jax.vmap(one)(keys, x)


def standardize_tiles(tiles: jax.Array, eps: float = 1e-5) -> jax.Array:
    """Each tile `[..., T, T, C]` to zero mean and unit variance per channel (the jigsaw
    paper's per-tile normalisation against low-level statistics shortcuts)."""
    mean = tiles.mean(axis=(-3, -2), keepdims=True)
    var = tiles.var(axis=(-3, -2), keepdims=True)
    return (tiles - mean) * jax.lax.rsqrt(var + eps)


POOL = 100_000  # candidate permutations considered by `permutation_set`


@functools.lru_cache(maxsize=8)
def permutation_set(n: int, size: int = 9, seed: int = 0) -> np.ndarray:
    """`n` permutations of `size` tiles, chosen greedily for a large minimum Hamming distance.

    Starting from a random permutation, each next one is the candidate farthest from those
    chosen so far (the largest minimum Hamming distance, ties broken by a seeded random
    order); the candidates are all `size`! permutations, or a seeded random 100,000 of them
    when there are more. The jigsaw paper's Algorithm 1 greedily maximises the summed
    distance to the chosen set instead; the minimum guarantees the separation of every
    pair, which is what makes the classes distinguishable.

    Args:
        n: number of permutations (the paper: 1000 of 9!; fewer for small images).
        size: tiles per puzzle (9 for 3×3).
        seed: NumPy seed of the first permutation and of the tie-breaking.

    Returns:
        int32 `[n, size]`: row k is the tile order of class k.
    """
    if not 1 <= n <= math.factorial(size) or size > 10:
        raise ValueError(f"cannot choose {n} permutations of {size} tiles; need 1 <= n <= "
                         f"{size}! and size <= 10")
    rng = np.random.default_rng(seed)
    everything = np.asarray(list(itertools.permutations(range(size))), np.int8)
    # A seeded order breaks ties; the candidates are capped at 100,000 of the 9! = 362,880
    # (a random subset) so that 2000 permutations take seconds.
    everything = everything[rng.permutation(len(everything))[:POOL]]
    chosen = [0]
    dist = (everything != everything[0]).sum(1).astype(np.int16)
    for _ in range(n - 1):
        k = int(np.argmax(dist))
        chosen.append(k)
        dist = np.minimum(dist, (everything != everything[k]).sum(1).astype(np.int16))
    out = everything[chosen].astype(np.int32)
    out.flags.writeable = False  # cached: shared by every caller
    return out


def drop_colors(keys: jax.Array, tiles: jax.Array) -> jax.Array:
    """Context prediction's colour dropping: each RGB tile keeps one random channel, the
    other two become Gaussian noise of 1/100 of the kept channel's standard deviation.

    Args:
        keys: one PRNG key per image, `[N]`.
        tiles: `[N, K, T, T, C]`; C == 1 is returned unchanged.
    """
    if tiles.shape[-1] == 1:
        return tiles

    def one(key: jax.Array, tile: jax.Array) -> jax.Array:
        k_keep, k_noise = jax.random.split(key)
        keep = jax.random.randint(k_keep, (), 0, tile.shape[-1])
        kept = jnp.take(tile, keep, axis=-1)
        noise = jax.random.normal(k_noise, tile.shape, tile.dtype) * (kept.std() / 100.0)
        mask = jnp.arange(tile.shape[-1]) == keep
        return jnp.where(mask, tile, noise)

    def per_image(key: jax.Array, image_tiles: jax.Array) -> jax.Array:
        return jax.vmap(one)(jax.random.split(key, image_tiles.shape[0]), image_tiles)

    return jax.vmap(per_image)(keys, tiles)


def grid_side(image_size: int, patch: int, stride: int) -> int:
    """Patches per side of `patch_grid`; raises ValueError unless the grid fits exactly."""
    if not (1 <= patch <= image_size and stride >= 1 and (image_size - patch) % stride == 0):
        raise ValueError(
            f"a grid of {patch} px patches with stride {stride} does not fit {image_size} px "
            f"images exactly; choose patch and stride with (size - patch) % stride == 0")
    return (image_size - patch) // stride + 1


def patch_grid(x: jax.Array, patch: int, stride: int) -> jax.Array:
    """CPC's overlapping patch grid: `[N, H, W, C]` → `[N, G, G, patch, patch, C]`.

    Patch (i, j) is `x[:, i·stride : i·stride + patch, j·stride : j·stride + patch]`;
    G = (H − patch) / stride + 1 (CPC v2: 64-px patches with stride 32 on 256 px, 7×7).
    """
    g = grid_side(x.shape[1], patch, stride)
    rows = [jnp.stack([x[:, i * stride:i * stride + patch, j * stride:j * stride + patch]
                       for j in range(g)], axis=1) for i in range(g)]
    return jnp.stack(rows, axis=1)


def patchify(x: jax.Array, patch: int) -> jax.Array:
    """Non-overlapping patches as vectors: `[N, H, W, C]` → `[N, (H/p)·(W/p), p·p·C]`.

    Patches in row-major order, each flattened (row, column, channel) — the layout of
    facebookresearch/mae `patchify` (`'nchpwq->nhwpqc'`), so a patch's vector is the
    p×p×C block `x[:, i·p:(i+1)·p, j·p:(j+1)·p]` raveled.
    """
    n, h, w, c = x.shape
    if h % patch or w % patch:
        raise ValueError(f"patch size {patch} must divide the image size, got {h}×{w}")
    gh, gw = h // patch, w // patch
    x = x.reshape(n, gh, patch, gw, patch, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, gh * gw, patch * patch * c)


def unpatchify(patches: jax.Array, patch: int, grid: tuple[int, int]) -> jax.Array:
    """Inverse of `patchify`: `[N, gh·gw, p·p·C]` → `[N, gh·p, gw·p, C]`."""
    n, length, k = patches.shape
    gh, gw = grid
    c = k // (patch * patch)
    if length != gh * gw or c * patch * patch != k:
        raise ValueError(f"patches of shape {tuple(patches.shape)} are not a {gh}×{gw} grid "
                         f"of {patch}×{patch} patches")
    x = patches.reshape(n, gh, gw, patch, patch, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, gh * patch, gw * patch, c)
