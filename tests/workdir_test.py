"""Nothing saved is ever lost: workdir ownership, resume rules, locks, probes, damaged states.

In-process runs of `pretrain.train_and_evaluate` on the digits with tiny settings (the
fast tier); the signal and full-disk cases run the program in subprocesses (slow tier).
Read-only and full file systems are real tmpfs mounts where this process may mount them
(root, as on this project's machines), skipped otherwise.
"""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssljax import checkpoint, finetune, pretrain, workdir
from ssljax.errors import CheckpointError, SSLJaxError
from ssljax.metric_writer import read_metrics
from tests.program_utils import FAST, REPO, demo_config, env_for, last_json, snapshot

TINY = {"max_steps": 5, "batch_size": 64}  # tests/conftest.py's `pretrained` run


def _train(wd, **overrides):
    return pretrain.train_and_evaluate(demo_config(**{**TINY, **overrides}), str(wd))


@pytest.fixture()
def trained(pretrained):
    """The session's finished 5-step pretraining workdir (copy it before changing it)."""
    return pretrained


def _copy(src, dst):
    import shutil  # noqa: PLC0415

    shutil.copytree(src, dst, symlinks=True)
    (dst / workdir.LOCK).unlink(missing_ok=True)
    return dst


# --------------------------------------------------------------------------- ownership


def test_eval_programs_never_write_into_another_programs_workdir(trained, tmp_path):
    other = _copy(trained, tmp_path / "other_pretraining")
    before = snapshot(other)
    with pytest.raises(SSLJaxError, match="holds the output of pretrain"):
        finetune.train_and_evaluate(
            _ft_config(init_from=str(trained)), str(other))
    assert snapshot(other) == before


