"""Fine-tuning on the bundled MNIST digits with 1%, 10% or 100% of the labels.

    python -m ssljax.finetune --config=configs/finetune_mnist.py \
        --config.init_from=runs/demo --config.label_fraction=0.1 --workdir=runs/demo_ft10
    # the same network from a random initialisation (the baseline):
    python -m ssljax.finetune --config=configs/finetune_mnist.py \
        --config.init_from= --config.label_fraction=0.1 --workdir=runs/scratch_ft10
    # feature extraction instead of fine-tuning:
    ... --config.freeze_encoder=True

The labelled subset is class-balanced (1%: 4 digits per class, 10%: 40 per class) and
seeded by `seed`. Training: `num_steps` steps at batch 128 (smaller when there are fewer
labels) whatever the fraction, crops of scale (0.5, 1) and aspect (0.8, 1.25), no flips,
AdamW at lr 1e-3 with cosine decay and no weight decay, BN statistics updated. AdamW,
not the SimCLR paper's Nesterov SGD (lr 0.05·bs/256, kept in the ImageNet configs): in an
earlier run on an older checkpoint SGD fine-tuning kept less of what pretraining learnt on
this small CNN (not re-measured on the current code). `python benchmarks/transfer_mnist.py
runs/demo` prints the fine-tuning results and the 10%-label gain over scratch for a
checkpoint of `configs/simclr_mnist.py`.
"""

from ssljax.config_base import finetune_base


def get_config(variant=None):
    """`variant="fashion_mnist"`: the same recipe on Fashion-MNIST, with horizontal flips."""
    if variant not in (None, "", "fashion_mnist"):
        raise ValueError(f"config variant {variant!r} is unknown; use fashion_mnist")
    c = finetune_base()
    c.dataset.name = "mnist"
    c.encoder.name = "small_cnn"
    c.batch_size = 128
    c.num_steps = 500
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.weight_decay = 0.0
    c.augment.crop_scale = (0.5, 1.0)
    c.augment.crop_ratio = (0.8, 1.25)
    c.augment.flip = False
    c.log_every_steps = 25
    if variant == "fashion_mnist":
        c.dataset.name = "fashion_mnist"
        c.augment.flip = True  # clothes are mirror-symmetric, digits are not
    return c
