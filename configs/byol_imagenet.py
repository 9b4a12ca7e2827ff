"""BYOL on ImageNet with ResNet-50 (1×), the paper's main recipe.

Recipe (Grill et al. 2020, Section 3.3 and Appendix J): BYOL's asymmetric augmentations
(random resized crop 0.08–1 to 224, flip, colour jitter 0.4/0.4/0.2/0.1 with p 0.8,
grayscale 0.2, blur p 1.0 / 0.1, solarize p 0 / 0.2); projector and predictor MLPs
4096 → 256 with BN in the hidden layer; LARS (BN parameters and biases excluded from
weight decay and adaptation) with base lr 0.2 scaled linearly (3.2 at batch 4096),
10 warm-up epochs then cosine, weight decay 1.5e-6; target decay tau from 0.996 to 1
(cosine); global BatchNorm; 1000 epochs, batch 4096.

Run on a TPU pod slice or GPU cluster (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/byol_imagenet.py --workdir=gs://.../byol_r50

Expected: 74.3% top-1 linear evaluation after 1000 epochs (paper, Table 1a); the paper
trains with batch 4096 on 512 Cloud TPU v3 cores (about 8 hours for ResNet-50).
Not yet reproduced with ssljax.

Reference: deepmind/deepmind-research at d8df415, `byol/configs/byol.py` (1000-epoch
presets), `byol/byol_experiment.py`, `byol/utils/` (`augmentations.py`, `networks.py`,
`optimizers.py`, `schedules.py`); the paper's Table 1a, ResNet-50 linear top-1 74.3% (the
README: 74.0–74.5%).
Deviations: random-resized crops are cut on device from the central square that the TFDS
pipeline has already resized to 224 px (`ssljax/data/tfds_source.py`), not from the
full-resolution image; views are not normalised by the ImageNet mean/std (`augment.mean`/
`std` unset; the reference normalises); the target starts as a copy of the online network
(reference: its own random init); optax's LARS applies the lr before the momentum
(reference: after it); bfloat16 compute (reference: float32). The last BN γ of each block
starts at 0, as in the released code (its README: the paper's runs used γ = 1, with no
change for ResNet-50 1×).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("byol")
    c.batch_size = 4096
    c.num_epochs = 1000
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.log_every_steps = 100
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.augment.preset = "byol"
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.encoder.dtype = "bfloat16"
    c.head.hidden_dims = (4096,)
    c.head.out_dim = 256
    c.head.use_bn = True
    c.head.last_bn = False
    c.head.last_bias = False  # haiku MLP: the output Linear has with_bias=False
    c.predictor.hidden_dims = (4096,)
    c.predictor.out_dim = 256
    c.predictor.use_bn = True
    c.predictor.last_bn = False
    c.predictor.last_bias = False
    c.ema.tau_base = 0.996
    c.ema.schedule = "cosine"
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 0.2
    c.optimizer.lr_scaling = "linear"
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1.5e-6
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    return c
