"""A convolutional decoder: an encoder's feature vector back to an image (autoencoders).

    z [N, D] → Dense → [N, H/2^k, W/2^k, channels[0]] → k × (×2 nearest upsampling → 3×3
    conv → BatchNorm → ReLU) → 3×3 conv → [N, H, W, C]

with k = len(channels) − 1 and stage i's output channels `channels[i]`. The defaults,
channels (128, 64, 32), decode a 256-d SmallCNN feature into a 28×28 image through 7×7
and 14×14 maps (1.71 M parameters at C = 1, 1.61 M of them in the projection).

Upsample-then-convolve rather than transposed convolutions: the Keras denoising
autoencoder example's `UpSampling2D` + `Conv2D`, free of the transposed convolution's
checkerboard artefacts (Odena et al., Distill 2016); its 3×3 convolutions take the fast
CPU path of `ssljax.models.conv`. The digits configs use channels (64, 32, 16): a
backward+forward step at batch 128 took 0.13 s against 0.35 s for (128, 64, 32) here.

Reference:
    The DCGAN generator's layout (Radford et al., ICLR 2016: a projection to a small map,
    upsampling stages with BN and ReLU), as the context encoder's decoder (Pathak et al.,
    CVPR 2016) uses it; keras-team/keras-io `examples/vision/autoencoder.py` (28033e1) for
    the upsampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ssljax.models.resnet import batch_norm, conv2d

Dtype = Any


def check_decodable(image_size: int, channels: Sequence[int]) -> None:
    """Raises ValueError unless `image_size` is divisible by 2^(len(channels) − 1)."""
    if len(channels) < 1:
        raise ValueError("decoder.channels needs at least one entry (the first map's)")
    factor = 2 ** (len(channels) - 1)
    if image_size % factor:
        raise ValueError(
            f"the decoder's {len(channels) - 1} stride-2 stages need an image side divisible "
            f"by {factor}, got {image_size}; change decoder.channels or augment.image_size")


class ConvDecoder(nn.Module):
    """Feature vectors `[N, D]` → images `[N, image_size, image_size, out_channels]`.

    Attributes:
        image_size: side of the output images (divisible by 2^(len(channels) − 1)).
        out_channels: channels of the output images (1 or 3).
        channels: channels of the first map, then of each upsampling stage's output.
        dtype: computation dtype; parameters stay float32.
        bn_axis_name: BatchNorm axis name ("data": cross-device BN; None: local BN).
    """

    image_size: int
    out_channels: int
    channels: Sequence[int] = (128, 64, 32)
    dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, z: jnp.ndarray, train: bool) -> jnp.ndarray:
        """Decodes; returns float32 images (unbounded: the caller's loss sets the range)."""
        check_decodable(self.image_size, self.channels)
        if z.ndim != 2:
            raise ValueError(f"ConvDecoder expects feature vectors [N, D], got {z.shape}")
        side = self.image_size // 2 ** (len(self.channels) - 1)
        x = nn.Dense(side * side * self.channels[0], dtype=self.dtype, param_dtype=jnp.float32,
                     name="project")(z.astype(self.dtype))
        x = x.reshape(z.shape[0], side, side, self.channels[0])
        x = nn.relu(batch_norm(train, dtype=self.dtype, axis_name=self.bn_axis_name,
                               name="bn0")(x))
        for i, ch in enumerate(self.channels[1:], start=1):
            x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # nearest ×2
            x = conv2d(ch, 3, 1, dtype=self.dtype, name=f"up{i}")(x)
            x = nn.relu(batch_norm(train, dtype=self.dtype, axis_name=self.bn_axis_name,
                                   name=f"bn{i}")(x))
        x = nn.Conv(self.out_channels, (3, 3), padding="SAME", dtype=self.dtype,
                    param_dtype=jnp.float32, name="out")(x)
        return x.astype(jnp.float32)


class ConvDiscriminator(nn.Module):
    """An image region `[N, r, r, C]` → one real-vs-fake logit per image `[N]`.

    DCGAN's discriminator as the context encoder's `netD`: a 4×4 stride-2 convolution and
    LeakyReLU(0.2), then 4×4 stride-2 convolutions with BatchNorm and LeakyReLU(0.2),
    doubling the channels (at most 8× `channels`), while the map is wider than 4 pixels;
    a last layer over the whole remaining map (the reference's 4×4 valid convolution on
    its 4×4 map) gives the logit. The reference applies a sigmoid after it; the loss takes
    logits (`optax.sigmoid_binary_cross_entropy`). Its convolutions have no bias (the
    reference zeroes them before every step).

    Attributes:
        channels: channels of the first convolution (the reference's `ndf`, 64).
        dtype: computation dtype; parameters stay float32.
        bn_axis_name: BatchNorm axis name ("data": cross-device BN; None: local BN).

    Reference: pathak22/context-encoder at defa69a, `train.lua` (`netD`); Radford et al.,
    "Unsupervised Representation Learning with Deep Convolutional GANs", ICLR 2016.
    """

    channels: int = 64
    dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
        if x.ndim != 4 or x.shape[1] != x.shape[2] or x.shape[1] < 2:
            raise ValueError(f"ConvDiscriminator expects square regions [N, r, r, C] with "
                             f"r >= 2, got {x.shape}")
        x = x.astype(self.dtype)
        width, stage = self.channels, 0
        while True:
            x = nn.Conv(width, (4, 4), strides=2, padding=((1, 1), (1, 1)), use_bias=False,
                        dtype=self.dtype, param_dtype=jnp.float32, name=f"conv{stage}")(x)
            if stage:
                x = batch_norm(train, dtype=self.dtype, axis_name=self.bn_axis_name,
                               name=f"bn{stage}")(x)
            x = nn.leaky_relu(x, 0.2)
            stage += 1
            if x.shape[1] <= 4:
                break
            width = min(2 * width, 8 * self.channels)
        logit = nn.Dense(1, dtype=self.dtype, param_dtype=jnp.float32,
                         name="logit")(x.reshape(x.shape[0], -1))
        return logit[:, 0].astype(jnp.float32)
