"""Defaults shared by every pretraining config in `configs/`.

A config file calls `pretrain_base()` and overrides what its recipe changes, so
every run has every key (`--config.key=value` can only override existing keys).
"""

from __future__ import annotations

import ml_collections


def pretrain_base() -> ml_collections.ConfigDict:
    """All pretraining keys with neutral defaults (a tiny SimCLR on the bundled digits)."""
    c = ml_collections.ConfigDict()
    c.method = "simclr"
    c.seed = 0
    c.batch_size = 256  # global, over all devices and processes
    c.num_epochs = 100
    c.max_steps = -1  # cap on steps; <= 0 means no cap
    c.checkpoint_every_steps = 1000
    c.keep_checkpoints = 3
    c.log_every_steps = 50
    c.eval_every_steps = 0  # periodic kNN; 0 = only at the end
    c.bn = "global"  # global | local | shuffle (MoCo v1/v2)
    c.nonfinite = "stop"  # stop | skip: what a NaN/Inf loss or gradient does
    c.tensorboard = True
    c.plots = True

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "mnist"
    c.dataset.data_dir = ""
    c.dataset.image_size = 0  # 0 = native size
    c.dataset.train_split = "train"
    c.dataset.eval_split = "test"
    c.dataset.num_classes = 0  # 0 = from the dataset
    c.dataset.download = False
    c.dataset.skip_corrupt = False

    c.augment = ml_collections.ConfigDict()
    c.augment.preset = "digits"  # simclr | byol | mocov2 | digits
    c.augment.image_size = 0  # output size of the views; 0 = dataset image size
    c.augment.strength = 1.0
    c.augment.blur = True

    c.encoder = ml_collections.ConfigDict()
    c.encoder.name = "small_cnn"
    c.encoder.dtype = "float32"  # float32 | bfloat16 (compute dtype; params stay float32)

    c.head = ml_collections.ConfigDict()
    c.head.hidden_dims = (512,)
    c.head.out_dim = 128
    c.head.use_bn = True
    c.head.last_bn = False

    c.loss = ml_collections.ConfigDict()
    c.loss.temperature = 0.1
    c.loss.block_size = 0  # > 0: blockwise NT-Xent with memory linear in the batch

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "lars"  # lars | sgd | adamw
    c.optimizer.base_lr = 0.3
    c.optimizer.lr_scaling = "linear"  # linear (base·bs/256) | sqrt | none
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-6
    c.optimizer.momentum = 0.9

    c.probe = ml_collections.ConfigDict()
    c.probe.learning_rate = 1e-3

    c.eval = ml_collections.ConfigDict()
    c.eval.encoder = "online"  # online | target (the EMA network: DINO's teacher)
    c.eval.knn_k = 200
    c.eval.knn_temperature = 0.07
    c.eval.linear_epochs = 100
    c.eval.max_train_examples = 0  # 0 = all
    c.eval.max_eval_examples = 0
    return c
