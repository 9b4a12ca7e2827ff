"""Barlow Twins on ImageNet with ResNet-50, the paper's recipe.

Recipe (Zbontar et al. 2021, §4 "Implementation details" and Appendix): BYOL's
asymmetric augmentations at 224 (`augment.preset="byol"`: crop 0.08–1, flip, colour
jitter 0.4/0.4/0.2/0.1 with p 0.8, grayscale 0.2, blur p 1.0/0.1, solarize p 0/0.2);
projector 8192-8192-8192 (BN + ReLU after the two hidden layers, plain Linear last);
λ = 0.0051; LARS, global batch 2048, 1000 epochs, 10 warm-up epochs then cosine to
0.001 × the peak, learning rate 0.2 for the weights and 0.0048 for biases and BN
parameters (both × batch / 256; `optimizer.no_decay_lr_scale = 0.0048 / 0.2`), weight
decay 1e-6 on the weights only, biases and BN parameters excluded from weight decay and
LARS adaptation; the loss unscaled; global (synchronised) BatchNorm.

Reference: facebookresearch/barlowtwins at 8e8d284, `main.py` (the release since commit
046eec3 "replace --scale-loss with --learning-rate-biases": `--learning-rate-weights
0.2 --learning-rate-biases 0.0048 --weight-decay 1e-6 --lambd 0.0051`,
`adjust_learning_rate`, `LARS`); the paper's Table 1 (73.2% top-1).
Deviations: optax's LARS puts the learning rate inside the momentum buffer
(`m ← 0.9·m + lr·u`), the authors' outside it (`m ← 0.9·m + u`, `p ← p − lr·m`): the
same step at a constant rate, slightly different while the rate changes.

Run on a TPU pod slice or GPU cluster (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/barlowtwins_imagenet.py --workdir=gs://.../bt_r50

Expected: 73.2% top-1 / 91.0% top-5 linear evaluation after 1000 epochs (paper, Table 1).
Not yet reproduced with ssljax.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("barlowtwins")
    c.batch_size = 2048
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.log_every_steps = 100
    c.bn = "global"
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.augment.preset = "byol"
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.encoder.dtype = "bfloat16"
    c.head.hidden_dims = (8192, 8192)
    c.head.out_dim = 8192
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
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    return c
