"""SimSiam on ImageNet with ResNet-50, the paper's default recipe.

Recipe (Chen & He 2021, Section 4 and Appendix A): MoCo v2's augmentations
(`augment.preset="mocov2"`); projector 2048-2048-2048 with BN on every layer (output BN
without affine); bottleneck predictor 2048 → 512 → 2048; SGD momentum 0.9, base lr 0.05
scaled linearly (0.1 at batch 512), weight decay 1e-4, cosine schedule without warm-up;
BatchNorm synchronised across devices; batch 512; 100 epochs.

    python -m ssljax.pretrain --config=configs/simsiam_imagenet.py --workdir=gs://.../simsiam

Expected: 68.1% top-1 linear evaluation after 100 epochs (paper, Table 4; 70.0 / 70.8 /
71.3% after 200 / 400 / 800 epochs); the paper trains on 8 V100 GPUs. Not yet reproduced
with ssljax.

Reference: facebookresearch/simsiam at a7bc177, `main_simsiam.py` (the README's command
with `--fix-pred-lr`: the predictor stays at the initial lr, `optimizer.fixed_lr`; SGD
over every parameter, BN and biases decayed) and `simsiam/builder.py` (torchvision
ResNet-50 with `zero_init_residual=True`); the paper's Table 4 (68.1% at 100 epochs).
Deviations: none known.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("simsiam")
    c.stop_gradient = True
    c.batch_size = 512
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.log_every_steps = 100
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.augment.preset = "mocov2"
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.encoder.dtype = "bfloat16"
    c.head.hidden_dims = (2048, 2048)
    c.head.out_dim = 2048
    c.head.use_bn = True
    c.head.last_bn = True
    c.head.last_bn_affine = False
    c.predictor.hidden_dims = (512,)
    c.predictor.out_dim = 2048
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.05
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 1e-4
    c.optimizer.momentum = 0.9
    c.optimizer.fixed_lr = ("predictor",)  # --fix-pred-lr
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    return c
