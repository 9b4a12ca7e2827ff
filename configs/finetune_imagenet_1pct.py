"""Semi-supervised ImageNet: fine-tune a pretrained ResNet-50 on 1% of the labels.

    python -m ssljax.finetune --config=configs/finetune_imagenet_1pct.py \
        --config.init_from=gs://.../simclr_r50 --workdir=gs://.../simclr_r50_ft1pct

Data: the standard 1% subset (12,811 images, about 13 per class) of TFDS
`imagenet2012_subset/1pct` (the subset files of the SimCLR paper; prepared with `tfds
build imagenet2012_subset/1pct`, which reads the ImageNet archives), scored on the 50,000
validation images. Recipe (SimCLR, Appendix B.5): the whole network fine-tuned with
Nesterov SGD (momentum 0.9), batch 4096, lr 0.05·4096/256 = 0.8, no warm-up, cosine
decay, no weight decay, random resized crop + flip to 224, 60 epochs, global BatchNorm.
`--config.init_from=` trains the same ResNet-50 from scratch (the supervised baseline).
Expected: the SimCLR paper reports 48.3% top-1 / 75.5% top-5 for ResNet-50 (1×) after
1000 pretraining epochs. Not yet reproduced with ssljax.
"""

from ssljax.config_base import imagenet_subset_finetune


def get_config():
    c = imagenet_subset_finetune("1pct", num_epochs=60)
    c.log_every_steps = 10
    return c
