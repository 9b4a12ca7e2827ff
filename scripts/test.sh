#!/usr/bin/env bash
# Set up a virtualenv under the repo (if needed) and run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"` (the fast tier).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# the optional oneDNN convolutions (ssljax/models/native.py); skipped without a compiler
bash scripts/build_native.sh .venv/bin/python
# The tools the tests run (shellcheck, ruff) come from the venv, never from the
# machine: its bin/ goes first on PATH, as `source .venv/bin/activate` would put it.
PATH="$(pwd)/.venv/bin:${PATH}"
export PATH
# Two workers: one per core (compilation is mostly single-threaded); `worksteal` hands an
# idle worker the other's queued tests, so the minutes-long ones do not leave it idle.
# The 30 slowest tests are listed last: the suite has a 15-minute budget.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n auto --dist worksteal --durations=30 "$@"
