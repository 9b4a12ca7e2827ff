"""MoCo v3 on ImageNet: ResNet-50 (default) or ViT-Small / ViT-Base (config argument).

ResNet-50 (reference CONFIG.md, 1000-epoch setup): BYOL's asymmetric augmentations with
minimum crop area 0.2; projector 2048 → 4096 → 256 and predictor 256 → 4096 → 256,
every Linear layer bias-free (projector output BN without affine, predictor without
output BN); momentum 0.996 → 1 (cosine); temperature 1.0; LARS (BN parameters
and biases excluded) with base lr 0.3 scaled linearly (4.8 at batch 4096), 10 warm-up
epochs then cosine, weight decay 1.5e-6; global BatchNorm; batch 4096; 1000 epochs. The
100-epoch setup uses base lr 0.6, weight decay 1e-6 and momentum 0.99:
`--config.num_epochs=100 --config.optimizer.base_lr=0.6
--config.optimizer.weight_decay=1e-6 --config.ema.tau_base=0.99`.

    python -m ssljax.pretrain --config=configs/mocov3_imagenet.py --workdir=gs://.../mocov3_r50

ViT (`--config=configs/mocov3_imagenet.py:vit_small` or `:vit_base`): patch 16,
3-layer projector 4096-4096-256 and a predictor ending in a non-affine BN; AdamW with
base lr 1.5e-4 scaled linearly, weight decay 0.1, 40 warm-up epochs, 300 epochs;
temperature 0.2; momentum 0.99 → 1; minimum crop area 0.08; the random patch projection
frozen (`optimizer.freeze=("patch_embed",)`, the paper's stability fix, Section 4.2).

Expected (reference CONFIG.md, linear evaluation top-1): ResNet-50 68.9% / 72.8% /
74.6% after 100 / 300 / 1000 epochs (batch 4096 on 2 nodes of 8 V100 32 GB); ViT-Small
73.2% and ViT-Base 76.7% after 300 epochs (batch 4096). Not yet reproduced with ssljax.

Reference: facebookresearch/moco-v3 at c349e6e, `main_moco.py` (defaults and CONFIG.md's
commands), `moco/builder.py`, `moco/optimizer.py`, `vits.py`; the numbers to reproduce
are the README / CONFIG.md tables above (the README says they reproduce the paper's).
Deviations: random-resized crops are cut on device from the central square that the TFDS
pipeline has already resized to 224 px (`ssljax/data/tfds_source.py`), not from the
full-resolution image; views are not normalised by the ImageNet mean/std (`augment.mean`/
`std` unset; the reference normalises); bfloat16 compute (reference: float16 autocast).
ResNet-50: optax's LARS applies the lr before the momentum (reference: after it). ViT: ssljax's ViT
learns its position embeddings (the reference fixes 2-D sin-cos ones); ssljax's
`vit_small` has 6 heads (the reference's ViT-Small has 12).
"""

from ssljax.config_base import pretrain_base

ENCODERS = ("resnet50", "vit_small", "vit_base")


def get_config(encoder=None):
    encoder = encoder or "resnet50"
    if encoder not in ENCODERS:
        raise ValueError(f"config argument {encoder!r} must be one of {', '.join(ENCODERS)}")
    c = pretrain_base("mocov3")
    c.batch_size = 4096
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.log_every_steps = 100
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.augment.preset = "byol"
    c.encoder.name = encoder
    c.encoder.dtype = "bfloat16"
    c.head.out_dim = 256
    c.head.use_bn = True
    c.head.last_bn = True
    c.head.last_bn_affine = False
    c.predictor.hidden_dims = (4096,)
    c.predictor.out_dim = 256
    c.predictor.use_bn = True
    c.predictor.last_bias = False  # moco/builder.py _build_mlp: every Linear bias=False
    c.ema.schedule = "cosine"
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    if encoder == "resnet50":
        c.num_epochs = 1000
        c.augment.crop_scale = (0.2, 1.0)
        c.encoder.stem = "imagenet"
        c.head.hidden_dims = (4096,)
        c.predictor.last_bn = False
        c.predictor.last_bn_affine = True
        c.loss.temperature = 1.0
        c.ema.tau_base = 0.996
        c.optimizer.name = "lars"
        c.optimizer.base_lr = 0.3
        c.optimizer.warmup_epochs = 10
        c.optimizer.weight_decay = 1.5e-6
    else:
        c.num_epochs = 300
        c.augment.crop_scale = (0.08, 1.0)
        c.encoder.patch_size = 16
        c.head.hidden_dims = (4096, 4096)
        c.predictor.last_bn = True
        c.predictor.last_bn_affine = False
        c.loss.temperature = 0.2
        c.ema.tau_base = 0.99
        c.optimizer.name = "adamw"
        c.optimizer.base_lr = 1.5e-4
        c.optimizer.warmup_epochs = 40
        c.optimizer.weight_decay = 0.1
        c.optimizer.freeze = ("patch_embed",)
        # torch.optim.AdamW(model.parameters(), ...): biases and norms decay too.
        c.optimizer.exclude_bn_and_bias = False
    c.optimizer.lr_scaling = "linear"
    return c
