"""SimSiam on CIFAR-10 with a CIFAR-stem ResNet-18 (paper, Appendix D).

Appendix D ("CIFAR Experiments") states: SGD with base lr 0.03 and a cosine decay schedule
for 800 epochs, weight decay 0.0005, momentum 0.9, batch size 512; 32×32 inputs; no blur
augmentation; the CIFAR variant of ResNet-18 followed by a 2-layer projection MLP; outputs
2048-d; otherwise "the implementation is similar to that in ImageNet". Taken from that
ImageNet setup (Section 3 baseline settings, Appendix A): lr = base lr × BatchSize/256
(0.06 at 512); BN on every projector fc, its output fc without ReLU, hidden fc 2048-d; the
predictor 2048 → 512 (BN, ReLU) → 2048, no BN on its output; weight decay on every
parameter, BN scales and biases included; the last BN of each residual block initialised
to 0; the Appendix A augmentations without the blur: crop scale (0.2, 1), flip, colour
jitter 0.4/0.4/0.4/0.1 with p 0.8, grayscale 0.2 (`augment.preset="simclr"` with strength
0.5, blur off and `crop_scale=(0.2, 1.0)` is exactly that). The CIFAR stem here is a 3×3
stride-1 conv without max-pool (Appendix D names no stem details).

    python -m ssljax.pretrain --config=configs/simsiam_cifar10.py --workdir=runs/simsiam_c10

Expected: Figure D.1 (right, linear evaluation) reports 91.8% for SimSiam and 91.1% for
SimCLR trained with the same setting; its left panel is the kNN accuracy monitored during
pre-training. Not yet reproduced with ssljax.

Reference: Appendix D and Figure D.1 (read at https://ar5iv.labs.arxiv.org/html/2011.10566);
facebookresearch/simsiam has no CIFAR code (its `main_simsiam.py` at a7bc177 for the
optimizer: SGD over every parameter; `simsiam/builder.py` for the output BN without affine).
Deviations: the predictor follows the cosine like the rest (Appendix D does not say whether
its lr was fixed; `optimizer.fixed_lr=("predictor",)` would fix it); Appendix D gives no
CIFAR protocol for the kNN monitor or the linear evaluation, so ssljax's own kNN and L-BFGS
linear probe are used and their numbers need not match Figure D.1.
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
    c.augment.preset = "simclr"  # Appendix A augmentations, no blur (Appendix D)
    c.augment.strength = 0.5  # jitter 0.4, 0.4, 0.4, 0.1
    c.augment.blur = False
    c.augment.crop_scale = (0.2, 1.0)
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
