"""Single-image augmentation ops: the building blocks of `ssljax.augment`.

Every function here acts on ONE image `[H, W, C]` (float32, values in [0, 1], C == 3 or
C == 1) and is pure, jit- and vmap-safe. A random op `<op>_u(u, image, ...)` is driven by a
vector `u` of `N_<OP>` uniforms in [0, 1) and decides whether it applies with a select
(`jnp.where`), so that under `vmap` each example makes its own choice inside one fused XLA
computation. A pipeline draws all of an example's uniforms with ONE `jax.random.uniform`
call and slices them: every random-number call site is a separate Threefry circuit for XLA
to compile (about half a second each on a CPU), so this keeps compile time low. Shapes,
kernel sizes and probabilities are static Python values; per-example quantities (crop
boxes, jitter factors, blur sigmas) are traced.

The public batched API (one key per batch, split per example) is `ssljax.augment.batched`; these
functions are for users who compose their own per-example pipelines under `vmap`.

Conventions follow the reference implementations of SimCLR (TensorFlow), BYOL (JAX) and
torchvision; where they differ the choice is documented on the function.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

# ITU-R BT.601 luma weights (as torchvision `rgb_to_grayscale` and `tf.image.rgb_to_grayscale`).
GRAY_WEIGHTS = (0.299, 0.587, 0.114)

# Colour-jitter op ids, in the order of the `factors` vector of `apply_jitter`.
BRIGHTNESS, CONTRAST, SATURATION, HUE = 0, 1, 2, 3


CROP_TRIES = 10
# Uniforms consumed by each op's `_u` form.
N_CROP = 2 * CROP_TRIES + 2
N_FLIP = 1
N_JITTER = 9
N_GRAY = 1
N_BLUR = 2
N_SOLARIZE = 1


def _bernoulli(u: jax.Array, p: float) -> jax.Array:
    """Scalar bool `u < p`, True with probability `p` (static) for `u ~ U[0, 1)`."""
    if p >= 1.0:
        return jnp.bool_(True)
    if p <= 0.0:
        return jnp.bool_(False)
    return u < p


def _uniform(lo: float, hi: float, u: jax.Array) -> jax.Array:
    return lo + (hi - lo) * u


# --------------------------------------------------------------------------- crop


def sample_crop_box(
    key: jax.Array,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> jax.Array:
    """Samples a random-resized-crop box; see `crop_box_u`."""
    return crop_box_u(jax.random.uniform(key, (N_CROP,)), height, width, scale, ratio)


def crop_box_u(
    u: jax.Array,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> jax.Array:
    """Samples an Inception-style random-resized-crop box.

    Each of `CROP_TRIES` (10) vectorised tries draws an area fraction uniformly from `scale`
    and an aspect ratio (width / height) log-uniformly from `ratio`, and rounds the box side
    lengths to whole pixels; the first try whose box fits inside the image is kept, and its top-left
    corner is drawn uniformly among the positions where it fits. If no try fits, the box is
    the largest centered crop whose aspect ratio is clamped into `ratio` (torchvision's
    fallback).

    Args:
        u: `[N_CROP]` uniforms in [0, 1).
        height: Image height H (static).
        width: Image width W (static).
        scale: (min, max) fraction of the image area covered by the crop.
        ratio: (min, max) aspect ratio width / height of the crop.

    Returns:
        int32 `[4]`: `(top, left, box_height, box_width)` with `1 <= box_height <= H`,
        `1 <= box_width <= W` and the box inside the image.

    Reference:
        Szegedy et al., "Going Deeper with Convolutions", 2015 (the crop);
        torchvision `RandomResizedCrop.get_params` (tries and fallback).
    """
    t = CROP_TRIES
    target_area = float(height * width) * _uniform(scale[0], scale[1], u[:t])
    aspect = jnp.exp(_uniform(math.log(ratio[0]), math.log(ratio[1]), u[t:2 * t]))
    box_w = jnp.round(jnp.sqrt(target_area * aspect)).astype(jnp.int32)
    box_h = jnp.round(jnp.sqrt(target_area / aspect)).astype(jnp.int32)
    valid = (box_w >= 1) & (box_w <= width) & (box_h >= 1) & (box_h <= height)
    first = jnp.argmax(valid)

    # Fallback (static): whole image, aspect clamped into `ratio`, centered.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fb_w, fb_h = width, max(1, min(height, int(round(width / ratio[0]))))
    elif in_ratio > ratio[1]:
        fb_h, fb_w = height, max(1, min(width, int(round(height * ratio[1]))))
    else:
        fb_h, fb_w = height, width

    found = jnp.any(valid)
    h = jnp.where(found, box_h[first], fb_h)
    w = jnp.where(found, box_w[first], fb_w)
    rand_top = jnp.floor(u[2 * t] * (height - h + 1)).astype(jnp.int32)
    rand_left = jnp.floor(u[2 * t + 1] * (width - w + 1)).astype(jnp.int32)
    top = jnp.where(found, jnp.minimum(rand_top, height - h), (height - fb_h) // 2)
    left = jnp.where(found, jnp.minimum(rand_left, width - w), (width - fb_w) // 2)
    return jnp.stack([top, left, h, w]).astype(jnp.int32)


def crop_and_resize(image: jax.Array, box: jax.Array, out_size: int) -> jax.Array:
    """Resamples the window `box` of `image` to `[out_size, out_size]` bilinearly.

    Pixel centers are at half-integers; the window's edges map onto the output's edges. When
    the window is larger than the output the triangle kernel is widened (antialiasing, as
    torchvision's `antialias=True` and PIL); when it is smaller this is plain bilinear
    interpolation with edge clamping. Pixels outside the window but inside the image do
    contribute to border outputs, exactly as resizing the full image would.

    Args:
        image: `[H, W, C]` float32.
        box: int `[4]` `(top, left, box_height, box_width)` (may be traced).
        out_size: Output side (static).

    Returns:
        `[out_size, out_size, C]` float32.
    """
    box = box.astype(jnp.float32)
    top, left, box_h, box_w = box[0], box[1], box[2], box[3]
    scale = jnp.stack([out_size / box_h, out_size / box_w])
    translation = -jnp.stack([top, left]) * scale
    out = jax.image.scale_and_translate(
        image,
        (out_size, out_size, image.shape[-1]),
        (0, 1),
        scale,
        translation,
        method="linear",
        antialias=True,
    )
    return jnp.clip(out, 0.0, 1.0)


def random_resized_crop_u(
    u: jax.Array,
    image: jax.Array,
    out_size: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> jax.Array:
    """Random resized crop of one image `[H, W, C]` -> `[out_size, out_size, C]`."""
    box = crop_box_u(u, image.shape[0], image.shape[1], scale, ratio)
    return crop_and_resize(image, box, out_size)


# --------------------------------------------------------------------------- flip


def flip_u(u: jax.Array, image: jax.Array, p: float = 0.5) -> jax.Array:
    """Mirrors `image` `[H, W, C]` left-right with probability `p`."""
    if p <= 0.0:
        return image
    return jnp.where(_bernoulli(u[0], p), image[:, ::-1, :], image)


# --------------------------------------------------------------------------- colour


def to_gray(image: jax.Array) -> jax.Array:
    """Luma `[H, W, 1]` of `image` `[H, W, C]` (ITU-R 601 weights; C == 1 is returned as is)."""
    if image.shape[-1] == 1:
        return image
    r, g, b = image[..., 0:1], image[..., 1:2], image[..., 2:3]
    return GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b


def adjust_brightness(image: jax.Array, factor: jax.Array) -> jax.Array:
    """Multiplicative brightness `clip(factor * x, 0, 1)` (SimCLR v2's `random_brightness`)."""
    return jnp.clip(factor * image, 0.0, 1.0)


def adjust_contrast(image: jax.Array, factor: jax.Array) -> jax.Array:
    """Contrast `clip(mean_c + factor * (x - mean_c), 0, 1)`, mean_c per channel over H, W.

    This is `tf.image.adjust_contrast` (used by SimCLR and BYOL); torchvision instead blends
    towards the mean of the grayscale image. The two agree for C == 1.
    """
    mean = jnp.mean(image, axis=(0, 1), keepdims=True)
    return jnp.clip(factor * image + (1.0 - factor) * mean, 0.0, 1.0)


def _saturation_factor(image: jax.Array, factor: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-pixel blend factor and target that scale HSV saturation by `factor` (see below)."""
    r, g, b = image[..., 0:1], image[..., 1:2], image[..., 2:3]
    maxc = jnp.maximum(jnp.maximum(r, g), b)  # Faster than a reduce over a minor axis of 3.
    delta = maxc - jnp.minimum(jnp.minimum(r, g), b)
    # With hue and value fixed, scaling S by f moves every channel towards V:
    # c' = V - min(f, V / delta) * (V - c); the min() is the clip of S' = S f to 1.
    limit = maxc / jnp.where(delta > 0, delta, 1.0)
    eff = jnp.where(delta > 0, jnp.minimum(factor, limit), factor)
    return eff, maxc


def adjust_saturation(image: jax.Array, factor: jax.Array) -> jax.Array:
    """Scales HSV saturation by `factor` (clipped to [0, 1]), keeping hue and value.

    Equal to rgb -> hsv, `s = clip(s * factor, 0, 1)`, hsv -> rgb (`tf.image.adjust_saturation`,
    as used by SimCLR and BYOL), computed in closed form without the HSV round trip.
    Identity for C == 1.
    """
    if image.shape[-1] == 1:
        return image
    eff, maxc = _saturation_factor(image, factor)
    return jnp.clip(eff * image + (1.0 - eff) * maxc, 0.0, 1.0)


def adjust_hue(image: jax.Array, shift: jax.Array) -> jax.Array:
    """Rotates the HSV hue of `image` `[H, W, 3]` by `shift` (fraction of the circle).

    Computes the hue sextant from RGB as `colorsys.rgb_to_hsv` does and maps back with the
    closed form `c_n = V - (V - min) * clip(min(k, 4 - k), 0, 1)`, `k = (n + 6 h) mod 6`,
    n = 5, 3, 1 for R, G, B, so saturation and value are preserved exactly. Identity for
    C == 1.

    Reference:
        Smith, "Color Gamut Transform Pairs", SIGGRAPH 1978 (HSV);
        `tf.image.adjust_hue`.
    """
    if image.shape[-1] == 1:
        return image
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    maxc = jnp.maximum(jnp.maximum(r, g), b)
    delta = maxc - jnp.minimum(jnp.minimum(r, g), b)
    inv = 1.0 / jnp.where(delta > 0, delta, 1.0)
    # Which channel is the max, ties to R then G as colorsys. Compare the channels with each
    # other, not with `maxc`: XLA may recompute r, g, b in several fusions with different
    # rounding (FMA contraction), and `r == maxc` would then pick a wrong sextant.
    r_max = (r >= g) & (r >= b)
    g_max = g >= b
    h6 = jnp.where(r_max, (g - b) * inv, jnp.where(g_max, 2.0 + (b - r) * inv, 4.0 + (r - g) * inv))
    # Wrap into [0, 6) with floor and selects: jnp.mod (fmod) is slower on CPU.
    h6 = h6 + 6.0 * shift
    h6 = h6 - 6.0 * jnp.floor(h6 * (1.0 / 6.0))
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = h6 + n
        k = jnp.where(k >= 6.0, k - 6.0, k)
        channels.append(maxc - delta * jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0))
    return jnp.clip(jnp.stack(channels, axis=-1), 0.0, 1.0)


def sample_jitter(
    u: jax.Array, brightness: float, contrast: float, saturation: float, hue: float
) -> tuple[jax.Array, jax.Array]:
    """Samples colour-jitter factors and a random op order.

    Args:
        u: `[8]` uniforms in [0, 1).
        brightness, contrast, saturation: Strengths s; factors are uniform in
            `[max(0, 1 - s), 1 + s]`.
        hue: Strength h; the shift is uniform in `[-h, h]` (fraction of the hue circle).

    Returns:
        `(factors, order)`: float32 `[4]` (brightness, contrast, saturation factors, hue
        shift) and int32 `[4]`, a permutation of the op ids (BRIGHTNESS, CONTRAST,
        SATURATION, HUE) giving the order in which they are applied.
    """
    lo = jnp.array([max(0.0, 1.0 - brightness), max(0.0, 1.0 - contrast),
                    max(0.0, 1.0 - saturation), -hue], jnp.float32)
    hi = jnp.array([1.0 + brightness, 1.0 + contrast, 1.0 + saturation, hue], jnp.float32)
    factors = _uniform(lo, hi, u[:4])
    order = jnp.argsort(u[4:8]).astype(jnp.int32)  # A uniformly random permutation.
    return factors, order


def apply_jitter(
    image: jax.Array, factors: jax.Array, order: jax.Array, *, use_hue: bool = True
) -> jax.Array:
    """Applies brightness, contrast, saturation and hue in the given order, clipping after each.

    Brightness, contrast and saturation are all `clip(f x + (1 - f) ref)` with `ref` = 0, the
    channel means, or the pixel's max channel (with a per-pixel capped factor, see
    `adjust_saturation`), so each step evaluates one blend and, if `use_hue`, one hue
    rotation, and selects by the op id.

    Args:
        image: `[H, W, C]` float32.
        factors: `[4]` from `sample_jitter`.
        order: int `[4]` permutation of op ids (may be traced).
        use_hue: Static; False skips the hue branch (hue strength 0, or C == 1).

    Returns:
        `[H, W, C]` float32 in [0, 1].

    Reference:
        torchvision `ColorJitter` (random order); Chen et al., "A Simple Framework for
        Contrastive Learning of Visual Representations", 2020, Appendix A (SimCLR).
    """
    gray_input = image.shape[-1] == 1
    use_hue = use_hue and not gray_input
    x = image
    for pos in range(4):
        op = order[pos]
        f = factors[op]
        ref = jnp.where(op == CONTRAST, jnp.mean(x, axis=(0, 1), keepdims=True), 0.0)
        if gray_input:
            f = jnp.where(op == SATURATION, 1.0, f)
        else:
            sat_f, maxc = _saturation_factor(x, f)
            f = jnp.where(op == SATURATION, sat_f, f)
            ref = jnp.where(op == SATURATION, maxc, ref)
        f = jnp.where(op == HUE, 1.0, f)  # f == 1 makes the blend an exact identity.
        blended = jnp.clip(f * x + (1.0 - f) * ref, 0.0, 1.0)
        if use_hue:
            blended = jnp.where(op == HUE, adjust_hue(x, factors[HUE]), blended)
        x = blended
    return x


def color_jitter_u(
    u: jax.Array,
    image: jax.Array,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    p: float = 0.8,
) -> jax.Array:
    """With probability `p`, colour-jitters `image` `[H, W, C]` (see `apply_jitter`)."""
    if p <= 0.0 or max(brightness, contrast, saturation, hue) <= 0.0:
        return image
    factors, order = sample_jitter(u[1:], brightness, contrast, saturation, hue)
    jittered = apply_jitter(image, factors, order, use_hue=hue > 0)
    return jnp.where(_bernoulli(u[0], p), jittered, image)


def grayscale_u(u: jax.Array, image: jax.Array, p: float = 0.2) -> jax.Array:
    """With probability `p`, replaces `image` `[H, W, 3]` by its luma on all 3 channels."""
    if p <= 0.0 or image.shape[-1] == 1:
        return image
    gray = jnp.clip(jnp.broadcast_to(to_gray(image), image.shape), 0.0, 1.0)
    return jnp.where(_bernoulli(u[0], p), gray, image)


# --------------------------------------------------------------------------- blur


def blur_radius(height: int, width: int, kernel_frac: float = 0.1) -> int:
    """Static Gaussian-kernel radius r (kernel side 2r + 1) for an `[H, W]` image.

    SimCLR's rule: kernel side = `kernel_frac` x image side rounded down and made odd (side
    224 -> 23 taps, 96 -> 9, 32 -> 3), at least 3 taps, and at most what reflect padding
    allows (r <= min(H, W) - 1).
    """
    side = max(height, width)
    radius = max(1, int(kernel_frac * side + 1e-6) // 2)
    return max(1, min(radius, min(height, width) - 1))


def gaussian_kernel1d(sigma: jax.Array, radius: int) -> jax.Array:
    """Normalised 1-D Gaussian `[2 radius + 1]`, taps at -radius..radius, std `sigma`."""
    x = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    w = jnp.exp(-0.5 * jnp.square(x / sigma))
    return w / jnp.sum(w)


def gaussian_blur_image(image: jax.Array, sigma: jax.Array, radius: int) -> jax.Array:
    """Separable Gaussian blur of `[H, W, C]` with reflect padding (`d c b | a b c d | c b a`).

    Equal to `scipy.ndimage.gaussian_filter(image, (sigma, sigma, 0), mode="mirror",
    radius=radius)` (torchvision's `GaussianBlur` also pads by reflection).
    """
    w = gaussian_kernel1d(sigma, radius)
    taps = 2 * radius + 1
    height, width = image.shape[0], image.shape[1]
    x = jnp.pad(image, ((radius, radius), (0, 0), (0, 0)), mode="reflect")
    x = sum(w[i] * x[i:i + height] for i in range(taps))
    x = jnp.pad(x, ((0, 0), (radius, radius), (0, 0)), mode="reflect")
    x = sum(w[i] * x[:, i:i + width] for i in range(taps))
    return jnp.clip(x, 0.0, 1.0)


def gaussian_blur_u(
    u: jax.Array,
    image: jax.Array,
    p: float = 0.5,
    sigma: tuple[float, float] = (0.1, 2.0),
    kernel_frac: float = 0.1,
) -> jax.Array:
    """With probability `p`, blurs `image` `[H, W, C]` with sigma ~ U(sigma) pixels."""
    if p <= 0.0:
        return image
    s = _uniform(sigma[0], sigma[1], u[1])
    radius = blur_radius(image.shape[0], image.shape[1], kernel_frac)
    return jnp.where(_bernoulli(u[0], p), gaussian_blur_image(image, s, radius), image)


# --------------------------------------------------------------------------- solarize


def solarize_image(image: jax.Array, threshold: float = 0.5) -> jax.Array:
    """`x if x < threshold else 1 - x`, elementwise."""
    return jnp.where(image < threshold, image, 1.0 - image)


def solarize_u(
    u: jax.Array, image: jax.Array, p: float = 0.2, threshold: float = 0.5
) -> jax.Array:
    """With probability `p`, solarizes `image` (BYOL, Grill et al. 2020, Table 6)."""
    if p <= 0.0:
        return image
    return jnp.where(_bernoulli(u[0], p), solarize_image(image, threshold), image)

