"""MAE's linear probe on ImageNet: BatchNorm without affine + linear head, LARS, 90 epochs.

    python -m ssljax.linear_eval --config=configs/linear_eval_mae_imagenet.py \\
        --config.init_from=gs://.../mae_vitb --workdir=gs://.../mae_vitb_linear

Recipe (facebookresearch/mae `main_linprobe.py`, LINPROBE in FINETUNE.md): the frozen
encoder's CLS token (`--cls_token`, the script's default), BatchNorm1d(affine=False,
eps 1e-6) then a linear layer (init σ 0.01), LARS with lr 0.1·bs/256 at batch 16384,
no weight decay, 10 warm-up epochs then cosine, 90 epochs; random resized crop + flip.

Expected: 68.0% top-1 for ViT-B/16 (MAE paper Table 3 / FINETUNE.md). Not yet reproduced
with ssljax.

Reference: facebookresearch/mae at efb2a80 (`main_linprobe.py`, `util/lars.py`).
Deviations: the linear layer starts at zero (reference: truncated normal σ 0.01); the
BatchNorm's running statistics start from the first batch's; crops come from the TFDS
pipeline's 224-px central square.
"""

from ssljax.config_base import linear_eval_base


def get_config():
    c = linear_eval_base()
    c.protocol = "paper"
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.encoder.features = "cls"
    c.head_bn = True
    c.batch_size = 16384
    c.num_epochs = 90
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 0.1
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 0.0
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.flip = True
    c.eval_batch_size = 1024
    c.log_every_steps = 100
    return c
