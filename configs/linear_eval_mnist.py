"""Linear evaluation of an encoder pretrained on the bundled MNIST digits.

    python -m ssljax.linear_eval --config=configs/linear_eval_mnist.py \
        --config.init_from=runs/demo --workdir=runs/demo_linear
    # the paper protocol (crops through the frozen encoder, Nesterov SGD, 90 epochs):
    python -m ssljax.linear_eval --config=configs/linear_eval_mnist.py \
        --config.init_from=runs/demo --config.protocol=paper --workdir=runs/demo_linear_paper

Cached protocol: L-BFGS logistic regression on the un-augmented features of the 4,000
training digits, scored on the 1,000 held-out ones. Paper protocol: 90 epochs at batch
256 (1,350 steps), lr 0.1, crops of scale (0.5, 1) and aspect (0.8, 1.25), no flips
(digits are not mirror-symmetric).
`python benchmarks/transfer_mnist.py runs/demo` measures both protocols on a checkpoint of
`configs/simclr_mnist.py` (the cached protocol fits one logistic regression on cached
features; the paper protocol trains for 1,350 steps, so it takes much longer).
"""

from ssljax.config_base import linear_eval_base


def get_config():
    c = linear_eval_base()
    c.dataset.name = "mnist"
    c.batch_size = 256
    c.num_epochs = 90
    c.augment.crop_scale = (0.5, 1.0)
    c.augment.crop_ratio = (0.8, 1.25)
    c.augment.flip = False
    c.log_every_steps = 25
    return c
