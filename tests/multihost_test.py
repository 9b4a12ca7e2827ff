"""Two local processes × 2 fake devices (jax.distributed over gloo) = one process × 4.

Also: a checkpoint written by 2 processes resumes in 1 process, and vice versa.

Each process reads its half of every global batch; cross-device BatchNorm, gathered
negatives and gradients span both processes. The same seed must give the same loss.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.program_utils import FAST, REPO, env_for, last_json, run

pytestmark = pytest.mark.slow  # several processes joined by jax.distributed: minutes

ARGS = ("--config=configs/simclr_mnist.py", *FAST, "--config.max_steps=3", "--config.batch_size=64")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(workdir, *extra: str) -> list[tuple[str, str]]:
    """Runs pretraining as 2 local processes × 2 fake devices; returns their (stdout, stderr)."""
    port = _free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ssljax.pretrain",
                *ARGS,
                *extra,
                f"--workdir={workdir}",
                f"--coordinator_address=127.0.0.1:{port}",
                "--num_processes=2",
                f"--process_id={i}",
                "--coordinator_timeout=120",
            ],
            env=env_for(2),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    return outs


def _one_process(workdir, *extra: str):
    return run("ssljax.pretrain", *ARGS, *extra, f"--workdir={workdir}", devices=4)


def test_two_processes_match_one_process_and_checkpoints_cross_process_counts(tmp_path):
    """One test, so that the 3-step runs of the first half are the resumes' starting points."""
    one, two = tmp_path / "one", tmp_path / "two"
    single = last_json(_one_process(one).stdout)
    assert single["devices"] == 4 and single["processes"] == 1

    outs = _two_processes(two)
    multi = last_json(outs[0][0])
    assert multi["devices"] == 4 and multi["processes"] == 2
    assert multi["final_loss"] == pytest.approx(single["final_loss"], rel=1e-3)
    # Both processes report the same final loss.
    reported = [line for _, err in outs for line in err.splitlines() if "final_loss=" in line]
    assert len(reported) == 2
    values = {float(line.rsplit("final_loss=", 1)[1]) for line in reported}
    assert all(v == pytest.approx(multi["final_loss"], rel=1e-6) for v in values)

    # 2 processes wrote `two`, 1 process resumes it; 1 process wrote `one`, 2 resume it.
    more = "--config.max_steps=6"
    a = _one_process(two, more)  # steps 3-6 on 1 process
    b_outs = _two_processes(one, more)  # steps 3-6 on 2 processes
    assert "resumed from step 3" in a.stderr
    assert "resumed from step 3" in b_outs[0][1]  # logged by process 0 only
    res_a, res_b = last_json(a.stdout), last_json(b_outs[0][0])
    assert res_a["steps"] == res_b["steps"] == 6
    assert (res_a["processes"], res_b["processes"]) == (1, 2)
    # The same 6 steps, whatever wrote and read the checkpoint in between.
    assert res_b["final_loss"] == pytest.approx(res_a["final_loss"], rel=1e-3)


def test_unreachable_coordinator_fails_fast_with_one_line(tmp_path):
    port = _free_port()  # nothing listens there
    proc = run(
        "ssljax.pretrain",
        *ARGS,
        f"--workdir={tmp_path / 'wd'}",
        f"--coordinator_address=127.0.0.1:{port}",
        "--num_processes=2",
        "--process_id=1",
        "--coordinator_timeout=3",
        check=False,
        timeout=180,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ssljax: error: could not reach the coordinator at 127.0.0.1:")
    assert "Traceback" not in proc.stderr
