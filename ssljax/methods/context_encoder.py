"""Context encoder: learn features by inpainting a hole from its surrounding context.

A square hole of each view is filled with the mean colour (per channel, over the global
batch); the encoder sees the rest, its feature vector h (what evaluation reads) goes
through the autoencoder's convolutional decoder (`models.ConvDecoder`,
`decoder.channels`), and the reconstruction loss (`losses.masked_reconstruction`) counts
the reconstructed region: the hole plus an overlap band of `overlap_px` pixels of visible
context around it, where errors weigh `border_weight` (10) times more:

    L = Σ w·(g(f(x̃)) − x)² / (C·Σ w),   w = 1 in the hole, 10 on the band, 0 elsewhere

`context_encoder.region`: "center" (the paper's central region: the reconstructed region
is `region_fraction` = 1/2 of the image side, centred) or "random" (one such region per
image at a random position, keyed per example).

The adversarial loss (`context_encoder.adversarial_weight` = λ_adv > 0; the paper's joint
loss has 0.001): a discriminator D (`models.ConvDiscriminator`, DCGAN's) sees the true
region x_R and the reconstructed one g_R (both region_side × region_side crops), and

    L_G = (1 − λ_adv)·L_rec + λ_adv·BCE(D(g_R), real),
    L_D = BCE(D(x_R), real) + BCE(D(stop_grad(g_R)), fake)

are minimised in the same sharded step: the step's loss is L_G + L_D with D's parameters
held constant (stop-gradient) inside L_G, so the encoder and decoder get ∇L_G and D gets
∇L_D, and D has an optimizer of its own (`own_optimizers`: Adam at
`context_encoder.disc_lr`, β1 = `disc_b1`; the reference's 2e-4 and 0.5, its generator
at 10× that rate). The reference alternates (D's step, then G's through the updated D);
here both gradients come from the same parameters. Logged: `reconstruction`,
`adversarial` (D fooled, the generator's term) and `discriminator` (L_D); `loss` is L_G + L_D.

Reference: Pathak, Krähenbühl, Donahue, Darrell and Efros, "Context Encoders: Feature
Learning by Inpainting", CVPR 2016 (arXiv:1604.07379), Eq. 1-3; pathak22/context-encoder
at defa69a, `train.lua` (the hole = the central fineSize/2 square less `overlapPred` pixels
each side, filled with the dataset's mean colour; `overlapL2Weight` 10 on the overlap
band; its weighted MSE divides by the element count, here by the sum of weights: the
same gradients up to a constant factor for a fixed region; `wtl2` 0.999 with the
adversarial loss, `netD`, `optimStateD`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax import lax

from ssljax import augment, losses, models
from ssljax.augment.pretext import REGIONS
from ssljax.errors import ConfigError
from ssljax.methods import base
from ssljax.methods.autoencoder import reconstruction_model
from ssljax.models.decoders import check_decodable
from ssljax.parallel import DATA_AXIS


def crop_regions(images: jax.Array, regions: jax.Array, side: int) -> jax.Array:
    """The `side`×`side` square of each image `[N, H, W, C]` whose mask `regions` [N, H, W]
    marks (its top-left corner: the first marked row and column) → `[N, side, side, C]`."""
    top = jnp.argmax(regions.any(axis=2), axis=1)
    left = jnp.argmax(regions.any(axis=1), axis=1)
    c = images.shape[-1]
    return jax.vmap(lambda im, r, col: lax.dynamic_slice(im, (r, col, 0), (side, side, c)))(
        images, top, left)


def global_bce(logits: jax.Array, real: bool) -> jax.Array:
    """Binary cross-entropy of logits `[n]` against all-real (1) or all-fake (0) labels,
    averaged over the global batch (equal rows per device)."""
    labels = jnp.full_like(logits, 1.0 if real else 0.0)
    return lax.pmean(jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels)), DATA_AXIS)


class ContextEncoder(base.Method):
    """Context encoder. Config: `decoder.channels`, `context_encoder.region` (center |
    random), `region_fraction` (0.5), `overlap_px` (4 at 128 px), `border_weight` (10),
    `adversarial_weight` (0 = reconstruction only; the paper's 0.001), `disc_channels`
    (64), `disc_lr` (2e-4), `disc_b1` (0.5)."""

    name = "context_encoder"
    defaults = {"decoder.channels": (128, 64, 32), "context_encoder.region": "center",
                "context_encoder.region_fraction": 0.5, "context_encoder.overlap_px": 4,
                "context_encoder.border_weight": 10.0,
                "context_encoder.adversarial_weight": 0.0,
                "context_encoder.disc_channels": 64, "context_encoder.disc_lr": 2e-4,
                "context_encoder.disc_b1": 0.5}
    ignores = base.HEAD_KEYS

    def __init__(self, config, num_classes):
        ce = config.context_encoder
        if ce.region not in REGIONS:
            raise ConfigError(f"context_encoder.region={ce.region!r} is unknown; use one of "
                              f"{REGIONS}")
        if not 0 < ce.region_fraction <= 1:
            raise ConfigError("context_encoder.region_fraction is the reconstructed region's "
                              f"side over the image's: it must be in (0, 1], got "
                              f"{ce.region_fraction}")
        if ce.border_weight <= 0 or ce.overlap_px < 0:
            raise ConfigError("context_encoder.border_weight must be > 0 and overlap_px >= 0, "
                              f"got {ce.border_weight} and {ce.overlap_px}")
        if not 0 <= ce.adversarial_weight < 1:
            raise ConfigError("context_encoder.adversarial_weight is λ_adv of (1 − λ_adv)·L_rec "
                              f"+ λ_adv·L_adv: it must be in [0, 1), got {ce.adversarial_weight}"
                              " (the paper's 0.001)")
        if ce.adversarial_weight and (ce.disc_lr <= 0 or ce.disc_channels < 1):
            raise ConfigError("context_encoder.disc_lr must be > 0 and disc_channels >= 1, got "
                              f"{ce.disc_lr} and {ce.disc_channels}")
        super().__init__(config, num_classes)
        self.region_side = self.hole_side = 0

    @property
    def adversarial(self) -> bool:
        """Whether the adversarial loss (and the discriminator) is on."""
        return self.config.context_encoder.adversarial_weight > 0

    def build_model(self) -> nn.Module:
        ce = self.config.context_encoder
        disc = None
        if self.adversarial:
            disc = models.ConvDiscriminator(channels=int(ce.disc_channels),
                                            dtype=base.compute_dtype(self.config),
                                            bn_axis_name=self.axis)
        return reconstruction_model(self.config, self.axis, disc, float(ce.region_fraction))

    def own_optimizers(self) -> dict[str, optax.GradientTransformation]:
        """The discriminator's Adam (the reference's `optimStateD`), when it exists."""
        if not self.adversarial:
            return {}
        ce = self.config.context_encoder
        return {"discriminator": optax.adam(float(ce.disc_lr), b1=float(ce.disc_b1))}

    def views(self, image_size: int) -> tuple[augment.ViewSpec, ...]:
        """The first view of `config.augment`; its side must suit the decoder and the hole."""
        specs = base.view_specs(self.config, image_size)[:1]
        size = specs[0].out_size
        ce = self.config.context_encoder
        self.region_side = max(1, round(ce.region_fraction * size))
        self.hole_side = self.region_side - 2 * int(ce.overlap_px)
        try:
            check_decodable(size, self.config.decoder.channels)
            if self.hole_side < 1:
                raise ValueError(
                    f"a {self.region_side} px region leaves no hole inside a "
                    f"{ce.overlap_px} px overlap on a {size} px view; raise "
                    "context_encoder.region_fraction or lower overlap_px")
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return specs

    def loss(self, params, state, views, rng):
        x = views[0]
        n, size = x.shape[0], x.shape[1]
        if not self.hole_side:
            self.views(size)
        ce = self.config.context_encoder
        (keys,) = base.example_streams(rng, n, 1)
        holes, regions = augment.region_masks(keys, n, size, self.hole_side,
                                              int(ce.overlap_px), ce.region)
        mean = lax.pmean(x.mean(axis=(0, 1, 2)), DATA_AXIS)  # the global batch's mean colour
        out, batch_stats = self.apply(params, state.batch_stats,
                                      augment.fill_holes(x, holes, mean))
        rec = losses.masked_reconstruction(out["recon"], x, regions,
                                           border_weight=float(ce.border_weight),
                                           border_width=int(ce.overlap_px),
                                           axis_name=DATA_AXIS)
        if not self.adversarial:
            return rec, self.output(batch_stats, out)
        lam = float(ce.adversarial_weight)
        real = crop_regions(x, regions, self.region_side)
        fake = crop_regions(out["recon"], regions, self.region_side)

        def judge(p, stats, images):
            return base.apply_model(self.model, p, stats, images,
                                    method=type(self.model).discriminate)

        held = {**params, "discriminator": lax.stop_gradient(params["discriminator"])}
        d_real, batch_stats = judge(params, batch_stats, real)
        d_fake, batch_stats = judge(params, batch_stats, lax.stop_gradient(fake))
        d_loss = global_bce(d_real, True) + global_bce(d_fake, False)
        g_fake, batch_stats = judge(held, batch_stats, fake)
        adv = global_bce(g_fake, True)
        loss = (1 - lam) * rec + lam * adv + d_loss
        return loss, self.output(batch_stats, out, reconstruction=rec, adversarial=adv,
                                 discriminator=d_loss)
