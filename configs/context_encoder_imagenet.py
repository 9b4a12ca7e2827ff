"""A context encoder on ImageNet with ResNet-50 at 128 px (the paper's central region).

Recipe (Pathak et al. 2016 and the released `train.lua`; the joint loss: 0.999 ×
reconstruction + 0.001 × adversarial, a DCGAN discriminator on the region): 128×128 crops,
the central 64×64 region reconstructed, its inner 56×56 hole filled with the mean colour
(overlap 4 px), errors on the overlap band weighted 10×; a ResNet-50 encoder whose pooled
2048-d output feeds a decoder from a 4×4×512 map through five ×2 upsampling + 3×3
convolution stages to 128×128×3; Adam with lr 2e-3 (the reference generator's 10 × 2e-4)
and β1 = 0.5; batch 64; random resized crops and flips; 25 epochs (the reference's
`niter`).

Run on a GPU (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/context_encoder_imagenet.py --workdir=runs/ce

Expected: the paper's transfer results use AlexNet on PASCAL VOC (classification,
detection, segmentation); it has no ResNet-50 numbers. Not yet reproduced with ssljax.

Reference: pathak22/context-encoder at defa69a, `train.lua` (fineSize 128, batch 64, Adam
lr 2e-4 with β1 0.5 and 10× for the generator, `overlapPred` 4, `overlapL2Weight` 10, the
hole filled with the mean colour, 25 iterations over the data); the paper's Eq. 1-3.
Deviations: the adversarial term (λ_adv 0.001, D Adam at 2e-4 with β1 0.5, as the
reference) takes its discriminator step and the generator's from the same parameters in
one step, where the reference updates D first; a ResNet-50 with a pooled vector code
instead of the AlexNet-style encoder and channel-wise fully connected bottleneck; the
decoder reconstructs the whole image and the loss reads the region; the hole is filled
with the batch's mean colour (reference: fixed means 117/104/123); crops cut on device
from the central square that the TFDS pipeline resized (`ssljax/data/tfds_source.py`); the
weighted MSE divided by the sum of the weights (reference: by the element count).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("context_encoder")
    c.batch_size = 64
    c.num_epochs = 25
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 20000
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 128
    c.augment.preset = "crop_flip"
    c.augment.crop_scale = (0.08, 1.0)
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.decoder.channels = (512, 256, 128, 64, 32, 32)
    c.context_encoder.region = "center"
    c.context_encoder.region_fraction = 0.5
    c.context_encoder.overlap_px = 4
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
    c.eval.max_train_examples = 100000
    return c
