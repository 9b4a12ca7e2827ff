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
Nesterov SGD with cosine decay, no weight decay, BN statistics updated.
Expected with the demo checkpoint: see `benchmarks/transfer_mnist.py` for the measured
1% / 10% / 100% table (SSL init vs scratch); about a minute per run on a 2-core CPU.
"""

from ssljax.finetune import base_config


def get_config():
    c = base_config()
    c.dataset.name = "mnist"
    c.encoder.name = "small_cnn"
    c.batch_size = 128
    c.num_steps = 500
    c.optimizer.base_lr = 0.1
    c.augment.crop_scale = (0.5, 1.0)
    c.augment.crop_ratio = (0.8, 1.25)
    c.augment.flip = False
    c.log_every_steps = 25
    return c
