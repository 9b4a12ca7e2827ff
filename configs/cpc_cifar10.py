"""Contrastive predictive coding (CPC v2) on CIFAR-10 with a CIFAR-stem ResNet-18.

Recipe: CPC v2's task scaled to 32×32 images: a 7×7 grid of 8-px patches with stride 4
(the paper: 64-px patches with stride 32 on 256 px, also 7×7), each patch embedded by
the ResNet-18 on its own, a row-causal context network (2 residual blocks), linear
predictors for the rows 1 to 3 below, InfoNCE against every other patch at that offset
in the batch; light crop and flip; Adam (AdamW without weight decay), lr 5e-4, batch
256; 100 epochs.

    python -m ssljax.pretrain --config=configs/cpc_cifar10.py --workdir=runs/cpc_c10

Expected: CPC v2 reports ImageNet results (ResNet-161: 71.5% linear top-1); no CIFAR-10
number is quoted here. Not yet reproduced with ssljax.

Reference: Hénaff et al., ICML 2020 (arXiv:1905.09272; the patch grid, layer
normalisation, negatives from the batch, the 71.5% linear result); van den Oord et al.,
arXiv:1807.03748. No official code was released; the unofficial PyTorch re-implementation
mf1024/Contrastive-Predictive-Coding-for-Image-Recognition-in-PyTorch at 2a8a943 was
consulted (`context_predictor_training.py`, `helper_functions.py`: the 7×7 grid of 64-px
patches with stride 32, Adam lr 5e-4; it scores cosine similarities against random
patches of other images, here dot products against every patch of the batch, as CPC v2).
Deviations: ResNet-18 with BatchNorm (no layer-normalised ResNet in ssljax yet; the
patches of one image share batch statistics); a 2-block context network instead of the
paper's deeper PixelCNN; no per-patch augmentation (the paper's colour dropping and
random crops per patch); predictions of rows below only (no other directions).
"""

from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("cpc")
    c.batch_size = 256
    c.num_epochs = 100
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 5000
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.augment.preset = "crop_flip"
    c.encoder.name = "resnet18"
    c.encoder.stem = "cifar"
    c.cpc.patch_px = 8
    c.cpc.stride_px = 4
    c.cpc.steps = 3
    c.cpc.context_hidden = 512
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 5e-4
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 1
    c.optimizer.weight_decay = 0.0
    c.eval.max_train_examples = 50000
    return c
