"""DINOv2-style training on ImageNet-1k: ViT-L/16, the reference's fast setup.

DINO's CLS loss + iBOT's masked patch tokens (half the global crops, 10–50% masked in
BEiT blocks, the same head) + KoLeo (weight 0.1); DINO centering (or `--config.dinov2.
centering=sinkhorn_knopp`); head 3 layers, hidden 2048, bottleneck 256, K = 65536;
teacher 0.992 → 1 (cosine), teacher temperature 0.04 → 0.07 over 30 "epochs"; AdamW,
lr 0.004·sqrt(bs/1024) (5.7e-3 at batch 2048), 10 warm-up epochs then cosine, weight decay
0.04 → 0.4, per-tensor gradient clipping 3.0, layer-wise lr decay 0.9, last layer frozen
for the first epoch; drop path 0.3 in every block, LayerScale 1e-5, the patch
embedding's lr × 0.2; 2 global crops 224 px (0.32–1) + 8 local 96 px
(0.05–0.32); bfloat16. The reference counts "epochs" of 1,250 iterations
(`OFFICIAL_EPOCH_LENGTH`): its 100 at batch 2048 are 125,000 steps, 200 ImageNet epochs of
625 steps here, and its 10 warm-up, 30 temperature and 1 frozen epochs are 20, 60 and 2.

    python -m ssljax.pretrain --config=configs/dinov2_imagenet.py --workdir=gs://.../dinov2_vitl16

The end-of-pretraining evaluation and the export use the teacher (`eval.encoder="target"`),
as the reference's `eval/training_*/teacher_checkpoint.pth`.

Expected (facebookresearch/dinov2 README, "Fast setup"): 81.6% k-NN and 82.9% linear
top-1 on ImageNet-1k, about one day on 4 nodes of 8 A100-80GB. Not yet reproduced with
ssljax.

Reference: facebookresearch/dinov2 at b8931f7 (`dinov2/configs/ssl_default_config.yaml`,
`configs/train/vitl16_short.yaml`, `dinov2/train/ssl_meta_arch.py`, `dinov2/loss/`,
`dinov2/data/masking.py`, `collate.py`).
Deviations: learned position embeddings without the reference's interpolation offset;
images are masked with probability 0.5 each, ratios uniform in 0.1–0.5 (reference: exactly
half the batch, ratios stratified); KoLeo over the global batch (reference: per GPU); the
head runs on the masked tokens padded to half the patches (reference: packed); no xFormers
memory-efficient attention; crops are cut on device from the TFDS pipeline's 224-px
central square.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("dinov2")
    c.batch_size = 2048
    c.num_epochs = 200  # 125,000 steps at 625 steps per ImageNet epoch
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 12500
    c.log_every_steps = 100
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.augment.preset = "dino"
    c.augment.num_local = 8
    c.augment.local_size = 96
    c.augment.crop_scale = (0.32, 1.0)
    c.augment.local_crop_scale = (0.05, 0.32)
    c.augment.mean = (0.485, 0.456, 0.406)
    c.augment.std = (0.229, 0.224, 0.225)
    c.encoder.name = "vit_large"
    c.encoder.patch_size = 16
    c.encoder.dtype = "bfloat16"
    c.encoder.use_mask_token = True
    c.encoder.layer_scale = 1e-5  # layerscale
    c.encoder.drop_path_uniform = True  # drop_path_uniform
    c.encoder.drop_path_rate = 0.3
    c.head.hidden_dims = (2048, 2048)
    c.head.bottleneck_dim = 256
    c.head.out_dim = 65536
    c.head.use_bn = False
    c.head.norm_last_layer = True
    c.head.freeze_last_layer_epochs = 2  # the reference's 1 epoch of 1,250 iterations
    c.loss.student_temp = 0.1
    c.loss.warmup_teacher_temp = 0.04
    c.loss.teacher_temp = 0.07
    c.loss.warmup_teacher_temp_epochs = 60  # 30 reference epochs
    c.loss.center_momentum = 0.9
    c.dinov2.centering = "centering"
    c.dinov2.koleo_weight = 0.1
    c.dinov2.ibot_weight = 1.0
    c.dinov2.mask_probability = 0.5
    c.dinov2.mask_ratio = (0.1, 0.5)
    c.ema.tau_base = 0.992
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 0.004 / 32.0  # ×sqrt(batch): 0.004·sqrt(bs/1024)
    c.optimizer.lr_scaling = "sqrt"
    c.optimizer.warmup_epochs = 20  # 10 reference epochs
    c.optimizer.end_lr = 1e-6
    c.optimizer.weight_decay = 0.04
    c.optimizer.weight_decay_end = 0.4
    c.optimizer.clip_norm_per_tensor = 3.0
    c.optimizer.layer_decay = 0.9
    c.optimizer.patch_embed_lr_mult = 0.2
    c.eval.encoder = "target"  # the reference evaluates the teacher
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    return c
