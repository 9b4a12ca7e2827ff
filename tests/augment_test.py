"""Tests for ssljax.augment and its single-image ops (ssljax.augment.ops).

Each op is checked against an independent reference (Python `colorsys`, SciPy, NumPy
formulas, a NumPy bilinear resampler), the random ones statistically over thousands of
examples, and the pipeline for range, shape, dtype and determinism. Shapes are tiny and
fixed so that each jitted function compiles only a few times.
"""

import colorsys
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given, settings
from hypothesis import strategies as st

from ssljax import augment as A
from ssljax.augment import ops

RNG = np.random.default_rng(0)


def _rand_images(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def _pixels():
    """[1, P, 3] float32: random pixels plus grays, primaries, ties and extremes."""
    special = [
        [0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 0], [0, 0, 1],
        [1, 1, 0], [0, 1, 1], [1, 0, 1], [0.7, 0.7, 0.2], [0.2, 0.7, 0.7], [0.7, 0.2, 0.7],
        [0.3, 0.3, 0.9], [1e-4, 0, 0], [0.9, 0.9, 0.9 - 1e-3],
    ]
    rand = RNG.uniform(size=(300, 3))
    return np.concatenate([np.array(special), rand]).astype(np.float32)[None]


def _np_hue(img, shift):
    out = np.empty(img.shape, np.float64)
    for idx in np.ndindex(img.shape[:-1]):
        h, s, v = colorsys.rgb_to_hsv(*img[idx].astype(np.float64))
        out[idx] = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
    return out


def _np_saturation(img, factor):
    out = np.empty(img.shape, np.float64)
    for idx in np.ndindex(img.shape[:-1]):
        h, s, v = colorsys.rgb_to_hsv(*img[idx].astype(np.float64))
        out[idx] = colorsys.hsv_to_rgb(h, min(1.0, s * factor), v)
    return out


def _np_contrast(img, factor):
    mean = img.mean(axis=(0, 1), keepdims=True)
    return np.clip(mean + factor * (img - mean), 0, 1)


def _np_gray(img):
    return 0.299 * img[..., 0:1] + 0.587 * img[..., 1:2] + 0.114 * img[..., 2:3]


# --------------------------------------------------------------------------- colour ops


def test_hue_matches_colorsys():
    img = _pixels()
    shifts = jnp.array([-0.5, -0.2, 0.0, 0.13, 0.37, 0.5])
    got = jax.jit(jax.vmap(ops.adjust_hue, in_axes=(None, 0)))(img, shifts)
    for shift, out in zip(np.asarray(shifts), np.asarray(got), strict=True):
        np.testing.assert_allclose(out, _np_hue(img, float(shift)), atol=2e-5)


def test_saturation_matches_colorsys():
    img = _pixels()
    factors = jnp.array([0.0, 0.3, 1.0, 1.8, 5.0])
    got = jax.jit(jax.vmap(ops.adjust_saturation, in_axes=(None, 0)))(img, factors)
    for factor, out in zip(np.asarray(factors), np.asarray(got), strict=True):
        np.testing.assert_allclose(out, _np_saturation(img, float(factor)), atol=2e-5)


def test_brightness_contrast_match_formulas():
    img = _rand_images((5, 6, 3))
    for f in (0.0, 0.6, 1.0, 1.7):
        np.testing.assert_allclose(ops.adjust_brightness(img, f), np.clip(f * img, 0, 1),
                                   atol=1e-6)
        np.testing.assert_allclose(ops.adjust_contrast(img, f), _np_contrast(img, f),
                                   atol=1e-6)


def _np_jitter(img, factors, order):
    x = img.astype(np.float64)
    for op in order:
        f = float(factors[op])
        if op == ops.BRIGHTNESS:
            x = np.clip(f * x, 0, 1)
        elif op == ops.CONTRAST:
            x = _np_contrast(x, f)
        elif op == ops.SATURATION and x.shape[-1] == 3:
            x = _np_saturation(x, f)
        elif op == ops.HUE and x.shape[-1] == 3:
            x = _np_hue(x, f)
    return x


@pytest.mark.parametrize("channels", [3, 1])
def test_apply_jitter_all_orders_match_sequential_reference(channels):
    img = _rand_images((5, 6, channels), seed=1)
    orders = np.array(list(itertools.permutations(range(4))), np.int32)  # all 24
    rng = np.random.default_rng(2)
    factors = np.stack([rng.uniform(0.2, 1.9, 24), rng.uniform(0.2, 1.9, 24),
                        rng.uniform(0.0, 2.0, 24), rng.uniform(-0.5, 0.5, 24)], 1)
    factors = factors.astype(np.float32)
    fn = jax.jit(jax.vmap(ops.apply_jitter, in_axes=(None, 0, 0)))
    got = np.asarray(fn(img, factors, orders))
    for out, f, order in zip(got, factors, orders, strict=True):
        np.testing.assert_allclose(out, _np_jitter(img, f, order), atol=3e-5)
    # The order matters (so the test above can tell orders apart).
    assert np.abs(got[0] - got[-1]).max() > 1e-2


def test_color_jitter_batch_matches_reference_per_example():
    # The batched op inside one fused XLA program (where XLA may recompute values in several
    # fusions with different rounding) against the sequential NumPy reference, per example.
    img = _rand_images((24, 6, 7, 3), seed=4)
    key = jax.random.key(9)
    strengths = (0.4, 0.4, 0.4, 0.1)
    got = np.asarray(A.color_jitter(key, img, brightness=0.4, contrast=0.4, saturation=0.4,
                                    hue=0.1, p=0.8))
    # The documented key plumbing: split per example, N_JITTER uniforms per example.
    u = jax.vmap(lambda k: jax.random.uniform(k, (ops.N_JITTER,)))(jax.random.split(key, 24))
    u = np.asarray(u)
    for i in range(24):
        if u[i, 0] >= 0.8:
            np.testing.assert_array_equal(got[i], img[i])
            continue
        factors, order = ops.sample_jitter(jnp.asarray(u[i, 1:]), *strengths)
        want = _np_jitter(img[i], np.asarray(factors), np.asarray(order))
        np.testing.assert_allclose(got[i], want, atol=3e-5, err_msg=f"example {i}")


def test_sample_jitter_ranges_and_order_distribution():
    u = jax.random.uniform(jax.random.key(0), (4000, 8))
    factors, order = jax.jit(jax.vmap(lambda v: ops.sample_jitter(v, 0.4, 1.5, 0.2, 0.1)))(u)
    factors, order = np.asarray(factors), np.asarray(order)
    for j, (lo, hi) in enumerate([(0.6, 1.4), (0.0, 2.5), (0.8, 1.2), (-0.1, 0.1)]):
        assert lo <= factors[:, j].min() and factors[:, j].max() <= hi
        assert factors[:, j].min() < lo + 0.05 * (hi - lo)  # spans the range
        assert factors[:, j].max() > hi - 0.05 * (hi - lo)
    np.testing.assert_array_equal(np.sort(order, axis=1), np.tile(np.arange(4), (4000, 1)))
    for pos in range(4):
        freq = np.bincount(order[:, pos], minlength=4) / len(order)
        np.testing.assert_allclose(freq, 0.25, atol=0.03)


def test_color_jitter_single_channel_only_brightness_contrast():
    img = _rand_images((8, 6, 6, 1), seed=3)
    key = jax.random.key(1)
    same = A.color_jitter(key, img, brightness=0.0, contrast=0.0, saturation=0.8, hue=0.4,
                          p=1.0)
    np.testing.assert_array_equal(same, img)
    changed = A.color_jitter(key, img, brightness=0.5, contrast=0.5, saturation=0.8, hue=0.4,
                             p=1.0)
    assert np.all(np.abs(np.asarray(changed) - img).max(axis=(1, 2, 3)) > 1e-4)


# --------------------------------------------------------------------------- other ops


def test_grayscale_matches_luma_formula():
    img = _rand_images((4, 5, 6, 3))
    got = A.grayscale(jax.random.key(0), img, p=1.0)
    np.testing.assert_allclose(got, np.repeat(_np_gray(img), 3, axis=-1), atol=1e-6)
    gray1 = _rand_images((4, 5, 6, 1))
    np.testing.assert_array_equal(A.grayscale(jax.random.key(0), gray1, p=1.0), gray1)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5])
