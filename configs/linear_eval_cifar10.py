"""Linear evaluation on CIFAR-10 of a CIFAR-10 pretraining run (e.g. simclr_cifar10).

    python -m ssljax.linear_eval --config=configs/linear_eval_cifar10.py \
        --config.init_from=runs/simclr_c10 --workdir=runs/simclr_c10_linear

Cached protocol (default): L-BFGS logistic regression on frozen features of the 50,000
un-augmented training images. `--config.protocol=paper`: crop (0.08, 1) + flip to 32x32
through the frozen encoder, Nesterov SGD at batch 1024, lr 0.1·1024/256 = 0.4, cosine,
no weight decay, 90 epochs (SimCLR, Appendix B.6 and B.9).
Expected: within about a point of the pretraining run's own `linear_top1`
(ResNet-18, 1000 epochs: ≈ 0.90); not yet measured with ssljax.
"""

from ssljax.config_base import linear_eval_base


def get_config():
    c = linear_eval_base()
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.batch_size = 1024
    c.num_epochs = 90
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.flip = True
    c.cached.epochs = 1000
    c.log_every_steps = 100
    return c
