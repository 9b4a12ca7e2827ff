"""End-to-end tests of `python -m ssljax.linear_eval` on the tiny pretraining run of conftest.

Both protocols write `results.json` and print it as the last line; bad input ends with
one `ssljax: error:` line, exit status 2 and an untouched workdir.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.program_utils import last_json, load_config, run, snapshot

pytestmark = pytest.mark.slow  # each case starts the program in a subprocess

CONFIG = "--config=configs/linear_eval_mnist.py"
QUIET = ("--config.tensorboard=False",)


def _check_results(workdir: Path, res: dict, protocol: str) -> None:
    assert res["program"] == "linear_eval" and res["protocol"] == protocol
    for key in ("top1", "top5"):
        assert isinstance(res[key], float) and 0.0 <= res[key] <= 1.0, key
    assert res["top5"] >= res["top1"]
    assert res["num_test"] == 1000 and res["method"] == "simclr" and res["devices"] >= 1
    assert isinstance(res["seconds"], float)
    assert json.loads((workdir / "results.json").read_text()) == res


def test_cached_protocol_results_and_plots(pretrained, tmp_path):
    wd = tmp_path / "cached"
    proc = run("ssljax.linear_eval", CONFIG, f"--workdir={wd}", *QUIET,
               f"--config.init_from={pretrained}", "--config.cached.epochs=30",
               "--config.embedding_plot=pca")  # t-SNE: tests/evaluate_test.py
    res = last_json(proc.stdout)
    _check_results(wd, res, "cached")
    assert (wd / "training_curves.png").stat().st_size > 0
    assert (wd / "embedding_pca.png").stat().st_size > 0
    assert (wd / "metrics.jsonl").read_text().strip()


def test_paper_protocol_on_two_devices(pretrained, tmp_path):
    """The 2 devices come from --cpu_devices=2 (the environment gives one)."""
    wd = tmp_path / "paper"
    proc = run("ssljax.linear_eval", CONFIG, f"--workdir={wd}", *QUIET,
               f"--config.init_from={pretrained / 'encoder'}", "--config.protocol=paper",
               "--config.max_steps=4", "--config.batch_size=64", "--config.log_every_steps=2",
               "--config.plots=False", "--cpu_devices=2", devices=1)
    res = last_json(proc.stdout)
    _check_results(wd, res, "paper")
    assert res["steps"] == 4 and res["devices"] == 2
    rows = [json.loads(line) for line in (wd / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [2, 4]
    assert all(r["lr"] > 0 for r in rows if "lr" in r)


def _bad_cases(pretrained: Path, tmp_path: Path):
    not_ckpt = tmp_path / "not_a_checkpoint"
    not_ckpt.mkdir()
    (not_ckpt / "notes.txt").write_text("hello")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    return {
        "missing": ([f"--config.init_from={tmp_path / 'nope'}"], ["does not exist"]),
        "not_ckpt": ([f"--config.init_from={not_ckpt}"], ["not a pretraining checkpoint"]),
        "empty": (["--config.init_from="], ["init_from is empty"]),
        "encoder": ([f"--config.init_from={pretrained}", "--config.encoder.name=resnet18"],
                    ["small_cnn", "resnet18"]),
        "classes": ([f"--config.init_from={pretrained}", "--config.num_classes=5"],
                    ["num_classes=5", "10 classes"]),
        "protocol": ([f"--config.init_from={pretrained}", "--config.protocol=fast"],
                     ["protocol", "cached"]),
        "workdir_file": ([f"--config.init_from={pretrained}"], ["is a file"], a_file),
        "cpu_devices": ([f"--config.init_from={pretrained}", "--cpu_devices=-2"],
                        ["--cpu_devices=-2", ">= 0"]),
    }


@pytest.mark.parametrize(
    "case", ["missing", "not_ckpt", "empty", "encoder", "classes", "protocol", "workdir_file",
             "cpu_devices"]
)
def test_bad_input_is_one_line_and_leaves_workdir_alone(pretrained, tmp_path, case):
    spec = _bad_cases(pretrained, tmp_path)[case]
    args, words = spec[0], spec[1]
    wd = spec[2] if len(spec) > 2 else tmp_path / "existing"
    if len(spec) == 2:
        wd.mkdir()
        (wd / "results.json").write_text('{"top1": 0.5}\n')
    before = snapshot(wd) if wd.is_dir() else wd.read_text()
    proc = run("ssljax.linear_eval", CONFIG, f"--workdir={wd}", *QUIET, *args, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr
    assert lines[-1].startswith("ssljax: error: "), proc.stderr[-2000:]
    assert sum(ln.startswith("ssljax: error:") for ln in lines) == 1
    for word in words:
        assert word in lines[-1], lines[-1]
    assert (snapshot(wd) if wd.is_dir() else wd.read_text()) == before
    assert proc.stdout.strip() == ""


def test_patch_grid_features(pretrained, tmp_path):
    """`encoder.patch_px/patch_stride` run the saved encoder on a patch grid (CPC v2's
    evaluation; 0 keeps the checkpoint's grid, -1 reads whole images)."""
    from ssljax import supervised  # noqa: PLC0415

    config = load_config("configs/linear_eval_mnist.py")
    config.init_from = str(pretrained)
    config.encoder.patch_px, config.encoder.patch_stride = 14, 7
    s = supervised.setup(config, str(tmp_path / "grid"), "linear_eval", allow_scratch=False)
    assert (s.encoder.patch_px, s.encoder.patch_stride) == (14, 7)
    config.encoder.patch_px = -1
    s = supervised.setup(config, str(tmp_path / "whole"), "linear_eval", allow_scratch=False)
    assert s.encoder.patch_px == 0


def test_intermediate_stage_features(pretrained, tmp_path):
    """`encoder.feature_layer=2` reads the saved SmallCNN's second stage (RotNet's best)."""
    wd = tmp_path / "layer2"
    proc = run("ssljax.linear_eval", CONFIG, f"--workdir={wd}", *QUIET,
               f"--config.init_from={pretrained}", "--config.cached.epochs=30",
               "--config.encoder.feature_layer=2", "--config.plots=False")
    res = last_json(proc.stdout)
    _check_results(wd, res, "cached")
    assert res["feature_dim"] == 64  # the demo SmallCNN's second stage: 64 channels


def test_random_init_probes_the_same_network_freshly_initialised(pretrained, tmp_path):
    """`random_init=True`: init_from's encoder block and view, nothing restored (the
    random-network baseline); the variables are those of a fresh initialisation."""
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from ssljax import encoder_io, supervised  # noqa: PLC0415

    config = load_config("configs/linear_eval_mnist.py")
    config.init_from = str(pretrained)
    config.random_init = True
    s = supervised.setup(config, str(tmp_path / "random"), "linear_eval", allow_scratch=False)
    assert s.source.init == "scratch" and s.source.encoder_cfg["name"] == "small_cnn"
    assert s.source.view.out_size == 28
    enc_dir, _ = encoder_io.load_encoder_spec(pretrained)
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), s.encoder_vars)
    restored = encoder_io.restore_encoder(enc_dir, abstract)
    for a, b in zip(jax.tree.leaves(s.encoder_vars["params"]),
                    jax.tree.leaves(restored["params"]), strict=True):
        assert a.shape == b.shape and not np.array_equal(np.asarray(a), np.asarray(b))
