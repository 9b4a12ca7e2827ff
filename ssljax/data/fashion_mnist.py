"""Fashion-MNIST, offline: TFDS's prepared copy or the original idx files (Debian package).

70,000 labelled 28×28 grayscale photographs of clothing in 10 classes (Xiao, Rasul and
Vollgraf, 2017; MIT licence): the official 60,000 train / 10,000 test split, plus a
validation split carved from train for tuning, so that the test set is never tuned on.

`dataset.name = "fashion_mnist"` reads, in this order:

1. TFDS's prepared `fashion_mnist` in `dataset.data_dir` (or `$TFDS_DATA_DIR`, or
   `~/tensorflow_datasets`) — `tfds build fashion_mnist` with network access;
2. the original idx files (`train-images-idx3-ubyte.gz`, ...) in `dataset.data_dir`, or in
   `/usr/share/datasets/fashion-mnist/`, where Debian's package `dataset-fashion-mnist`
   puts them (`scripts/get_data.sh fashion_mnist` installs it);
3. neither: a one-line `DataError` naming both fixes.

Splits: `train` (60,000), `test` (10,000), `validation` (10% of each class of train,
seeded: 6,000) and `train_tune` (the other 54,000). Tune on `train_tune`/`validation`, report on
`train`/`test`.

Reference: Xiao, Rasul, Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking
Machine Learning Algorithms", arXiv:1708.07747; github.com/zalandoresearch/fashion-mnist.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ssljax.data.arrays import Source
from ssljax.errors import DataError

NAME = "fashion_mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
VALIDATION_FRACTION = 0.1  # of each class of train: 600 of 6,000
_FIX = ("install it: `sudo apt-get install dataset-fashion-mnist` on Debian/Ubuntu (or "
        "`bash scripts/get_data.sh fashion_mnist`), or `tfds build fashion_mnist` with network "
        "access; or point --config.dataset.data_dir at a folder of its idx .gz files")
# idx type codes (the third byte of the magic number) -> NumPy dtypes (big-endian).
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_loaded: dict[str, Source] = {}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an idx file (the MNIST format), gzipped or not.

    Format: two zero bytes, a type byte, the number of dimensions d, then d big-endian
    uint32 sizes and the data in C order.

    Args:
      path: the file (`.gz` is decompressed).

    Returns:
      The array, shaped as the header says.

    Raises:
      DataError: the file is missing, is not an idx file, or is truncated.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; {_FIX}") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path} cannot be read ({e}); download or install it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an idx file (bad magic number); use the original "
                        "Fashion-MNIST files")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated (header of {header} bytes, file of {len(raw)})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    size = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != size:
        raise DataError(f"{path} is truncated or damaged: {len(raw) - header} data bytes, the "
                        f"header promises {size} for shape {shape}; download or install it again")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def tfds_dir(data_dir: str) -> Path | None:
    """The TFDS data dir that holds a prepared `fashion_mnist`, or None."""
    candidates = [data_dir, os.environ.get("TFDS_DATA_DIR", ""),
                  str(Path.home() / "tensorflow_datasets")]
    for d in candidates:
        if d and any((Path(d) / NAME).glob("*/dataset_info.json")):
            return Path(d)
    return None


def idx_dir(data_dir: str) -> Path | None:
    """The folder of the original idx files: `data_dir` or the Debian package's, or None."""
    for d in ([Path(data_dir)] if data_dir else []) + [DEBIAN_DIR]:
        if all((d / f).exists() for pair in FILES.values() for f in pair):
            return d
    return None


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_file, labels_file = FILES[split]
    images = read_idx(folder / images_file)
    labels = read_idx(folder / labels_file)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{folder}: {images_file} holds {images.shape} and {labels_file} "
                        f"{labels.shape}; expected [N, 28, 28] images and N labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{folder / labels_file}: labels outside 0-9; the file is not "
                        "Fashion-MNIST's")
    return np.ascontiguousarray(images[..., None], np.uint8), labels.astype(np.int32)


def _tfds_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    from ssljax.data import tfds_source  # noqa: PLC0415 - imports TensorFlow
    from ssljax.data.config import DatasetConfig  # noqa: PLC0415

    return tfds_source.load_split(DatasetConfig(name=NAME, data_dir=str(folder)), split)


def validation_rows(labels: np.ndarray) -> np.ndarray:
    """Sorted train rows of the validation split: 10% of each class, seeded by [0, class]."""
    rows = []
    for c in range(10):
        members = np.flatnonzero(labels == c)
        count = int(round(VALIDATION_FRACTION * members.size))
        rows.append(np.random.default_rng([0, c]).permutation(members)[:count])
    return np.sort(np.concatenate(rows))


def load(data_dir: str = "") -> Source:
    """The Fashion-MNIST `Source` (loaded once per process).

    Raises:
      DataError: neither a prepared TFDS copy nor the idx files can be found or read.
    """
    key = str(data_dir)
    if key in _loaded:
        return _loaded[key]
    tfds = tfds_dir(data_dir)
    folder = idx_dir(data_dir)
    if tfds is not None:
        read = lambda split: _tfds_split(tfds, split)  # noqa: E731
    elif folder is not None:
        read = lambda split: _read_split(folder, split)  # noqa: E731
    else:
        where = f"{data_dir} or {DEBIAN_DIR}" if data_dir else str(DEBIAN_DIR)
        raise DataError(f"Fashion-MNIST is not on this machine (no prepared TFDS "
                        f"fashion_mnist, no idx files in {where}); {_FIX}")
    train, test = read("train"), read("test")
    val = validation_rows(train[1])
    tune = np.setdiff1d(np.arange(train[1].shape[0]), val)
    source = Source(name=NAME, num_classes=10, splits={
        "train": train, "test": test,
        "validation": (train[0][val], train[1][val]),
        "train_tune": (train[0][tune], train[1][tune]),
    })
    _loaded[key] = source
    return source


def clear_cache() -> None:
    """Forgets the in-memory copies."""
    _loaded.clear()
