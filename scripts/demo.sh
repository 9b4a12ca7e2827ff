#!/usr/bin/env bash
# Set up a virtualenv under the repo (if needed) and run the demo: SimCLR on the
# bundled MNIST digits, then kNN + linear probe on the 1,000 held-out digits.
# Extra arguments go to the program, e.g. --config.num_epochs=10.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
# the optional oneDNN convolutions (ssljax/models/native.py); skipped without a compiler
bash scripts/build_native.sh .venv/bin/python
exec .venv/bin/python -m ssljax.pretrain --config=configs/simclr_mnist.py --workdir=runs/demo "$@"
