"""BYOL on CIFAR-10 with a CIFAR-stem ResNet-18.

Recipe: BYOL's asymmetric augmentations at 32×32 (`augment.preset="byol"`); CIFAR stem
(3×3 conv, stride 1, no max-pool); projector and predictor 4096 → 256; LARS with base
lr 1.0 scaled linearly (2.0 at batch 512), 10 warm-up epochs then cosine, weight decay
1.5e-6 (BN and biases excluded); target decay tau 0.99 → 1 (cosine; 0.99 rather than
ImageNet's 0.996 because a CIFAR run has ~3× fewer steps: 1000 × 50,000 / 512 ≈ 98,000
vs 1000 × 1.28M / 4096 ≈ 313,000; common CIFAR re-implementations do the same); global
BatchNorm; 1000 epochs.

    python -m ssljax.pretrain --config=configs/byol_cifar10.py --workdir=runs/byol_c10

Expected: the BYOL paper does not pretrain on CIFAR-10 (its Table 3 reports transfer
from ImageNet); for ResNet-18 numbers see published re-implementations (e.g. the
solo-learn benchmark tables). Not yet reproduced with ssljax; the lr and weight decay
here are the usual CIFAR adaptation, not a tuned ssljax result.

Reference: deepmind/deepmind-research at d8df415, `byol/configs/byol.py`,
`byol/byol_experiment.py`, `byol/utils/augmentations.py` (the ImageNet recipe adapted
here); the paper has no CIFAR-10 pretraining table. For comparison, vturrisi/solo-learn at
9187ea3 reports 92.58% CIFAR-10 top-1 (ResNet-18, 1000 epochs, README) with its own recipe
(`scripts/pretrain/cifar/byol.yaml`: batch 256, lr 1.0, weight decay 1e-5, LARS eta 0.02,
no blur).
Deviations: ResNet-18 with the CIFAR stem instead of ResNet-50, 32-px views (so the blur,
p 1.0 / 0.1, has a 3-tap kernel, 10% of the side, for sigma up to 2), batch 512 instead of
4096, base lr 1.0 instead of 0.2 and tau from 0.99 instead of 0.996 (the CIFAR adaptation
above); views not normalised by mean/std (`augment.mean`/`std` unset; the reference
normalises); the target starts as a copy of the online network (reference: its own
random init); optax's LARS applies the lr before the momentum (reference: after it).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("byol")
    c.batch_size = 512
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "byol"
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.head.hidden_dims = (4096,)
    c.head.out_dim = 256
    c.head.use_bn = True
    c.head.last_bn = False
    c.head.last_bias = False  # haiku MLP: the output Linear has with_bias=False
    c.predictor.hidden_dims = (4096,)
    c.predictor.out_dim = 256
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.predictor.last_bias = False
    c.ema.tau_base = 0.99
    c.ema.schedule = "cosine"
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 1.0
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1.5e-6
    c.eval.max_train_examples = 50000
    return c
