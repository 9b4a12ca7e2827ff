"""DCLW on CIFAR-10 with a CIFAR-stem ResNet-18: SimCLR's CIFAR recipe, weighted decoupled
loss (σ 0.5).

Recipe: SimCLR's CIFAR-10 augmentations (crop + flip, colour strength 0.5, no blur), a
2-layer projector to 128, LARS base lr 1.0 scaled linearly, 10 warm-up epochs, weight decay
1e-6, temperature 0.1, global BatchNorm, batch 256 (DCL's point: it needs no large batch),
1000 epochs.

    python -m ssljax.pretrain --config=configs/dclw_cifar10.py --workdir=runs/dclw_c10

Reference: Yeh et al., "Decoupled Contrastive Learning", ECCV 2022 (arXiv:2110.06848),
Eq. 8; no official code: the loss as lightly-ai/lightly at e8d317f,
`lightly/loss/dcl_loss.py` (`DCLWLoss`, `negative_mises_fisher_weights`), and
raminnakhli/Decoupled-Contrastive-Learning at 0b9b76d (unofficial), `loss/dcl.py`; the
paper's CIFAR-10 table was not verified here. Expected: for comparison, lightly's CIFAR-10
benchmark (`docs/source/getting_started/benchmarks.rst`; ResNet-18, batch 512, 800
epochs) reports kNN top-1 0.871 for DCLW; raminnakhli's README reports 82.7% linear at
batch 256 after 100 epochs. Not reproduced with ssljax.
Deviations: the optimizer is SimCLR's LARS recipe, not lightly's benchmark (SGD lr
0.06·bs/128, momentum 0.9, weight decay 5e-4 on every parameter, cosine, no warm-up) nor
raminnakhli's (Adam lr 1e-3, weight decay 1e-6); the projector (512 → 128) has no BN on
its output, lightly's `SimCLRProjectionHead(512, 512, 128)` has one; 1000 epochs at batch
256 (lightly: 800 at 512); the vMF weights are computed over the global batch (lightly:
over each device's rows).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("dclw")
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
    c.augment.strength = 0.5
    c.augment.blur = False
    c.head.hidden_dims = (512,)
    c.head.out_dim = 128
    c.loss.temperature = 0.1
    c.loss.sigma = 0.5
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 1.0
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-6
    return c
