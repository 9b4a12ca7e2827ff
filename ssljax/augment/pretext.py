"""Input transforms of the classic pretext tasks: rotations and input corruption.

Batched and pure like the rest of `ssljax.augment`; the random ones take one PRNG key per
example (`example_keys`), so a batch is transformed identically on 1 or 8 devices.

- `rotations(x)`: every image in the four rotations of RotNet, with their labels;
- `corrupt(keys, x, noise, amount)`: the input corruption of a denoising autoencoder.

References:
    Gidaris, Singh and Komodakis, "Unsupervised Representation Learning by Predicting
    Image Rotations", ICLR 2018 (gidariss/FeatureLearningRotNet, `dataloader.py`
    `rotate_img`). Vincent et al., "Extracting and Composing Robust Features with Denoising
    Autoencoders", ICML 2008 (masking noise); "Stacked Denoising Autoencoders", JMLR 2010
    (additive Gaussian noise).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

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
