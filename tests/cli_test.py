"""The command line a newcomer meets: --help, --show_config, one-line config errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.program_utils import REPO, env_for, run
from tests.tools import venv_tool

PROGRAMS = ("pretrain", "linear_eval", "finetune")
SCRIPTS = {"pretrain": "ssljax-pretrain", "linear_eval": "ssljax-linear-eval",
           "finetune": "ssljax-finetune"}


def _error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines[-1].startswith("ssljax: error: ")
    return lines[-1]


@pytest.mark.slow
@pytest.mark.parametrize("program", ["pretrain", "linear_eval", "finetune"])
def test_help_lists_the_flags_an_example_and_the_configs(program):
    for flag in ("--help", "-h", "--helpfull"):
        proc = run(f"ssljax.{program}", flag, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        text = proc.stdout
        assert text.startswith(f"usage: python -m ssljax.{program} --config=CONFIG"), text[:200]
        for word in ("--workdir", "--config", "--show_config", "--cpu_devices",
                     "--coordinator_address", f"configs/{program}" if program != "pretrain"
                     else "configs/simclr_mnist.py", "results.json"):
            assert word in text, (word, text)
        if flag != "--help":
            break


@pytest.mark.slow
@pytest.mark.parametrize("program", PROGRAMS)
def test_console_script_help(program):
    proc = subprocess.run([venv_tool(SCRIPTS[program]), "--help"], cwd=REPO, env=env_for(1),
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("usage:"), proc.stderr[-2000:]


def test_show_config_prints_every_key_and_exits():
    proc = run("ssljax.pretrain", "--config=configs/byol_mnist.py", "--show_config",
               "--config.optimizer.base_lr=0.25", check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for line in ("method: byol", "base_lr: 0.25", "tau_base: 0.9", "resume_with_changes: false",
                 "name: mnist"):
        assert line in proc.stdout, (line, proc.stdout[:3000])


@pytest.mark.slow
@pytest.mark.parametrize("args, want", [
    (["--config.num_epoch=5"],
     "config key 'num_epoch' does not exist in this config (from --config.num_epoch=5) "
     "(did you mean 'num_epochs'?); check the spelling (--show_config lists the keys)"),
    (["--config.optimizer.base_lrr=0.1"],
     "config key 'optimizer.base_lrr' does not exist in this config (from "
     "--config.optimizer.base_lrr=0.1) (did you mean 'optimizer.base_lr'?); check the spelling "
     "(--show_config lists the keys)"),
    (["--config.num_epochs=1.5"], "config key num_epochs=1.5 must be an integer"),
    (["--config.plots=yes"], "config key plots=yes must be True or False"),
])
def test_near_miss_keys_are_one_clean_line(tmp_path, args, want):
    proc = run("ssljax.pretrain", "--config=configs/simclr_mnist.py", f"--workdir={tmp_path}",
               *args, check=False)
    assert _error_line(proc) == f"ssljax: error: {want}"


@pytest.mark.slow
def test_a_pretraining_config_given_to_linear_eval_says_which_config_to_use(tmp_path):
    proc = run("ssljax.linear_eval", "--config=configs/simclr_mnist.py",
               f"--workdir={tmp_path / 'x'}", check=False)
    line = _error_line(proc)
    assert "looks like a pretraining config" in line and "configs/linear_eval_" in line


@pytest.mark.slow
def test_misspelt_dataset_suggests_each_name_once_after_a_quiet_start_up(tmp_path):
    # TensorFlow's C++ logging is left at its default, as a user's shell has it: the run
    # asks TFDS for the names, so TensorFlow starts and must say nothing.
    proc = subprocess.run(
        [sys.executable, "-m", "ssljax.pretrain", "--config=configs/simclr_mnist.py",
         f"--workdir={tmp_path / 'wd'}", "--config.dataset.name=mnsit"],
        cwd=REPO, env={k: v for k, v in env_for(1).items() if k != "TF_CPP_MIN_LOG_LEVEL"},
        capture_output=True, text=True)
    line = _error_line(proc)
    suggested = line.split("did you mean ", 1)[1].split("?", 1)[0].split(", ")
    assert suggested[0] == "mnist" and len(suggested) == len(set(suggested)), line
    assert "google" not in proc.stderr.lower()
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard"):
        assert noise not in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "wd").exists()


@pytest.mark.slow
def test_config_file_that_calls_sys_exit_is_an_error(tmp_path):
    cfg = tmp_path / "exits.py"
    cfg.write_text("import sys\nsys.exit(0)\n")
    proc = run("ssljax.pretrain", f"--config={cfg}", f"--workdir={tmp_path / 'wd'}",
               check=False)
    assert "called sys.exit(0)" in _error_line(proc)
    assert not (tmp_path / "wd").exists()


def test_late_write_callbacks_after_a_failure_are_not_printed(capsys, monkeypatch):
    import gc  # noqa: PLC0415

    from ssljax import cli  # noqa: PLC0415

    class Raises:  # __del__ errors are reported through sys.unraisablehook
        def __init__(self, message):
            self.message = message

        def __del__(self):
            raise RuntimeError(self.message)

    monkeypatch.setattr(sys, "unraisablehook", cli._late_callback_hook)
    Raises("Event loop is closed")
    gc.collect()
    assert capsys.readouterr().err == ""
    Raises("something else")
    gc.collect()
    assert "RuntimeError: something else" in capsys.readouterr().err
