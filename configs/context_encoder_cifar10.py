"""A context encoder on CIFAR-10 with a CIFAR-stem ResNet-18 (the paper's central region).

Recipe (Pathak et al. 2016 and the released `train.lua`; the joint loss: 0.999 ×
reconstruction + 0.001 × adversarial, a DCGAN discriminator on the region, at 32 px): the
central 16×16 region reconstructed (half the side), its inner 14×14 hole filled with the
mean colour (a 1-pixel overlap band: the reference's 4 px at 128 px, scaled), errors on
the band weighted 10×; a ResNet-18 (CIFAR stem) encoder whose pooled 512-d output feeds a
decoder from a 4×4×256 map through three ×2 upsampling + 3×3 convolution stages to
32×32×3; Adam with lr 2e-3 (the reference generator's 10 × 2e-4 when the adversarial
weight is 0.001) and β1 = 0.5; batch 64; light crop and flip; 100 epochs.

    python -m ssljax.pretrain --config=configs/context_encoder_cifar10.py --workdir=runs/ce_c10

Expected: the paper reports transfer to PASCAL VOC with AlexNet, not CIFAR-10 numbers.
Not yet reproduced with ssljax.

Reference: pathak22/context-encoder at defa69a, `train.lua` (batch 64, Adam lr 2e-4 with
β1 0.5 and 10× for the generator, the central fineSize/2 region with `overlapPred` and
`overlapL2Weight` 10, the hole filled with the mean colour); the paper's Eq. 1-3.
Deviations: the adversarial term (λ_adv 0.001, D Adam at 2e-4 with β1 0.5, as the
reference) takes its discriminator step and the generator's from the same parameters in
one step, where the reference updates D first; a ResNet-18 encoder with a pooled vector
code instead of the AlexNet-style encoder and channel-wise fully connected bottleneck; the
decoder reconstructs the whole image and the loss reads the region (reference: the decoder
outputs the region); the hole is filled with the batch's mean colour (reference: fixed
ImageNet means); the weighted MSE is divided by the sum of the weights (reference: by the
element count).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("context_encoder")
    c.batch_size = 64
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "crop_flip"
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.decoder.channels = (256, 128, 64, 32)
    c.context_encoder.region = "center"
    c.context_encoder.region_fraction = 0.5
    c.context_encoder.overlap_px = 1
    c.context_encoder.border_weight = 10.0
    c.context_encoder.adversarial_weight = 0.001  # wtl2 = 0.999
    c.context_encoder.disc_channels = 64  # ndf
    c.context_encoder.disc_lr = 2e-4
    c.context_encoder.disc_b1 = 0.5
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.b1 = 0.5
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 0.0
    c.eval.max_train_examples = 50000
    return c
