"""NNCLR on CIFAR-10 with a CIFAR-stem ResNet-18, solo-learn's recipe.

Recipe (vturrisi/solo-learn `scripts/pretrain/cifar/nnclr.yaml`): BYOL's asymmetric
augmentations, projector 2048 → 2048 → 256 (BN on every layer), predictor 4096 → 256, a
support set of 65,536, temperature 0.2, LARS lr 0.4 scaled linearly, weight decay 1e-5,
batch 256, 1000 epochs.

    python -m ssljax.pretrain --config=configs/nnclr_cifar10.py --workdir=runs/nnclr_c10

Reference: vturrisi/solo-learn at 9187ea3, `scripts/pretrain/cifar/nnclr.yaml` (with
`augmentations/asymmetric.yaml`), `solo/methods/nnclr.py`, `solo/losses/nnclr.py`,
`solo/utils/lars.py`; Dwibedi et al., "With a Little Help from My Friends", ICCV 2021
(arXiv:2104.14548), which has no official code (lightly-ai/lightly at e8d317f quotes the
paper's head sizes in `NNCLRProjectionHead` / `NNCLRPredictionHead` and has the support
set as `NNMemoryBankModule`). Expected: solo-learn's README CIFAR-10 table, 91.88% top-1
(ResNet-18, 1000 epochs). Not reproduced with ssljax.
Deviations: the BYOL preset blurs (p 1.0/0.1) where solo-learn's CIFAR asymmetric views
have no blur (solarize p 0/0.2 and the jitter as here); the loss is NT-Xent with 2N-2
negatives (the other neighbours and predictions), solo-learn's `nnclr_loss_func`
contrasts each neighbour with the N predictions only (the paper's Eq. 1); solo-learn's
LARS has eta 0.02 with `clip_lr` (ssljax: trust coefficient 1e-3, no clipping).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("nnclr")
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.eval.max_train_examples = 50000
    c.batch_size = 256
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.augment.preset = "byol"
    c.head.hidden_dims = (2048, 2048)
    c.head.out_dim = 256
    c.head.last_bn = True
    c.predictor.hidden_dims = (4096,)
    c.predictor.out_dim = 256
    c.nnclr.queue_size = 65536
    c.loss.temperature = 0.2
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 0.4
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-5
    return c
