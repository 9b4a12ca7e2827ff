"""The README's errors table is what the programs print.

`scripts/errors_table.py` runs every case of the table and rewrites it; here its `--check
--quick` mode reruns the cases that need neither training nor TensorFlow (most of them)
and fails where a message no longer matches its README row, i.e. where a message changed
and the table was not regenerated.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.program_utils import REPO, env_for


@pytest.mark.slow
def test_readme_errors_table_matches_what_the_programs_print():
    proc = subprocess.run([sys.executable, "scripts/errors_table.py", "--check", "--quick"],
                          cwd=REPO, env=env_for(1), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stderr[-4000:] or proc.stdout[-4000:])


def test_every_case_has_a_readme_row():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import errors_table  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    rows = errors_table._readme_rows()
    missing = [c.mistake for c in errors_table.CASES if c.mistake not in rows]
    assert not missing, f"run `python scripts/errors_table.py` to add rows for {missing}"
