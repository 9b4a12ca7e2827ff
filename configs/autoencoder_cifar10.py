"""A convolutional (denoising) autoencoder on CIFAR-10 with a CIFAR-stem ResNet-18.

Recipe: the Keras denoising-autoencoder example's training (Adam, lr 1e-3, batch 128,
Gaussian noise of standard deviation 0.4 on the input, the clean image as the target)
with a ResNet-18 (CIFAR stem) encoder whose pooled 512-d output is the code, and a
decoder from a 4×4×256 map through three ×2 upsampling + 3×3 convolution stages (128, 64, 32
channels) to 32×32×3; mean squared error; light crop and flip (`crop_flip`); 100 epochs.

    python -m ssljax.pretrain --config=configs/autoencoder_cifar10.py --workdir=runs/ae_c10

Expected: no published number for this architecture (autoencoder features are the weak
baseline of the self-supervision literature). Not yet reproduced with ssljax.

Reference: keras-team/keras-io at 28033e1, `examples/vision/autoencoder.py` (Adam, batch
128, Gaussian noise 0.4, clean targets); Vincent et al., "Stacked Denoising Autoencoders",
JMLR 2010.
Deviations: a ResNet-18 encoder with a pooled vector code instead of the example's
two-block conv net with a 7×7×32 spatial code; mean squared error instead of binary
cross-entropy on sigmoid outputs; the noisy input is not clipped to [0, 1]; 32×32 colour
images instead of MNIST; crop and flip augmentation, which the example does not use.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("autoencoder")
    c.batch_size = 128
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "crop_flip"
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.decoder.channels = (256, 128, 64, 32)
    c.autoencoder.noise = "gaussian"
    c.autoencoder.noise_amount = 0.4
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 0.0
    c.eval.max_train_examples = 50000
    return c
