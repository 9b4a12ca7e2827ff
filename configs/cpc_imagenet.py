"""Contrastive predictive coding (CPC v2) on ImageNet with ResNet-50 patches.

Recipe (Hénaff et al. 2020): 256-px views, a 7×7 grid of 64-px patches with stride 32,
each patch embedded by a ResNet-50 on its own (pooled 2048-d), a row-causal context
network (2 residual blocks of 1024 channels) per direction and linear predictors for
the patches 1 to 3 steps away in all four directions (the paper's bottom-up and
horizontal predictions), InfoNCE against every other patch at that offset in the global
batch; random resized crops and flips; ImageNet normalisation; Adam (AdamW without
weight decay), lr 5e-4 with 1 warm-up epoch and a cosine, batch 512; 100 epochs.

Run on a TPU pod slice or GPU cluster (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/cpc_imagenet.py --workdir=gs://.../cpc

Expected: CPC v2 with its ResNet-161 reaches 71.5% ImageNet linear top-1 (the paper); a
ResNet-50 with this recipe is not expected to. Not yet reproduced with ssljax.

Reference: Hénaff et al., ICML 2020 (arXiv:1905.09272); van den Oord et al.,
arXiv:1807.03748. No official code was released; the unofficial PyTorch
re-implementation mf1024/Contrastive-Predictive-Coding-for-Image-Recognition-in-PyTorch at
2a8a943 was consulted (the 7×7 grid of 64-px patches with stride 32, Adam lr 5e-4).
Deviations: ResNet-50 with BatchNorm instead of the paper's layer-normalised ResNet-161
(the patches of one image share batch statistics); a 2-block context network instead of
the paper's deeper PixelCNN; no per-patch augmentation; views cut on device from the
central square that the TFDS pipeline resized (`ssljax/data/tfds_source.py`).
"""

from ssljax.augment import IMAGENET_MEAN, IMAGENET_STD
from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("cpc")
    c.batch_size = 512
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 20000
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 256
    c.augment.preset = "crop_flip"
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.mean = IMAGENET_MEAN
    c.augment.std = IMAGENET_STD
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.cpc.patch_px = 64
    c.cpc.stride_px = 32
    c.cpc.steps = 3
    c.cpc.directions = ("down", "up", "right", "left")
    c.cpc.context_hidden = 1024
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 5e-4
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 0.0
    c.eval.max_train_examples = 100000
    return c
