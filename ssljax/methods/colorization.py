"""Colorization: learn features by predicting an image's colours from its lightness.

The encoder sees a view's grayscale (its luma, what evaluation feeds it too); a
convolutional decoder (`models.ConvDecoder`, `decoder.channels`) turns its feature vector
into a map of logits over the Q quantised ab colours (`augment.lab.ab_bins`) at a quarter
of the view's resolution; the target is the view's true ab colour (CIE Lab of the RGB
view, averaged over 4×4 blocks), soft-encoded on its 5 nearest bins. The loss is the
class-rebalanced multinomial cross-entropy (`losses.colorization_ce`): each pixel weighs
w(its colour's bin), w ∝ ((1 − λ)·p̃ + λ/Q)^−1 with λ = `colorization.rebalance_lambda`
(0.5) and p̃ the smoothed empirical colour distribution, estimated during training from
every bin count seen so far (`state.extra["ab_counts"]`, summed over devices).
`augment.lab.annealed_mean` (T = 0.38) decodes logits into colours (`colorize`).

RGB datasets only: on grayscale images the model refuses to build (one line).

Reference: Zhang, Isola and Efros, "Colorful Image Colorization", ECCV 2016
(arXiv:1603.08511): the quantised ab output, soft-encoding (5 neighbours, σ = 5), class
rebalancing (λ = 0.5, σ = 5) and the annealed mean (T = 0.38); richzhang/colorization
`colorizers/eccv16.py` (logits at 1/4 of the side, bilinear ×4 upsampling of the ab map).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import augment, losses, models
from ssljax.augment import lab
from ssljax.errors import ConfigError
from ssljax.methods import base
from ssljax.models.decoders import check_decodable
from ssljax.parallel import DATA_AXIS

OUTPUT_STRIDE = 4  # the ab map is predicted at 1/4 of the view's side, as in the paper


class ColorizationModel(nn.Module):
    """Gray → encoder → `ConvDecoder` → ab-bin logits `[N, H/4, W/4, Q]`.

    Takes RGB images `[N, H, W, 3]` in [0, 1] (the encoder sees their luma) and returns
    `features` [N, D] (what evaluation uses), `proj` (= features) and `logits`.
    """

    encoder: nn.Module
    num_bins: int
    decoder_channels: Sequence[int] = (128, 64)
    dtype: object = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        if x.shape[-1] != 3:
            raise ValueError(f"colorization needs RGB images; these have {x.shape[-1]} "
                             "channel(s): use a colour dataset (e.g. cifar10)")
        gray = augment.match_channels(x, 1)
        h = self.encoder(gray, train=train).astype(jnp.float32)
        decoder = models.ConvDecoder(image_size=x.shape[1] // OUTPUT_STRIDE,
                                     out_channels=self.num_bins,
                                     channels=tuple(self.decoder_channels), dtype=self.dtype,
                                     bn_axis_name=self.bn_axis_name, name="decoder")
        return {"features": h, "proj": h, "logits": decoder(h, train=train)}


def ab_targets(x: jax.Array) -> jax.Array:
    """The true ab colours `[N, H/4, W/4, 2]` of RGB views `[N, H, W, 3]` (block means)."""
    ab = lab.rgb_to_lab(x)[..., 1:]
    n, h, w, _ = ab.shape
    s = OUTPUT_STRIDE
    return ab.reshape(n, h // s, s, w // s, s, 2).mean(axis=(2, 4))


class Colorization(base.Method):
    """Colorization. Config: `decoder.channels`, `colorization.rebalance_lambda` (0.5),
    `colorization.neighbours` (5), `colorization.sigma` (5)."""

    name = "colorization"
    defaults = {"decoder.channels": (128, 64), "colorization.rebalance_lambda": 0.5,
                "colorization.neighbours": 5, "colorization.sigma": 5.0}
    ignores = base.HEAD_KEYS

    def __init__(self, config, num_classes):
        co = config.colorization
        if not 0 <= co.rebalance_lambda <= 1:
            raise ConfigError("colorization.rebalance_lambda mixes the prior with a uniform "
                              f"distribution: it must be in [0, 1], got {co.rebalance_lambda}")
        self.bins = jnp.asarray(lab.ab_bins())
        super().__init__(config, num_classes)

    def build_model(self) -> nn.Module:
        c = self.config
        return ColorizationModel(encoder=base.build_encoder(c, self.axis),
                                 num_bins=int(self.bins.shape[0]),
                                 decoder_channels=tuple(c.decoder.channels),
                                 dtype=base.compute_dtype(c), bn_axis_name=self.axis)

    def encoder_channels(self, data_channels: int) -> int:
        del data_channels
        return 1

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        """The first view of `config.augment`: un-normalised (Lab needs [0, 1] RGB), its
        quarter-resolution side decodable."""
        specs = base.view_specs(self.config, image_size)[:1]
        size = specs[0].out_size
        if specs[0].mean is not None:
            raise ConfigError("colorization computes Lab colours from [0, 1] RGB views; "
                              "leave augment.mean and augment.std empty")
        try:
            if size % OUTPUT_STRIDE:
                raise ValueError(f"colorization predicts colours at 1/{OUTPUT_STRIDE} of the "
                                 f"view's side; {size} px is not divisible by {OUTPUT_STRIDE}")
            check_decodable(size // OUTPUT_STRIDE, self.config.decoder.channels)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return specs

    def init_extra(self, feature_dims):
        del feature_dims
        return {"ab_counts": jnp.zeros((self.bins.shape[0],), jnp.float32)}

    def loss(self, params, state, views, rng):
        del rng
        co = self.config.colorization
        x = views[0]
        out, batch_stats = self.apply(params, state.batch_stats, x)
        target = lab.soft_encode(ab_targets(x), self.bins, neighbours=int(co.neighbours),
                                 sigma=float(co.sigma))
        counts = lax.psum(jnp.sum(jax.nn.one_hot(target.argmax(-1), self.bins.shape[0]),
                                  axis=(0, 1, 2)), DATA_AXIS)
        seen = state.extra["ab_counts"] + counts
        weights = lax.stop_gradient(lab.rebalance_weights(
            seen + 1e-3, self.bins, lam=float(co.rebalance_lambda), sigma=float(co.sigma)))
        local = losses.colorization_ce(out["logits"], target, rebalance_weights=weights)
        result = self.output(batch_stats, out)
        result.carry = {"ab_counts": seen}
        return lax.pmean(local, DATA_AXIS), result

    def after_update(self, state, out):
        return state.replace(extra={**state.extra, "ab_counts": out.carry["ab_counts"]})

    def colorize(self, params, batch_stats, x: jax.Array, *,
                 temperature: float = 0.38) -> jax.Array:
        """RGB images `[N, H, W, 3]` → their colourised versions from the grayscale: the
        predicted ab (annealed mean, upsampled ×4 bilinearly) with the images' own
        lightness."""
        out, _ = self.apply(params, batch_stats, x, train=False)
        ab = lab.annealed_mean(out["logits"], self.bins, temperature=temperature)
        ab = jax.image.resize(ab, (*x.shape[:3], 2), "bilinear")
        lightness = lab.rgb_to_lab(x)[..., :1]
        return lab.lab_to_rgb(jnp.concatenate([lightness, ab], axis=-1))
