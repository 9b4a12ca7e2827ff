"""The Fashion-MNIST loader on small idx files the test writes (the real files are optional)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from ssljax import data
from ssljax.data import fashion_mnist
from ssljax.errors import DataError

PER_CLASS = {"train": 20, "test": 5}


def _idx(array: np.ndarray) -> bytes:
    """The idx encoding of a uint8 array: magic (0, 0, 0x08, ndim), big-endian sizes, data."""
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.astype(np.uint8).tobytes()


def _write(folder, split, images, labels, gz=True):
    names = fashion_mnist.FILES[split]
    for name, arr in zip(names, (images, labels), strict=True):
        raw = _idx(arr)
        (folder / name).write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture()
def files(tmp_path):
    """Tiny Fashion-MNIST-shaped files: 20 train and 5 test images per class."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in PER_CLASS.items():
        labels = np.repeat(np.arange(10), n)
        rng.shuffle(labels)
        images = rng.integers(0, 256, (labels.size, 28, 28), dtype=np.uint8)
        _write(tmp_path, split, images, labels)
        arrays[split] = (images, labels)
    fashion_mnist.clear_cache()
    yield tmp_path, arrays
    fashion_mnist.clear_cache()


def test_reads_the_files_with_shapes_dtypes_labels_and_splits(files, monkeypatch):
    folder, arrays = files
    monkeypatch.setattr(fashion_mnist, "tfds_dir", lambda data_dir: None)
    cfg = {"name": "fashion_mnist", "data_dir": str(folder)}
    info = data.dataset_info(cfg)
    assert info == (200, (28, 28, 1), 10)
    for split, (images, labels) in arrays.items():
        x, y = data.load_split(cfg, split)
        assert x.dtype == np.uint8 and x.shape == (labels.size, 28, 28, 1)
        assert y.dtype == np.int32
        np.testing.assert_array_equal(x[..., 0], images)
        np.testing.assert_array_equal(y, labels)
    # validation: 10% of each class of train (2 here), disjoint from train_tune, covering train
    _, val_y = data.load_split(cfg, "validation")
    _, tune_y = data.load_split(cfg, "train_tune")
    assert np.bincount(val_y, minlength=10).tolist() == [2] * 10
    assert np.bincount(tune_y, minlength=10).tolist() == [18] * 10
    rows = fashion_mnist.validation_rows(arrays["train"][1])
    assert len(set(rows)) == 20 and rows.tolist() == sorted(rows)


def test_plain_idx_files_are_read_too(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    (tmp_path / "x").write_bytes(_idx(images))
    np.testing.assert_array_equal(fashion_mnist.read_idx(tmp_path / "x"), images)


def test_truncated_file_is_one_line(files):
    folder, _ = files
    path = folder / fashion_mnist.FILES["train"][0]
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="truncated or damaged") as e:
        fashion_mnist.read_idx(path)
    assert "\n" not in str(e.value)


def test_not_an_idx_file_is_one_line(tmp_path):
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04hello"))
    with pytest.raises(DataError, match="not an idx file"):
        fashion_mnist.read_idx(tmp_path / "x.gz")


def test_missing_dataset_names_both_fixes(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(fashion_mnist, "tfds_dir", lambda data_dir: None)
    fashion_mnist.clear_cache()
    with pytest.raises(DataError) as e:
        data.dataset_info({"name": "fashion_mnist", "data_dir": str(tmp_path / "empty")})
    msg = str(e.value)
    assert "\n" not in msg
    for words in ("apt-get install dataset-fashion-mnist", "tfds build fashion_mnist",
                  "dataset.data_dir"):
        assert words in msg, msg


def test_prepared_tfds_copy_is_found(tmp_path, monkeypatch):
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    info = tmp_path / "fashion_mnist" / "3.0.1" / "dataset_info.json"
    info.parent.mkdir(parents=True)
    info.write_text("{}")
    assert fashion_mnist.tfds_dir(str(tmp_path)) == tmp_path
    assert fashion_mnist.tfds_dir(str(tmp_path / "other")) in (None, fashion_mnist.tfds_dir(""))
