"""Smoke runs of the benchmarks that the notes quote, with tiny settings: they must run."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.program_utils import REPO, env_for


def test_step_time_prints_its_json_line():
    proc = subprocess.run(
        [sys.executable, "benchmarks/step_time.py", "--config=configs/simclr_mnist.py",
         "--config.batch_size=16", "--steps=1", "--warmup=1"],
        env=env_for(2), cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["devices"] == 2 and res["batch_size"] == 16 and res["views"] == 2
    assert res["median_step_s"] > 0 and res["encoder_only_step_s"] > 0
    assert res["overhead_ratio"] == round(res["median_step_s"] / res["encoder_only_step_s"], 3)
