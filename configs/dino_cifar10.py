"""DINO on CIFAR-10 with a CIFAR-stem ResNet-18.

Recipe: the authors' ResNet recipe (configs/dino_imagenet.py:resnet50) moved to 32×32
images: multi-crop with 2 global 32×32 crops (area 0.14–1) and 6 local 16×16 crops (area
0.05–0.14), DINO's augmentations; CIFAR stem (3×3 conv, stride 1, no max-pool); DINO head
2048-2048 → bottleneck 256 → weight-normalised last layer to K = 4096 (65536 on ImageNet),
no BN; student temperature 0.1, teacher 0.04 → 0.07 over 30 epochs; centering momentum
0.9; teacher τ 0.99 → 1 (0.99 rather than 0.996: this run has 97,000 steps, 2.6× fewer
than the 100-epoch ImageNet one); SGD with lr 0.03 × batch / 256, weight decay 1e-4
(constant; none on biases and norms), 10 warm-up epochs then cosine to 1e-6, each
gradient tensor clipped to norm 3.0; global BatchNorm; batch 512, 1000 epochs.

    python -m ssljax.pretrain --config=configs/dino_cifar10.py --workdir=runs/dino_c10

Expected: the DINO paper does not pretrain on CIFAR-10; for ResNet-18 numbers see
published re-implementations (e.g. the solo-learn benchmark tables). Not yet reproduced
with ssljax; this is the usual CIFAR adaptation, not a tuned ssljax result.

Reference: facebookresearch/dino at 7c446df, `main_dino.py` with the README's ResNet-50
command (`--optimizer sgd --lr 0.03 --weight_decay 1e-4 --weight_decay_end 1e-4`) and
`utils.py`; no CIFAR-10 table in the paper.
Deviations: 32/16-px crops and 6 local crops instead of 224/96 px and 8 (compute at 32
px); K = 4096 prototypes instead of 65536 (10 classes); teacher τ from 0.99; teacher
temperature warmed 0.04 → 0.07 over 30 epochs (the README command keeps 0.04).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("dino")
    c.batch_size = 512
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.bn = "global"
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "dino"
    c.augment.image_size = 32
    c.augment.local_size = 16
    c.augment.num_local = 6
    c.augment.crop_scale = (0.14, 1.0)
    c.augment.local_crop_scale = (0.05, 0.14)
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.head.hidden_dims = (2048, 2048)
    c.head.bottleneck_dim = 256
    c.head.out_dim = 4096
    c.head.use_bn = False
    c.head.norm_last_layer = True
    c.head.freeze_last_layer_epochs = 1
    c.loss.student_temp = 0.1
    c.loss.warmup_teacher_temp = 0.04
    c.loss.teacher_temp = 0.07
    c.loss.warmup_teacher_temp_epochs = 30
    c.loss.center_momentum = 0.9
    c.ema.tau_base = 0.99
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.03
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-4
    c.optimizer.momentum = 0.9
    c.optimizer.end_lr = 1e-6  # --min_lr
    c.optimizer.clip_norm_per_tensor = 3.0  # --clip_grad
    c.eval.max_train_examples = 50000
    c.eval.encoder = "target"  # the paper evaluates the teacher (Sec. 5.2, Fig. 6)
    return c
