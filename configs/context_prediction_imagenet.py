"""Context prediction on ImageNet with ResNet-50 patches (the paper's task).

Recipe (Doersch et al. 2015): a 3×3 grid over each view with one randomly placed patch
per cell (gaps and jitter between patches), the centre patch and one of its 8
neighbours through the shared ResNet-50, their pooled features concatenated → a
1024-unit MLP → 8 positions; colour dropping (each patch keeps one random channel, the
others become faint noise); 288-px views (96-px cells, 64-px patches); ImageNet
normalisation; SGD with momentum 0.9, lr 0.1 per 256 images scaled linearly, weight
decay 1e-4, 5 warm-up epochs, batch 256; 100 epochs.

Run on a TPU pod slice or GPU cluster (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/context_prediction_imagenet.py \
        --workdir=gs://.../context_prediction

Expected: the paper reports PASCAL VOC detection with its AlexNet/VGG networks (no
ResNet-50 numbers). Not yet reproduced with ssljax; no number is quoted here.

Reference: Doersch, Gupta and Efros, ICCV 2015 (the task, gaps and jitter, colour
dropping); cdoersch/deepcontext at 82401ab (`train.py`, the released Caffe training
code).
Deviations: 64-px patches in 96-px cells of a 288-px view (the paper: 96-px patches with
48-px gaps and up to 7 px jitter, on images resized to 150k-450k pixels); a ResNet-50
with an MLP on the pair's pooled features instead of the paper's AlexNet-style fc6 per
patch and shared fc7-fc8; colour dropping but no other defence against chromatic
aberration; an SGD recipe of the ResNet era (VISSL-style lr 0.1 per 256, cosine)
instead of the Caffe solver's; views cut on device from the central square that the
TFDS pipeline resized (`ssljax/data/tfds_source.py`).
"""

from ssljax.augment import IMAGENET_MEAN, IMAGENET_STD
from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("context_prediction")
    c.batch_size = 256
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 20000
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 288
    c.augment.preset = "crop_flip"
    c.augment.mean = IMAGENET_MEAN
    c.augment.std = IMAGENET_STD
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.head.hidden_dims = (1024,)
    c.context_prediction.tile_px = 64
    c.context_prediction.color_dropping = True
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.1
    c.optimizer.lr_scaling = "linear"
    c.optimizer.momentum = 0.9
    c.optimizer.warmup_epochs = 5
    c.optimizer.weight_decay = 1e-4
    c.eval.max_train_examples = 100000
    return c
