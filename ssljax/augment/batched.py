"""Batched augmentation ops: one PRNG key per call, split per example, a vmapped single-image op.

Images are float NHWC arrays with values in [0, 1] and C == 3 (RGB) or C == 1 (grayscale;
saturation, hue and grayscale are then the identity). Every random op takes ONE PRNG key
per call, splits it into one key per example and `vmap`s a single-image function from
`ssljax.augment.ops`; whether an op applies is decided per example with a select, so a
whole pipeline is one fused XLA computation. Computation is in float32; outputs have the
input's dtype (bfloat16 in -> bfloat16 out), and integer images are rejected.

References:
    SimCLR: Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020, Appendix A. BYOL: Grill et al., "Bootstrap Your Own
    Latent", NeurIPS 2020, Table 6.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssljax.augment import ops

# --------------------------------------------------------------------------- checks


def check_images(images: Any, name: str = "images") -> None:
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(f"{name} must be a 4-D NHWC array, got shape {shape}.")
    if shape[-1] not in (1, 3):
        raise ValueError(f"{name} must have 1 or 3 channels (NHWC), got shape {tuple(shape)}.")
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise ValueError(
            f"{name} must be floating point in [0, 1], got {images.dtype}; "
            "convert with images.astype(jnp.float32) / 255."
        )


def check_p(name: str, p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}.")
    return p


def check_nonneg(name: str, value: float) -> float:
    value = float(value)
    if value < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value}.")
    return value


def check_range(name: str, value: Sequence[float], *, positive: bool = False) -> tuple:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}.") from None
    if not lo <= hi or lo < 0.0 or (positive and lo <= 0.0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must satisfy {bound} min <= max, got {value!r}.")
    return lo, hi


def check_out_size(out_size: Any) -> int:
    if isinstance(out_size, bool) or int(out_size) != out_size or int(out_size) < 1:
        raise ValueError(f"out_size must be a positive int, got {out_size!r}.")
    return int(out_size)


def check_keys(keys: jax.Array, n: int) -> None:
    if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        ok = keys.shape == (n,)
    else:
        ok = keys.ndim == 2 and keys.shape[0] == n
    if not ok:
        raise ValueError(
            f"keys must hold one PRNG key per image ({n}), got shape {keys.shape}; "
            "build them with example_keys(key, step, view, indices)."
        )



# --------------------------------------------------------------------------- batched ops


@functools.partial(jax.jit, static_argnames=("fn", "num_uniforms", "params"))
def _apply_batched(
    key: jax.Array, images: jax.Array, fn: Callable, num_uniforms: int, params: tuple
) -> jax.Array:
    """Splits `key` per example and vmaps `fn(u_i, image_i, **params)` (float32 inside).

    `u_i` are the `num_uniforms` uniforms drawn from example i's key.
    """
    keys = jax.random.split(key, images.shape[0])

    def single(k, image):
        return fn(jax.random.uniform(k, (num_uniforms,)), image, **dict(params))

    out = jax.vmap(single)(keys, images.astype(jnp.float32))
    return out.astype(images.dtype)


def _with_probability(key: jax.Array, images: jax.Array, fn: Callable, num_uniforms: int,
                      p: float) -> jax.Array:
    """A single-image op `fn(u, image, p)` whose only parameter is its probability."""
    check_images(images)
    return _apply_batched(key, images, fn, num_uniforms, (("p", check_p("p", p)),))


def random_resized_crop(key: jax.Array, images: jax.Array, out_size: int, *,
                        scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> jax.Array:
    """Inception-style random resized crop of each image.

    Per example: area fraction ~ U(scale), aspect (w / h) log-uniform in `ratio`, 10
    vectorised tries, the first that fits is used, else a centered crop with clamped aspect;
    the window is resampled bilinearly (antialiased when shrinking), see
    `ssljax.augment.ops.sample_crop_box` and `crop_and_resize`.

    Args:
        key: One PRNG key for the batch.
        images: `[N, H, W, C]` float in [0, 1].
        out_size: Output side (int).
        scale: (min, max) fraction of the image area.
        ratio: (min, max) aspect ratio width / height.

    Returns:
        `[N, out_size, out_size, C]`, dtype of `images`.

    Reference:
        Szegedy et al., "Going Deeper with Convolutions", CVPR 2015.
    """
    check_images(images)
    params = (
        ("out_size", check_out_size(out_size)),
        ("scale", check_range("scale", scale, positive=True)),
        ("ratio", check_range("ratio", ratio, positive=True)),
    )
    return _apply_batched(key, images, ops.random_resized_crop_u, ops.N_CROP, params)


def horizontal_flip(key: jax.Array, images: jax.Array, *, p: float = 0.5) -> jax.Array:
    """Mirrors each image left-right with probability `p`.

    Args:
        key: One PRNG key for the batch.
        images: `[N, H, W, C]` float in [0, 1].
        p: Probability of flipping an example.

    Returns:
        `[N, H, W, C]`, dtype of `images`.
    """
    return _with_probability(key, images, ops.flip_u, ops.N_FLIP, p)


def color_jitter(key: jax.Array, images: jax.Array, *, brightness: float, contrast: float,
                 saturation: float, hue: float, p: float = 0.8) -> jax.Array:
    """With probability `p` per example, jitters brightness, contrast, saturation and hue.

    The four ops run in a random order per example (torchvision `ColorJitter`, SimCLR's
    `color_jitter_rand`), clipping to [0, 1] after each. Brightness: `x * f`; contrast:
    `mean_c + f (x - mean_c)` with per-channel means; saturation: HSV saturation `* f`;
    with `f ~ U[max(0, 1 - s), 1 + s]`; hue: HSV hue `+ d`, `d ~ U[-hue, hue]` (fraction of
    the colour circle). For C == 1 only brightness and contrast act.

    Args:
        key: One PRNG key for the batch.
        images: `[N, H, W, C]` float in [0, 1].
        brightness, contrast, saturation: Strengths (>= 0; 0 disables).
        hue: Strength in [0, 0.5].
        p: Probability of jittering an example.

    Returns:
        `[N, H, W, C]` in [0, 1], dtype of `images`.

    Reference:
        Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations", ICML 2020, Appendix A.
    """
    check_images(images)
    params = (
        ("brightness", check_nonneg("brightness", brightness)),
        ("contrast", check_nonneg("contrast", contrast)),
        ("saturation", check_nonneg("saturation", saturation)),
        ("hue", check_hue(hue)),
        ("p", check_p("p", p)),
    )
    return _apply_batched(key, images, ops.color_jitter_u, ops.N_JITTER, params)


def check_hue(hue: float) -> float:
    hue = float(hue)
    if not 0.0 <= hue <= 0.5:
        raise ValueError(f"hue must be in [0, 0.5] (fraction of the colour circle), got {hue}.")
    return hue


def grayscale(key: jax.Array, images: jax.Array, *, p: float = 0.2) -> jax.Array:
    """With probability `p`, replaces an RGB image by its ITU-R 601 luma on all 3 channels.

    Luma = 0.299 R + 0.587 G + 0.114 B; the identity for C == 1. Arguments and result as
    `horizontal_flip`'s (`p`: probability per example).
    """
    return _with_probability(key, images, ops.grayscale_u, ops.N_GRAY, p)


def gaussian_blur(key: jax.Array, images: jax.Array, *, p: float = 0.5,
                  sigma: tuple[float, float] = (0.1, 2.0), kernel_frac: float = 0.1) -> jax.Array:
    """With probability `p`, blurs each image with a separable Gaussian, sigma ~ U(sigma).

    sigma is in pixels and drawn per example; the kernel size is static (it fixes the XLA
    program): side `kernel_frac * max(H, W)` rounded down and made odd, at least 3 taps
    (SimCLR: 23 taps at 224 px). Borders are padded by reflection (`d c b | a b c d`).

    Args:
        key: One PRNG key for the batch.
        images: `[N, H, W, C]` float in [0, 1].
        p: Probability per example.
        sigma: (min, max) standard deviation in pixels (> 0).
        kernel_frac: Kernel side as a fraction of the image side.

    Returns:
        `[N, H, W, C]`, dtype of `images`.

    Reference: SimCLR (Chen et al., ICML 2020), Appendix A, as for `color_jitter`.
    """
    check_images(images)
    params = (
        ("p", check_p("p", p)),
        ("sigma", check_range("sigma", sigma, positive=True)),
        ("kernel_frac", check_nonneg("kernel_frac", kernel_frac)),
    )
    return _apply_batched(key, images, ops.gaussian_blur_u, ops.N_BLUR, params)


def solarize(
    key: jax.Array, images: jax.Array, *, p: float = 0.2, threshold: float = 0.5
) -> jax.Array:
    """With probability `p`, maps each pixel value x to `x if x < threshold else 1 - x`.

    Args:
        key: One PRNG key for the batch.
        images: `[N, H, W, C]` float in [0, 1].
        p: Probability per example.
        threshold: Values at or above it are inverted.

    Returns:
        `[N, H, W, C]`, dtype of `images`.

    Reference:
        Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, Table 6.
    """
    check_images(images)
    params = (("p", check_p("p", p)), ("threshold", float(threshold)))
    return _apply_batched(key, images, ops.solarize_u, ops.N_SOLARIZE, params)


def normalize(
    images: jax.Array, mean: Sequence[float] | float, std: Sequence[float] | float
) -> jax.Array:
    """`(images - mean) / std` per channel (deterministic).

    Args:
        images: `[..., C]` float.
        mean: Scalar or length-C sequence.
        std: Scalar or length-C sequence, all > 0.

    Returns:
        Same shape and dtype as `images`.
    """
    if np.any(np.asarray(std) <= 0):
        raise ValueError(f"std must be > 0, got {std}.")
    mean_a = jnp.asarray(mean, jnp.float32)
    std_a = jnp.asarray(std, jnp.float32)
    out = (images.astype(jnp.float32) - mean_a) / std_a
    return out.astype(images.dtype)
