"""Autoencoder and denoising autoencoder: learn features by reconstructing the input.

The encoder maps a view x to its feature vector h = f(x) (what evaluation reads), a
convolutional decoder g (`models.ConvDecoder`, `decoder.channels`) maps h back to an
image, and the loss is the mean squared error to the clean view
(`losses.masked_reconstruction` with every pixel counted):

    L = mean over pixels and channels of (g(f(x̃)) − x)²,   x̃ = corrupt(x)

With `autoencoder.noise="none"` x̃ = x (a plain autoencoder); "gaussian" adds
`noise_amount`·N(0, 1) to every value and "masking" sets each pixel to 0 with probability
`noise_amount` (`augment.corrupt`, keyed per example by its global row, so 1 or 8
devices corrupt a batch alike). The augmentation (`config.augment`; its first view only)
comes first; the view's side must be divisible by 2^(len(decoder.channels) − 1).

Reference: Hinton and Salakhutdinov, "Reducing the Dimensionality of Data with Neural
Networks", Science 2006 (autoencoders); Vincent et al., "Extracting and Composing Robust
Features with Denoising Autoencoders", ICML 2008 (masking noise) and "Stacked Denoising
Autoencoders", JMLR 2010 (Gaussian noise).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ssljax import augment, losses, models
from ssljax.augment.pretext import NOISES
from ssljax.errors import ConfigError
from ssljax.methods import base
from ssljax.models.decoders import check_decodable
from ssljax.parallel import DATA_AXIS


class AutoEncoderModel(nn.Module):
    """Encoder → `ConvDecoder` at the input's size; returns `features` [N, D], `proj`
    (= features, for the collapse monitor) and `recon` [N, H, W, C].

    With a `discriminator` (the context encoder's adversarial loss) its parameters sit
    beside the encoder's and decoder's (created at init on regions of side
    `round(region_fraction · H)`) and `discriminate` runs it."""

    encoder: nn.Module
    decoder_channels: Sequence[int] = (128, 64, 32)
    dtype: object = jnp.float32
    bn_axis_name: str | None = None
    discriminator: nn.Module | None = None
    region_fraction: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        h = self.encoder(x, train=train).astype(jnp.float32)
        decoder = models.ConvDecoder(image_size=x.shape[1], out_channels=x.shape[-1],
                                     channels=tuple(self.decoder_channels), dtype=self.dtype,
                                     bn_axis_name=self.bn_axis_name, name="decoder")
        if self.discriminator is not None and self.is_initializing():
            side = max(1, round(self.region_fraction * x.shape[1]))
            self.discriminator(jnp.zeros((1, side, side, x.shape[-1]), x.dtype), train=False)
        return {"features": h, "proj": h, "recon": decoder(h, train=train)}

    def discriminate(self, regions: jax.Array, train: bool = True) -> jax.Array:
        """Real-vs-fake logits `[N]` of image regions `[N, r, r, C]`."""
        return self.discriminator(regions, train=train)


def reconstruction_model(config, axis: str | None, discriminator: nn.Module | None = None,
                         region_fraction: float = 1.0) -> AutoEncoderModel:
    """The configured encoder with a `decoder.channels` decoder (autoencoder, context
    encoder), and optionally a discriminator of regions `region_fraction` of the side."""
    return AutoEncoderModel(encoder=base.build_encoder(config, axis),
                            decoder_channels=tuple(config.decoder.channels),
                            dtype=base.compute_dtype(config), bn_axis_name=axis,
                            discriminator=discriminator, region_fraction=region_fraction)


class AutoEncoder(base.Method):
    """(Denoising) autoencoder. Config: `decoder.channels`, `autoencoder.noise`
    (none | gaussian | masking), `autoencoder.noise_amount`."""

    name = "autoencoder"
    defaults = {"decoder.channels": (128, 64, 32), "autoencoder.noise": "none",
                "autoencoder.noise_amount": 0.0}
    ignores = base.HEAD_KEYS

    def __init__(self, config, num_classes):
        a = config.autoencoder
        if a.noise not in NOISES:
            raise ConfigError(f"autoencoder.noise={a.noise!r} is unknown; use one of "
                              f"{NOISES}")
        if a.noise == "masking" and not 0 <= a.noise_amount < 1:
            raise ConfigError("autoencoder.noise_amount is the masking probability: it must "
                              f"be in [0, 1), got {a.noise_amount}")
        if a.noise == "gaussian" and not a.noise_amount > 0:
            raise ConfigError("autoencoder.noise_amount is the Gaussian noise's standard "
                              f"deviation: it must be > 0, got {a.noise_amount}")
        super().__init__(config, num_classes)

    def build_model(self) -> nn.Module:
        return reconstruction_model(self.config, self.axis)

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        """The first view of `config.augment`; its side must suit the decoder."""
        specs = base.view_specs(self.config, image_size)[:1]
        try:
            check_decodable(specs[0].out_size, self.config.decoder.channels)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return specs

    def loss(self, params, state, views, rng):
        x = views[0]
        a = self.config.autoencoder
        (keys,) = base.example_streams(rng, x.shape[0], 1)
        noisy = augment.corrupt(keys, x, a.noise, float(a.noise_amount))
        out, batch_stats = self.apply(params, state.batch_stats, noisy)
        local = losses.masked_reconstruction(out["recon"], x)
        return lax.pmean(local, DATA_AXIS), self.output(batch_stats, out)
