"""Linear evaluation on ImageNet (the SimCLR paper protocol, Appendix B.6).

    python -m ssljax.linear_eval --config=configs/linear_eval_imagenet.py \
        --config.init_from=gs://.../simclr_r50 --workdir=gs://.../simclr_r50_linear

Protocol "paper" (default here): random resized crop (0.08, 1) + flip to 224 through the
frozen encoder (inference-mode BN), a BatchNorm without affine parameters and a linear
layer, Nesterov SGD (momentum 0.9) at batch 4096, lr 0.1·4096/256 = 1.6, cosine decay, no
weight decay, 90 epochs; top-1/top-5 on the 50,000 validation images. The cached protocol
would hold 1.28M features in device memory; use it with `--config.cached.optimizer=sgd
--config.cached.batch_size=4096` on a big accelerator only.
Expected: the SimCLR paper's ResNet-50 reaches 69.3% top-1 after 1000 pretraining epochs.
Not yet reproduced with ssljax.

Reference: google-research/simclr at 383d414, `tf2/run.py` in `--train_mode=finetune
--fine_tune_after_block=4` (the linear head on frozen features; Nesterov momentum,
`tf2/model.py` `build_optimizer`) and the paper's Appendix B.6 (batch 4096, lr 1.6,
no weight decay, 90 epochs) and Table 6 (69.3%).
For a DINO ViT-S, `--config.encoder.features=cls_last4` reads the last 4 blocks' CLS
tokens as DINO's `eval_linear.py` does (`cls_avgpool` for its ViT-B protocol).
Deviations: a BatchNorm without affine parameters before the linear layer (MoCo v3's
and MAE's probe; SimCLR's `SupervisedHead` is a plain linear layer).
"""

from ssljax.config_base import linear_eval_base


def get_config():
    c = linear_eval_base()
    c.protocol = "paper"
    c.dataset.name = "imagenet2012"
    c.dataset.image_size = 224
    c.dataset.eval_split = "validation"
    c.batch_size = 4096
    c.num_epochs = 90
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.flip = True
    c.eval_batch_size = 1024
    c.log_every_steps = 100
    return c
