"""CIE Lab colour and the quantised ab space of colorization (Zhang et al. 2016).

- `rgb_to_lab(x)`, `lab_to_rgb(lab)`: sRGB in [0, 1] ↔ CIE L*a*b* (D65 white, 2°
  observer), as `skimage.color.rgb2lab` / `lab2rgb` compute them;
- `ab_bins()`: the quantised ab colours: the cells of a 10-unit ab grid that hold an sRGB
  colour at some lightness (Q = 262 here; the paper's 313 bins, shipped as
  `pts_in_hull.npy`, came from its own gamut computation);
- `soft_encode(ab, bins)`: each ab value as a Gaussian-weighted mix (σ = 5) of its 5
  nearest bins (the paper's soft-encoding scheme);
- `rebalance_weights(prior)`: the per-bin class-rebalancing weights
  w ∝ ((1 − λ)·p̃ + λ/Q)^−1, p̃ the prior smoothed by a Gaussian (σ = 5), E_p̃[w] = 1;
- `annealed_mean(logits, bins)`: the decoded ab colour, the mean of the temperature-
  sharpened distribution (T = 0.38).

Reference: Zhang, Isola and Efros, "Colorful Image Colorization", ECCV 2016
(arXiv:1603.08511): the multinomial objective, class rebalancing and annealed-mean
decoding; the sRGB/Lab formulas of scikit-image's `skimage.color`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# sRGB (linear) -> XYZ, and the D65 white point: skimage.color's constants.
XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
D65 = np.array([0.95047, 1.0, 1.08883])
GRID = 10.0  # ab bin width


def rgb_to_lab(x: jax.Array) -> jax.Array:
    """sRGB `[..., 3]` in [0, 1] → Lab `[..., 3]` (L in [0, 100], a and b about ±110)."""
    x = jnp.asarray(x, jnp.float32)
    lin = jnp.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    xyz = lin @ jnp.asarray(XYZ_FROM_RGB.T, jnp.float32) / jnp.asarray(D65, jnp.float32)
    f = jnp.where(xyz > 0.008856, jnp.cbrt(jnp.maximum(xyz, 1e-12)), 7.787 * xyz + 16 / 116)
    L = 116.0 * f[..., 1] - 16.0
    return jnp.stack([L, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)


def _lab_to_linear(lab):
    """Lab → linear sRGB, unclipped (NumPy or JAX arrays)."""
    xp = jnp if isinstance(lab, jax.Array) else np
    fy = (lab[..., 0] + 16.0) / 116.0
    f = xp.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], -1)
    xyz = xp.where(f > 0.2068966, f ** 3, (f - 16.0 / 116.0) / 7.787) * D65
    return xyz @ RGB_FROM_XYZ.T


def lab_to_rgb(lab: jax.Array) -> jax.Array:
    """Lab `[..., 3]` → sRGB `[..., 3]` clipped to [0, 1]."""
    lin = jnp.asarray(_lab_to_linear(jnp.asarray(lab, jnp.float32)), jnp.float32)
    lin = jnp.clip(lin, 0.0, 1.0)
    return jnp.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, 12.92 * lin)


@functools.lru_cache(maxsize=1)
def ab_bins() -> np.ndarray:
    """float32 `[Q, 2]` centres of the 10-unit ab cells that hold an sRGB colour.

    A cell (centre a, b on multiples of 10 in [−110, 110]) is kept if any of its 5×5 sample
    points reaches an sRGB colour inside [0, 1]³ at one of 101 lightness values.
    """
    centres = np.arange(-110.0, 111.0, GRID)
    offsets = np.linspace(-GRID / 2, GRID / 2, 5)
    lightness = np.linspace(0.0, 100.0, 101)
    keep = []
    for a in centres:
        for b in centres:
            aa, bb, ll = np.meshgrid(a + offsets, b + offsets, lightness, indexing="ij")
            lin = _lab_to_linear(np.stack([ll, aa, bb], -1))
            if np.all((lin >= 0) & (lin <= 1), -1).any():
                keep.append((a, b))
    out = np.asarray(keep, np.float32)
    out.flags.writeable = False
    return out


def soft_encode(ab: jax.Array, bins: jax.Array, *, neighbours: int = 5,
                sigma: float = 5.0) -> jax.Array:
    """ab values `[..., 2]` → `[..., Q]`: Gaussian weights on the `neighbours` nearest bins.

    Weights exp(−d²/2σ²) of the distances to the nearest bins, normalised to sum to 1; 0
    elsewhere (the paper's soft-encoding, 5 neighbours, σ = 5).
    """
    ab = jnp.asarray(ab, jnp.float32)
    bins = jnp.asarray(bins, jnp.float32)
    d2 = jnp.sum(jnp.square(ab[..., None, :] - bins), axis=-1)  # [..., Q]
    neg, idx = jax.lax.top_k(-d2, neighbours)
    w = jnp.exp(neg / (2.0 * sigma ** 2))
    w = w / jnp.sum(w, axis=-1, keepdims=True)
    onehots = jax.nn.one_hot(idx, bins.shape[0], dtype=jnp.float32)  # [..., k, Q]
    return jnp.einsum("...k,...kq->...q", w, onehots)


def rebalance_weights(prior: jax.Array, bins: jax.Array, *, lam: float = 0.5,
                      sigma: float = 5.0) -> jax.Array:
    """Class-rebalancing weights `[Q]` from an empirical bin distribution `prior` `[Q]`.

    p̃ = the prior smoothed by a Gaussian of σ (ab units) over the bins; then
    w ∝ ((1 − λ)·p̃ + λ/Q)^−1, scaled so that Σ_q p̃_q w_q = 1 (the paper's rebalancing).
    """
    prior = jnp.asarray(prior, jnp.float32)
    prior = prior / jnp.maximum(jnp.sum(prior), 1e-12)
    bins = jnp.asarray(bins, jnp.float32)
    d2 = jnp.sum(jnp.square(bins[:, None] - bins[None]), axis=-1)
    kernel = jnp.exp(-d2 / (2.0 * sigma ** 2))
    smooth = kernel @ prior
    smooth = smooth / jnp.sum(smooth)
    q = bins.shape[0]
    w = 1.0 / ((1.0 - lam) * smooth + lam / q)
    return w / jnp.sum(smooth * w)


def annealed_mean(logits: jax.Array, bins: jax.Array, *, temperature: float = 0.38
                  ) -> jax.Array:
    """Decoded ab `[..., 2]` from bin logits `[..., Q]`: the mean of softmax(logits / T)
    (the paper's annealed mean: exp(log z / T), renormalised)."""
    p = jax.nn.softmax(jnp.asarray(logits, jnp.float32) / temperature, axis=-1)
    return p @ jnp.asarray(bins, jnp.float32)
