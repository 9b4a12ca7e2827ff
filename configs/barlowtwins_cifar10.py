"""Barlow Twins on CIFAR-10 with a CIFAR-stem ResNet-18.

Recipe: the ImageNet recipe of the paper (configs/barlowtwins_imagenet.py) moved to
32×32 images: BYOL's asymmetric augmentations at 32 (`augment.preset="byol"`); CIFAR
stem (3×3 conv, stride 1, no max-pool); projector 2048-2048-2048 (BN + ReLU on the hidden
layers, plain Linear last; 8192 on ImageNet); λ = 0.0051; LARS with the reference's rates
(0.2 for weights, 0.0048 for biases/BN, × batch / 256), 10 warm-up epochs then cosine to
0.001 × the peak, weight decay 1e-6 on the weights; global BatchNorm; batch 512, 1000
epochs.

    python -m ssljax.pretrain --config=configs/barlowtwins_cifar10.py --workdir=runs/bt_c10

Expected: the Barlow Twins paper does not pretrain on CIFAR-10; for ResNet-18 numbers
see published re-implementations (e.g. the solo-learn benchmark tables). Not yet
reproduced with ssljax; the projector width and batch are the usual CIFAR adaptation, not
a tuned ssljax result.

Reference: facebookresearch/barlowtwins at 8e8d284, `main.py` (ImageNet only); no CIFAR
table in the paper.
Deviations: 32-px BYOL augmentations (the blur kernel at 32 px is 3 taps), a 2048-wide
projector and batch 512 instead of 8192 and 2048; optax's LARS puts the learning rate
inside the momentum buffer (the reference outside it).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("barlowtwins")
    c.batch_size = 512
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.bn = "global"
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "byol"
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.head.hidden_dims = (2048, 2048)
    c.head.out_dim = 2048
    c.head.use_bn = True
    c.head.last_bn = False
    c.loss.lambd = 0.0051
    c.loss.scale = 1.0
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 0.2
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.end_lr = 0.001 * 0.2 * c.batch_size / 256  # 0.001 × the weights' peak
    c.optimizer.weight_decay = 1e-6
    c.optimizer.no_decay_lr_scale = 0.0048 / 0.2
    c.eval.max_train_examples = 50000
    return c
