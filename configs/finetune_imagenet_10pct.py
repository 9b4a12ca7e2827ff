"""Semi-supervised ImageNet: fine-tune a pretrained ResNet-50 on 10% of the labels.

    python -m ssljax.finetune --config=configs/finetune_imagenet_10pct.py \
        --config.init_from=gs://.../simclr_r50 --workdir=gs://.../simclr_r50_ft10pct

Data: the standard 10% subset (128,116 images, about 128 per class) of TFDS
`imagenet2012_subset/10pct` (the subset files of the SimCLR paper; prepared with `tfds
build imagenet2012_subset/10pct`, which reads the ImageNet archives), scored on the 50,000
validation images. Recipe (SimCLR, Appendix B.5): the whole network fine-tuned with
Nesterov SGD (momentum 0.9), batch 4096, lr 0.05·4096/256 = 0.8, no warm-up, cosine
decay, no weight decay, random resized crop + flip to 224, 30 epochs, global BatchNorm.
`--config.init_from=` trains the same ResNet-50 from scratch (the supervised baseline).
Expected: the SimCLR paper reports 65.6% top-1 / 87.8% top-5 for ResNet-50 (1×) after
1000 pretraining epochs. Not yet reproduced with ssljax.
"""

from ssljax.finetune import base_config


def get_config():
    c = base_config()
    c.dataset.name = "imagenet2012_subset/10pct"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.label_fraction = 1.0  # the TFDS subset already is the 10%
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.bn = "global"
    c.batch_size = 4096
    c.num_epochs = 30
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.05
    c.optimizer.nesterov = True
    c.optimizer.weight_decay = 0.0
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.flip = True
    c.eval_batch_size = 1024
    c.log_every_steps = 50
    return c
