#!/usr/bin/env bash
# Every CPU performance number of the README's Benchmarks section, side by side in one run
# (the accelerator ones: benchmarks/accelerator.sh).
#
#   bash benchmarks/performance.sh                  # writes runs/performance.jsonl
#   bash benchmarks/performance.sh out.jsonl        # or there
#
# One benchmark after another, each alone on the machine: the SSL overhead of the real
# SimCLR and BYOL steps (CIFAR ResNet-18, batch 64) and of the demo step, dense vs
# blockwise NT-Xent up to 32k pairs, the input pipeline, and the CPU step against
# PyTorch (skipped with a message where torch is not installed). Each benchmark's
# JSON line is appended to the output file; the progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/performance.jsonl}"
mkdir -p "$(dirname "$out")"
py="${PYTHON:-python}"
export TF_CPP_MIN_LOG_LEVEL=3

run() {
  echo "== $*" >&2
  "$py" "$@" | tail -n 1 | tee -a "$out"
}

run benchmarks/step_time.py --config=configs/simclr_cifar10.py --config.batch_size=64 --steps=5
run benchmarks/step_time.py --config=configs/byol_cifar10.py --config.batch_size=64 --steps=5
run benchmarks/step_time.py --config=configs/simclr_mnist.py --steps=10
run benchmarks/loss_scaling.py
run benchmarks/input_pipeline.py
if "$py" -c "import torch" 2>/dev/null; then
  run benchmarks/cpu_parity.py --steps=5 --warmup=1 \
    --variants=torch,torch_cl,torch_fwd,jax,jax_2dev,jax_fwd,jax_fwd_2dev,jax_full_2dev,jax_bf16_2dev,jax_taps,jax_taps_2dev
else
  echo "== cpu_parity skipped: PyTorch is not installed (pip install torch --index-url https://download.pytorch.org/whl/cpu)" >&2
fi
echo "wrote $out" >&2
