"""MoCo v3 on CIFAR-10 with a CIFAR-stem ResNet-18.

Recipe: MoCo v3's ResNet recipe adapted to CIFAR-10 — BYOL's asymmetric augmentations
at 32×32 with minimum crop area 0.2; CIFAR stem; projector 512 → 4096 → 256 (output BN
without affine) and predictor 256 → 4096 → 256; momentum 0.99 → 1 (cosine);
temperature 0.2 (the ResNet ImageNet recipe's 1.0 is tuned for batch 4096); LARS with
base lr 0.3 scaled linearly, 10 warm-up epochs, weight decay 1.5e-6; global BatchNorm;
batch 512; 1000 epochs.

    python -m ssljax.pretrain --config=configs/mocov3_cifar10.py --workdir=runs/mocov3_c10

Expected: the MoCo v3 paper pretrains on ImageNet only (CIFAR-10 appears as a transfer
task); this recipe is an adaptation with no published reference number, not yet run
with ssljax.

Reference: facebookresearch/moco-v3 at c349e6e, `main_moco.py`, `moco/builder.py`,
`moco/optimizer.py` and CONFIG.md's ResNet-50 1000-epoch command (the recipe adapted
here); the paper has no CIFAR-10 pretraining table. For comparison, vturrisi/solo-learn
at 9187ea3 reports 93.10% CIFAR-10 top-1 (ResNet-18, 1000 epochs, README) with its own
recipe (`scripts/pretrain/cifar/mocov3.yaml`: batch 256, lr 0.3, weight decay 1e-6, LARS
eta 0.02, temperature 0.2, crop area 0.08–1, no blur).
Deviations: ResNet-18 with the CIFAR stem instead of ResNet-50, 32-px views (so the blur,
p 1.0 / 0.1, has a 3-tap kernel, 10% of the side, for sigma up to 2), batch 512 instead of
4096, temperature 0.2 instead of 1.0 and momentum from 0.99 instead of 0.996 (the CIFAR
adaptation above); views not normalised by mean/std (`augment.mean`/`std` unset; the
reference normalises); optax's LARS applies the lr before the momentum (reference: after it).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("mocov3")
    c.batch_size = 512
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "byol"
    c.augment.crop_scale = (0.2, 1.0)
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.head.hidden_dims = (4096,)
    c.head.out_dim = 256
    c.head.use_bn = True
    c.head.last_bn = True
    c.head.last_bn_affine = False
    c.predictor.hidden_dims = (4096,)
    c.predictor.out_dim = 256
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.predictor.last_bias = False  # moco/builder.py _build_mlp: every Linear bias=False
    c.loss.temperature = 0.2
    c.ema.tau_base = 0.99
    c.ema.schedule = "cosine"
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 0.3
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1.5e-6
    c.eval.max_train_examples = 50000
    return c
