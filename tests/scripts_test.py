"""The launch scripts in scripts/ are shellcheck-clean and refuse bad usage in one line."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.program_utils import REPO
from tests.tools import VENV_TOOLS, minimal_env, venv_tool

SCRIPTS = sorted(
    [*REPO.glob("scripts/*.sh"), *REPO.glob("scripts/*.sbatch"), REPO / ".ci" / "run"]
)


def test_there_are_launch_scripts():
    names = {p.name for p in SCRIPTS}
    assert {"tpu_pod.sh", "slurm_multinode.sbatch", "single_host.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script):
    proc = subprocess.run([venv_tool("shellcheck"), str(script)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("tool", VENV_TOOLS)
def test_suite_tools_run_with_only_the_venv_and_the_system_on_path(tool):
    # The guard against a tool that only exists outside the project: with PATH reduced
    # to the venv's bin/ and /usr/bin:/bin, each tool the suite runs is found by name
    # (as scripts/test.sh arranges) and is the venv's own copy.
    env = minimal_env()
    found = shutil.which(tool, path=env["PATH"])
    assert found == venv_tool(tool), (tool, found)
    proc = subprocess.run([tool, "--version"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script, args", [("tpu_pod.sh", []), ("single_host.sh", ["only-one"])])
def test_usage_error_is_one_line_exit_2(script, args):
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / script), *args], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("usage:") and "\n" not in proc.stderr.strip()
