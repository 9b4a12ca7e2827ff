"""SimCLR on ImageNet with ResNet-50 (1×), the paper's main recipe.

Recipe (Chen et al. 2020, §B.1 and Table 6): random resized crop (0.08–1) to 224,
flip, colour distortion strength 1.0, Gaussian blur; LARS with base lr 0.3 scaled
linearly (4.8 at batch 4096), 10 warm-up epochs then cosine, weight decay 1e-6
(BN and biases excluded), temperature 0.1, global BatchNorm across all devices,
projection head 2048→2048→128 ending in a scale-only BatchNorm, the loss at the
reference's scale (`loss_a + loss_b`), 1000 epochs.

Run on a TPU pod slice or GPU cluster (each process reads its shard of the TFDS
`imagenet2012` split, prepared beforehand with `tfds build imagenet2012`):

    python -m ssljax.pretrain --config=configs/simclr_imagenet.py --workdir=gs://.../simclr_r50

Expected: 69.3% top-1 linear evaluation after 1000 epochs (paper, Table 6); about
64.5% after 100 epochs (paper, Figure 9); the paper trains on Cloud TPU v3 with
32–128 cores. Not yet reproduced with ssljax.

Reference: google-research/simclr at 383d414, `tf2/model.py` (`ProjectionHead`: BN
with `center=False` after the last layer), `tf2/objective.py`, `tf2/lars_optimizer.py`,
`tf2/data_util.py`; the paper's Table 6 (ResNet-50 1×, 69.3%).
Deviations: the v1 2-layer head (the v2 code's default `num_proj_layers=3`); fine-tuning
keeps the encoder only (SimCLR v2 fine-tunes from the projector's first layer).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("simclr")
    c.batch_size = 4096
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.log_every_steps = 100
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.augment.preset = "simclr"
    c.augment.strength = 1.0
    c.augment.blur = True
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.encoder.dtype = "bfloat16"
    c.head.hidden_dims = (2048,)
    c.head.out_dim = 128
    c.head.last_bn = True  # the reference's output BN: scale, no centre
    c.head.last_bn_center = False
    c.loss.temperature = 0.1
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 0.3
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-6
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    return c
