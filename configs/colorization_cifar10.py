"""Colorization on CIFAR-10 with a CIFAR-stem ResNet-18 (the paper's objective at 32 px).

Recipe (Zhang et al. 2016, at 32 px): the encoder sees each view's grayscale; a decoder
from its pooled 512-d feature (a 4×4×256 map, one ×2 upsampling + 3×3 convolution stage to
8×8×128) predicts logits over the quantised ab bins at 1/4 of the view's side; the
target is the view's Lab ab colour per 4×4 block, soft-encoded on its 5 nearest bins
(σ = 5); the class-rebalanced cross-entropy (λ = 0.5, σ = 5); light crop and flip; Adam
(AdamW without weight decay), lr 1e-3 with a cosine, batch 256; 100 epochs.

    python -m ssljax.pretrain --config=configs/colorization_cifar10.py --workdir=runs/col_c10

Expected: the paper reports ImageNet linear classification per layer and PASCAL transfer
with AlexNet/VGG; no CIFAR-10 number is quoted here. Not yet reproduced with ssljax.

Reference: Zhang, Isola and Efros, ECCV 2016 (arXiv:1603.08511); richzhang/colorization
at 4bda68f (`colorizers/eccv16.py`: grayscale in, 313-bin logits at 1/4 of the input's
side, decoded as the softmax mean and upsampled ×4 bilinearly).
Deviations: 262 in-gamut ab bins computed by ssljax (the reference ships 313 in
`pts_in_hull.npy`); the colour prior estimated online from the bins seen so far (the
reference: precomputed over ImageNet); the encoder sees the luma of the RGB view (the
reference: CIE L), the lightness that ssljax's evaluation feeds a grayscale encoder; a
ResNet-18 with a pooled code and a small decoder instead of the fully convolutional
VGG-style network with dilated convolutions; the annealed mean decodes at T = 0.38 (the
paper; the released model's decoding is the plain mean, T = 1); Adam at lr 1e-3, batch
256 (not the paper's solver settings).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("colorization")
    c.batch_size = 256
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "crop_flip"
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.decoder.channels = (256, 128)
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 0.0
    c.eval.max_train_examples = 50000
    return c
