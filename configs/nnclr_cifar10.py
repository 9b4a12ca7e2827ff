"""NNCLR on CIFAR-10 with a CIFAR-stem ResNet-18, solo-learn's recipe.

Recipe (vturrisi/solo-learn `scripts/pretrain/cifar/nnclr.yaml`): BYOL's asymmetric
augmentations, projector 2048 → 2048 → 256 (BN on every layer), predictor 4096 → 256, a
support set of 65,536, temperature 0.2, LARS lr 0.4 scaled linearly, weight decay 1e-5,
batch 256, 1000 epochs.

    python -m ssljax.pretrain --config=configs/nnclr_cifar10.py --workdir=runs/nnclr_c10

Reference: Dwibedi et al., "With a Little Help from My Friends", ICCV 2021
(arXiv:2104.14548); lightly's `NNMemoryBankModule` (no official code). Expected:
solo-learn's README reports 91.88% CIFAR-10 top-1 (ResNet-18, 1000 epochs). Not
reproduced with ssljax.
Deviations: solo-learn's LARS eta is 0.02 (ssljax: 1e-3).
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
