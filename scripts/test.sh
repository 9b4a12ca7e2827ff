#!/usr/bin/env bash
# Set up a virtualenv under the repo (if needed) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# Two workers: one per core (compilation is mostly single-threaded).
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n auto "$@"
