"""Jigsaw puzzles on ImageNet with ResNet-50 tiles (VISSL's ResNet-50 jigsaw recipe).

Recipe (VISSL's `jigsaw_8gpu_resnet.yaml`, after Noroozi and Favaro 2016): 255-px views
(random crops of the image resized to 256, flips), grayscale with p 0.66, ImageNet
normalisation, a 3×3 grid of 85-px cells with one 64-px tile at a random offset in each
(jitter 21), every tile standardised on its own (the paper), 2000 permutations of large
Hamming distance; the shared ResNet-50's 9 tile features concatenated → a 1024-unit MLP
→ 2000 classes; SGD with momentum 0.9, lr 0.1 per 256 images scaled linearly, weight
decay 1e-4, 5 warm-up epochs, 105 epochs, batch 256.

Run on a TPU pod slice or GPU cluster (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/jigsaw_imagenet.py --workdir=gs://.../jigsaw

Expected: VISSL's model zoo lists linear accuracies of its ResNet-50 jigsaw models; they
are not quoted here. Not yet reproduced with ssljax.

Reference: facebookresearch/vissl at 2cf181d,
`configs/config/pretrain/jigsaw/jigsaw_8gpu_resnet.yaml`; Noroozi and Favaro, ECCV 2016
(the task, per-tile normalisation, Algorithm 1).
Deviations: VISSL's head is a per-tile MLP 2048 → 1000 (BN, ReLU) then a linear layer on
the 9 concatenated outputs; here one MLP on the concatenated pooled features. The
permutation set is chosen by max-min Hamming distance (VISSL's file: max-average); a
cosine schedule instead of steps at 30/60/90/100 epochs; biases are not decayed
(VISSL: biases decayed, BN not); views cut on device from the central square that the
TFDS pipeline resized (`ssljax/data/tfds_source.py`), not crops of a 256-px resize.
"""

from ssljax.augment import IMAGENET_MEAN, IMAGENET_STD
from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("jigsaw")
    c.batch_size = 256
    c.num_epochs = 105
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 20000
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 255
    c.augment.preset = "crop_flip"
    c.augment.mean = IMAGENET_MEAN
    c.augment.std = IMAGENET_STD
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.head.hidden_dims = (1024,)
    c.jigsaw.num_permutations = 2000
    c.jigsaw.tile_px = 64
    c.jigsaw.gray_p = 0.66
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.1
    c.optimizer.lr_scaling = "linear"
    c.optimizer.momentum = 0.9
    c.optimizer.warmup_epochs = 5
    c.optimizer.weight_decay = 1e-4
    c.eval.max_train_examples = 100000
    return c
