"""The three programs in-process (the fast tier): results contracts and up-front errors.

`train_and_evaluate(config, workdir)` is what the CLI runs; here it is called directly on
the bundled digits with tiny settings. The CLI's own contract (flags, one-line errors on
stderr, exit status, kill -9) is tested in subprocesses in tests/pretrain_test.py,
tests/linear_eval_test.py and tests/finetune_test.py (slow tier).
"""

from __future__ import annotations

import json

import pytest

from ssljax import finetune, linear_eval, pretrain
from ssljax.errors import SSLJaxError
from tests.program_utils import REPO, demo_config


def _load(name, **overrides):
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location(name, REPO / "configs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    c.tensorboard = False
    c.plots = False
    for key, value in overrides.items():
        node = c
        *parents, leaf = key.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return c


def test_pretrain_results_contract_and_encoder_export(pretrained):
    res = json.loads((pretrained / "results.json").read_text())
    assert res["program"] == "pretrain" and res["method"] == "simclr"
    assert res["steps"] == 5 and res["status"] == "completed"
    for key in ("final_loss", "linear_top1", "knn_top1", "seconds"):
        assert isinstance(res[key], float), key
    spec = json.loads((pretrained / "encoder_spec.json").read_text())
    assert spec["encoder"]["name"] == "small_cnn" and spec["step"] == 5
    assert spec["eval_view"]["out_size"] == 28
    assert (pretrained / "encoder").is_dir()
    rows = [json.loads(r) for r in (pretrained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("overrides, words", [
    ({"method": "simclrr"}, ["unknown method 'simclrr'", "did you mean 'simclr'"]),
    ({"encoder__name": "resnet9000"}, ["encoder", "resnet18"]),
    pytest.param({"dataset__name": "no_such_dataset_xyz"}, ["no_such_dataset_xyz"],
                 marks=pytest.mark.slow),  # imports TensorFlow to ask TFDS
    ({"batch_size": 60}, ["not divisible", "8 devices"]),
    ({"batch_size": 0}, ["batch_size"]),
    ({"eval__encoder": "target"}, ["simclr has no EMA target", "eval.encoder=online"]),
    ({"eval__encoder": "teacher"}, ["eval.encoder='teacher'", "'online', 'target'"]),
    ({"loss__temperature": -0.5}, ["loss.temperature=-0.5", "> 0"]),
    ({"keep_checkpoints": 0}, ["keep_checkpoints=0", ">= 1"]),
])
def test_pretrain_bad_config_is_one_line_before_anything_is_written(tmp_path, overrides, words):
    wd = tmp_path / "wd"
    with pytest.raises(SSLJaxError) as e:
        pretrain.train_and_evaluate(demo_config(max_steps=2, **overrides), str(wd))
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
    assert not wd.exists()


def test_unknown_optimizer_key_is_one_line(tmp_path):
    c = demo_config(max_steps=2)
    with c.unlocked():
        c.optimizer.momentun = 0.9  # as if written in a config file
    with pytest.raises(SSLJaxError, match=r"config key 'optimizer.momentun' does not exist "
                                          r"\(did you mean 'optimizer.momentum'\?\)"):
        pretrain.train_and_evaluate(c, str(tmp_path / "wd"))


@pytest.mark.slow
def test_linear_eval_cached_in_process(pretrained, tmp_path):
    res = linear_eval.train_and_evaluate(
        _load("linear_eval_mnist", init_from=str(pretrained), cached__epochs=30),
        str(tmp_path / "lin"))
    assert res["program"] == "linear_eval" and res["protocol"] == "cached"
    assert res["num_test"] == 1000 and 0.5 < res["top1"] <= res["top5"] <= 1.0
    assert json.loads((tmp_path / "lin" / "results.json").read_text()) == res


def test_linear_eval_paper_protocol_in_process(pretrained, tmp_path):
    res = linear_eval.train_and_evaluate(
        _load("linear_eval_mnist", init_from=str(pretrained / "encoder"), protocol="paper",
              max_steps=3, batch_size=64), str(tmp_path / "paper"))
    assert res["protocol"] == "paper" and res["steps"] == 3 and res["freeze_encoder"] is True


@pytest.mark.slow
def test_finetune_scratch_baseline_in_process(tmp_path):
    res = finetune.train_and_evaluate(
        _load("finetune_mnist", init_from="", label_fraction=0.01, num_steps=3),
        str(tmp_path / "scratch"))
    assert res["init"] == "scratch" and res["num_labels"] == 40 and res["batch_size"] == 40
    assert 0.0 <= res["top1"] <= 1.0 and (tmp_path / "scratch" / "model").is_dir()


def test_evaluation_programs_refuse_a_pretraining_config_and_workdir(pretrained, tmp_path):
    with pytest.raises(SSLJaxError, match="looks like a pretraining config"):
        linear_eval.train_and_evaluate(demo_config(), str(tmp_path / "x"))
    link = tmp_path / "link"
    link.symlink_to(pretrained)
    before = (pretrained / "results.json").read_text()
    for workdir in (str(link), str(pretrained / ".." / pretrained.name)):
        with pytest.raises(SSLJaxError, match="pretraining workdir given as init_from"):
            finetune.train_and_evaluate(_load("finetune_mnist", init_from=str(pretrained)),
                                        workdir)
    assert (pretrained / "results.json").read_text() == before


def test_an_encoder_with_a_missing_file_is_incomplete_not_a_mismatch(pretrained, tmp_path):
    import shutil  # noqa: PLC0415

    gappy = tmp_path / "gappy"
    shutil.copytree(pretrained, gappy)
    victim = max((p for p in (gappy / "encoder").rglob("*") if p.is_file()),
                 key=lambda p: p.stat().st_size)  # an array's data file
    victim.unlink()
    with pytest.raises(SSLJaxError) as e:
        linear_eval.train_and_evaluate(_load("linear_eval_mnist", init_from=str(gappy)),
                                       str(tmp_path / "lin"))
    msg = str(e.value)
    assert msg.startswith(f"the encoder in {gappy / 'encoder'} is incomplete or damaged (")
    assert "re-export it by rerunning its pretraining command" in msg
    for noise in ("does not match", "pybind11", "<bound method", "\n"):
        assert noise not in msg, msg


def test_an_encoder_of_another_shape_is_a_mismatch(pretrained, tmp_path):
    with pytest.raises(SSLJaxError, match=r"holds a 'small_cnn' encoder with channels=\[32, 64, "
                                          r"128, 256\], but this config sets encoder.channels"):
        linear_eval.train_and_evaluate(
            _load("linear_eval_mnist", init_from=str(pretrained), encoder__channels=(8, 16, 32)),
            str(tmp_path / "lin"))
    # The same encoder attributes but arrays of other shapes (a spec that lies): the
    # saved tree is compared first, and the difference named.
    from ssljax import encoder_io, models  # noqa: PLC0415

    enc = models.get_encoder("small_cnn", channels=(8, 16, 32, 64))
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    abstract = jax.eval_shape(lambda: enc.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)),
                                                train=False))
    with pytest.raises(SSLJaxError, match=r"does not match this config's encoder \(.* is "
                                          r"\[.*\] there and \[.*\] here\)"):
        encoder_io.restore_encoder(pretrained / "encoder", dict(abstract))


def test_encoder_features_may_differ_from_the_checkpoint_only_on_a_vit(pretrained):
    from ssljax import encoder_io  # noqa: PLC0415
    from ssljax.errors import ConfigError  # noqa: PLC0415

    config = _load("linear_eval_mnist", init_from=str(pretrained), encoder__features="cls_last4")
    with pytest.raises(ConfigError, match=r"encoder.features='cls_last4' applies to ViT encoders;"
                                          r" .* holds a 'small_cnn'"):
        encoder_io.resolve_encoder(config, allow_scratch=False)
