"""Context prediction on CIFAR-10 with a CIFAR-stem ResNet-18 (the paper's task at 32 px).

Recipe: the paper's 8-way task scaled to 32×32 images: a 3×3 grid of 10-px cells over the
central 30 px, one 8-px patch at a random offset in each cell (gaps and jitter), the
centre patch and one of its 8 neighbours through the shared ResNet-18, their features
concatenated → a 1024-unit MLP → 8 positions; colour dropping (each patch keeps one
random channel, the others become faint noise); light crop and flip; SGD with momentum
0.9, lr 0.01, weight decay 5e-4, batch 256; 100 epochs.

    python -m ssljax.pretrain --config=configs/context_prediction_cifar10.py \
        --workdir=runs/cp_c10

Expected: the paper evaluates on PASCAL VOC detection with AlexNet/VGG; no CIFAR-10
number is quoted here. Not yet reproduced with ssljax.

Reference: Doersch, Gupta and Efros, ICCV 2015 (the task, gaps and jitter, colour
dropping); cdoersch/deepcontext at 82401ab (`train.py`, the released Caffe training code).
Deviations: 8-px patches in 10-px cells at 32 px (the paper: 96-px patches with 48-px
gaps and up to 7 px jitter on full-resolution images); a ResNet-18 (CIFAR stem) instead of
AlexNet; an MLP on the pair's concatenated pooled features instead of the paper's fc6
layers per patch and a shared fc7-fc8; no projection shifting against chromatic
aberration beyond colour dropping; a cosine learning rate.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("context_prediction")
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
    c.context_prediction.tile_px = 8
    c.context_prediction.color_dropping = True
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.01
    c.optimizer.lr_scaling = "none"
    c.optimizer.momentum = 0.9
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 5e-4
    c.eval.max_train_examples = 50000
    return c
