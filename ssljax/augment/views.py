"""The view pipeline: per-example keys, `ViewSpec`, the fused augmentation of a view, the eval view.

For training, `example_keys` derives each example's key from (seed key, step, view,
GLOBAL row index), and `augment_view` applies a whole `ViewSpec` pipeline
(crop -> flip -> colour jitter -> grayscale -> blur -> solarize -> normalize) with those
per-example keys. Because no key depends on the device or host layout, 1 device and 8
devices make identical random choices (boxes, flips, factors, order, sigmas) for the same
global batch, and the views agree up to float rounding (XLA vectorises a per-device batch
of 2 differently from a batch of 16, e.g. in the contrast mean;
`tests/augment_multidevice_test.py` allows 1e-5).

For evaluation, `EvalView` says how un-augmented images enter an encoder (size, channels,
normalisation) and `eval_inputs` applies it; the pretraining program's final evaluation,
`linear_eval`, `finetune`, the kNN monitor and exported encoders all use it.

Example:
    specs = simclr_views(32, strength=0.5, blur=False)
    keys = example_keys(jax.random.key(0), step, 0, jnp.arange(batch))
    view0 = augment_view(keys, images, specs[0])
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ssljax.augment import batched, ops


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

        put("out_size", batched.check_out_size(self.out_size))
        put("crop_scale", batched.check_range("crop_scale", self.crop_scale, positive=True))
        put("crop_ratio", batched.check_range("crop_ratio", self.crop_ratio, positive=True))
        put("blur_sigma", batched.check_range("blur_sigma", self.blur_sigma, positive=True))
        for name in ("flip_p", "jitter_p", "gray_p", "blur_p", "solarize_p"):
            put(name, batched.check_p(name, getattr(self, name)))
        for name in ("brightness", "contrast", "saturation", "blur_kernel_frac"):
            put(name, batched.check_nonneg(name, getattr(self, name)))
        put("hue", batched.check_hue(self.hue))
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

    All the example's randomness comes from one `uniform` draw (see `ssljax.augment.ops`).
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
    batched.check_images(images)
    batched.check_keys(keys, images.shape[0])
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


# --------------------------------------------------------------------------- evaluation


@dataclasses.dataclass(frozen=True)
class EvalView:
    """How un-augmented images are fed to an encoder (hashable, a static jit argument).

    Attributes:
        out_size: side of the encoder's input; images of another size are resized
            bilinearly (0 keeps the images' size).
        channels: channels the encoder takes (1 or 3); colour images become their luma for
            a grayscale encoder and grayscale ones are repeated for a colour encoder;
            None keeps the images' channels.
        mean, std: per-channel normalisation (tuples), or None (values stay in [0, 1]).
    """

    out_size: int = 0
    channels: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self):
        if (self.mean is None) != (self.std is None):
            raise ValueError("EvalView needs both mean and std, or neither.")
        if self.mean is not None:
            object.__setattr__(self, "mean", tuple(float(m) for m in _as_tuple(self.mean)))
            object.__setattr__(self, "std", tuple(float(s) for s in _as_tuple(self.std)))
        if self.channels not in (None, 1, 3):
            raise ValueError(f"EvalView.channels must be 1, 3 or None, got {self.channels!r}.")

    @classmethod
    def of(cls, spec: ViewSpec, channels: int | None = None) -> EvalView:
        """The eval view matching a training view: its output size and normalisation."""
        return cls(spec.out_size, channels, spec.mean, spec.std)

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON values (`encoder_spec.json`'s `eval_view`)."""
        return dataclasses.asdict(self)


def match_channels(x: jax.Array, channels: int | None) -> jax.Array:
    """Float images `[N, H, W, c]` with `channels` channels (luma 3 -> 1, repeat 1 -> 3)."""
    if channels is None or x.shape[-1] == channels:
        return x
    if channels == 1 and x.shape[-1] == 3:
        return jnp.tensordot(x, jnp.asarray(ops.GRAY_WEIGHTS, x.dtype), axes=([-1], [0]))[..., None]
    if channels == 3 and x.shape[-1] == 1:
        return jnp.repeat(x, 3, axis=-1)
    raise ValueError(f"images have {x.shape[-1]} channels; the encoder takes {channels}.")


def eval_inputs(images: jax.Array, view: EvalView) -> jax.Array:
    """Encoder input from un-augmented images: uint8 -> [0, 1], channels, resize, normalise.

    Args:
        images: `[N, H, W, C]` uint8 (or float in [0, 1]).
        view: the `EvalView`.

    Returns:
        float32 `[N, S, S, C']` with S = `view.out_size` (or H) and C' = `view.channels`
        (or C).
    """
    x = images.astype(jnp.float32)
    if jnp.issubdtype(images.dtype, jnp.integer):
        x = x / 255.0
    x = match_channels(x, view.channels)
    size = view.out_size or x.shape[1]
    if x.shape[1:3] != (size, size):
        x = jax.image.resize(x, (x.shape[0], size, size, x.shape[3]), method="bilinear")
    if view.mean is not None:
        x = batched.normalize(x, view.mean, view.std)
    return x
