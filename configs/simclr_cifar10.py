"""SimCLR on CIFAR-10 with a CIFAR-stem ResNet-18 (SimCLR paper, Appendix B.9).

Recipe: Inception crop + flip to 32×32, colour distortion strength 0.5, no blur;
CIFAR stem (3×3 conv, stride 1, no max-pool); LARS, global batch 1024, base lr 1.0
scaled linearly (lr = 1.0·1024/256 = 4.0), 10 warm-up epochs then cosine,
weight decay 1e-6, temperature 0.5, global BatchNorm, 2-layer projection head to 128
ending in a scale-only BatchNorm; the loss at the reference's scale (`loss_a + loss_b`).

Run (needs `tfds build cifar10` or --config.dataset.download=True on a machine with
network):

    python -m ssljax.pretrain --config=configs/simclr_cifar10.py --workdir=runs/simclr_c10

Expected: the SimCLR paper reports 94.0% linear accuracy on CIFAR-10 for a ResNet-50
trained this way (batch 1024, 1000 epochs); with ResNet-18, published re-implementations
(e.g. solo-learn) report about 90–91% after 1000 epochs. Not yet reproduced with
ssljax.

Reference: google-research/simclr at 383d414, `tf2/model.py` (`ProjectionHead`,
`LinearLayer`: the last layer's BN has `center=False`), `tf2/objective.py`
(`add_contrastive_loss`), `tf2/lars_optimizer.py`; the paper's Appendix B.9 (CIFAR-10
linear 94.0% with ResNet-50).
Deviations: ResNet-18 instead of the paper's ResNet-50 (the README's single-GPU command
also uses ResNet-18, with batch 512 and weight decay 1e-4); the v1 2-layer head (the v2
code's default is 3 layers).
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
    c.head.last_bn = True  # the reference's output BN: scale, no centre
    c.head.last_bn_center = False
    c.loss.temperature = 0.5
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 1.0
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-6
    c.eval.max_train_examples = 50000
    return c
