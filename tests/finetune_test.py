"""Tests of `ssljax.finetune`: label subsets, frozen encoders, scratch, image folders, errors.

The frozen-encoder run is in-process (8 fake CPU devices, see conftest.py) so that the
final state can be compared with the restored checkpoint; the others run the program in
subprocesses (the slow tier) on the tiny pretraining run of `tests/conftest.py`.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from ssljax import config_schema, data, encoder_io, finetune, supervised
from ssljax.errors import ConfigError
from tests.program_utils import REPO, last_json, run, snapshot

CONFIG = "--config=configs/finetune_mnist.py"
QUIET = ("--config.tensorboard=False", "--config.plots=False")


def _config(**overrides):
    spec = importlib.util.spec_from_file_location("ft_cfg", REPO / "configs/finetune_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    c.tensorboard = False
    c.plots = False
    for key, value in overrides.items():
        node = c
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return c


def test_balanced_subset_is_exact_seeded_and_nested():
    labels = np.repeat(np.arange(4), [50, 30, 80, 40])
    a = supervised.balanced_subset(labels, 0.1, 4, seed=3)
    assert np.bincount(labels[a], minlength=4).tolist() == [5, 5, 5, 5]
    assert np.array_equal(a, supervised.balanced_subset(labels, 0.1, 4, seed=3))
    assert not np.array_equal(a, supervised.balanced_subset(labels, 0.1, 4, seed=4))
    big = supervised.balanced_subset(labels, 0.5, 4, seed=3)  # 25/class, capped at 30
    assert np.bincount(labels[big]).tolist() == [25] * 4 and set(a) <= set(big)
    for bad in (0.0, -0.1, 1.5, "x"):
        config = _config().to_dict()
        config["label_fraction"] = bad
        with pytest.raises(ConfigError, match="label_fraction"):
            config_schema.resolve(config, "finetune")


def test_frozen_encoder_with_10pct_labels_keeps_encoder_and_records_subset(pretrained,
                                                                           tmp_path):
    wd = tmp_path / "frozen"
    config = _config(init_from=str(pretrained), label_fraction=0.1, freeze_encoder=True,
                     num_steps=3, batch_size=32, seed=7)
    results, state = finetune.fit(config, str(wd))
    assert results["init"] == "ssl" and results["freeze_encoder"] is True
    assert results["num_labels"] == 400 and results["label_fraction"] == 0.1
    assert 0.0 <= results["top1"] <= results["top5"] <= 1.0

    record = json.loads((wd / "label_subset.json").read_text())
    _, train_labels = data.load_split({"name": "mnist"}, "train")
    idx = np.asarray(record["indices"])
    assert record["seed"] == 7 and record["per_class"] == 40 and len(idx) == 400
    assert np.bincount(train_labels[idx], minlength=10).tolist() == [40] * 10
    assert np.array_equal(idx, supervised.balanced_subset(train_labels, 0.1, 10, seed=7))

    enc_dir, _ = encoder_io.load_encoder_spec(pretrained)
    final = {"params": state["params"]["encoder"], "batch_stats": state["batch_stats"]["encoder"]}
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), final)
    restored = encoder_io.restore_encoder(enc_dir, abstract)
    same = jax.tree.map(lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))),
                        restored, final)
    assert all(jax.tree.leaves(same))
    assert np.abs(np.asarray(state["params"]["head"]["Dense_0"]["kernel"])).sum() > 0

    # The fine-tuned network is saved and restores to the final state.
    assert results["model_dir"] == str((wd / "model").absolute())
    saved = {"params": state["params"], "batch_stats": state["batch_stats"]}
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), saved)
    model = encoder_io.restore_encoder(wd / "model", abstract)
    same = jax.tree.map(lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))),
                        model, saved)
    assert all(jax.tree.leaves(same))

    # ...and its encoder is exported like a pretraining run's: ssljax.load_encoder reads it.
    import ssljax  # noqa: PLC0415

    enc = ssljax.load_encoder(wd)
    assert enc.spec["network"] == "finetuned" and enc.spec["step"] == 3
    assert enc.spec["finetuned_from"] == str(pretrained) and enc.spec["method"] == "simclr"
    same = jax.tree.map(lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))),
                        jax.device_get(enc.variables), jax.device_get(final))
    assert all(jax.tree.leaves(same))


@pytest.mark.slow
def test_scratch_baseline_with_one_percent_labels(tmp_path):
    wd = tmp_path / "scratch"
    proc = run("ssljax.finetune", CONFIG, f"--workdir={wd}", *QUIET, "--config.init_from=",
               "--config.label_fraction=0.01", "--config.num_steps=3")
    res = last_json(proc.stdout)
    assert res["program"] == "finetune" and res["init"] == "scratch"
    assert res["num_labels"] == 40 and res["batch_size"] == 40
    assert res["freeze_encoder"] is False and 0.0 <= res["top1"] <= 1.0
    assert json.loads((wd / "results.json").read_text()) == res


def _write_two_class_folder(root: Path, per_class: int = 12) -> None:
    """Colour-tinted MNIST 3s and 8s as RGB PNGs in train/ and test/ class folders."""
    from PIL import Image

    images, labels = data.load_split({"name": "mnist"}, "train")
    rng = np.random.default_rng(0)
    for split, offset in (("train", 0), ("test", per_class)):
        for name, digit in (("three", 3), ("eight", 8)):
            folder = root / split / name
            folder.mkdir(parents=True)
            picks = np.flatnonzero(labels == digit)[offset:offset + per_class]
            for i in picks:
                tint = rng.uniform(0.4, 1.0, size=3)
                rgb = (images[i].astype(np.float32) * tint).astype(np.uint8)
                Image.fromarray(rgb).save(folder / f"{i}.png")


@pytest.mark.slow
def test_image_folder_dataset_finetunes(pretrained, tmp_path):
    folder = tmp_path / "ants_vs_bees"
    _write_two_class_folder(folder)
    wd = tmp_path / "folder_run"
    proc = run("ssljax.finetune", CONFIG, f"--workdir={wd}", *QUIET,
               f"--config.init_from={pretrained}", "--config.dataset.name=image_folder",
               f"--config.dataset.data_dir={folder}", "--config.num_steps=3",
               "--config.batch_size=16")
    res = last_json(proc.stdout)
    assert res["num_classes"] == 2 and res["num_test"] == 24 and res["num_labels"] == 24
    assert res["init"] == "ssl" and 0.0 <= res["top1"] <= 1.0 and res["top5"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (["--config.label_fraction=1.5"], ["label_fraction=1.5", "(0, 1]"]),
    (["--config.label_fraction=0"], ["label_fraction=0", "(0, 1]"]),
    (["--config.encoder.name=resnet18"], ["small_cnn", "encoder.name='resnet18'"]),
    (["--config.num_classes=3"], ["num_classes=3", "10 classes"]),
])
def test_bad_input_is_one_line_and_leaves_workdir_alone(pretrained, tmp_path, args, words):
    wd = tmp_path / "existing"
    wd.mkdir()
    (wd / "results.json").write_text('{"top1": 0.5}\n')
    before = snapshot(wd)
    proc = run("ssljax.finetune", CONFIG, f"--workdir={wd}", *QUIET,
               f"--config.init_from={pretrained}", *args, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines[-1].startswith("ssljax: error: ")
    for word in words:
        assert word in lines[-1], lines[-1]
    assert snapshot(wd) == before and proc.stdout.strip() == ""


@pytest.mark.slow
def test_simclr_v2_finetunes_from_the_projectors_first_layer(pretrained, tmp_path):
    """`projector_layers=1`: the classifier reads relu(bn0(dense0(encoder(x)))) with the
    pretrained projector layer (SimCLR v2, Appendix B.5), and both are fine-tuned."""
    import orbax.checkpoint as ocp  # noqa: PLC0415

    spec = json.loads((pretrained / "encoder_spec.json").read_text())
    assert spec["projector"]["hidden_dims"] == [256] and spec["projector"]["use_bn"]
    saved = ocp.StandardCheckpointer().restore((pretrained / "projector").absolute())
    assert set(saved["params"]) == {"dense0", "bn0"}  # the hidden layer, not the output
    res = finetune.train_and_evaluate(
        _config(init_from=str(pretrained), label_fraction=0.01, num_steps=2,
                projector_layers=1), str(tmp_path / "v2"))
    assert res["steps"] == 2 and res["projector_layers"] == 1 and 0.0 <= res["top1"] <= 1.0
    s = supervised.setup(config_schema.resolve(
        _config(init_from=str(pretrained), projector_layers=1), "finetune")[0],
        str(tmp_path / "setup"), "finetune", allow_scratch=True)
    assert s.feature_dim == 256
    np.testing.assert_array_equal(s.encoder_vars["params"]["dense0"]["kernel"],
                                  saved["params"]["dense0"]["kernel"])
    np.testing.assert_array_equal(s.encoder_vars["batch_stats"]["bn0"]["mean"],
                                  saved["batch_stats"]["bn0"]["mean"])
    with pytest.raises(ConfigError, match="the pretrained projector has 1 hidden layer"):
        supervised.setup(_config(init_from=str(pretrained), projector_layers=2),
                         str(tmp_path / "two"), "finetune", allow_scratch=True)
    with pytest.raises(ConfigError, match="needs a pretrained projector"):
        supervised.setup(_config(init_from="", projector_layers=1, **{"encoder.name": "small_cnn"}),
                         str(tmp_path / "scratch"), "finetune", allow_scratch=True)


def test_random_init_is_the_checkpoint_s_network_freshly_initialised(pretrained, tmp_path):
    """`random_init=True`: init_from's encoder block and view, nothing restored — for a
    SmallCNN checkpoint the same variables as `init_from=""` with that encoder."""
    config = _config(init_from=str(pretrained), random_init=True, **{"encoder.name": ""})
    s = supervised.setup(config, str(tmp_path / "ri"), "finetune", allow_scratch=True)
    assert s.source.init == "scratch" and s.source.encoder_cfg["name"] == "small_cnn"
    plain = supervised.setup(_config(init_from=""), str(tmp_path / "plain"), "finetune",
                             allow_scratch=True)
    enc_dir, _ = encoder_io.load_encoder_spec(pretrained)
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), s.encoder_vars)
    restored = encoder_io.restore_encoder(enc_dir, abstract)
    for a, b, c in zip(jax.tree.leaves(s.encoder_vars["params"]),
                       jax.tree.leaves(plain.encoder_vars["params"]),
                       jax.tree.leaves(restored["params"]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert not np.array_equal(np.asarray(a), np.asarray(c))
    with pytest.raises(ConfigError, match="random_init=True"):
        supervised.setup(_config(init_from="", random_init=True), str(tmp_path / "bad"),
                         "finetune", allow_scratch=True)
