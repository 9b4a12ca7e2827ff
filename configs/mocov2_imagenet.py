"""MoCo v2 on ImageNet with ResNet-50, the paper's 200-epoch recipe.

Recipe (Chen et al. 2020, arXiv:2003.04297; reference `main_moco.py --mlp --moco-t 0.2
--aug-plus --cos`): MoCo v2 augmentations (crop 0.2–1, colour jitter 0.4/0.4/0.4/0.1
with p 0.8, grayscale 0.2, blur p 0.5, flip); MLP head 2048 → 2048 → 128 (ReLU, no
BN); queue of 65,536 keys; key-encoder momentum 0.999; InfoNCE temperature 0.2;
shuffle-BN; SGD momentum 0.9, base lr 0.03 scaled linearly (0.03 at batch 256), weight
decay 1e-4, cosine schedule; batch 256; 200 epochs.

    python -m ssljax.pretrain --config=configs/mocov2_imagenet.py --workdir=gs://.../mocov2

Expected: 67.5% top-1 linear evaluation after 200 epochs (paper, Table 1) and 71.1%
after 800 epochs (paper, Table 2: `--config.num_epochs=800`); the paper trains on 8
V100 GPUs (about 53 hours for 200 epochs). Shuffle-BN over 8 BN batches: on fewer than
8 devices each device splits its rows into groups with their own statistics
(`shuffle_groups=8`, split BN). Not yet reproduced with ssljax.

Reference: facebookresearch/moco at 132aea9, `main_moco.py` (SGD over
`model.parameters()`: BN and biases decay too) and `moco/builder.py` (torchvision
ResNet-50, no zero-initialised residual BN; shuffle-BN); the paper's Table 1 (67.5%).
Deviations: none known.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("mocov2")
    c.bn = "shuffle"
    c.queue_size = 65536
    c.symmetric = False
    c.batch_size = 256
    c.num_epochs = 200
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 25000
    c.log_every_steps = 100
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.augment.preset = "mocov2"
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.encoder.zero_init_residual = False  # torchvision's default in moco/builder.py
    c.encoder.dtype = "bfloat16"
    c.head.hidden_dims = (2048,)
    c.head.out_dim = 128
    c.head.use_bn = False
    c.head.last_bn = False
    c.loss.temperature = 0.2
    c.ema.tau_base = 0.999
    c.ema.schedule = "constant"
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.03
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 1e-4
    c.optimizer.momentum = 0.9
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    return c
