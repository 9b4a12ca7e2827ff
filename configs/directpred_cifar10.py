"""DirectPred on CIFAR-10 with a CIFAR-stem ResNet-18, the authors' STL-10 recipe.

Recipe (facebookresearch/luckmatters `ssl/real-dataset`, README command for DirectPred):
BYOL with a linear predictor set from the correlation (ρ 0.3, ε 0.01, every step),
projector 512 → 128, SGD lr 0.03 momentum 0.9 (not rescaled), weight decay 4e-4, EMA
target momentum 0.996 held constant (the reference config's `m`), batch 128, 100 epochs,
BYOL's augmentations.

    python -m ssljax.pretrain --config=configs/directpred_cifar10.py --workdir=runs/dp_c10

Reference: Tian, Chen, Ganguli, ICML 2021 (arXiv:2102.06810); luckmatters commit cb23d10.
Expected: the paper's STL-10/CIFAR-10 table was not verified here; the abstract says
DirectPred performs comparably to BYOL's two-layer predictor. Not reproduced with ssljax.
Deviations: whether the reference's `m` follows BYOL's cosine schedule was not verified
(here it is constant).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("directpred")
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.eval.max_train_examples = 50000
    c.batch_size = 128
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.augment.preset = "byol"
    c.head.hidden_dims = (512,)
    c.head.out_dim = 128
    c.directpred.rho = 0.3
    c.directpred.eps = 0.01
    c.ema.tau_base = 0.996
    c.ema.schedule = "constant"
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.03
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 4e-4
    c.optimizer.momentum = 0.9
    return c
