"""The schema's up-front checks: every out-of-range setting is one line before any work.

Each case is a setting that used to end in a traceback, a hang or silent acceptance
(issue 17, item 8; item 3 for the checkpoint settings). The programs run `resolve` before
they write `config.json`, so a `ConfigError` here means nothing was written.
"""

from __future__ import annotations

import pytest

from ssljax import config_schema, models, workdir
from ssljax.config_base import pretrain_base
from ssljax.errors import CheckpointError, ConfigError
from tests import harness


def _resolve(method: str = "simclr", **overrides):
    c = pretrain_base(method).to_dict()  # a plain dict: no ConfigDict type checks
    for key, value in overrides.items():
        *parents, leaf = key.split("__")
        node = c
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config_schema.resolve(c, "pretrain", warn=False)


@pytest.mark.parametrize("method,key,value,line", [
    ("simclr", "keep_checkpoints", 0, "config key keep_checkpoints=0 must be >= 1"),
    ("simclr", "checkpoint_every_steps", -1, "config key checkpoint_every_steps=-1 must be >= 1"),
    ("simclr", "loss__temperature", 0.0, "config key loss.temperature=0.0 must be > 0"),
    ("simclr", "loss__temperature", -0.5, "config key loss.temperature=-0.5 must be > 0"),
    ("dino", "loss__teacher_temp", 0.0, "config key loss.teacher_temp=0.0 must be > 0"),
    ("simclr", "eval__knn_k", 0, "config key eval.knn_k=0 must be >= 1"),
    ("simclr", "augment__image_size", -1, "config key augment.image_size=-1 must be >= 0"),
    ("simclr", "head__out_dim", 0, "config key head.out_dim=0 must be > 0"),
    ("simclr", "batch_size", 0, "config key batch_size=0 must be > 0"),
    ("simclr", "nonfinite", "ignore", "config key nonfinite='ignore' must be one of 'stop', "
     "'skip'"),
    ("byol", "ema__tau_base", 1.5, "config key ema.tau_base=1.5 must be in [0, 1]"),
    ("simclr", "optimizer__momentum", 1.0, "config key optimizer.momentum=1.0 must be in [0, 1)"),
    ("simclr", "num_epochs", 1.5, "config key num_epochs=1.5 must be an integer"),
    ("simclr", "optimizer__base_lr", float("nan"), "config key optimizer.base_lr=nan must be "
     "finite"),
    ("simclr", "plots", "yes", "config key plots='yes' must be True or False"),
])
def test_out_of_range_settings_are_one_line(method, key, value, line):
    with pytest.raises(ConfigError) as e:
        _resolve(method, **{key: value})
    assert str(e.value) == line


def test_valid_settings_pass_and_keep_their_type():
    config, warnings = _resolve(keep_checkpoints=1, checkpoint_every_steps=1, num_epochs=2.0)
    assert config.keep_checkpoints == 1 and config.num_epochs == 2
    assert isinstance(config.num_epochs, int) and warnings == []


def test_ignored_settings_warn_in_plain_words():
    _, warnings = _resolve(optimizer__name="adamw", optimizer__momentum=0.5)
    assert warnings == ["optimizer.momentum=0.5 is ignored by optimizer 'adamw'"]


def test_patch_size_that_does_not_divide_the_image_is_one_line():
    c = harness.tiny_config("simclr")
    c.encoder = pretrain_base("simclr").encoder
    c.encoder.name = "vit_test"  # patch 8 on 28-px digits
    with pytest.raises(ConfigError) as e:
        harness.build(c, size=28)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("model: ViT patch_size 8 must divide the image size, got 28×28")


def test_a_path_component_longer_than_the_file_system_allows_is_one_line(tmp_path):
    long = tmp_path / ("a" * 300) / "run"
    with pytest.raises(CheckpointError) as e:
        workdir.check(long, program="pretrain", config={})
    assert "has a path component of 300 bytes" in str(e.value)
    assert "pick a shorter name" in str(e.value)
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_a_named_vits_sizes_may_be_set_and_a_resnets_stages_may_not():
    """`encoder.dim` / `depth` / `num_heads` resize a named ViT (e.g. a 2-block vit_mini);
    a ResNet's stage sizes stay what its name fixes."""
    config, _ = _resolve(encoder__name="vit_mini", encoder__dim=64, encoder__depth=2)
    vit = models.encoder_from_block(config.encoder.to_dict())
    assert (vit.dim, vit.depth, vit.num_heads, vit.patch_size) == (64, 2, 4, 4)
    with pytest.raises(ConfigError, match="'encoder.stage_sizes' is not an attribute of "
                                          "encoder 'resnet18'"):
        _resolve(encoder__name="resnet18", encoder__stage_sizes=(1, 1, 1, 1))
