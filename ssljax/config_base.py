"""The config schema: every key any program reads, with its one default.

A pretraining config file calls `pretrain_base(method)` and overrides what its recipe
changes; `linear_eval_base()` and `finetune_base()` do the same for the evaluation
programs. So every run has every key (`--config.key=value` can only override existing
keys), and `ssljax.config_schema.resolve` checks a loaded config against these defaults
before any work starts: an unknown key is a one-line error naming it, a key the chosen
method, optimizer or augmentation preset does not read is a one-line warning.

`pretrain_base(method)` is the common schema below plus the method's own keys and
defaults (`Method.defaults` in `ssljax/methods/<method>.py`: its loss coefficients,
predictor, EMA target, queue, ...).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections

from ssljax.data.config import DatasetConfig


def _block(**values: Any) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(values)


def dataset_block(name: str = "mnist") -> ml_collections.ConfigDict:
    """The `dataset` block: exactly the fields of `ssljax.data.DatasetConfig`."""
    return _block(**dataclasses.asdict(DatasetConfig(name=name)))


def optimizer_block(name: str = "lars", base_lr: float = 0.3) -> ml_collections.ConfigDict:
    """The `optimizer` block; which keys each optimizer reads is `ssljax.optim.OPTIMIZERS`."""
    return _block(
        name=name,  # lars | sgd | adamw
        base_lr=base_lr,
        lr_scaling="linear",  # linear (base·bs/256) | sqrt (base·√bs) | none
        warmup_epochs=10.0,
        end_lr=0.0,  # the cosine's final value (absolute, not scaled)
        weight_decay=1e-6,
        weight_decay_end=-1.0,  # >= 0: cosine from weight_decay to this (DINO); < 0: constant
        exclude_bn_and_bias=True,  # False: decay (and LARS-adapt) BN parameters and biases too
        clip_norm_per_tensor=0.0,  # > 0: clip each gradient tensor to this L2 norm (DINO 3.0)
        momentum=0.9,  # lars, sgd
        nesterov=False,  # lars, sgd
        trust_coefficient=1e-3,  # lars
        b1=0.9,  # adamw
        b2=0.999,  # adamw
        freeze=(),  # parameter-path substrings that get no updates, e.g. ("patch_embed",)
        no_decay_lr_scale=1.0,  # lr factor of BN parameters and biases (Barlow Twins 0.024)
        fixed_lr=(),  # parameter-path components kept at the peak lr (SimSiam: ("predictor",))
        layer_decay=1.0,  # < 1: ViT layer-wise lr decay (MAE fine-tuning: 0.65 ViT-B, 0.75 L)
        patch_embed_lr_mult=1.0,  # the ViT patch embedding's lr factor (DINOv2: 0.2)
    )


def _common_pretrain() -> ml_collections.ConfigDict:
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
    # Resume although the saved config differs in keys that change the run (see
    # ssljax/workdir.py): the user's explicit decision, for changes that keep the shapes.
    c.resume_with_changes = False
    c.dataset = dataset_block("mnist")
    c.augment = _block(
        preset="digits",  # a name in ssljax.augment.PRESETS
        image_size=0,  # side of the (global) views; 0 = the dataset's image size
        strength=1.0,  # simclr: colour-jitter strength s
        blur=True,  # simclr: Gaussian blur on/off
        crop_scale=(),  # (min, max) crop area of the global views; () = the preset's
        num_local=0,  # multi-crop: number of local crops
        local_size=0,  # their side; 0 = 96/224 of the global side
        local_crop_scale=(),  # their crop area range; () = the preset's
        mean=(),  # per-channel normalisation of the views; () = none (values in [0, 1])
        std=(),
    )
    # Plus the encoder's own attributes (stem, width, channels, patch_size, ...), which the
    # schema takes from the encoder module named by `encoder.name`.
    c.encoder = _block(name="small_cnn", dtype="float32")  # dtype: float32 | bfloat16
    c.head = _block(hidden_dims=(512,), out_dim=128, use_bn=True, last_bn=False,
                    last_bn_affine=True, last_bn_center=True, last_bias=True)
    c.loss = ml_collections.ConfigDict()  # the method's own keys (Method.defaults)
    c.optimizer = optimizer_block()
    c.probe = _block(learning_rate=1e-3)
    c.eval = _block(
        encoder="online",  # online | target (the EMA network: DINO's teacher)
        vit_features="",  # ViTs: "" (as trained) | cls | cls_last4 | cls_avgpool (DINO)
        feature_layer=0,  # ResNet/SmallCNN: 0 = the last stage; k = pool stage k (RotNet)
        knn_k=200,
        knn_temperature=0.07,
        linear_epochs=100,  # L-BFGS iterations of the final linear probe
        max_train_examples=0,  # 0 = all
        max_eval_examples=0,
        batch_size=512,  # feature extraction
    )
    return c


def set_dotted(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
    """`config[a][b]... = value` for `key = "a.b..."`, creating missing blocks."""
    *parents, leaf = key.split(".")
    node = config
    for p in parents:
        if p not in node:
            node[p] = ml_collections.ConfigDict()
        node = node[p]
    if leaf in node:
        del node[leaf]  # a method default may change the type of a common default
    node[leaf] = value


VARIANTS = ("fashion_mnist",)


def dataset_variant(c: ml_collections.ConfigDict, variant: str | None,
                    **fashion_mnist: Any) -> ml_collections.ConfigDict:
    """A digits config (`configs/<method>_mnist.py`) for another small dataset.

    `--config=configs/<method>_mnist.py:fashion_mnist` gives the Fashion-MNIST variant: the
    60,000/10,000 split, the `fashion` augmentation preset (the digits recipe with
    horizontal flips), checkpoints every 500 steps, and then the method's own budget and
    recipe changes, `fashion_mnist` (dotted keys with "__" for ".", e.g.
    `num_epochs=12, optimizer__base_lr=1e-3`).

    Raises:
      ValueError: an unknown variant.
    """
    if not variant:
        return c
    if variant != "fashion_mnist":
        raise ValueError(f"config variant {variant!r} is unknown; use one of {VARIANTS}")
    c.dataset.name = "fashion_mnist"
    c.augment.preset = "fashion"
    c.checkpoint_every_steps = 500
    c.log_every_steps = 100
    for key, value in fashion_mnist.items():
        set_dotted(c, key.replace("__", "."), value)
    return c


def pretrain_base(method: str = "simclr") -> ml_collections.ConfigDict:
    """Every pretraining key with its default for `method` (a tiny run on the bundled digits).

    Args:
      method: a name in `ssljax.methods.METHODS`; its `defaults` (dotted keys) are added
        to, or replace, the common defaults.

    Raises:
      ConfigError: unknown method.
    """
    from ssljax.methods import METHODS  # noqa: PLC0415 - the registry imports the models

    c = _common_pretrain()
    c.method = method
    for key, value in METHODS.lookup(method).defaults.items():
        set_dotted(c, key, value)
    return c


def _eval_common() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.init_from = ""  # a pretraining workdir (or its encoder/ folder)
    c.random_init = False  # True: init_from's network, freshly initialised (the baseline)
    c.seed = 0
    c.num_classes = 0  # 0 = from the data
    c.image_size = 0  # 0 = the checkpoint's view size (the dataset's for scratch)
    # Empty values mean "the checkpoint's"; a set value must match it. Encoder attributes
    # (e.g. stem) may be added the same way.
    # features: ViT tokens (cls_last4...); feature_layer: a ResNet/SmallCNN stage to pool;
    # patch_px/patch_stride: encode a patch grid and average (0: the checkpoint's, -1: none)
    c.encoder = _block(name="", dtype="", features="", feature_layer=0, patch_px=0,
                       patch_stride=0)
    c.dataset = dataset_block("")  # name "" = the pretraining run's dataset
    c.batch_size = 256
    c.num_epochs = 90
    c.num_steps = 0  # > 0: train this many steps whatever the number of labels
    c.max_steps = -1  # cap on steps; <= 0 means none
    c.label_fraction = 1.0  # < 1: a class-balanced subset of the training labels
    c.optimizer = optimizer_block("sgd", 0.1)
    c.optimizer.warmup_epochs = 0.0
    c.optimizer.nesterov = True
    c.optimizer.weight_decay = 0.0
    c.augment = _block(crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), flip=True)
    c.head_bn = False  # BatchNorm without affine before the linear layer (MoCo v3, MAE)
    c.eval_batch_size = 512
    c.log_every_steps = 50
    c.tensorboard = True
    c.plots = True
    c.embedding_plot = "both"  # pca | tsne | both: 2-D views of the held-out features
    return c


def linear_eval_base() -> ml_collections.ConfigDict:
    """Every linear-eval key with its default (the bundled-digits setting).

    `protocol="cached"`: L2-regularised logistic regression on features extracted once,
    without augmentation (`cached` block). `protocol="paper"`: SimCLR's Appendix B.6 —
    crop + flip on device, frozen encoder, BatchNorm without affine then a linear layer,
    Nesterov SGD lr 0.1·bs/256, cosine, no weight decay, 90 epochs.
    `random_init=True` probes init_from's network freshly initialised, nothing restored:
    the random-network baseline a pretraining run must beat.
    """
    c = _eval_common()
    c.protocol = "cached"  # cached | paper
    c.cached = _block(optimizer="lbfgs", epochs=500, weight_decay=5e-4, batch_size=0,
                      learning_rate=0.0)
    c.head_bn = True
    return c


def finetune_base() -> ml_collections.ConfigDict:
    """Every fine-tuning key with its default (SimCLR's Appendix B.5 recipe, 30 epochs).

    `init_from=""` trains the same network from a random initialisation (the baseline;
    `encoder.name` must then be set); `random_init=True` with `init_from` does so for the
    checkpoint's own network (its encoder block and input view, nothing restored).
    `freeze_encoder=True` is feature extraction.
    """
    c = _eval_common()
    c.freeze_encoder = False
    # SimCLR v2: > 0 fine-tunes the encoder with the first N pretrained projector layers
    c.projector_layers = 0
    c.bn = "local"  # local | global: BatchNorm statistics of the fine-tuned encoder
    c.label_smoothing = 0.0  # > 0: smoothed cross-entropy targets (MAE fine-tuning: 0.1)
    c.num_epochs = 30
    c.optimizer.base_lr = 0.05
    return c


def imagenet_subset_finetune(subset: str, num_epochs: int) -> ml_collections.ConfigDict:
    """SimCLR's semi-supervised ImageNet recipe (Appendix B.5) on a TFDS label subset.

    Args:
      subset: "1pct" or "10pct" (TFDS `imagenet2012_subset/<subset>`, the SimCLR subsets).
      num_epochs: 60 for 1%, 30 for 10% in the paper.
    """
    c = finetune_base()
    c.dataset.name = f"imagenet2012_subset/{subset}"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.label_fraction = 1.0  # the TFDS subset already holds only the labelled fraction
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.bn = "global"
    c.batch_size = 4096
    c.num_epochs = num_epochs
    c.optimizer.base_lr = 0.05
    c.eval_batch_size = 1024
    return c
