"""Every file in configs/ loads, and has the keys its program reads."""

from __future__ import annotations

import importlib.util

import ml_collections
import pytest

from ssljax import cli, methods
from tests.program_utils import REPO

CONFIGS = sorted(REPO.glob("configs/*.py"))


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads_with_its_programs_keys(path):
    config = _load(path)
    assert isinstance(config, ml_collections.ConfigDict)
    assert path.read_text().lstrip().startswith('"""'), "every config documents its recipe"
    if path.stem.startswith(("linear_eval_", "finetune_")):
        assert "init_from" in config and "dataset" in config
    else:
        cli.require_keys(config, cli.REQUIRED_PRETRAIN_KEYS)
        assert config.method in methods.METHODS
