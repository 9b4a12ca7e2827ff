"""SwAV on CIFAR-10 with a CIFAR-stem ResNet-18, solo-learn's recipe.

Recipe (vturrisi/solo-learn `scripts/pretrain/cifar/swav.yaml`): SimCLR's augmentations at
32 px (strength 1, blur p 0.5 as solo-learn's symmetric file), 2 crops (no local crops),
projector 2048 → 128, 3000 prototypes frozen for 2 epochs, temperature 0.1, Sinkhorn ε
0.05 with 3 iterations, a queue of 3840 from epoch 50, LARS lr 0.6 scaled linearly, weight
decay 1e-6, batch 256, 1000 epochs.

    python -m ssljax.pretrain --config=configs/swav_cifar10.py --workdir=runs/swav_c10

Reference: vturrisi/solo-learn at 9187ea3, `scripts/pretrain/cifar/swav.yaml` (with
`augmentations/symmetric.yaml`), `solo/methods/swav.py`, `solo/utils/lars.py`; the
algorithm as facebookresearch/swav at 06b1b7c, `main_swav.py` (it has no CIFAR recipe);
Caron et al., SwAV, NeurIPS 2020 (arXiv:2006.09882). Expected: solo-learn's README
CIFAR-10 table, 89.17% top-1 (ResNet-18, 1000 epochs); lightly's CIFAR-10 benchmark
(lightly-ai/lightly at e8d317f, `docs/source/getting_started/benchmarks.rst`) reports kNN
0.884 (batch 512, 800 epochs). Not reproduced with ssljax.
Deviations: solo-learn's LARS has eta 0.02 with `clip_lr` (per-tensor lr min(0.02·‖w‖/‖g‖,
lr)); ssljax's LARS uses trust coefficient 1e-3 without clipping, an effective step 0.03×
solo-learn's wherever its clip is inactive; solo-learn's warm-up starts at 3e-5 (here 0);
its prototypes are weight-normalised (`nn.utils.weight_norm`, gain fixed to 1), here they
are renormalised after each step as in the official code; its queue is filled from the
first step, here from epoch 50 and used once full, as in the official code.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("swav")
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.eval.max_train_examples = 50000
    c.batch_size = 256
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.augment.preset = "simclr"
    c.augment.num_local = 0
    c.augment.crop_scale = ()
    c.head.hidden_dims = (2048,)
    c.head.out_dim = 128
    c.head.num_prototypes = 3000
    c.swav.freeze_prototypes_epochs = 2.0
    c.swav.queue_length = 3840
    c.swav.queue_start_epoch = 50
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 0.6
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-6
    return c