def test_blur_matches_scipy_mirror(sigma):
    img = _rand_images((13, 17, 3))
    radius = 3
    got = jax.jit(ops.gaussian_blur_image, static_argnums=2)(img, sigma, radius)
    want = scipy.ndimage.gaussian_filter(img.astype(np.float64), (sigma, sigma, 0),
                                         mode="mirror", radius=(radius, radius, 0))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_public_blur_uses_kernel_size_rule():
    img = _rand_images((3, 20, 20, 3))
    # kernel_frac 0.25 * 20 = 5 -> 5 taps (radius 2).
    got = A.gaussian_blur(jax.random.key(0), img, p=1.0, sigma=(1.5, 1.5), kernel_frac=0.25)
    want = scipy.ndimage.gaussian_filter(img.astype(np.float64), (0, 1.5, 1.5, 0),
                                         mode="mirror", radius=(0, 2, 2, 0))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_blur_radius_rule():
    # SimCLR: 224 px -> 23 taps; 96 -> 9; small images -> 3 taps.
    assert ops.blur_radius(224, 224) == 11
    assert ops.blur_radius(96, 96) == 4
    assert ops.blur_radius(32, 32) == 1
    assert ops.blur_radius(28, 28) == 1
    assert ops.blur_radius(8, 8) == 1
    assert ops.blur_radius(3, 200, kernel_frac=0.5) == 2  # clamped for reflect padding


