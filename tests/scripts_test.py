"""The launch scripts in scripts/ are shellcheck-clean and refuse bad usage in one line."""

from __future__ import annotations

import subprocess

import pytest

from tests.program_utils import REPO

SCRIPTS = sorted(
    [*REPO.glob("scripts/*.sh"), *REPO.glob("scripts/*.sbatch"), REPO / ".ci" / "run"]
)


def test_there_are_launch_scripts():
    names = {p.name for p in SCRIPTS}
    assert {"tpu_pod.sh", "slurm_multinode.sbatch", "single_host.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script):
    proc = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script, args", [("tpu_pod.sh", []), ("single_host.sh", ["only-one"])])
def test_usage_error_is_one_line_exit_2(script, args):
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / script), *args], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("usage:") and "\n" not in proc.stderr.strip()
