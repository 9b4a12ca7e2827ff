"""A convolutional (denoising) autoencoder on ImageNet with ResNet-50.

Recipe: the Keras denoising-autoencoder example's training (Adam, lr 1e-3 for batch 128,
here scaled linearly to batch 1024, Gaussian noise of standard deviation 0.4, the clean
image as the target) with a ResNet-50 encoder whose pooled 2048-d output is the code, and
a decoder from a 7×7×256 map through five ×2 upsampling + 3×3 convolution stages (128, 64, 32,
32, 16 channels) to 224×224×3; mean squared error on the ImageNet-normalised views;
random resized crops and flips; 100 epochs.

Run on a TPU pod slice or GPU cluster (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/autoencoder_imagenet.py --workdir=gs://.../ae

Expected: no published number for this architecture (a weak baseline: pixel
reconstruction from a pooled code keeps little semantic information). Not yet reproduced
with ssljax.

Reference: keras-team/keras-io at 28033e1, `examples/vision/autoencoder.py` (Adam, batch
128, Gaussian noise 0.4, clean targets); Vincent et al., "Stacked Denoising Autoencoders",
JMLR 2010.
Deviations: a ResNet-50 with a pooled vector code instead of the example's small conv
net with a spatial code; mean squared error instead of binary cross-entropy; the noise is
added to the normalised view and not clipped; batch 1024 with the lr scaled linearly;
random-resized crops cut on device from the central square that the TFDS pipeline resized
to 224 px (`ssljax/data/tfds_source.py`).
"""

from ssljax.augment import IMAGENET_MEAN, IMAGENET_STD
from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("autoencoder")
    c.batch_size = 1024
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.augment.preset = "crop_flip"
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.mean = IMAGENET_MEAN
    c.augment.std = IMAGENET_STD
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.decoder.channels = (256, 128, 64, 32, 32, 16)
    c.autoencoder.noise = "gaussian"
    c.autoencoder.noise_amount = 0.4
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-3  # per 256 images: 1e-3 at batch 128, 8e-3 at 1024
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 5
    c.optimizer.weight_decay = 0.0
    c.eval.max_train_examples = 100000
    return c
