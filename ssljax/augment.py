"""Batched, pure, on-device image augmentations for self-supervised learning.

Images are float NHWC arrays with values in [0, 1] and C == 3 (RGB) or C == 1 (grayscale;
saturation, hue and grayscale are then the identity). Every random op takes ONE PRNG key
per call, splits it into one key per example and `vmap`s a single-image function from
`ssljax.augment_ops`; whether an op applies is decided per example with a select, so a
whole pipeline is one fused XLA computation. Computation is in float32; outputs have the
input's dtype (bfloat16 in -> bfloat16 out), and integer images are rejected.

For training, `example_keys` derives each example's key from (seed key, step, view,
GLOBAL row index), and `augment_view` applies a whole `ViewSpec` pipeline
(crop -> flip -> colour jitter -> grayscale -> blur -> solarize -> normalize) with those
per-example keys. Because no key depends on the device or host layout, 1 device and 8
devices make identical random choices (boxes, flips, factors, order, sigmas) for the same
global batch, and the views agree up to float rounding (~1e-7: XLA vectorises a per-device
batch of 2 differently from a batch of 16, e.g. in the contrast mean).

Example:
    specs = simclr_views(32, strength=0.5, blur=False)
    keys = example_keys(jax.random.key(0), step, 0, jnp.arange(batch))
    view0 = augment_view(keys, images, specs[0])

References:
    SimCLR: Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020, Appendix A. BYOL: Grill et al., "Bootstrap Your Own
    Latent", NeurIPS 2020, Table 6. MoCo v2: Chen et al., "Improved Baselines with Momentum
    Contrastive Learning", 2020. DINO: Caron et al., "Emerging Properties in Self-Supervised
    Vision Transformers", ICCV 2021.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssljax import augment_ops as ops

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ViewSpec",
    "augment_view",
    "augment_views",
    "byol_views",
    "color_jitter",
    "digits_views",
    "dino_views",
    "example_keys",
    "gaussian_blur",
    "grayscale",
    "horizontal_flip",
    "mocov2_views",
    "normalize",
    "random_resized_crop",
    "simclr_views",
    "solarize",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Exposed for tests and for users who need the boxes (e.g. to crop labels or masks).
_sample_crop_box = ops.sample_crop_box


# --------------------------------------------------------------------------- checks


def _check_images(images: Any, name: str = "images") -> None:
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


def _check_p(name: str, p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}.")
    return p


def _check_nonneg(name: str, value: float) -> float:
    value = float(value)
    if value < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value}.")
    return value


def _check_range(name: str, value: Sequence[float], *, positive: bool = False) -> tuple:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}.") from None
    if not lo <= hi or lo < 0.0 or (positive and lo <= 0.0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must satisfy {bound} min <= max, got {value!r}.")
    return lo, hi


def _check_out_size(out_size: Any) -> int:
    if isinstance(out_size, bool) or int(out_size) != out_size or int(out_size) < 1:
        raise ValueError(f"out_size must be a positive int, got {out_size!r}.")
    return int(out_size)


def _check_keys(keys: jax.Array, n: int) -> None:
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


def random_resized_crop(
    key: jax.Array,
    images: jax.Array,
    out_size: int,
    *,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> jax.Array:
    """Inception-style random resized crop of each image.

    Per example: area fraction ~ U(scale), aspect (w / h) log-uniform in `ratio`, 10
    vectorised tries, the first that fits is used, else a centered crop with clamped aspect;
    the window is resampled bilinearly (antialiased when shrinking), see
    `ssljax.augment_ops.sample_crop_box` and `crop_and_resize`.

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
    _check_images(images)
    params = (
        ("out_size", _check_out_size(out_size)),
        ("scale", _check_range("scale", scale, positive=True)),
        ("ratio", _check_range("ratio", ratio, positive=True)),
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
    _check_images(images)
    return _apply_batched(key, images, ops.flip_u, ops.N_FLIP, (("p", _check_p("p", p)),))


def color_jitter(
    key: jax.Array,
    images: jax.Array,
    *,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    p: float = 0.8,
) -> jax.Array:
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
    _check_images(images)
    params = (
        ("brightness", _check_nonneg("brightness", brightness)),
        ("contrast", _check_nonneg("contrast", contrast)),
        ("saturation", _check_nonneg("saturation", saturation)),
        ("hue", _check_hue(hue)),
        ("p", _check_p("p", p)),
    )
    return _apply_batched(key, images, ops.color_jitter_u, ops.N_JITTER, params)


def _check_hue(hue: float) -> float:
    hue = float(hue)
    if not 0.0 <= hue <= 0.5:
        raise ValueError(f"hue must be in [0, 0.5] (fraction of the colour circle), got {hue}.")
    return hue


def grayscale(key: jax.Array, images: jax.Array, *, p: float = 0.2) -> jax.Array:
    """With probability `p`, replaces an RGB image by its ITU-R 601 luma on all 3 channels.

    Luma = 0.299 R + 0.587 G + 0.114 B. Identity for C == 1.

    Args:
        key: One PRNG key for the batch.
        images: `[N, H, W, C]` float in [0, 1].
        p: Probability per example.

    Returns:
        `[N, H, W, C]`, dtype of `images`.
    """
    _check_images(images)
    return _apply_batched(key, images, ops.grayscale_u, ops.N_GRAY, (("p", _check_p("p", p)),))


def gaussian_blur(
    key: jax.Array,
    images: jax.Array,
    *,
    p: float = 0.5,
    sigma: tuple[float, float] = (0.1, 2.0),
    kernel_frac: float = 0.1,
) -> jax.Array:
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

    Reference:
        Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations", ICML 2020, Appendix A.
    """
    _check_images(images)
    params = (
        ("p", _check_p("p", p)),
        ("sigma", _check_range("sigma", sigma, positive=True)),
        ("kernel_frac", _check_nonneg("kernel_frac", kernel_frac)),
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
    _check_images(images)
    params = (("p", _check_p("p", p)), ("threshold", float(threshold)))
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


# --------------------------------------------------------------------------- keys


def example_keys(
    key: jax.Array, step: int | jax.Array, view: int | jax.Array, indices: jax.Array
) -> jax.Array:
    """Per-example augmentation keys `fold_in(fold_in(fold_in(key, step), view), index)`.

    Keys depend on the example's GLOBAL row index, not on its device or host, so a batch is
    augmented identically (up to float rounding) on 1 or 8 devices; inside `shard_map` pass
    `lax.axis_index("data") * n_local + arange(n_local)`.

    Args:
        key: The run's augmentation key (typed `jax.random.key` or raw `PRNGKey`).
        step: Training step (int or int32 scalar, may be traced).
        view: View number (0, 1, ... for the views of one example).
        indices: int32 `[N]` global row indices.

    Returns:
        `[N]` keys (or `[N, 2]` raw keys for a raw `key`).
    """
    base = jax.random.fold_in(jax.random.fold_in(key, step), view)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(indices, jnp.int32))


# --------------------------------------------------------------------------- views


@dataclasses.dataclass(frozen=True)
class ViewSpec:
    """One view's augmentation pipeline (hashable: usable as a static jit argument).

    The pipeline is crop -> flip -> colour jitter -> grayscale -> blur -> solarize ->
    normalize; probabilities of 0 (and jitter strengths of 0) remove an op from the
    compiled program.

    Attributes:
        out_size: Output side of the random resized crop.
        crop_scale: (min, max) area fraction of the crop.
        crop_ratio: (min, max) aspect ratio width / height of the crop.
        flip_p: Probability of a horizontal flip.
        brightness, contrast, saturation, hue: Colour-jitter strengths (see `color_jitter`).
        jitter_p: Probability of colour jitter.
        gray_p: Probability of converting to grayscale.
        blur_p: Probability of Gaussian blur.
        blur_sigma: (min, max) blur sigma in pixels of the output view.
        solarize_p: Probability of solarization.
        solarize_threshold: Solarization threshold.
        mean, std: Per-channel normalization (tuples), or None for none (values in [0, 1]).
        blur_kernel_frac: Blur kernel side as a fraction of `out_size` (SimCLR: 0.1).
    """

    out_size: int
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    jitter_p: float = 0.0
    gray_p: float = 0.0
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0
    solarize_threshold: float = 0.5
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    blur_kernel_frac: float = 0.1

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("out_size", _check_out_size(self.out_size))
        put("crop_scale", _check_range("crop_scale", self.crop_scale, positive=True))
        put("crop_ratio", _check_range("crop_ratio", self.crop_ratio, positive=True))
        put("blur_sigma", _check_range("blur_sigma", self.blur_sigma, positive=True))
        for name in ("flip_p", "jitter_p", "gray_p", "blur_p", "solarize_p"):
            put(name, _check_p(name, getattr(self, name)))
        for name in ("brightness", "contrast", "saturation", "blur_kernel_frac"):
            put(name, _check_nonneg(name, getattr(self, name)))
        put("hue", _check_hue(self.hue))
        put("solarize_threshold", float(self.solarize_threshold))
        if (self.mean is None) != (self.std is None):
            raise ValueError("ViewSpec needs both mean and std, or neither.")
        if self.mean is not None:
            mean = tuple(float(m) for m in _as_tuple(self.mean))
            std = tuple(float(s) for s in _as_tuple(self.std))
            if len(mean) != len(std) or min(std) <= 0:
                raise ValueError(f"mean/std must have equal lengths and std > 0, got {mean}, "
                                 f"{std}.")
            put("mean", mean)
            put("std", std)


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


_PIPELINE_UNIFORMS = (ops.N_CROP, ops.N_FLIP, ops.N_JITTER, ops.N_GRAY, ops.N_BLUR, ops.N_SOLARIZE)


def _augment_one(key: jax.Array, image: jax.Array, spec: ViewSpec) -> jax.Array:
    """The whole `spec` pipeline on one float32 image `[H, W, C]`.

    All the example's randomness comes from one `uniform` draw (see `ssljax.augment_ops`).
    """
    u = jax.random.uniform(key, (sum(_PIPELINE_UNIFORMS),))
    ends = list(itertools.accumulate(_PIPELINE_UNIFORMS))
    u_crop, u_flip, u_jit, u_gray, u_blur, u_sol = (
        u[end - n:end] for n, end in zip(_PIPELINE_UNIFORMS, ends, strict=True)
    )
    x = ops.random_resized_crop_u(u_crop, image, spec.out_size, spec.crop_scale,
                                  spec.crop_ratio)
    x = ops.flip_u(u_flip, x, spec.flip_p)
    x = ops.color_jitter_u(u_jit, x, spec.brightness, spec.contrast, spec.saturation,
                           spec.hue, spec.jitter_p)
    x = ops.grayscale_u(u_gray, x, spec.gray_p)
    x = ops.gaussian_blur_u(u_blur, x, spec.blur_p, spec.blur_sigma, spec.blur_kernel_frac)
    x = ops.solarize_u(u_sol, x, spec.solarize_p, spec.solarize_threshold)
    if spec.mean is not None:
        x = (x - jnp.asarray(spec.mean, jnp.float32)) / jnp.asarray(spec.std, jnp.float32)
    return x


@functools.partial(jax.jit, static_argnames=("spec",))
def _augment_view_jit(keys: jax.Array, images: jax.Array, spec: ViewSpec) -> jax.Array:
    out = jax.vmap(functools.partial(_augment_one, spec=spec))(keys, images.astype(jnp.float32))
    return out.astype(images.dtype)


def augment_view(keys: jax.Array, images: jax.Array, spec: ViewSpec) -> jax.Array:
    """Applies the `spec` pipeline to each image with its own key (one fused computation).

    Args:
        keys: `[N]` per-example keys, normally from `example_keys` (raw keys: `[N, 2]`).
        images: `[N, H, W, C]` float in [0, 1], C == 1 or 3.
        spec: The view's `ViewSpec`.

    Returns:
        `[N, spec.out_size, spec.out_size, C]`, dtype of `images`; in [0, 1] unless `spec`
        normalizes.
    """
    _check_images(images)
    _check_keys(keys, images.shape[0])
    if spec.mean is not None and len(spec.mean) not in (1, images.shape[-1]):
        raise ValueError(f"spec.mean has {len(spec.mean)} values for {images.shape[-1]} "
                         "channels.")
    return _augment_view_jit(keys, images, spec)


def augment_views(
    key: jax.Array,
    step: int | jax.Array,
    indices: jax.Array,
    images: jax.Array,
    specs: Sequence[ViewSpec],
) -> tuple[jax.Array, ...]:
    """All views of a batch: view v is `augment_view(example_keys(key, step, v, indices), ...)`.

    Args:
        key: The run's augmentation key.
        step: Training step.
        indices: int32 `[N]` global row indices of `images`.
        images: `[N, H, W, C]` float in [0, 1].
        specs: One `ViewSpec` per view (e.g. from `simclr_views`).

    Returns:
        Tuple of `len(specs)` arrays `[N, spec.out_size, spec.out_size, C]`.
    """
    return tuple(
        augment_view(example_keys(key, step, v, indices), images, spec)
        for v, spec in enumerate(specs)
    )


# --------------------------------------------------------------------------- presets


def simclr_views(
    image_size: int,
    *,
    strength: float = 1.0,
    blur: bool = True,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ViewSpec]:
    """SimCLR's two (identical) views.

    Random resized crop, scale (0.08, 1), ratio (3/4, 4/3); flip 0.5; colour jitter with
    brightness, contrast, saturation 0.8 s and hue 0.2 s applied with p 0.8; grayscale
    0.2; Gaussian blur p 0.5, sigma in [0.1, 2], kernel 10% of the side (the paper drops
    blur for CIFAR-10 and uses s = 0.5 there: `blur=False, strength=0.5`).

    Reference:
        Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations", ICML 2020, Appendix A and B.9.
    """
    s = float(strength)
    spec = ViewSpec(
        out_size=image_size, crop_scale=(0.08, 1.0), flip_p=0.5,
        brightness=0.8 * s, contrast=0.8 * s, saturation=0.8 * s, hue=min(0.5, 0.2 * s),
        jitter_p=0.8, gray_p=0.2, blur_p=0.5 if blur else 0.0, blur_sigma=(0.1, 2.0),
        mean=_opt_tuple(mean), std=_opt_tuple(std),
    )
    return spec, spec


def byol_views(
    image_size: int,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ViewSpec]:
    """BYOL's asymmetric pair of views.

    Both: random resized crop scale (0.08, 1); flip 0.5; colour jitter brightness 0.4,
    contrast 0.4, saturation 0.2, hue 0.1 with p 0.8; grayscale 0.2. Blur (sigma in
    [0.1, 2]) with p 1.0 / 0.1 and solarize with p 0.0 / 0.2 for the first / second view.

    Reference:
        Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, Table 6.
    """
    common = dict(
        out_size=image_size, crop_scale=(0.08, 1.0), flip_p=0.5, brightness=0.4,
        contrast=0.4, saturation=0.2, hue=0.1, jitter_p=0.8, gray_p=0.2,
        blur_sigma=(0.1, 2.0), mean=_opt_tuple(mean), std=_opt_tuple(std),
    )
    return (ViewSpec(blur_p=1.0, solarize_p=0.0, **common),
            ViewSpec(blur_p=0.1, solarize_p=0.2, **common))


def mocov2_views(
    image_size: int,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ViewSpec]:
    """MoCo v2's two (identical) views.

    Random resized crop scale (0.2, 1); colour jitter 0.4, 0.4, 0.4, 0.1 with p 0.8;
    grayscale 0.2; Gaussian blur sigma in [0.1, 2] with p 0.5; flip 0.5.

    Reference:
        Chen et al., "Improved Baselines with Momentum Contrastive Learning", 2020
        (arXiv:2003.04297), and its reference code `main_moco.py --aug-plus`.
    """
    spec = ViewSpec(
        out_size=image_size, crop_scale=(0.2, 1.0), flip_p=0.5, brightness=0.4,
        contrast=0.4, saturation=0.4, hue=0.1, jitter_p=0.8, gray_p=0.2, blur_p=0.5,
        blur_sigma=(0.1, 2.0), mean=_opt_tuple(mean), std=_opt_tuple(std),
    )
    return spec, spec


def dino_views(
    global_size: int = 224,
    local_size: int = 96,
    num_local: int = 6,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ...]:
    """DINO multi-crop: 2 global views, then `num_local` local views.

    All: flip 0.5; colour jitter 0.4, 0.4, 0.2, 0.1 with p 0.8; grayscale 0.2. Global
    views: crop scale (0.4, 1) at `global_size`; the first blurred with p 1.0, the second
    with p 0.1 and solarized with p 0.2 (BYOL's asymmetry). Local views: crop scale
    (0.05, 0.4) at `local_size`, blur p 0.5. Blur sigma in [0.1, 2].

    Reference:
        Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV
        2021, and its reference code `DataAugmentationDINO`.
    """
    if int(num_local) < 0:
        raise ValueError(f"num_local must be >= 0, got {num_local}.")
    common = dict(
        flip_p=0.5, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, jitter_p=0.8,
        gray_p=0.2, blur_sigma=(0.1, 2.0), mean=_opt_tuple(mean), std=_opt_tuple(std),
    )
    global1 = ViewSpec(out_size=global_size, crop_scale=(0.4, 1.0), blur_p=1.0, **common)
    global2 = ViewSpec(out_size=global_size, crop_scale=(0.4, 1.0), blur_p=0.1,
                       solarize_p=0.2, **common)
    local = ViewSpec(out_size=local_size, crop_scale=(0.05, 0.4), blur_p=0.5, **common)
    return (global1, global2) + (local,) * int(num_local)


def digits_views(
    image_size: int = 28,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[ViewSpec, ViewSpec]:
    """Two identical views for small grayscale digits (the bundled MNIST demo).

    SimCLR's recipe adapted to 28x28 single-channel digits: random resized crop with scale
    (0.3, 1) (smaller crops often cut the stroke that tells a 7 from a 1) and ratio
    (0.8, 1.25) (digits are upright and roughly square); NO flip (digits are not mirror
    symmetric: a flipped 2 or 5 is not a digit); brightness and contrast jitter 0.4 with p
    0.8 (saturation, hue and grayscale do nothing on one channel); light Gaussian blur,
    sigma in [0.1, 1] with p 0.5 (3 taps at 28 px).

    Reference:
        Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations", ICML 2020, Appendix A (the recipe adapted here).
    """
    spec = ViewSpec(
        out_size=image_size, crop_scale=(0.3, 1.0), crop_ratio=(0.8, 1.25), flip_p=0.0,
        brightness=0.4, contrast=0.4, jitter_p=0.8, blur_p=0.5, blur_sigma=(0.1, 1.0),
        mean=_opt_tuple(mean), std=_opt_tuple(std),
    )
    return spec, spec


def _opt_tuple(x: Sequence[float] | float | None) -> tuple[float, ...] | None:
    return None if x is None else tuple(float(v) for v in _as_tuple(x))
