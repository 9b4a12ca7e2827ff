"""Every file in configs/ loads, passes the schema and builds what its program builds.

A pretraining config must build its method, views, optimizer and the model's parameter
shapes (no compilation); a digits config's whole train step must trace and log the
`embedding_std` health metric. An evaluation config must resolve against its program's
schema. So a config that names a missing key, a bad value or a method that cannot be
built fails here, not on a user's machine.
"""

from __future__ import annotations

import ast
import importlib.util
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssljax import cli, config_schema, data, engine, methods, parallel
from tests.program_utils import REPO

CONFIGS = sorted(REPO.glob("configs/*.py"))
# Configs with variants (`--config=configs/x.py:variant`): each variant is checked too.
def _variants(path) -> tuple:
    """The `ENCODERS` a config file offers as `:variant`s, or (None,)."""
    m = re.search(r"^ENCODERS = (\(.*?\))", path.read_text(), re.M)
    return ast.literal_eval(m.group(1)) if m else (None,)


CASES = [(p, v) for p in CONFIGS for v in _variants(p)]
# Every digits config with a `get_config(variant)` also offers `:fashion_mnist` (issue 22).
CASES += [(p, "fashion_mnist") for p in CONFIGS if p.stem.endswith("_mnist")
          and "def get_config(variant" in p.read_text()]


def _load(path, variant=None):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant) if variant else module.get_config()


def _program(path) -> str:
    for program in ("linear_eval", "finetune"):
        if path.stem.startswith(program + "_"):
            return program
    return "pretrain"


@pytest.mark.parametrize("path, variant", CASES,
                         ids=lambda x: getattr(x, "stem", None) or str(x))
def test_config_resolves_and_builds_its_method(path, variant):
    raw = _load(path, variant)
    assert path.read_text().lstrip().startswith('"""'), "every config documents its recipe"
    program = _program(path)
    config, warnings = config_schema.resolve(raw, program, warn=False)
    assert not warnings, warnings  # our own configs set nothing that goes unread
    if program != "pretrain":
        assert "init_from" in config and "dataset" in config
        return
    cli.require_keys(raw, cli.REQUIRED_PRETRAIN_KEYS)
    method = methods.get_method(config, num_classes=10)
    method.bind_schedule(100, 10)
    size = config.dataset.image_size or 28
    specs = method.views(size)
    assert specs and all(s.out_size > 0 for s in specs)
    channels = 1 if config.dataset.name in ("mnist", "fashion_mnist") else 3
    if variant == "fashion_mnist":
        assert config.dataset.name == "fashion_mnist", "the variant trains on Fashion-MNIST"
    shapes = jax.eval_shape(lambda: method.model.init(
        jax.random.PRNGKey(0), jnp.zeros((2, specs[0].out_size, specs[0].out_size, channels)),
        train=False))
    assert "encoder" in shapes["params"]


# The fast tier traces three representative steps; the full suite traces every digits config.
_FAST_STEPS = ("simclr_mnist", "byol_mnist", "dino_mnist")


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=() if p.stem in _FAST_STEPS else pytest.mark.slow, id=p.stem)
    for p in CONFIGS if p.stem.endswith("_mnist") and _program(p) == "pretrain"])
def test_digits_config_step_traces_and_logs_embedding_std(path):
    """The whole step of each digits config traces (no compilation), tiny encoder."""
    config = config_schema.resolve(_load(path), warn=False)[0]
    config.batch_size = 16
    if config.encoder.name == "small_cnn":
        config.encoder.channels, config.encoder.strides = (8, 16), (2, 2)
    else:  # a ViT: the tiny test one on the config's patches (4 or 8 px on the digits)
        config.encoder.name = "vit_test"
        config.encoder.patch_size = config.encoder.get("patch_size") or 4
    if "queue_size" in config:
        config.queue_size = 64
    run = engine.build(config, parallel.make_mesh(1), num_classes=10,
                       image_shape=(28, 28, 1), steps_per_epoch=10)
    batch = {"image": jax.ShapeDtypeStruct((16, 28, 28, 1), np.uint8),
             "label": jax.ShapeDtypeStruct((16,), np.int32)}
    _, metrics = jax.eval_shape(run.step, run.state, batch)
    assert "embedding_std" in metrics, sorted(metrics)
    assert metrics["embedding_std"].shape == ()
    assert data.dataset_info(config.dataset).num_classes == 10


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for p in
                                        [*REPO.glob("configs/*_cifar10.py"),
                                         *REPO.glob("configs/*_imagenet.py")]))
def test_paper_config_names_its_reference_and_deviations(path):
    """Every paper recipe says which code it follows and what still differs (issue 18)."""
    doc = ast.get_docstring(ast.parse((REPO / path).read_text())) or ""
    lines = doc.splitlines()
    refs = [line for line in lines if line.startswith("Reference:")]
    devs = [line for line in lines if line.startswith("Deviations:")]
    assert len(refs) == 1 and len(devs) == 1, f"{path}: needs one 'Reference:' and one " \
                                              "'Deviations:' line"
    ref = doc[doc.index("Reference:"):doc.index("Deviations:")]
    # The code it follows, at a commit (a 7-hex-digit abbreviation at least).
    assert re.search(r"\b[0-9a-f]{7,40}\b", ref), f"{path}: the Reference names no commit"
    assert len(doc[doc.index("Deviations:") + len("Deviations:"):].strip()) > 3, path


# Which parameters each reference decays, and whether its ResNet zero-initialises the last
# BN of each residual block (issue 18): weight decay on BN and biases in MoCo v2 / SimSiam
# (`torch.optim.SGD(model.parameters())`), SwAV (SGD + LARC over all parameters), SupCon
# (PyTorch), MoCo v3's ViT (`AdamW(model.parameters())`) and RotNet (`SGD(parameters)`
# in its `algorithms/Algorithm.py`); torchvision's default
# (no zero-init) in MoCo v2 and DINO-R50, SimSiam's builder passes zero_init_residual=True.
_DECAY_ALL = {"mocov2_cifar10", "mocov2_imagenet", "simsiam_cifar10", "simsiam_imagenet",
              "swav_imagenet", "supcon_cifar10", "mocov3_imagenet:vit_small",
              "mocov3_imagenet:vit_base", "rotnet_cifar10", "rotnet_imagenet"}
_NO_ZERO_INIT = {"mocov2_cifar10", "mocov2_imagenet", "dino_imagenet:resnet50"}


@pytest.mark.parametrize("path, variant", [(p, v) for p, v in CASES
                                           if p.stem.endswith(("_cifar10", "_imagenet"))
                                           and _program(p) == "pretrain"],
                         ids=lambda x: getattr(x, "stem", None) or str(x))
def test_paper_configs_decay_and_initialise_as_their_references(path, variant):
    name = path.stem + (f":{variant}" if variant else "")
    config, _ = config_schema.resolve(_load(path, variant), warn=False)
    assert config.optimizer.exclude_bn_and_bias == (name not in _DECAY_ALL), name
    if config.encoder.name.startswith("resnet"):
        zero = config.encoder.get("zero_init_residual", True)
        assert zero == (name not in _NO_ZERO_INIT), name


def test_method_default_decay_masks():
    from ssljax.config_base import pretrain_base  # noqa: PLC0415

    decay_all = {m for m in methods.METHODS
                 if not pretrain_base(m).optimizer.exclude_bn_and_bias}
    assert decay_all == {"mocov2", "simsiam", "rotnet"}
