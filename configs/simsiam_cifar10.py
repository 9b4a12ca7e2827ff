"""SimSiam on CIFAR-10 with a CIFAR-stem ResNet-18 (paper, Appendix D).

Recipe (as we read the paper's Appendix D — check the head depth there before relying on it):
MoCo v2-style augmentations at 32×32 (`augment.preset="mocov2"`); CIFAR stem
(3×3 conv, stride 1, no max-pool); a 2-layer projector 2048-2048 (output BN without
affine) and the bottleneck predictor 2048 → 512 → 2048; SGD momentum 0.9, base lr
0.03 scaled linearly (0.06 at batch 512), weight decay 5e-4, cosine schedule; 800
epochs.

    python -m ssljax.pretrain --config=configs/simsiam_cifar10.py --workdir=runs/simsiam_c10

Expected: see the paper's Appendix D and Figure D.1 for the CIFAR-10 accuracy of this
setup (trained on a single GPU there). Not yet reproduced with ssljax.

Reference: the paper's Appendix D (facebookresearch/simsiam has no CIFAR code; its
`main_simsiam.py` at a7bc177 for the optimizer: SGD over every parameter) and Figure D.1.
Deviations: the predictor follows the cosine like the rest (Appendix D does not say
whether `--fix-pred-lr` was used); the blur of the `mocov2` preset at 32 px (p 0.5,
a small kernel) is kept, which Appendix D may not use.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("simsiam")
    c.stop_gradient = True
    c.batch_size = 512
    c.num_epochs = 800
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "mocov2"
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.head.hidden_dims = (2048,)
    c.head.out_dim = 2048
    c.head.use_bn = True
    c.head.last_bn = True
    c.head.last_bn_affine = False
    c.predictor.hidden_dims = (512,)
    c.predictor.out_dim = 2048
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.03
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 5e-4
    c.optimizer.momentum = 0.9
    c.eval.max_train_examples = 50000
    return c
