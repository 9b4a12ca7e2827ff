"""SupCon (uses labels) on CIFAR-10 with a CIFAR-stem ResNet-50, the authors' PyTorch recipe.

Recipe (HobbitLong/SupContrast README and `main_supcon.py`): crop scale (0.2, 1) + flip,
colour jitter 0.4/0.4/0.4/0.1 with p 0.8, grayscale 0.2 (the MoCo v2 preset's numbers
without blur), 2-layer projector 2048 → 128, SGD momentum 0.9 lr 0.5 (batch 1024,
cosine), weight decay 1e-4, temperature 0.1 (`base_temperature` 0.07), 1000 epochs.

    python -m ssljax.pretrain --config=configs/supcon_cifar10.py --workdir=runs/supcon_c10

This method USES LABELS.

Reference: HobbitLong/SupContrast at 66a8fe5: the README's SupCon command
(`main_supcon.py --batch_size 1024 --learning_rate 0.5 --temp 0.1 --cosine`),
`main_supcon.py`, `util.py`, `losses.py`, `networks/resnet_big.py`; Khosla et al.,
"Supervised Contrastive Learning", NeurIPS 2020 (arXiv:2004.11362), whose CIFAR-10
numbers come from this PyTorch code (google-research `supcon/README.md`). Expected: the
README's 96.0% CIFAR-10 top-1 for ResNet-50 (cross-entropy 95.0%); solo-learn's ResNet-18
row is 93.82%. Not reproduced with ssljax.
Deviations: the MoCo v2 preset blurs with p 0.5 (the reference has no blur) and does not
normalise per channel (the reference does); the 10 warm-up epochs (forced for batch > 256)
start at lr 0 (the reference's at 0.01) and the cosine to 0.5·0.1³ = 5e-4 is per step
(the reference's per epoch); BN statistics over the global batch (the reference wraps the
encoder in `DataParallel`: per-GPU BN).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("supcon")
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.encoder.name = "resnet50"
    c.encoder.stem = "cifar"
    c.eval.max_train_examples = 50000
    c.batch_size = 1024
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.augment.preset = "mocov2"
    c.head.hidden_dims = (2048,)
    c.head.out_dim = 128
    c.head.use_bn = False  # networks/resnet_big.py: Linear-ReLU-Linear
    c.loss.temperature = 0.1
    c.loss.base_temperature = 0.07
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.125
    c.optimizer.warmup_epochs = 10  # --warm, forced for batch > 256
    c.optimizer.end_lr = 5e-4  # 0.5 · 0.1³
    c.optimizer.weight_decay = 1e-4
    c.optimizer.exclude_bn_and_bias = False  # optim.SGD(model.parameters(), ...)
    c.optimizer.momentum = 0.9
    return c
