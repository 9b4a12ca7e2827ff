#!/usr/bin/env bash
# The conversion tests against the real torchvision and timm models, not only the torch
# re-creations that the test extras run them against (tests/torch_reference.py): creates
# .venv-torch/ with torchvision and timm, installs ssljax there and runs
# tests/convert_test.py, printing each layout's largest feature difference.
#
# The package index of the development machines has no CPU build of torchvision that
# imports, so on x86_64 this takes torch 2.14.1 + torchvision 0.29.1 (CUDA builds, about
# 5.5 GB, run on the CPU). Set TORCH_PACKAGES to choose others, e.g. on aarch64:
#   TORCH_PACKAGES="torch==2.9.1 torchvision==0.24.1" bash scripts/check_torch_libraries.sh
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a packages <<< "${TORCH_PACKAGES:-torch==2.14.1 torchvision==0.29.1}"
if [ ! -x .venv-torch/bin/python ]; then
  python3 -m venv .venv-torch
fi
.venv-torch/bin/python -m pip install -q --disable-pip-version-check -e . "${packages[@]}" \
  timm pytest pytest-xdist hypothesis
.venv-torch/bin/python -c "import tests.torch_reference as r; assert r.REAL, 'torchvision/timm do not import'"
exec .venv-torch/bin/python -m pytest -q -p no:cacheprovider -s tests/convert_test.py "$@"
