"""I-JEPA on ImageNet: ViT-H/14 at 224 px, the reference's 300-epoch recipe.

Masks: 4 target blocks (scale 0.15–0.2, aspect 0.75–1.5), one context block (scale
0.85–1.0) without them, at least 10 context tokens; predictor 384-d, 12 blocks, 16
heads (the encoder's); target encoder EMA 0.996 → 1 (linear); smooth-L1 loss on
layer-normalised targets; block i's output projections start divided by sqrt(2·i) in
encoder and predictor (the reference's `fix_init_weight`: `encoder.rescale_init`,
`predictor.rescale_init`). AdamW, lr 1e-3 at batch 2048 (no batch scaling), 40 warm-up
epochs then cosine, weight decay 0.04 → 0.4 (cosine); random resized crop (0.3, 1) only;
bfloat16; 300 epochs.

    python -m ssljax.pretrain --config=configs/ijepa_imagenet.py --workdir=gs://.../ijepa_vith14

Expected (I-JEPA paper Table 1): ViT-H/14, 300 epochs, linear probe on the average-pooled
tokens 79.3% top-1 (trained on 16 A100 nodes, under 72 h). Not yet reproduced with ssljax.

Reference: facebookresearch/ijepa at 52c1ae9 (`configs/in1k_vith14_ep300.yaml`,
`src/train.py`, `src/masks/multiblock.py`, `src/models/vision_transformer.py`).
Deviations: the warm-up starts at 0 (reference: `start_lr` 2e-4; the cosine ends at its
1e-6, `optimizer.end_lr`); context token lists are padded to a fixed length with an
attention mask instead of cut to the batch's shortest; the block placements come from
per-example keys of (seed, step, row), not a per-step torch generator; Flax's attention
has separate q, k, v kernels; crops are cut on device from the TFDS pipeline's 224-px
central square.
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("ijepa")
    c.batch_size = 2048
    c.num_epochs = 300
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.log_every_steps = 100
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.augment.preset = "crop"
    c.augment.crop_scale = (0.3, 1.0)
    c.augment.mean = (0.485, 0.456, 0.406)
    c.augment.std = (0.229, 0.224, 0.225)
    c.encoder.name = "vit_huge"
    c.encoder.patch_size = 14
    c.encoder.dtype = "bfloat16"
    c.encoder.pos_embedding = "sincos"
    c.encoder.use_cls = False
    c.encoder.features = "avgpool"
    c.encoder.rescale_init = True  # the reference's fix_init_weight
    c.predictor.rescale_init = True
    c.predictor.dim = 384
    c.predictor.depth = 12
    c.predictor.num_heads = 0  # the encoder's 16
    c.ijepa.num_targets = 4
    c.ijepa.target_scale = (0.15, 0.2)
    c.ijepa.target_aspect = (0.75, 1.5)
    c.ijepa.context_scale = (0.85, 1.0)
    c.ijepa.min_keep = 10
    c.ema.tau_base = 0.996
    c.ema.schedule = "linear"
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 40
    c.optimizer.end_lr = 1e-6  # the reference's final_lr
    c.optimizer.weight_decay = 0.04
    c.optimizer.weight_decay_end = 0.4
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    return c
