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
image at a random position, keyed per example). The paper's optional adversarial loss
(λ_adv = 0.001 with a discriminator on the reconstruction) is not implemented: this is
its reconstruction-only variant (the paper's "L2" rows), whose features the paper found
about as good for transfer.

Reference: Pathak, Krähenbühl, Donahue, Darrell and Efros, "Context Encoders: Feature
Learning by Inpainting", CVPR 2016 (arXiv:1604.07379), Eq. 1-3; pathak22/context-encoder
at defa69a, `train.lua` (the hole = the central fineSize/2 square less `overlapPred` pixels
each side, filled with the dataset's mean colour; `overlapL2Weight` 10 on the overlap
band; its weighted MSE divides by the element count, here by the sum of weights: the
same gradients up to a constant factor for a fixed region).
"""

from __future__ import annotations

import flax.linen as nn
from jax import lax

from ssljax import augment, losses
from ssljax.augment.pretext import REGIONS
from ssljax.errors import ConfigError
from ssljax.methods import base
from ssljax.methods.autoencoder import reconstruction_model
from ssljax.models.decoders import check_decodable
from ssljax.parallel import DATA_AXIS


class ContextEncoder(base.Method):
    """Context encoder (reconstruction loss). Config: `decoder.channels`,
    `context_encoder.region` (center | random), `region_fraction` (0.5), `overlap_px` (4 at
    128 px), `border_weight` (10)."""

    name = "context_encoder"
    defaults = {"decoder.channels": (128, 64, 32), "context_encoder.region": "center",
                "context_encoder.region_fraction": 0.5, "context_encoder.overlap_px": 4,
                "context_encoder.border_weight": 10.0}
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
        super().__init__(config, num_classes)
        self.region_side = self.hole_side = 0

    def build_model(self) -> nn.Module:
        return reconstruction_model(self.config, self.axis)

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
        loss = losses.masked_reconstruction(out["recon"], x, regions,
                                            border_weight=float(ce.border_weight),
                                            border_width=int(ce.overlap_px),
                                            axis_name=DATA_AXIS)
        return loss, self.output(batch_stats, out)
