"""I-JEPA on CIFAR-10: ViT-Tiny on 4×4 patches (an 8×8 grid), the reference's recipe.

The I-JEPA paper has no CIFAR recipe; this keeps its masks (4 target blocks of 15–20%,
aspect 0.75–1.5; a context block of 85–100% without them), its EMA (0.996 → 1, linear),
loss, initialisation (`fix_init_weight`: `encoder.rescale_init`, `predictor.rescale_init`)
and optimiser (AdamW lr 1e-3, weight decay 0.04 → 0.4, warm-up then cosine) on a
ViT-Tiny/4 without CLS token and a 192-d, 6-block predictor; crop (0.3, 1) only; batch
512, 300 epochs.

    python -m ssljax.pretrain --config=configs/ijepa_cifar10.py --workdir=runs/ijepa_cifar10

Expected: not measured (no accelerator or CIFAR-10 on the development machines); the
recipe runs two steps on TFDS mock data in the tests.

Reference: facebookresearch/ijepa at 52c1ae9 (`configs/in1k_vith14_ep300.yaml`,
`src/masks/multiblock.py`).
Deviations: ViT-Tiny/4 and a 192-d, 6-block predictor instead of ViT-H/14 with 384-d,
12 blocks (32-px images); at least 4 context tokens (reference 10, for 256 patches);
batch 512 instead of 2048; 20 warm-up epochs; the ImageNet config's other deviations.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("ijepa")
    c.batch_size = 512
    c.num_epochs = 300
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "crop"
    c.augment.crop_scale = (0.3, 1.0)
    c.encoder.name = "vit_tiny"
    c.encoder.patch_size = 4
    c.encoder.pos_embedding = "sincos"
    c.encoder.use_cls = False
    c.encoder.features = "avgpool"
    c.encoder.rescale_init = True  # the reference's fix_init_weight
    c.predictor.rescale_init = True
    c.predictor.dim = 192
    c.predictor.depth = 6
    c.predictor.num_heads = 0
    c.ijepa.min_keep = 4
    c.ema.tau_base = 0.996
    c.ema.schedule = "linear"
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 20
    c.optimizer.end_lr = 1e-6  # the reference's final_lr
    c.optimizer.weight_decay = 0.04
    c.optimizer.weight_decay_end = 0.4
    c.eval.max_train_examples = 50000
    return c
