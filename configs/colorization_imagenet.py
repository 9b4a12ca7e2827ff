"""Colorization on ImageNet with ResNet-50 (the paper's objective and output resolution).

Recipe (Zhang et al. 2016): 224-px views, the encoder sees their grayscale; a decoder
from the pooled 2048-d feature (a 7×7×512 map, three ×2 upsampling + 3×3 convolution stages to
56×56×128) predicts logits over the quantised ab bins at 1/4 of the side (56×56, as the
released network); the target is the Lab ab colour per 4×4 block, soft-encoded on its 5
nearest bins (σ = 5); the class-rebalanced cross-entropy (λ = 0.5, σ = 5); random
resized crops and flips; Adam (AdamW without weight decay), lr 1e-3 per 256 images
scaled linearly, 2 warm-up epochs, batch 1024; 50 epochs.

Run on a TPU pod slice or GPU cluster (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/colorization_imagenet.py --workdir=gs://.../col

Expected: the paper reports linear classification per layer of its VGG-style network
and PASCAL transfer; no ResNet-50 number is quoted here. Not yet reproduced with ssljax.

Reference: Zhang, Isola and Efros, ECCV 2016 (arXiv:1603.08511); richzhang/colorization
at 4bda68f (`colorizers/eccv16.py`: grayscale in, 313-bin logits at 1/4 of the input's
side, decoded as the softmax mean and upsampled ×4 bilinearly).
Deviations: 262 in-gamut ab bins computed by ssljax (the reference ships 313 in
`pts_in_hull.npy`); the colour prior estimated online from the bins seen so far (the
reference: precomputed over ImageNet); the encoder sees the luma (the reference: CIE L);
a ResNet-50 with a pooled code and a small decoder instead of the fully convolutional
VGG-style network; the annealed mean at T = 0.38 (the released model: plain mean); Adam
at lr 1e-3 per 256, not the paper's solver settings; views cut on device from the central
square that the TFDS pipeline resized (`ssljax/data/tfds_source.py`).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("colorization")
    c.batch_size = 1024
    c.num_epochs = 50
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 20000
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.augment.preset = "crop_flip"
    c.augment.crop_scale = (0.08, 1.0)
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.decoder.channels = (512, 256, 256, 128)
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 2
    c.optimizer.weight_decay = 0.0
    c.eval.max_train_examples = 100000
    return c
