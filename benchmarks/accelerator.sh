#!/usr/bin/env bash
# The accelerator numbers: SimCLR with a ResNet-50 at 224 px in bfloat16 on synthetic
# images (no dataset, no TensorFlow), on whatever accelerator JAX finds: views/s, MFU
# (against the dense bf16 peak in step_time.py, 989 TFLOP/s for an H100), peak memory and
# the 15 operations that took longest.
#
#   bash benchmarks/accelerator.sh                         # writes runs/accelerator.jsonl
#   BATCHES="64 128" bash benchmarks/accelerator.sh out.jsonl
#
# Needs jax with the accelerator's plugin, flax, optax, orbax-checkpoint, chex, absl-py
# and ml-collections; not TensorFlow. BATCHES are pairs per step (2 views each).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/accelerator.jsonl}"
mkdir -p "$(dirname "$out")"
py="${PYTHON:-python}"
for b in ${BATCHES:-128 256}; do
  echo "== SimCLR ResNet-50, 224 px, bfloat16, $b pairs per step" >&2
  "$py" benchmarks/step_time.py --config=configs/simclr_imagenet.py \
    --config.batch_size="$b" --config.encoder.dtype=bfloat16 --steps=20 --warmup=3 \
    --profile_top=15 | tail -n 1 | tee -a "$out"
done
echo "wrote $out" >&2
