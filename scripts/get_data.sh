#!/usr/bin/env bash
# Installs an offline dataset where this machine can; says what to do where it cannot.
#
#   bash scripts/get_data.sh fashion_mnist
#
# fashion_mnist: Debian's package `dataset-fashion-mnist` puts the original idx .gz files
# under /usr/share/datasets/fashion-mnist/, where `--config.dataset.name=fashion_mnist`
# finds them (installed with apt-get as root, or through sudo). Elsewhere: `tfds build
# fashion_mnist` with network access, or the four idx .gz files of
# github.com/zalandoresearch/fashion-mnist in a folder given as --config.dataset.data_dir.
set -euo pipefail

FASHION_MNIST_DIR="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"

case "${1:-}" in
  fashion_mnist)
    if [ -f "${FASHION_MNIST_DIR}/train-images-idx3-ubyte.gz" ] \
        && [ -f "${FASHION_MNIST_DIR}/t10k-labels-idx1-ubyte.gz" ]; then
      echo "fashion_mnist: already installed in ${FASHION_MNIST_DIR}"
      exit 0
    fi
    if ! command -v apt-get > /dev/null; then
      echo "fashion_mnist: no apt-get here; run \`tfds build fashion_mnist\` with network access," \
        "or put the idx .gz files in a folder and pass --config.dataset.data_dir=FOLDER" >&2
      exit 1
    fi
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      apt-get install -y -qq dataset-fashion-mnist
    elif command -v sudo > /dev/null; then
      sudo apt-get update -qq
      sudo apt-get install -y -qq dataset-fashion-mnist
    else
      echo "fashion_mnist: needs root; run \`apt-get install dataset-fashion-mnist\` as root" >&2
      exit 1
    fi
    echo "fashion_mnist: installed in ${FASHION_MNIST_DIR}"
    ;;
  *)
    echo "usage: $0 fashion_mnist" >&2
    exit 2
    ;;
esac
