"""Jigsaw puzzles on CIFAR-10 with a CIFAR-stem ResNet-18 (the paper's task at 32 px).

Recipe: the paper's puzzle scaled to 32×32 images: a 3×3 grid of 10-px cells over the
central 30 px, one 9-px tile at a random offset in each cell (the gaps and jitter), every
tile standardised on its own, 1000 permutations of large Hamming distance, the shared
ResNet-18's 9 tile features concatenated → a 1024-unit MLP → 1000 classes; grayscale with
p 0.66 (VISSL's recipe); light crop and flip before tiling; SGD with momentum 0.9, lr
0.01 (the paper's, batch 256), weight decay 5e-4; 100 epochs.

    python -m ssljax.pretrain --config=configs/jigsaw_cifar10.py --workdir=runs/jigsaw_c10

Expected: the paper evaluates on ImageNet and PASCAL VOC with AlexNet; no CIFAR-10
number is quoted here. Not yet reproduced with ssljax.

Reference: Noroozi and Favaro, ECCV 2016 (the task, tiles, per-tile normalisation,
Algorithm 1); facebookresearch/vissl at 2cf181d
(`configs/config/pretrain/jigsaw/jigsaw_8gpu_resnet.yaml`: grayscale p 0.66).
Deviations: tiles of 9 px in 10-px cells at 32 px (the paper: 64 px in 75-px cells of a
225-px crop); a ResNet-18 (CIFAR stem) tile encoder instead of AlexNet's conv layers;
the permutation set chosen by max-min instead of Algorithm 1's max-sum Hamming distance;
cosine learning rate instead of the paper's steps.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("jigsaw")
    c.batch_size = 256
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "crop_flip"
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.head.hidden_dims = (1024,)
    c.jigsaw.num_permutations = 1000
    c.jigsaw.tile_px = 9
    c.jigsaw.gray_p = 0.66
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.01
    c.optimizer.lr_scaling = "none"
    c.optimizer.momentum = 0.9
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 5e-4
    c.eval.max_train_examples = 50000
    return c
