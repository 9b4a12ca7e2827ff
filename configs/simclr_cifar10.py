"""SimCLR on CIFAR-10 with a CIFAR-stem ResNet-18 (SimCLR paper, Appendix B.9).

Recipe: Inception crop + flip to 32×32, colour distortion strength 0.5, no blur;
CIFAR stem (3×3 conv, stride 1, no max-pool); LARS, global batch 1024, base lr 1.0
scaled linearly (lr = 1.0·1024/256 = 4.0), 10 warm-up epochs then cosine,
weight decay 1e-6, temperature 0.5, global BatchNorm, 2-layer projection head to 128.

Run (needs `tfds build cifar10` or --config.dataset.download=True on a machine with
network):

    python -m ssljax.pretrain --config=configs/simclr_cifar10.py --workdir=runs/simclr_c10

Expected: the SimCLR paper reports 94.0% linear accuracy on CIFAR-10 for a ResNet-50
trained this way (batch 1024, 1000 epochs); with ResNet-18, published re-implementations
(e.g. solo-learn) report about 90–91% after 1000 epochs. Not yet reproduced with
ssljax: one 8-GPU or TPU v3-8 day is the order of cost.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("simclr")
    c.batch_size = 1024
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "simclr"
    c.augment.strength = 0.5
    c.augment.blur = False
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.head.hidden_dims = (512,)
    c.head.out_dim = 128
    c.loss.temperature = 0.5
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 1.0
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-6
    c.eval.max_train_examples = 50000
    return c
