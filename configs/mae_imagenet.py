"""MAE on ImageNet: ViT-B/16 (default) or ViT-L/16 (config argument), the paper's recipe.

Masking ratio 0.75 (49 of 196 patches visible), normalised-pixel targets
(`norm_pix_loss`), fixed 2-D sin-cos position embeddings, xavier-uniform init; decoder
512-d, 8 blocks, 16 heads; AdamW β = (0.9, 0.95), weight decay 0.05 (not on biases and
norms), lr 1.5e-4·bs/256 (2.4e-3 at batch 4096), 40 warm-up epochs then cosine, 800
epochs; RandomResizedCrop(224, scale 0.2–1) + horizontal flip only, ImageNet mean/std.

    python -m ssljax.pretrain --config=configs/mae_imagenet.py --workdir=gs://.../mae_vitb

Expected (facebookresearch/mae FINETUNE.md, PRETRAIN.md): fine-tuning the released
ViT-B/16 (1600 pretraining epochs, `--num_epochs=1600`) for 100 epochs with layer decay
0.65 (`configs/finetune_mae_imagenet.py`) gives 83.6% top-1 (mean of 4 seeds 83.57);
ViT-L/16 pretrained 800 epochs fine-tunes to 85.5% (paper Table 1d: 85.4%, 64 V100s,
~42 h); MAE's linear probe of ViT-B is 68.0% (paper Table 3). Not yet reproduced with
ssljax.

Reference: facebookresearch/mae at efb2a80 (`models_mae.py`, `main_pretrain.py`,
PRETRAIN.md's command: `--norm_pix_loss --mask_ratio 0.75 --epochs 800 --warmup_epochs 40
--blr 1.5e-4 --weight_decay 0.05`, effective batch 4096).
Deviations: random-resized crops are cut on device from the central square that the TFDS
pipeline has already resized to 224 px (`ssljax/data/tfds_source.py`), not from the
full-resolution image (the reference's bicubic `RandomResizedCrop`); bfloat16 compute
(reference: float16 autocast with a loss scaler); Flax's attention has separate q, k, v
kernels (initialised with the fused kernel's xavier bound); the mask is drawn from a key
per (seed, step, example) rather than `torch.rand`. The online probe (a monitor) reads the
CLS token of the masked forward.
"""

from ssljax.config_base import pretrain_base

ENCODERS = ("vit_base", "vit_large")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def get_config(encoder=None):
    encoder = encoder or "vit_base"
    if encoder not in ENCODERS:
        raise ValueError(f"config argument {encoder!r} must be one of {', '.join(ENCODERS)}")
    c = pretrain_base("mae")
    c.batch_size = 4096
    c.num_epochs = 800
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.log_every_steps = 100
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.augment.preset = "crop_flip"
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.mean = IMAGENET_MEAN
    c.augment.std = IMAGENET_STD
    c.encoder.name = encoder
    c.encoder.patch_size = 16
    c.encoder.dtype = "bfloat16"
    c.encoder.pos_embedding = "sincos"
    c.encoder.weight_init = "mae"
    c.decoder.dim = 512
    c.decoder.depth = 8
    c.decoder.num_heads = 16
    c.mae.mask_ratio = 0.75
    c.mae.norm_pix_loss = True
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1.5e-4
    c.optimizer.lr_scaling = "linear"
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.95
    c.optimizer.warmup_epochs = 40
    c.optimizer.weight_decay = 0.05
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    return c
