"""The CIFAR-10 paper recipes of the later methods run two steps on TFDS mock data.

`configs/<method>_cifar10.py` as written (ResNet-18 with the CIFAR stem, ResNet-50 for
SupCon, ViT-Tiny/4 for MAE, I-JEPA and DINOv2; the paper's heads, loss, optimizer, augmentation
and multi-crop), resolved against the schema, on batches of
`tfds.testing.mock_data` CIFAR-10 (random 32x32 images with the real metadata) read by the
program's own input pipeline; only the batch is small, and the ViT recipes' ViT-Tiny keeps
its width, heads and patch size but 2 of its 12 blocks (the blocks are alike; compiling all
12 made DINOv2's test alone 50 s). The engine's jitted step runs twice on one device (the
programs around it are tested on the digits; a ResNet compilation per method is what this
costs).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from ssljax import config_schema, data, models
from tests import harness
from tests.program_utils import REPO

tfds = pytest.importorskip("tensorflow_datasets")

pytestmark = pytest.mark.slow  # a ResNet-18 compilation per method

METHODS = ("directpred", "swav", "nnclr", "dcl", "dclw", "supcon", "rotnet", "autoencoder",
           "context_encoder", "jigsaw", "context_prediction", "cpc", "colorization", "mae",
           "ijepa", "dinov2")
BATCH = 4


# The patch-based methods encode every tile of every image with the ResNet: a smaller batch
# keeps their two steps short (they dominated the suite at 16: CPC 134 s, jigsaw 77 s);
# DINOv2's multi-crop ViT too (57 s at 8).
BATCH_OF = {"cpc": 2, "jigsaw": 2, "context_prediction": 2, "dinov2": 2}


VIT_TINY_2 = "vit_tiny_2_blocks"


@pytest.fixture(scope="module", autouse=True)
def _vit_tiny_2_blocks():
    """ViT-Tiny (dim 192, 3 heads) with 2 blocks, registered for this module's tests."""
    models.register_encoder(VIT_TINY_2, lambda **kw: models.ViT(dim=192, depth=2, num_heads=3,
                                                                 **kw), batch_norm=False)
    yield
    models.ENCODERS.unregister(VIT_TINY_2)


def _config(method):
    path = REPO / f"configs/{method}_cifar10.py"
    spec = importlib.util.spec_from_file_location(method, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    assert c.dataset.name == "cifar10"
    assert c.encoder.name in ("resnet18", "resnet50", "vit_tiny")
    c.batch_size = BATCH_OF.get(method, BATCH)
    if c.encoder.name == "vit_tiny":
        c.encoder.name = VIT_TINY_2
    return config_schema.resolve(c, "pretrain", warn=False)[0]


@pytest.mark.parametrize("method", METHODS)
def test_cifar10_recipe_takes_two_steps_on_mock_data(method):
    c = _config(method)
    with tfds.testing.mock_data(num_examples=48):
        info = data.dataset_info(c.dataset)
        assert info.image_shape == (32, 32, 3) and info.num_classes == 10
        it = data.make_train_iterator(c.dataset, global_batch_size=c.batch_size, seed=0,
                                      process_index=0, process_count=1)
        batches = [next(it), next(it)]
    run = harness.build(c, 1, total_steps=200, steps_per_epoch=3, size=32, channels=3)
    state, losses = run.state, []
    for host in batches:
        state, metrics = run.step(state, harness.put(host, run))
        losses.append(float(metrics["loss"]))
    assert np.isfinite(losses).all(), losses
    assert int(state.step) == 2
