"""Linear evaluation on CIFAR-10 of a CIFAR-10 pretraining run (e.g. simclr_cifar10).

    python -m ssljax.linear_eval --config=configs/linear_eval_cifar10.py \
        --config.init_from=runs/simclr_c10 --workdir=runs/simclr_c10_linear

Cached protocol (default): L-BFGS logistic regression on frozen features of the 50,000
un-augmented training images. `--config.protocol=paper`: crop (0.08, 1) + flip to 32x32
through the frozen encoder, Nesterov SGD at batch 1024, lr 0.1·1024/256 = 0.4, cosine,
no weight decay, 90 epochs (SimCLR, Appendix B.6 and B.9).
Expected: within about a point of the pretraining run's own `linear_top1`; not yet
measured with ssljax.

Reference: google-research/simclr at 383d414, the README's linear-eval command
(`--train_mode=finetune --fine_tune_after_block=4 --optimizer=momentum` (Nesterov in
`tf2/model.py` `build_optimizer`) `--learning_rate=0.1 --weight_decay=0.0`, batch 512,
100 epochs) and the paper's Appendix B.6 / B.9.
Deviations: the paper protocol puts a BatchNorm without affine parameters before the
linear layer (MoCo v3's and MAE's probe; SimCLR's `SupervisedHead` is a plain linear
layer); batch 1024 and 90 epochs (the README's CIFAR command: 512 and 100).
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