def _ft_config(**overrides):
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("ft", REPO / "configs/finetune_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    c.plots, c.tensorboard, c.num_steps = False, False, 2
    for k, v in overrides.items():
        c[k] = v
    return c


def test_eval_workdir_equal_to_or_inside_init_from_is_refused(trained, tmp_path):
    src = _copy(trained, tmp_path / "pretraining")
    (tmp_path / "link").symlink_to(src)
    before = snapshot(src)
    for wd in (src / "eval", src / ".." / src.name, tmp_path / "link"):
        with pytest.raises(SSLJaxError, match="init_from") as e:
            finetune.train_and_evaluate(_ft_config(init_from=str(src)), str(wd))
        assert "\n" not in str(e.value)
    assert snapshot(src) == before


@pytest.mark.slow
def test_pretraining_refuses_an_evaluation_workdir(tmp_path):
    wd = tmp_path / "ft"
    finetune.train_and_evaluate(_ft_config(init_from="", label_fraction=0.01), str(wd))
    before = snapshot(wd)
    with pytest.raises(SSLJaxError, match="holds the output of finetune"):
        _train(wd)
    assert snapshot(wd) == before


# --------------------------------------------------------------------------- resume rules


@pytest.mark.parametrize("overrides, words", [
    ({"head__out_dim": 32}, ["head.out_dim: 64 -> 32"]),
    ({"optimizer__name": "sgd"}, ["optimizer.name: 'adamw' -> 'sgd'"]),
    ({"batch_size": 128, "num_epochs": 5}, ["batch_size: 64 -> 128", "num_epochs: 60 -> 5"]),
])
def test_resume_with_a_changed_config_is_refused_and_changes_nothing(trained, tmp_path,
                                                                     overrides, words):
    wd = _copy(trained, tmp_path / "wd")
    before = snapshot(wd)
    with pytest.raises(CheckpointError) as e:
        _train(wd, **overrides)
    msg = str(e.value)
    assert "\n" not in msg and "resume_with_changes=True" in msg and "fresh --workdir" in msg
    for w in words:
        assert w in msg, msg
    assert snapshot(wd) == before
    assert not (wd / "corrupt_checkpoints").exists()


@pytest.mark.slow  # trains
def test_harmless_changes_resume_and_are_recorded(trained, tmp_path):
    wd = _copy(trained, tmp_path / "wd")
    res = _train(wd, max_steps=7, log_every_steps=2)
    assert res["status"] == "completed" and res["steps"] == 7
    assert json.loads((wd / "config.json").read_text())["max_steps"] == 7
    assert json.loads((wd / "config_history" / "0.json").read_text())["max_steps"] == 5
    steps = [r["step"] for r in read_metrics(wd) if "loss" in r]
    assert steps == sorted(set(steps)), steps  # each step once after the resume


def test_structure_change_with_resume_with_changes_is_not_treated_as_damage(trained, tmp_path):
    wd = _copy(trained, tmp_path / "wd")
    ckpts, before = snapshot(wd / "checkpoints"), snapshot(wd)
    with pytest.raises(CheckpointError, match="holds a state of another structure") as e:
        _train(wd, head__out_dim=32, resume_with_changes=True)
    assert "projector" in str(e.value) and "left unchanged" in str(e.value)
    assert snapshot(wd / "checkpoints") == ckpts
    assert not (wd / "corrupt_checkpoints").exists()
    # the refused resume records nothing: config.json and its history are as they were
    assert {k: v for k, v in snapshot(wd).items() if k != workdir.LOCK} == before


@pytest.mark.parametrize("error", [
    PermissionError(errno.EACCES, "Permission denied", "/w/checkpoints/5"),
    OSError(errno.EIO, "Input/output error"),
    MemoryError(),
])
def test_a_restore_failing_for_the_machine_is_not_damage(trained, tmp_path, monkeypatch, error):
    wd = _copy(trained, tmp_path / "wd")
    before = snapshot(wd)
    ckpt = checkpoint.Checkpointer(wd, max_to_keep=5)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(ckpt.manager, "restore", fail)
    with pytest.raises(CheckpointError, match="left unchanged") as e:
        ckpt.restore_latest(_abstract_state())
    ckpt.close()
    assert "\n" not in str(e.value) and "step 5" in str(e.value)
    assert snapshot(wd) == before and not (wd / "corrupt_checkpoints").exists()


@pytest.mark.slow  # trains
def test_non_finite_checkpoint_is_damage_quarantined_and_skipped(trained, tmp_path):
    wd = _copy(trained, tmp_path / "wd")
    # A newer step whose parameters hold NaN, as silently flipped bytes would restore.
    ckpt = checkpoint.Checkpointer(wd, max_to_keep=5)
    state, _, _ = ckpt.restore_latest(_abstract_state())
    bad = state.replace(params=jax.tree.map(lambda x: x * jnp.nan, state.params))
    ckpt.save(6, bad, {"method": "simclr", "step": 6, "loss": None}, force=True)
    ckpt.close()
    res = _train(wd, max_steps=7)
    assert res["steps"] == 7 and np.isfinite(res["final_loss"])
    assert (wd / "corrupt_checkpoints" / "6").is_dir()


def _abstract_state():
    from ssljax import config_schema, engine, parallel  # noqa: PLC0415

    config = config_schema.resolve(demo_config(**TINY), warn=False)[0]
    run = engine.build(config, parallel.make_mesh(), num_classes=10, image_shape=(28, 28, 1),
                       steps_per_epoch=62)
    return run.state


# --------------------------------------------------------------------------- locks, probes


_HOLD = """
import sys, time
from ssljax import workdir
workdir.claim(sys.argv[1], program="pretrain")
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_process_is_refused_with_the_pid_and_a_stale_lock_never_blocks(tmp_path):
    wd = tmp_path / "wd"
    wd.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(wd)], env=env_for(1), cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(CheckpointError, match=f"in use by process {proc.pid}"):
            workdir.claim(wd, program="pretrain")
    finally:
        proc.kill()
        proc.wait()
    # The killed process's lock file is still there, its lock is not: claiming works.
    assert (wd / workdir.LOCK).read_text().strip() == str(proc.pid)
    workdir.claim(wd, program="pretrain")
    workdir.release(wd)


def test_unwritable_places_are_one_line_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "wd").mkdir()
    (tmp_path / "wd" / "checkpoints").write_text("a file")
    with pytest.raises(CheckpointError, match="checkpoints is a file"):
        workdir.probe(tmp_path / "wd", checkpoints=True)
    with pytest.raises(CheckpointError, match=r"\[ENAMETOOLONG\].*shorter --workdir"):
        workdir.probe(tmp_path / ("x" * 300), checkpoints=True)
    monkeypatch.setattr(workdir.shutil, "disk_usage",
                        lambda p: type("U", (), {"free": 10 * 2**20})())
    with pytest.raises(CheckpointError, match="only 10 MiB are free"):
        workdir.probe(tmp_path / "wd2", checkpoints=True)
    assert not (tmp_path / "wd2").exists()  # created for the probe, removed again


@pytest.fixture()
def tmpfs(tmp_path):
    """Mounts a tmpfs on a fresh folder: `mount(size_mb, readonly)` -> its path."""
    mounted = []

    def mount(size_mb, readonly=False):
        target = tmp_path / f"mnt{len(mounted)}"
        target.mkdir()
        opts = f"size={size_mb}m"
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target)],
                            capture_output=True).returncode == 0
        if not ok:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounted.append(target)
        if readonly:
            subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_read_only_workdir_is_one_line(tmpfs):
    ro = tmpfs(8, readonly=True)
    with pytest.raises(CheckpointError, match=r"cannot be written.*\[EROFS\].*read-only"):
        _train(ro / "run")


def test_non_utf8_bytes_in_metrics_are_skipped(tmp_path):
    (tmp_path / "metrics.jsonl").write_bytes(b'{"step": 1, "loss": 2.0}\n\xff\xfe\n{"step": 2}\n')
    assert read_metrics(tmp_path) == [{"step": 1, "loss": 2.0}, {"step": 2}]


def test_metrics_keep_each_step_once_over_resumes_and_reruns(tmp_path):
    from ssljax.metric_writer import MetricWriter  # noqa: PLC0415

    w = MetricWriter(tmp_path, tensorboard=False, resume_step=0)
    for step in (1, 2, 3):
        w.write(step, {"loss": float(step)})
    w.write(3, {"final_knn_top1": 0.5})
    w.close()
    # a resume from step 2 trains 3 again; a rerun of the finished run evaluates again
    w = MetricWriter(tmp_path, tensorboard=False, resume_step=2)
    w.close()
    assert read_metrics(tmp_path) == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 2.0}]
    w = MetricWriter(tmp_path, tensorboard=False, resume_step=2)
    w.write(2, {"final_knn_top1": 0.7})
    w.close()
    w = MetricWriter(tmp_path, tensorboard=False, resume_step=2)
    w.write(2, {"final_knn_top1": 0.8})
    w.close()
    assert [r for r in read_metrics(tmp_path) if "final_knn_top1" in r] == [
        {"step": 2, "final_knn_top1": 0.8}]


class _Setup:
    program = "linear_eval"


@pytest.mark.parametrize("error, status", [
    (RuntimeError("boom\nsecond line"), "failed"),
    (KeyboardInterrupt(), "interrupted"),
    (OSError(errno.ENOSPC, "No space left on device", "/w/model"), "failed"),
])
def test_evaluation_programs_record_how_an_attempt_ended(tmp_path, error, status):
    from ssljax import supervised  # noqa: PLC0415

    (tmp_path / "results.json").write_text('{"program": "linear_eval", "status": "running"}')
    expected = CheckpointError if isinstance(error, OSError) else type(error)
    with pytest.raises(expected) as e, supervised.attempt(_Setup(), str(tmp_path)):
        raise error
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["status"] == status and res["program"] == "linear_eval"
    if isinstance(error, OSError):  # one line naming the path, errno and fix
        assert str(e.value) == res["error"] and "[ENOSPC]" in res["error"]
        assert "/w/model" in res["error"] and "free disk space" in res["error"]
    elif status == "failed":
        assert res["error"] == "boom second line"
    # before the program started its outputs, a failure leaves a finished run's results
    (tmp_path / "results.json").write_text('{"status": "completed", "top1": 0.9}')
    with pytest.raises(expected), supervised.attempt(_Setup(), str(tmp_path)):
        raise error
    assert json.loads((tmp_path / "results.json").read_text())["top1"] == 0.9


def test_os_error_message_names_path_errno_and_checkpoint():
    e = OSError(errno.ENOSPC, "No space left on device", "/w/checkpoints/10")
    msg = workdir.os_error_message(e, "a write failed", "step 8 in /w/checkpoints")
    assert msg == ("a write failed (/w/checkpoints/10): No space left on device [ENOSPC]; "
                   "last good checkpoint: step 8 in /w/checkpoints; free disk space")


# --------------------------------------------------------------------------- signals, full disk

CLI = ("-m", "ssljax.pretrain", "--config=configs/simclr_mnist.py", *FAST,
       "--config.batch_size=64")


def _wait_for_checkpoint(wd, step, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        if (wd / "checkpoints" / str(step)).is_dir():
            return
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint {step} in {timeout} s")


@pytest.mark.slow
def test_ctrl_c_checkpoints_says_how_to_resume_and_the_resume_has_each_step_once(tmp_path):
    wd = tmp_path / "run"
    args = [*CLI, f"--workdir={wd}", "--config.max_steps=100000",
            "--config.checkpoint_every_steps=10"]
    proc = subprocess.Popen([sys.executable, *args], env=env_for(1), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(wd, 10, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    res = last_json(out)
    assert res["status"] == "interrupted"
    assert json.loads((wd / "results.json").read_text()) == res
    n = res["steps"]
    line = [ln for ln in err.splitlines() if "interrupted at step" in ln][-1]
    assert f"interrupted at step {n}; checkpoint at step {n} in {wd / 'checkpoints'}" in line
    assert "rerun the same command to resume" in line and "Traceback" not in err
    # Resume to a little further: every step once in metrics.jsonl, results.json updated.
    done = subprocess.run([sys.executable, *args[:-2], "--config.max_steps=" + str(n + 3),
                           "--config.checkpoint_every_steps=10"],
                          env=env_for(1), cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [r["step"] for r in read_metrics(wd) if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == n + 3
    assert json.loads((wd / "results.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_disk_full_during_a_run_is_one_line_naming_the_last_good_checkpoint(tmpfs):
    disk = tmpfs(workdir.MIN_FREE_MB + 8)
    wd = disk / "run"
    args = [*CLI, f"--workdir={wd}", "--config.max_steps=100000",
            "--config.checkpoint_every_steps=5", "--config.log_every_steps=1"]
    proc = subprocess.Popen([sys.executable, *args], env=env_for(1), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(wd, 5, proc)
    with open(disk / "filler", "wb") as f:  # fill the disk under the running program
        try:
            while True:
                f.write(b"\0" * 2**20)
        except OSError:
            pass
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("ssljax: error: ") and "[ENOSPC]" in last, err[-3000:]
    assert "last good checkpoint: step" in last and "Traceback" not in err
    assert (wd / "checkpoints" / "5").is_dir()


@pytest.mark.slow
def test_two_runs_started_at_the_same_instant_one_trains_the_other_is_refused(tmp_path):
    wd = tmp_path / "run"
    # 20 steps: the run holds the lock far longer than the two start-ups can drift apart
    args = [sys.executable, *CLI, f"--workdir={wd}", "--config.max_steps=20"]
    procs = [subprocess.Popen(args, env=env_for(1), cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], [err[-1500:] for _, err in outs]
    loser = next(err for p, (_, err) in zip(procs, outs, strict=True) if p.returncode == 2)
    last = loser.strip().splitlines()[-1]
    assert last.startswith("ssljax: error: ") and "in use by process" in last, loser[-1500:]
    assert "Traceback" not in loser
    winner = next(out for p, (out, _) in zip(procs, outs, strict=True) if p.returncode == 0)
    assert last_json(winner)["status"] == "completed"
    steps = [r["step"] for r in read_metrics(wd) if "loss" in r]
    assert steps == sorted(set(steps))  # one run's rows, each step once
