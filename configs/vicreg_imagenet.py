"""VICReg on ImageNet with ResNet-50, the paper's recipe.

Recipe (Bardes et al. 2022, §4.1 and Appendix C): BYOL's asymmetric augmentations at 224
(`augment.preset="byol"`); expander 8192-8192-8192 (BN + ReLU after the two hidden
layers, plain Linear last); loss coefficients λ = μ = 25 (invariance, variance), ν = 1
(covariance), variance and covariance over the global batch; LARS, base learning rate
0.2 × batch / 256 (1.6 at batch 2048), 10 warm-up epochs then cosine to 0.001 × peak,
weight decay 1e-6, biases and BN parameters excluded from weight decay and LARS
adaptation; global BatchNorm; batch 2048, 1000 epochs.

Run on a TPU pod slice or GPU cluster (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/vicreg_imagenet.py --workdir=gs://.../vicreg_r50

Expected: 73.2% top-1 / 91.1% top-5 linear evaluation after 1000 epochs (paper, Table 1).
Not yet reproduced with ssljax.

Reference: facebookresearch/vicreg at 4e12602, `main_vicreg.py` (defaults and the README's
1000-epoch command: batch 2048, base lr 0.2), `augmentations.py`, `resnet.py`; the paper's
Table 1, ResNet-50 linear 73.2% top-1 (the README's checkpoint: 73.2%).
Deviations: random-resized crops are cut on device from
the central square that the TFDS pipeline has already resized to 224 px
(`ssljax/data/tfds_source.py`), not from the full-resolution image; views are not
normalised by the ImageNet mean/std (`augment.mean`/`std` unset; the reference
normalises); optax's LARS applies the lr before the momentum (reference: after it);
bfloat16 compute (reference: float16 autocast).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("vicreg")
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
    c.head.last_bias = False  # the expander's last nn.Linear(..., bias=False)
    c.loss.sim_coeff = 25.0
    c.loss.std_coeff = 25.0
    c.loss.cov_coeff = 1.0
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 0.2
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-6
    c.optimizer.end_lr = 0.001 * 0.2 * c.batch_size / 256  # the reference's 0.001 × peak
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    return c
