"""SupCon (uses labels) on ImageNet with ResNet-50, the authors' TensorFlow recipe.

Recipe (google-research/google-research `supcon/scripts/supcon_imagenet_resnet50.sh`):
batch 6144, LARS base lr 0.4 scaled linearly, weight decay 1e-3, 12 warm-up epochs then
cosine, 350 epochs, temperature 0.1, a linear projection to 128 (no BN), normalised.

    python -m ssljax.pretrain --config=configs/supcon_imagenet.py --workdir=gs://.../supcon

This method USES LABELS.

Reference: google-research/google-research `supcon/` (stored versions read:
`scripts/supcon_imagenet_resnet50.sh` at 30adf0e, `scripts/configs.sh` at 0c1bbe5
(`SUPCON_FLAGS`, `IMAGENET_FLAGS`), `hparams_flags.py` at 2a03c51, `losses.py` at
ccc94ce); Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020
(arXiv:2004.11362), whose ImageNet numbers come from this TensorFlow code
(`supcon/README.md`). Expected: the abstract reports 81.4% top-1 for ResNet-200; the
ResNet-50 number of the paper's table was not verified here. Not reproduced with ssljax.
Deviations: SimCLR's augmentations instead of AutoAugment (`--augmentation_magnitude=1.0`;
not implemented in ssljax); the reference L2-normalises the encoder output before the projection
(`normalize_embedding=True`); it decays biases too (`use_bias_weight_decay=True`), here
biases and BN parameters are excluded.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("supcon")
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.encoder.dtype = "bfloat16"
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    c.batch_size = 6144
    c.num_epochs = 350
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.log_every_steps = 100
    c.augment.preset = "simclr"
    c.head.hidden_dims = ()
    c.head.out_dim = 128
    c.head.use_bn = False
    c.loss.temperature = 0.1
    c.loss.base_temperature = 1.0  # scale_by_temperature=True: the loss × τ
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 0.4
    c.optimizer.warmup_epochs = 12
    c.optimizer.weight_decay = 1e-3
    return c