def test_solarize_and_normalize_match_formulas():
    img = _rand_images((4, 5, 6, 3))
    got = A.solarize(jax.random.key(0), img, p=1.0, threshold=0.3)
    np.testing.assert_array_equal(got, np.where(img < 0.3, img, 1 - img))
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    np.testing.assert_allclose(A.normalize(img, mean, std),
                               (img - np.array(mean)) / np.array(std), atol=1e-6)
    with pytest.raises(ValueError, match="std"):
        A.normalize(img, mean, (0.2, 0.0, 0.3))


def test_flip_formula():
    img = _rand_images((4, 5, 6, 3))
    np.testing.assert_array_equal(A.horizontal_flip(jax.random.key(0), img, p=1.0),
                                  img[:, :, ::-1])
    np.testing.assert_array_equal(A.horizontal_flip(jax.random.key(0), img, p=0.0), img)


# --------------------------------------------------------------------------- crop


@pytest.mark.parametrize("out_size", [24, 10])
def test_full_crop_equals_resize(out_size):
    img = _rand_images((3, 16, 16, 3))
    got = A.random_resized_crop(jax.random.key(0), img, out_size, scale=(1, 1), ratio=(1, 1))
    want = jax.image.resize(img, (3, out_size, out_size, 3), "linear", antialias=True)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_full_crop_same_size_is_identity_and_non_square_falls_back_to_center():
    crop = jax.jit(jax.vmap(ops.crop_and_resize, in_axes=(None, 0, None)), static_argnums=2)
    img = _rand_images((12, 12, 3))
    np.testing.assert_allclose(crop(img, jnp.array([[0, 0, 12, 12]]), 12)[0], img, atol=1e-6)
    # A box of side == out_size is an exact slice.
    boxes = jnp.array([[3, 2, 6, 6], [0, 6, 6, 6], [6, 0, 6, 6]])
    for box, out in zip(np.asarray(boxes), np.asarray(crop(img, boxes, 6)), strict=True):
        t, left, h, w = box
        np.testing.assert_allclose(out, img[t:t + h, left:left + w], atol=1e-6)
    # Non-square image, scale = ratio = 1: no try fits, fallback is the centered square.
    box = ops.sample_crop_box(jax.random.key(0), 10, 16, scale=(1, 1), ratio=(1, 1))
    np.testing.assert_array_equal(box, [0, 3, 10, 10])
    box = ops.sample_crop_box(jax.random.key(0), 20, 20, scale=(1, 1), ratio=(2, 3))
    np.testing.assert_array_equal(box, [5, 0, 10, 20])


def _np_bilinear_crop(img, top, left, h, w, out):
    """Half-pixel-center bilinear sampling of a window, edge-clamped (upsampling only)."""

    def axis(start, size, length):
        c = np.clip(start + (np.arange(out) + 0.5) * size / out - 0.5, 0, length - 1)
        i0 = np.floor(c).astype(int)
        return i0, np.minimum(i0 + 1, length - 1), c - i0

    y0, y1, fy = axis(top, h, img.shape[0])
    x0, x1, fx = axis(left, w, img.shape[1])
    rows = img[y0] * (1 - fy)[:, None, None] + img[y1] * fy[:, None, None]
    return rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]


