"""DirectPred on CIFAR-10 with a CIFAR-stem ResNet-18, the authors' STL-10 recipe.

Recipe (facebookresearch/luckmatters `ssl/real-dataset`, README command for DirectPred):
BYOL with a linear predictor set from the correlation (ρ 0.3, ε 0.01, every step),
projector 512 → 128, SGD lr 0.03 momentum 0.9 (not rescaled), weight decay 4e-4, EMA
target momentum 0.996 held constant (the reference config's `m`), batch 128, 100 epochs;
ssljax's BYOL augmentation preset (the reference's differ, see Deviations).

    python -m ssljax.pretrain --config=configs/directpred_cifar10.py --workdir=runs/dp_c10

Reference: facebookresearch/luckmatters at cb23d10 (the README's validated commit for
DirectPred; HEAD 625b5f7), `ssl/real-dataset`: the README's DirectPred command (with
`dataset=cifar10`; the config's default is STL-10), `config/byol_config.yaml`, `main.py`,
`byol_trainer.py` (`compute_w_corr`, `regulate_predictor`, the constant-`m` EMA),
`data/transforms.py`; Tian, Chen, Ganguli, ICML 2021 (arXiv:2102.06810), §5 and its
STL-10/CIFAR-10 table (number and values not verified here; the abstract says DirectPred
performs comparably to BYOL's two-layer BN predictor). Not reproduced with ssljax.
Deviations: the views are the BYOL preset (blur p 1.0/0.1, solarize p 0/0.2, saturation
0.2), not the reference's CIFAR-10 pipeline (crop + flip, jitter 0.4/0.4/0.4/0.1 with p
0.8, grayscale 0.2, no blur or solarize, per-channel normalisation); the lr follows a
cosine to 0 (the reference builds no scheduler: constant 0.03); BN parameters and biases
get no weight decay (`torch.optim.SGD` decays all); the projector's BN has a learned scale
and bias (reference `has_bn_affine: false`); the target starts as a copy of the online
network (the reference's `initializes_target_network()` call is commented out, so its
target starts from its own random initialisation).
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
