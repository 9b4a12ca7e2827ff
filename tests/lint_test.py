"""The code is ruff-clean (the rules in pyproject.toml), checked with the venv's own ruff."""

from __future__ import annotations

import subprocess

from tests.program_utils import REPO
from tests.tools import minimal_env, venv_tool


def test_ruff_check_is_clean():
    proc = subprocess.run(
        [venv_tool("ruff"), "check", "--no-cache", "ssljax", "tests", "benchmarks", "configs"],
        cwd=REPO, env=minimal_env(), capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