def test_crop_upsampling_matches_numpy_bilinear():
    img = _rand_images((12, 14, 3), seed=5).astype(np.float64)
    for box in ([3, 2, 5, 7], [0, 0, 4, 9], [7, 9, 5, 5]):
        got = ops.crop_and_resize(jnp.asarray(img, jnp.float32), jnp.array(box), 16)
        np.testing.assert_allclose(got, _np_bilinear_crop(img, *box, 16), atol=1e-5)


def _np_torchvision_boxes(n, height, width, scale, ratio, seed=0):
    """Area fractions and aspects of torchvision `RandomResizedCrop.get_params` (10 tries)."""
    rng = np.random.default_rng(seed)
    areas, aspects = [], []
    for _ in range(n):
        for _ in range(10):
            target = height * width * rng.uniform(*scale)
            r = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
            w, h = int(round(np.sqrt(target * r))), int(round(np.sqrt(target / r)))
            if 0 < w <= width and 0 < h <= height:
                break
        else:
            h, w = height, width  # fallback for ratio containing W / H
        areas.append(h * w / (height * width))
        aspects.append(w / h)
    return np.array(areas), np.array(aspects)


def test_crop_box_statistics():
    keys = jax.random.split(jax.random.key(0), 4000)
    sample = jax.jit(jax.vmap(lambda k: ops.sample_crop_box(k, 224, 224, (0.08, 1.0),
                                                            (3 / 4, 4 / 3))))
    top, left, h, w = np.asarray(sample(keys)).T
    assert np.all((h >= 1) & (w >= 1) & (top >= 0) & (left >= 0))
    assert np.all((top + h <= 224) & (left + w <= 224))
    area = h * w / 224**2
    aspect = w / h
    # Rounding sides to whole pixels moves area and aspect by < 1/sqrt(0.08 * 224^2) each.
    tol = 2.5 / (np.sqrt(0.08) * 224)
    assert area.min() >= 0.08 * (1 - tol) and area.max() <= 1.0
    assert aspect.min() >= 0.75 * (1 - tol) and aspect.max() <= 4 / 3 * (1 + tol)
    # Distribution: compare with a NumPy re-implementation of torchvision's loop.
    ref_area, ref_aspect = _np_torchvision_boxes(4000, 224, 224, (0.08, 1.0), (3 / 4, 4 / 3))
    bins = [0.0, 0.2, 0.4, 0.6, 0.8, 1.01]
    np.testing.assert_allclose(np.histogram(area, bins)[0] / 4000,
                               np.histogram(ref_area, bins)[0] / 4000, atol=0.03)
    bins = [0.7, 0.85, 1.0, 1 / 0.85, 1.4]
    np.testing.assert_allclose(np.histogram(aspect, bins)[0] / 4000,
                               np.histogram(ref_aspect, bins)[0] / 4000, atol=0.03)
    # Offsets spread over the free range.
    free = 224 - h
    frac = top[free > 50] / free[free > 50]
    assert frac.min() < 0.05 and frac.max() > 0.95


# --------------------------------------------------------------------------- frequencies

N_STAT = 2000


