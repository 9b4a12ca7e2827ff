"""End-to-end tests of `python -m ssljax.pretrain` in subprocesses (the slow tier).

Device invariance (1 vs 8 fake devices), exact resume after `kill -9`, the
results contract, and one-line errors for bad input that leave the workdir alone. The
fast tier checks the same contracts in-process (tests/programs_test.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.program_utils import FAST, REPO, env_for, last_json, run, snapshot

pytestmark = pytest.mark.slow  # subprocesses, as a user runs the program
DEMO = "--config=configs/simclr_mnist.py"


def _pretrain(workdir, *extra, devices=1, check=True, optimized=False):
    return run(
        "ssljax.pretrain", DEMO, f"--workdir={workdir}", *FAST, *extra, devices=devices,
        check=check, optimized=optimized,
    )


def test_results_contract_and_encoder_export(tmp_path):
    # The one subprocess run compiled exactly as a user's run is (XLA's default options).
    proc = _pretrain(tmp_path / "run", "--config.max_steps=3", "--config.batch_size=64",
                     optimized=True)
    res = last_json(proc.stdout)
    assert res["program"] == "pretrain" and res["method"] == "simclr"
    assert res["steps"] == 3 and res["devices"] == 1
    for key in ("final_loss", "linear_top1", "knn_top1", "seconds"):
        assert isinstance(res[key], float), key
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == res
    assert (tmp_path / "run" / "encoder").is_dir()
    spec = json.loads((tmp_path / "run" / "encoder_spec.json").read_text())
    assert spec["encoder"]["name"] == "small_cnn" and spec["step"] == 3
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") >= 3


def test_one_and_eight_devices_give_the_same_loss(tmp_path):
    args = ("--config.max_steps=3", "--config.batch_size=64")
    one = last_json(_pretrain(tmp_path / "d1", *args, devices=1).stdout)
    eight = last_json(_pretrain(tmp_path / "d8", *args, devices=8).stdout)
    assert eight["devices"] == 8 and one["devices"] == 1
    assert eight["final_loss"] == pytest.approx(one["final_loss"], rel=1e-3)


def test_kill_9_then_rerun_resumes_exactly(tmp_path):
    args = ("--config.max_steps=30", "--config.batch_size=64", "--config.checkpoint_every_steps=5")
    reference = last_json(_pretrain(tmp_path / "ref", *args).stdout)

    wd = tmp_path / "killed"
    cmd = [sys.executable, "-m", "ssljax.pretrain", DEMO, f"--workdir={wd}", *FAST, *args]
    proc = subprocess.Popen(
        cmd, env=env_for(1), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    ckpts = wd / "checkpoints"
    while time.time() < deadline and proc.poll() is None:
        done = [p for p in ckpts.iterdir() if p.name.isdigit()] if ckpts.exists() else []
        if any(int(p.name) >= 10 for p in done):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    resumed = last_json(_pretrain(wd, *args).stdout)
    assert resumed["steps"] == reference["steps"] == 30
    assert resumed["final_loss"] == pytest.approx(reference["final_loss"], rel=1e-4, abs=1e-6)


@pytest.mark.parametrize(
    "override, words",
    [
        # The other bad settings are checked in-process (programs_test) and, through the
        # command line, by the README's errors table (errors_table_test) and cli_test (an
        # unknown dataset).
        ("--config.no_such_key=1", ["no_such_key", "does not exist"]),
        ("--config.eval.encoder=teacher", ["eval.encoder='teacher'", "'online', 'target'"]),
    ],
)
def test_bad_input_is_one_line_and_touches_nothing(tmp_path, override, words):
    wd = tmp_path / "wd"
    proc = _pretrain(wd, override, devices=8, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr.strip().splitlines()
    assert err and err[-1].startswith("ssljax: error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in err[-1], (w, err[-1])
    assert not (wd / "checkpoints").exists()


def test_workdir_of_another_method_is_refused_unchanged(tmp_path):
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "config.json").write_text(
        json.dumps(
            {"method": "byol", "encoder": {"name": "small_cnn"}, "dataset": {"name": "mnist"}}
        )
    )
    (wd / "notes.txt").write_text("keep me")
    before = snapshot(wd)
    proc = _pretrain(wd, "--config.max_steps=2", check=False)
    assert proc.returncode == 2
    assert "method: 'byol' -> 'simclr'" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(wd) == before


def test_workdir_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    proc = _pretrain(f, "--config.max_steps=2", check=False)
    assert proc.returncode == 2 and "is a file" in proc.stderr
    assert f.read_text() == "x"


def test_missing_config_file_is_one_line(tmp_path):
    proc = run("ssljax.pretrain", "--config=configs/nope.py", f"--workdir={tmp_path}", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("ssljax: error: config file")
