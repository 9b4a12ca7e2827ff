"""The transfer / fine-tuning program: a new linear head on the pretrained encoder.

    python -m ssljax.finetune --config=configs/finetune_mnist.py \\
        --config.init_from=runs/demo --config.label_fraction=0.1 --workdir=runs/demo_ft10

- `init_from`: a pretraining workdir (or its `encoder/`); `""` trains the same network
  from a random initialisation (the baseline; `encoder.name` must then be set), and
  `random_init=True` trains the checkpoint's own network (its encoder block and input
  view, e.g. a ViT with MAE's sin-cos embeddings) from a random initialisation.
- `label_fraction` in (0, 1]: below 1, a class-balanced subset of the training split
  (the same number of examples from every class, seeded by `seed`) is used, and its
  indices are written to `<workdir>/label_subset.json`. For ImageNet use the standard
  1%/10% subsets of TFDS (`imagenet2012_subset/1pct`, `/10pct`) with fraction 1.0.
- `freeze_encoder=True`: feature extraction (the encoder is frozen, BN in inference
  mode, only the head learns); False: fine-tune everything, the encoder's BatchNorm
  statistics updated (`bn="local"`: per-device batch statistics; `"global"`: across
  devices).
- Crop (+ flip) augmentation on device, SGD with (Nesterov) momentum or AdamW, cosine
  learning rate; the run length is `num_epochs` over the labelled examples, or
  `num_steps` when positive.
- Works with TFDS datasets, image folders (`dataset.name=image_folder`) and the bundled
  digits; images whose channel count differs from the pretrained encoder's are converted
  (luma for colour → grayscale, repeated for grayscale → colour).

Ends with top-1/top-5 on the held-out split in `results.json` and as the last line of
stdout, plus `metrics.jsonl`, TensorBoard summaries, training curves and an embedding plot.

Reference: Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020, Appendix B.5 (fine-tuning on 1%/10% of ImageNet labels:
Nesterov SGD, lr 0.05·batch/256, no weight decay, crop + flip, 60/30 epochs).
"""

from __future__ import annotations

from typing import Any

import ml_collections

from ssljax import cli, supervised
from ssljax.config_base import finetune_base
from ssljax.parallel import DATA_AXIS

MODEL_DIR = supervised.MODEL_DIR
base_config = finetune_base  # every key with its default (ssljax.config_base)


def fit(config: ml_collections.ConfigDict, workdir: str) -> tuple[dict[str, Any], Any]:
    """Fine-tunes and evaluates; returns (results, final classifier state).

    Everything the run needs is checked before anything is written to `workdir`.
    """
    frozen = bool(config.freeze_encoder)
    axis = None if frozen or config.bn == "local" else DATA_AXIS
    s = supervised.setup(config, workdir, "finetune", allow_scratch=True, bn_axis=axis)
    with supervised.attempt(s, workdir):
        return supervised.fit(s, workdir, frozen=frozen, save_model=True)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Fine-tunes (or trains from scratch) and evaluates; returns the results dict."""
    return fit(config, workdir)[0]


def run() -> None:
    """Console-script entry point (`ssljax-finetune`)."""
    cli.run_main(train_and_evaluate)


if __name__ == "__main__":
    run()