def test_flip_frequency():
    img = _rand_images((N_STAT, 4, 4, 3), seed=7)
    out = np.asarray(A.horizontal_flip(jax.random.key(3), img))
    flipped = np.all(out == img[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(flipped | np.all(out == img, axis=(1, 2, 3)))
    assert abs(np.mean(flipped) - 0.5) < 0.05


def test_grayscale_frequency():
    img = _rand_images((N_STAT, 4, 4, 3), seed=8)
    out = np.asarray(A.grayscale(jax.random.key(4), img))
    gray = np.all(out[..., 0] == out[..., 2], axis=(1, 2))
    assert abs(np.mean(gray) - 0.2) < 0.04


def test_jitter_frequency():
    img = _rand_images((N_STAT, 4, 4, 3), seed=9)
    out = np.asarray(A.color_jitter(jax.random.key(5), img, brightness=0.5, contrast=0.0,
                                    saturation=0.0, hue=0.0))
    changed = np.any(out != img, axis=(1, 2, 3))
    assert abs(np.mean(changed) - 0.8) < 0.04


def test_blur_frequency():
    img = _rand_images((N_STAT, 8, 8, 3), seed=10)
    out = np.asarray(A.gaussian_blur(jax.random.key(6), img, sigma=(1.0, 2.0)))
    changed = np.any(np.abs(out - img) > 1e-3, axis=(1, 2, 3))
    assert abs(np.mean(changed) - 0.5) < 0.05


def test_solarize_frequency():
    img = _rand_images((N_STAT, 4, 4, 3), seed=11)
    out = np.asarray(A.solarize(jax.random.key(7), img))
    changed = np.any(out != img, axis=(1, 2, 3))
    assert abs(np.mean(changed) - 0.2) < 0.04


# --------------------------------------------------------------------------- pipeline

FULL = A.ViewSpec(out_size=12, crop_scale=(0.2, 1.0), flip_p=0.5, brightness=0.4,
                  contrast=0.4, saturation=0.4, hue=0.1, jitter_p=0.8, gray_p=0.2, blur_p=0.5,
                  solarize_p=0.2)


def _view(images, spec=FULL, step=0, view=0, key=None):
    key = jax.random.key(42) if key is None else key
    keys = A.example_keys(key, step, view, jnp.arange(images.shape[0]))
    return A.augment_view(keys, images, spec)


def test_augment_view_shape_range_dtype_determinism():
    img = _rand_images((6, 20, 20, 3))
    out = _view(img)
    assert out.shape == (6, 12, 12, 3) and out.dtype == jnp.float32
    out = np.asarray(out)
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out, _view(img))  # same keys -> same output
    other_step = np.asarray(_view(img, step=1))
    other_view = np.asarray(_view(img, view=1))
    for other in (other_step, other_view):
        assert np.all(np.abs(other - out).max(axis=(1, 2, 3)) > 1e-3)
    # Per-example keys: example i's view does not depend on the rest of the batch.
    np.testing.assert_array_equal(
        out[2:4], A.augment_view(A.example_keys(jax.random.key(42), 0, 0, jnp.arange(2, 4)),
                                 img[2:4], FULL)
    )


def test_augment_view_bfloat16_in_bfloat16_out():
    img = _rand_images((6, 20, 20, 3))
    out16 = _view(jnp.asarray(img, jnp.bfloat16))
    assert out16.dtype == jnp.bfloat16
    diff = np.abs(np.asarray(out16, np.float32) - np.asarray(_view(img)))
    assert diff.mean() < 0.02


def test_augment_view_normalize_and_single_channel():
    img = _rand_images((4, 28, 28, 1))
    plain = A.digits_views(28)[0]
    normed = A.digits_views(28, mean=(0.2,), std=(0.5,))[0]
    out = np.asarray(_view(img, plain))
    assert out.shape == (4, 28, 28, 1) and 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(_view(img, normed), (out - 0.2) / 0.5, atol=1e-5)


def test_public_ops_keep_shape_and_dtype():
    img = jnp.asarray(_rand_images((3, 9, 11, 3)), jnp.bfloat16)
    key = jax.random.key(0)
    assert A.random_resized_crop(key, img, 7).shape == (3, 7, 7, 3)
    for out in (A.horizontal_flip(key, img), A.grayscale(key, img), A.solarize(key, img),
                A.gaussian_blur(key, img), A.normalize(img, 0.5, 0.25),
                A.color_jitter(key, img, brightness=0.4, contrast=0.4, saturation=0.4,
                               hue=0.1)):
        assert out.shape == img.shape and out.dtype == jnp.bfloat16


def test_example_keys_formula_and_raw_keys():
    key = jax.random.key(3)
    keys = A.example_keys(key, 5, 1, jnp.array([0, 7, 9], jnp.int32))
    want = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, 5), 1), 7)
    np.testing.assert_array_equal(jax.random.key_data(keys[1]), jax.random.key_data(want))
    raw = A.example_keys(jax.random.PRNGKey(3), 5, 1, jnp.array([0, 7, 9]))
    assert raw.shape == (3, 2)
    np.testing.assert_array_equal(raw, jax.random.key_data(keys))


def test_augment_views_uses_view_index():
    img = _rand_images((2, 20, 20, 3))
    v0, v1 = A.augment_views(jax.random.key(42), 0, jnp.arange(2), img, (FULL, FULL))
    np.testing.assert_array_equal(v0, _view(img, view=0))
    np.testing.assert_array_equal(v1, _view(img, view=1))


# --------------------------------------------------------------------------- presets


