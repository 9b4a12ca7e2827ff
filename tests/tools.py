"""The external tools the suite runs, found in the environment the suite was installed into.

A test must never pick up a tool that only exists on the developer's machine (a global
`shellcheck` once hid six failing tests): `venv_tool(name)` returns the executable next to
this interpreter (`<venv>/bin/name`, where the test extras install it) and fails with a
message naming the missing install step otherwise. `MINIMAL_PATH` is the PATH the guard
test runs the tools with: the venv's bin/ plus the system's /usr/bin:/bin only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
# Tools the suite runs by name; the test extras (pyproject `[test]`) install them here.
VENV_TOOLS = ("shellcheck", "ruff")
MINIMAL_PATH = os.pathsep.join([str(BIN), "/usr/bin", "/bin"])


def venv_tool(name: str) -> str:
    """Absolute path of `name` in this interpreter's bin/, or a failed test saying why."""
    path = BIN / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{name} is not installed in {BIN}; run `bash scripts/test.sh` (it installs "
                    "the [test] extras) instead of relying on a copy elsewhere on the machine")
    return str(path)


def minimal_env() -> dict[str, str]:
    """This process's environment with PATH cut down to `MINIMAL_PATH`."""
    return {**os.environ, "PATH": MINIMAL_PATH}
