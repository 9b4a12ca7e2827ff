"""Two local processes × 2 fake devices (jax.distributed over gloo) = one process × 4.

Each process reads its half of every global batch; cross-device BatchNorm, gathered
negatives and gradients span both processes. The same seed must give the same loss.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.program_utils import FAST, REPO, env_for, last_json, run

ARGS = ("--config=configs/simclr_mnist.py", *FAST, "--config.max_steps=3", "--config.batch_size=64")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process_with_four_devices(tmp_path):
    single = last_json(
        run("ssljax.pretrain", *ARGS, f"--workdir={tmp_path / 'one'}", devices=4).stdout
    )
    assert single["devices"] == 4 and single["processes"] == 1

    port = _free_port()
    wd = tmp_path / "two"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ssljax.pretrain",
                *ARGS,
                f"--workdir={wd}",
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
    multi = last_json(outs[0][0])
    assert multi["devices"] == 4 and multi["processes"] == 2
    assert multi["final_loss"] == pytest.approx(single["final_loss"], rel=1e-3)
    # Both processes report the same final loss.
    reported = [line for _, err in outs for line in err.splitlines() if "final_loss=" in line]
    assert len(reported) == 2
    values = {float(line.rsplit("final_loss=", 1)[1]) for line in reported}
    assert all(v == pytest.approx(multi["final_loss"], rel=1e-6) for v in values)


def test_unreachable_coordinator_fails_fast_with_one_line(tmp_path):
    port = _free_port()  # nothing listens there
    proc = run(
        "ssljax.pretrain",
        *ARGS,
        f"--workdir={tmp_path / 'wd'}",
        f"--coordinator_address=127.0.0.1:{port}",
        "--num_processes=2",
        "--process_id=1",
        "--coordinator_timeout=10",
        check=False,
        timeout=180,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ssljax: error: could not reach the coordinator at 127.0.0.1:")
    assert "Traceback" not in proc.stderr
