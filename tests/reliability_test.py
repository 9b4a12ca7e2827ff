"""Preemption, numerical failure and corrupt checkpoints: nothing is lost.

Real subprocesses of `python -m ssljax.pretrain`, as on a preemptible pod.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssljax import parallel
from tests import harness
from tests.program_utils import FAST, REPO, env_for, last_json, run, snapshot

DEMO = "--config=configs/simclr_mnist.py"
SMALL = ("--config.batch_size=64",)


@pytest.mark.slow
def test_sigterm_checkpoints_and_exits_zero(tmp_path):
    wd = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "ssljax.pretrain",
        DEMO,
        f"--workdir={wd}",
        *FAST,
        *SMALL,
        "--config.max_steps=100000",
        "--config.checkpoint_every_steps=10",
    ]
    proc = subprocess.Popen(
        cmd, env=env_for(1), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 300
    ckpts = wd / "checkpoints"
    while time.time() < deadline and not (ckpts.exists() and (ckpts / "10").is_dir()):
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    # A hang guard, not a speed goal: a preempted run that does not stop within a minute
    # is stuck (communicate raises TimeoutExpired).
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    res = last_json(out)
    assert res["status"] == "preempted"
    steps = sorted(int(p.name) for p in (wd / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-1] == res["steps"] >= 10


@pytest.mark.slow
def test_nan_stops_with_step_and_last_good_checkpoint(tmp_path):
    wd = tmp_path / "run"
    proc = run(
        "ssljax.pretrain",
        DEMO,
        f"--workdir={wd}",
        *FAST,
        *SMALL,
        "--config.max_steps=40",
        "--config.checkpoint_every_steps=1",
        "--config.optimizer.name=sgd",
        "--config.optimizer.base_lr=1e38",
        "--config.optimizer.warmup_epochs=1",
        check=False,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("ssljax: error: loss or gradients became NaN/Inf at step ")
    assert "last good checkpoint" in line and "Traceback" not in proc.stderr
    # Every checkpoint on disk holds finite parameters.
    steps = sorted(int(p.name) for p in (wd / "checkpoints").iterdir() if p.name.isdigit())
    assert steps, "no checkpoint was kept"
    assert f"step {steps[-1]}" in line
    res = json.loads((wd / "results.json").read_text())  # the latest attempt, failed
    assert res["status"] == "failed" and res["error"] == line[len("ssljax: error: "):]
    assert res["last_good_checkpoint"] == f"step {steps[-1]} in {wd / 'checkpoints'}"


@pytest.mark.slow
def test_corrupt_newest_checkpoint_falls_back_and_keeps_it(tmp_path):
    wd = tmp_path / "run"
    args = (*FAST, *SMALL, "--config.checkpoint_every_steps=5")
    run("ssljax.pretrain", DEMO, f"--workdir={wd}", *args, "--config.max_steps=15")
    newest = wd / "checkpoints" / "15"
    victims = [
        p for p in newest.rglob("*") if p.is_file() and p.stat().st_size > 0 and "state" in str(p)
    ]
    assert victims
    for p in victims:
        p.write_bytes(b"\x00garbage")
    before = {k: v for k, v in snapshot(wd).items() if k.startswith("checkpoints/15/")}

    proc = run("ssljax.pretrain", DEMO, f"--workdir={wd}", *args, "--config.max_steps=20")
    res = last_json(proc.stdout)
    assert res["steps"] == 20 and res["status"] == "completed"
    assert "checkpoint step 15" in proc.stderr and "is damaged" in proc.stderr
    assert "resumed from step 10" in proc.stderr
    for noise in ("Traceback", "Event loop is closed", "<bound method", "pybind11"):
        assert noise not in proc.stderr, proc.stderr[-3000:]
    kept = snapshot(wd / "corrupt_checkpoints" / "15")
    assert len(kept) == len(before)  # moved aside whole, nothing deleted


@pytest.mark.slow
def test_nonfinite_step_is_skipped_and_counted():
    config = harness.tiny_config(batch_size=16, num_epochs=1, head__hidden_dims=(16,),
                                 head__out_dim=8)
    run = harness.build(config, size=28)
    batch = harness.put(harness.random_batch(n=16, size=28), run)
    fresh = jax.device_get(run.state)  # the step donates its input: keep a host copy
    poisoned = run.state.replace(params=jax.tree.map(lambda x: x, run.state.params))
    kernel = poisoned.params["projector"]["dense0"]["kernel"]
    poisoned.params["projector"]["dense0"]["kernel"] = kernel.at[0, 0].set(jnp.nan)
    before = jax.device_get(poisoned)
    after, metrics = run.step(poisoned, batch)
    after = jax.device_get(after)
    assert float(metrics["nonfinite"]) == 1.0
    assert int(after.step) == 1 and int(after.nonfinite_steps) == 1
    for a, b in zip(jax.tree.leaves(before.params), jax.tree.leaves(after.params), strict=True):
        np.testing.assert_array_equal(a, b)
    # A finite state takes a normal step.
    _, metrics = run.step(jax.device_put(fresh, parallel.replicated(run.mesh)), batch)
    assert float(metrics["nonfinite"]) == 0.0 and np.isfinite(float(metrics["loss"]))


# write_json_atomic with a slow serialiser: the child is killed in the middle of writing.
_KILLED_WRITER = """
import json, sys, time
from ssljax.checkpoint import write_json_atomic
class Slow:
    def __init__(self, i): self.i = i
def slow(o):
    if isinstance(o, Slow):
        print("writing", flush=True)
        time.sleep(0.05)
        return o.i
    raise TypeError
import ssljax.checkpoint as c
real = json.dump
json.dump = lambda obj, f, **kw: real(obj, f, **{**kw, "default": slow})
write_json_atomic(sys.argv[1], {"rows": [Slow(i) for i in range(10000)]})
"""


def test_results_json_write_is_atomic_under_kill_9(tmp_path):
    # A reader only ever sees the old file or the new one: killed halfway through writing
    # the new one, the old one is intact and no temporary file is mistaken for it.
    target = tmp_path / "results.json"
    target.write_text(json.dumps({"old": True}))
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)],
                            env=env_for(1), cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"  # serialising has started
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads(target.read_text()) == {"old": True}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "results.json"]
    assert all(n.startswith(".results.json.") and n.endswith(".tmp") for n in leftovers)


@pytest.mark.slow
def test_results_json_is_valid_after_completion(tmp_path):
    # results.json is written atomically: it always parses.
    wd = tmp_path / "run"
    run("ssljax.pretrain", DEMO, f"--workdir={wd}", *FAST, *SMALL, "--config.max_steps=2")
    json.loads((wd / "results.json").read_text())
    assert not [p for p in os.listdir(wd) if p.endswith(".tmp")]
