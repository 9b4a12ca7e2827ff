"""VICReg on CIFAR-10 with a CIFAR-stem ResNet-18.

Recipe: the paper's ImageNet recipe (configs/vicreg_imagenet.py) moved to 32×32 images:
BYOL's asymmetric augmentations at 32; CIFAR stem (3×3 conv, stride 1, no max-pool);
expander 2048-2048-2048 (8192 on ImageNet); coefficients 25 / 25 / 1; LARS, base lr
0.2 × batch / 256, 10 warm-up epochs then cosine, weight decay 1e-6; global BatchNorm;
batch 512, 1000 epochs.

    python -m ssljax.pretrain --config=configs/vicreg_cifar10.py --workdir=runs/vicreg_c10

Expected: the VICReg paper does not pretrain on CIFAR-10; for ResNet-18 numbers see
published re-implementations (e.g. the solo-learn benchmark tables). Not yet reproduced
with ssljax; the expander width and batch are the usual CIFAR adaptation, not a tuned
ssljax result.

Reference: facebookresearch/vicreg at 4e12602, `main_vicreg.py`, `augmentations.py` (the
ImageNet recipe adapted here); the paper has no CIFAR-10 pretraining table. For
comparison, vturrisi/solo-learn at 9187ea3 reports 92.07% CIFAR-10 top-1 (ResNet-18, 1000
epochs, README) with its own recipe (`scripts/pretrain/cifar/vicreg.yaml`: batch 256, lr
0.3, weight decay 1e-4, LARS eta 0.02, crop area 0.2–1, no blur, solarize 0.1 on both
views).
Deviations: ResNet-18 with the CIFAR stem instead of ResNet-50, expander 2048 wide instead
of 8192, 32-px views (so the blur, p 1.0 / 0.1, has a 3-tap kernel, 10% of the side, for
sigma up to 2), batch 512 instead of 2048 (the CIFAR adaptation above); views not
normalised by mean/std (`augment.mean`/`std` unset; the reference normalises); optax's
LARS applies the lr before the momentum (reference: after it).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("vicreg")
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
    c.eval.max_train_examples = 50000
    return c