def test_presets_have_the_papers_numbers():
    a, b = A.simclr_views(32, strength=0.5, blur=False)
    assert a == b and a.out_size == 32 and a.crop_scale == (0.08, 1.0)
    assert (a.brightness, a.contrast, a.saturation, a.hue) == pytest.approx((0.4,) * 3 + (0.1,))
    assert (a.jitter_p, a.gray_p, a.blur_p, a.flip_p) == (0.8, 0.2, 0.0, 0.5)
    assert A.simclr_views(224)[0].blur_p == 0.5
    b1, b2 = A.byol_views(224)
    assert (b1.blur_p, b2.blur_p, b1.solarize_p, b2.solarize_p) == (1.0, 0.1, 0.0, 0.2)
    assert (b1.brightness, b1.contrast, b1.saturation, b1.hue) == (0.4, 0.4, 0.2, 0.1)
    m, _ = A.mocov2_views(224)
    assert m.crop_scale == (0.2, 1.0) and (m.saturation, m.blur_p, m.gray_p) == (0.4, 0.5, 0.2)
    d = A.dino_views(224, 96, 6, mean=A.IMAGENET_MEAN, std=A.IMAGENET_STD)
    assert len(d) == 8 and [v.out_size for v in d] == [224, 224] + [96] * 6
    assert (d[0].blur_p, d[1].blur_p, d[1].solarize_p, d[2].blur_p) == (1.0, 0.1, 0.2, 0.5)
    assert d[0].crop_scale == (0.4, 1.0) and d[2].crop_scale == (0.05, 0.4)
    assert d[0].mean == A.IMAGENET_MEAN
    g, _ = A.digits_views()
    assert g.flip_p == 0.0 and g.out_size == 28 and g.crop_ratio[0] > 0.75


def test_dino_local_and_global_views_run():
    img = _rand_images((2, 24, 24, 3))
    specs = A.dino_views(16, 8, 1)
    views = A.augment_views(jax.random.key(0), 0, jnp.arange(2), img, specs[1:])
    assert [v.shape for v in views] == [(2, 16, 16, 3), (2, 8, 8, 3)]


def test_input_validation():
    img = _rand_images((2, 8, 8, 3))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="NHWC"):
        A.horizontal_flip(key, img[0])
    with pytest.raises(ValueError, match="channels"):
        A.grayscale(key, _rand_images((2, 8, 8, 4)))
    with pytest.raises(ValueError, match="floating"):
        A.solarize(key, (img * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="probability"):
        A.ViewSpec(out_size=8, flip_p=1.5)
    with pytest.raises(ValueError, match="both mean and std"):
        A.ViewSpec(out_size=8, mean=(0.5,))
    with pytest.raises(ValueError, match="scale"):
        A.random_resized_crop(key, img, 4, scale=(0.9, 0.1))
    with pytest.raises(ValueError, match="hue"):
        A.color_jitter(key, img, brightness=0, contrast=0, saturation=0, hue=0.7)
    with pytest.raises(ValueError, match="one PRNG key per image"):
        A.augment_view(jax.random.split(key, 3), img, FULL)
    assert A.ViewSpec(out_size=8, mean=[0.5], std=[0.2]).mean == (0.5,)  # lists -> tuples
    hash(A.ViewSpec(out_size=8, crop_scale=[0.1, 1.0]))


# --------------------------------------------------------------------------- fuzz


@settings(max_examples=5, deadline=None, derandomize=True)
@given(
    height=st.integers(8, 40), width=st.integers(8, 40), out_size=st.integers(4, 24),
    channels=st.sampled_from([1, 3]), scale_lo=st.floats(0.01, 1.0),
    ratio_hi=st.floats(1.0, 3.0), strength=st.floats(0.0, 2.0),
    hue=st.floats(0.0, 0.5), p=st.floats(0.0, 1.0), sigma_hi=st.floats(0.1, 5.0),
)
@pytest.mark.slow  # hypothesis fuzzing
def test_fuzz_pipeline_finite_and_shaped(height, width, out_size, channels, scale_lo,
                                         ratio_hi, strength, hue, p, sigma_hi):
    spec = A.ViewSpec(
        out_size=out_size, crop_scale=(scale_lo, 1.0), crop_ratio=(1 / ratio_hi, ratio_hi),
        flip_p=p, brightness=strength, contrast=strength, saturation=strength, hue=hue,
        jitter_p=p, gray_p=p, blur_p=p, blur_sigma=(0.1, sigma_hi), solarize_p=p,
    )
    img = _rand_images((2, height, width, channels))
    out = np.asarray(_view(img, spec))
    assert out.shape == (2, out_size, out_size, channels)
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0

