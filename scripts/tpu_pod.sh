#!/usr/bin/env bash
# Pretrain on a Cloud TPU VM pod slice: the same command on every worker.
#
#   scripts/tpu_pod.sh create   # create the slice (gcloud compute tpus tpu-vm create)
#   scripts/tpu_pod.sh setup    # clone ssljax and install it with jax[tpu] on all workers
#   scripts/tpu_pod.sh run      # launch pretraining on all workers at once
#   scripts/tpu_pod.sh delete   # delete the slice (stops billing)
#
# Settings come from the environment (defaults in brackets):
#   TPU_NAME [ssljax-pod]  ZONE [us-central2-b]  ACCELERATOR [v4-32]
#   TPU_VERSION [tpu-ubuntu2204-base]  PROJECT [gcloud's current project]
#   REPO_URL [https://github.com/ssljax/ssljax.git]  REPO_REF [main]
#   CONFIG [configs/simclr_imagenet.py]
#   WORKDIR [/mnt/shared/ssljax/$TPU_NAME] -- must be ONE directory that every worker
#     sees (a Filestore/NFS mount or a gcsfuse-mounted bucket): Orbax writes one
#     checkpoint from all processes into it and every worker resumes from it.
#   EXTRA_FLAGS [""] -- more flags for ssljax.pretrain, e.g. "--config.num_epochs=100".
#
# No --coordinator_address is needed on a pod: each worker calls
# jax.distributed.initialize(), which reads the slice's topology from the TPU metadata
# (ssljax detects TPU_WORKER_HOSTNAMES). Process 0 logs, writes summaries and
# results.json; every worker reads only its own shard of each global batch.
set -euo pipefail

TPU_NAME="${TPU_NAME:-ssljax-pod}"
ZONE="${ZONE:-us-central2-b}"
ACCELERATOR="${ACCELERATOR:-v4-32}"
TPU_VERSION="${TPU_VERSION:-tpu-ubuntu2204-base}"
REPO_URL="${REPO_URL:-https://github.com/ssljax/ssljax.git}"
REPO_REF="${REPO_REF:-main}"
CONFIG="${CONFIG:-configs/simclr_imagenet.py}"
WORKDIR="${WORKDIR:-/mnt/shared/ssljax/${TPU_NAME}}"
EXTRA_FLAGS="${EXTRA_FLAGS:-}"

project_args=()
if [ -n "${PROJECT:-}" ]; then
  project_args=(--project "${PROJECT}")
fi

on_all_workers() {
  gcloud compute tpus tpu-vm ssh "${TPU_NAME}" --zone "${ZONE}" "${project_args[@]}" \
    --worker=all --command "$1"
}

case "${1:-}" in
  create)
    gcloud compute tpus tpu-vm create "${TPU_NAME}" --zone "${ZONE}" "${project_args[@]}" \
      --accelerator-type "${ACCELERATOR}" --version "${TPU_VERSION}"
    ;;
  setup)
    on_all_workers "set -e
      if [ ! -d ssljax ]; then git clone '${REPO_URL}' ssljax; fi
      cd ssljax && git fetch -q origin && git checkout -q '${REPO_REF}'
      python3 -m venv .venv
      .venv/bin/pip install -q -e '.[tpu]'
      .venv/bin/python -c 'import jax; print(jax.process_index(), jax.device_count())'"
    ;;
  run)
    # nohup + a log file per worker: the job survives a dropped SSH connection.
    on_all_workers "cd ssljax && nohup .venv/bin/python -m ssljax.pretrain \
      --config='${CONFIG}' --workdir='${WORKDIR}' ${EXTRA_FLAGS} \
      > pretrain_\$(hostname).log 2>&1 &"
    echo "launched on all workers of ${TPU_NAME}; follow worker 0 with:"
    echo "  gcloud compute tpus tpu-vm ssh ${TPU_NAME} --zone ${ZONE} --worker=0 --command 'tail -f ssljax/pretrain_*.log'"
    ;;
  delete)
    gcloud compute tpus tpu-vm delete "${TPU_NAME}" --zone "${ZONE}" "${project_args[@]}" --quiet
    ;;
  *)
    echo "usage: $0 create|setup|run|delete   (settings: see the comments at the top)" >&2
    exit 2
    ;;
esac
