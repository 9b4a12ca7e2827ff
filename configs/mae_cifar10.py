"""MAE on CIFAR-10: ViT-Tiny on 4×4 patches (64 tokens, 16 visible), MAE's recipe.

The MAE paper has no CIFAR recipe; this keeps its method and optimisation (mask ratio
0.75, normalised-pixel targets, sin-cos position embeddings, xavier-uniform init; AdamW
β = (0.9, 0.95), weight decay 0.05, lr 1.5e-4·bs/256, 40 warm-up epochs then cosine;
crop scale 0.2–1 + flip) on a ViT-Tiny/4 (dim 192, 12 blocks, 3 heads) with a
4-block, 256-d, 8-head decoder, batch 512, 800 epochs.

    python -m ssljax.pretrain --config=configs/mae_cifar10.py --workdir=runs/mae_cifar10

Expected: not measured (no accelerator or CIFAR-10 on the development machines); the
recipe runs two steps on TFDS mock data in the tests (`tests/configs_cifar10_mock_test.py`).
`benchmarks/step_time.py --config=configs/mae_cifar10.py --compare_all_tokens` reports the
MAE step against the same ViT's forward + backward on all tokens.

Reference: facebookresearch/mae at efb2a80 (`models_mae.py`, `main_pretrain.py`).
Deviations: ViT-Tiny/4 and the smaller decoder instead of ViT-B/16 with a 512-d, 8-block
decoder (32-px images); batch 512 instead of 4096; views not normalised by a dataset mean/std
(per-patch normalised targets make the loss insensitive to it).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("mae")
    c.batch_size = 512
    c.num_epochs = 800
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "crop_flip"
    c.augment.crop_scale = (0.2, 1.0)
    c.encoder.name = "vit_tiny"
    c.encoder.patch_size = 4
    c.encoder.pos_embedding = "sincos"
    c.encoder.weight_init = "mae"
    c.decoder.dim = 256
    c.decoder.depth = 4
    c.decoder.num_heads = 8
    c.mae.mask_ratio = 0.75
    c.mae.norm_pix_loss = True
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1.5e-4
    c.optimizer.lr_scaling = "linear"
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.95
    c.optimizer.warmup_epochs = 40
    c.optimizer.weight_decay = 0.05
    c.eval.max_train_examples = 50000
    return c
