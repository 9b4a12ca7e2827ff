"""RotNet on CIFAR-10 with a CIFAR-stem ResNet-18 (the paper's CIFAR-10 recipe).

Recipe (Gidaris et al. 2018 and the released `config/CIFAR10_RotNet_NIN4blocks.py`):
every image in its four rotations (4 × 128 images per step); a random 32-px crop of the
4-px-padded image and a horizontal flip before rotating (`augment.preset="crop_flip"`,
as a resized crop); views normalised by the reference's CIFAR mean/std; SGD with Nesterov
momentum 0.9, lr 0.1, weight decay 5e-4 on every parameter; 200 epochs; a linear rotation
classifier on the pooled features.

    python -m ssljax.pretrain --config=configs/rotnet_cifar10.py --workdir=runs/rotnet_c10

Expected: the paper reports CIFAR-10 classifiers trained on the frozen features of each
conv block of its Network-In-Network (the second block is best); its numbers are
for that network, not for a ResNet-18, and are not quoted here. Not yet reproduced with
ssljax.

Reference: gidariss/FeatureLearningRotNet at 8539de6, `config/CIFAR10_RotNet_NIN4blocks.py`
(optimizer, epochs), `dataloader.py` (`rotate_img`, the CIFAR transforms and
normalisation); the paper's CIFAR-10 table of per-block classifiers.
Deviations: a ResNet-18 with the CIFAR stem instead of the 4-block Network-In-Network, and
evaluation on its pooled output (no intermediate-block features yet); a cosine learning
rate instead of the step schedule (×0.2 at epochs 60, 120, 160); the pad-and-crop as a
resized crop of scale (0.64, 1); the batch's rotations grouped by angle rather than by
image (the same set of images: the same BatchNorm statistics and mean loss).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("rotnet")
    c.batch_size = 128
    c.num_epochs = 200
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "crop_flip"
    c.augment.mean = (125.3 / 255, 123.0 / 255, 113.9 / 255)
    c.augment.std = (63.0 / 255, 62.1 / 255, 66.7 / 255)
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.head.hidden_dims = ()
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.1
    c.optimizer.lr_scaling = "none"
    c.optimizer.nesterov = True
    c.optimizer.momentum = 0.9
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 5e-4
    c.eval.max_train_examples = 50000
    return c
