#!/usr/bin/env bash
# Pretrain on one machine with all of its accelerators (one process, every local GPU or
# TPU core in the mesh), or on its CPU.
#
#   scripts/single_host.sh configs/simclr_cifar10.py runs/simclr_cifar10 [--config.key=value ...]
#   FAKE_DEVICES=8 scripts/single_host.sh configs/simclr_mnist.py runs/fake8   # CPU, 8 fake devices
#
# One process is all a single host needs: JAX puts every local device in the mesh and
# the step is sharded over them. Use scripts/slurm_multinode.sbatch or
# scripts/tpu_pod.sh when one host is not enough.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -lt 2 ]; then
  echo "usage: $0 CONFIG WORKDIR [--config.key=value ...]" >&2
  exit 2
fi
config="$1"
workdir="$2"
shift 2

if [ -n "${FAKE_DEVICES:-}" ]; then
  export XLA_FLAGS="--xla_force_host_platform_device_count=${FAKE_DEVICES} ${XLA_FLAGS:-}"
  export JAX_PLATFORMS=cpu
fi
# Let XLA take GPU memory as it needs it instead of 75% up front (no effect on CPU/TPU).
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"

PYTHON="${PYTHON:-.venv/bin/python}"
exec "${PYTHON}" -m ssljax.pretrain --config="${config}" --workdir="${workdir}" "$@"
