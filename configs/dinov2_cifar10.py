"""DINOv2-style training on CIFAR-10: ViT-Tiny/4, the reference's losses and schedules.

The DINOv2 paper has no CIFAR recipe; this keeps its three losses (DINO CLS, iBOT masked
patches on half the global crops, KoLeo 0.1), centering, teacher schedule (0.992 → 1;
temperature 0.04 → 0.07 over 30 epochs) and optimiser (AdamW lr 0.004·sqrt(bs/1024),
weight decay 0.04 → 0.4, clipping 3.0, layer decay 0.9, last layer frozen 1 epoch) on a
ViT-Tiny/4 (an 8×8 grid) with a 3-layer head (hidden 2048, bottleneck 256, K = 16384),
2 global 32-px crops (0.32–1) + 6 local 16-px crops (0.05–0.32), batch 512, 300 epochs.

    python -m ssljax.pretrain --config=configs/dinov2_cifar10.py --workdir=runs/dinov2_cifar10

The end-of-pretraining evaluation and the export use the teacher (`eval.encoder="target"`),
as the reference does.

Expected: not measured (no accelerator or CIFAR-10 on the development machines); the
recipe runs two steps on TFDS mock data in the tests.

Reference: facebookresearch/dinov2 at b8931f7 (`dinov2/configs/ssl_default_config.yaml`,
`dinov2/train/ssl_meta_arch.py`).
Deviations: ViT-Tiny/4, K = 16384 and 6 local crops of 16 px instead of ViT-L/16, 65536
and 8 of 96 px (32-px images); drop path 0.1; batch 512; the ImageNet config's other
deviations (per-image mask draws, KoLeo over the global batch).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("dinov2")
    c.batch_size = 512
    c.num_epochs = 300
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "dino"
    c.augment.num_local = 6
    c.augment.local_size = 16
    c.augment.crop_scale = (0.32, 1.0)
    c.augment.local_crop_scale = (0.05, 0.32)
    c.encoder.name = "vit_tiny"
    c.encoder.patch_size = 4
    c.encoder.use_mask_token = True
    c.encoder.layer_scale = 1e-5  # layerscale
    c.encoder.drop_path_uniform = True  # drop_path_uniform
    c.encoder.drop_path_rate = 0.1
    c.head.hidden_dims = (2048, 2048)
    c.head.bottleneck_dim = 256
    c.head.out_dim = 16384
    c.head.use_bn = False
    c.head.freeze_last_layer_epochs = 1
    c.loss.warmup_teacher_temp = 0.04
    c.loss.teacher_temp = 0.07
    c.loss.warmup_teacher_temp_epochs = 30
    c.ema.tau_base = 0.992
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 0.004 / 32.0
    c.optimizer.lr_scaling = "sqrt"
    c.optimizer.warmup_epochs = 10
    c.optimizer.end_lr = 1e-6
    c.optimizer.weight_decay = 0.04
    c.optimizer.weight_decay_end = 0.4
    c.optimizer.clip_norm_per_tensor = 3.0
    c.optimizer.layer_decay = 0.9
    c.optimizer.patch_embed_lr_mult = 0.2
    c.eval.encoder = "target"  # the reference evaluates the teacher
    c.eval.max_train_examples = 50000
    return c
