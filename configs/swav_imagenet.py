"""SwAV on ImageNet with ResNet-50: the paper's 800-epoch multi-crop recipe.

Recipe (facebookresearch/swav `scripts/swav_800ep_pretrain.sh`): 2 × 224 crops (scale
0.14–1) and 6 × 96 crops (scale 0.05–0.14), SwAV's colour distortion (jitter
0.8/0.8/0.8/0.2 with p 0.8, grayscale 0.2, blur p 0.5: SimCLR's preset); projector 2048 →
128, 3000 prototypes frozen for the first epoch (313 iterations at batch 4096);
temperature 0.1, Sinkhorn ε 0.05 with 3 iterations, codes from the two 224 crops; LARS
base lr 4.8 (not rescaled), final lr 0.0048, 10 warm-up epochs, cosine, weight decay 1e-6;
batch 4096, no queue; 800 epochs.

    python -m ssljax.pretrain --config=configs/swav_imagenet.py --workdir=gs://.../swav_r50

Reference: facebookresearch/swav at 06b1b7c, `scripts/swav_800ep_pretrain.sh`,
`main_swav.py` (arguments, SGD + LARC, lr schedule, `distributed_sinkhorn`),
`src/resnet50.py` (head), `src/multicropdataset.py` (crops, colour distortion); Caron et
al., SwAV, NeurIPS 2020 (arXiv:2006.09882). Expected: 75.3% ImageNet linear top-1 (800
epochs, batch 4096, 2×224 + 6×96: the README's model table; the paper's Table 1 row was
not re-checked here); 74.3% for the 400-epoch batch-256 recipe with a queue of 3840. Not
reproduced with ssljax.
Deviations: the warm-up starts at lr 0 (reference `--start_warmup 0.3`); BN statistics
span the whole batch of 4096 (reference: apex SyncBN in groups of
`--syncbn_process_group_size` 8 GPUs, i.e. 512 images).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("swav")
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.encoder.dtype = "bfloat16"
    c.eval.max_train_examples = 100000
    c.eval.max_eval_examples = 50000
    c.batch_size = 4096
    c.num_epochs = 800
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.log_every_steps = 100
    c.augment.preset = "simclr"
    c.augment.num_local = 6
    c.augment.local_size = 96
    c.augment.crop_scale = (0.14, 1.0)
    c.augment.local_crop_scale = (0.05, 0.14)
    c.head.hidden_dims = (2048,)
    c.head.out_dim = 128
    c.head.num_prototypes = 3000
    c.swav.freeze_prototypes_epochs = 1.0
    c.swav.queue_length = 0
    c.optimizer.name = "lars"
    c.optimizer.base_lr = 4.8
    c.optimizer.lr_scaling = "none"
    c.optimizer.end_lr = 0.0048
    c.optimizer.warmup_epochs = 10
    c.optimizer.weight_decay = 1e-6
    # SGD(model.parameters()) + LARC: BN parameters and biases decay and adapt too.
    c.optimizer.exclude_bn_and_bias = False
    return c
