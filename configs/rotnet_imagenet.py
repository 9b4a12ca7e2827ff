"""RotNet on ImageNet with ResNet-50 (the paper's ImageNet schedule).

Recipe (Gidaris et al. 2018 and the released `config/ImageNet_RotNet_AlexNet.py`):
every image in its four rotations (4 × 192 images per step); random resized crops to 224
with horizontal flips before rotating; ImageNet mean/std normalisation; SGD with
Nesterov momentum 0.9, lr 0.01 for batch 192, weight decay 5e-4 on every parameter; 50
epochs; a linear rotation classifier on the pooled features.

Run on a TPU pod slice or GPU cluster (TFDS `imagenet2012` prepared beforehand):

    python -m ssljax.pretrain --config=configs/rotnet_imagenet.py --workdir=gs://.../rotnet

Expected: the paper evaluates AlexNet conv-block features with linear classifiers on
ImageNet and Places205 and by transfer to PASCAL VOC (its README: 54.4% mAP on VOC 2007
detection, 2.4 points below supervised AlexNet); it has no ResNet-50 numbers. Not yet
reproduced with ssljax.

Reference: gidariss/FeatureLearningRotNet at 8539de6, `config/ImageNet_RotNet_AlexNet.py`
(batch 192, 50 epochs, SGD lr 0.01 → 0.001 at epoch 15 → 1e-4 at 30 → 1e-5 at 45),
`dataloader.py` (`RandomSizedCrop(224)`, flip, normalisation); the paper's ImageNet tables.
Deviations: ResNet-50 instead of the paper's AlexNet, evaluated on its pooled output; a
cosine from 0.01 instead of the step schedule; random-resized crops cut on device from the
central square that the TFDS pipeline resized to 224 px (`ssljax/data/tfds_source.py`);
the rotations grouped by angle within the batch.
"""

from ssljax.augment import IMAGENET_MEAN, IMAGENET_STD
from ssljax.config_base import pretrain_base


def get_config():
    c = pretrain_base("rotnet")
    c.batch_size = 192
    c.num_epochs = 50
    c.checkpoint_every_steps = 5000
    c.eval_every_steps = 10000
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.augment.preset = "crop_flip"
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.mean = IMAGENET_MEAN
    c.augment.std = IMAGENET_STD
    c.encoder.name = "resnet50"
    c.encoder.stem = "imagenet"
    c.head.hidden_dims = ()
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.01
    c.optimizer.lr_scaling = "none"
    c.optimizer.nesterov = True
    c.optimizer.momentum = 0.9
    c.optimizer.warmup_epochs = 0
    c.optimizer.weight_decay = 5e-4
    c.eval.max_train_examples = 100000
    return c
