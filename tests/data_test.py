"""Tests of ssljax.data without TensorFlow: bundled digits, arrays, image folders, errors."""

import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import ml_collections
import numpy as np
import pytest
from PIL import Image

import ssljax.data as data
from ssljax.data import arrays, bundled
from ssljax.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]


def dataset(name, **overrides):
    cfg = ml_collections.ConfigDict(
        dict(
            name=name,
            data_dir="",
            image_size=0,
            train_split="train",
            eval_split="test",
            num_classes=0,
        )
    )
    cfg.update(overrides)
    return cfg


def take(it, n):
    out = [next(it) for _ in range(n)]
    it.close()
    return out


def assert_one_line(err, *words):
    msg = str(err.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.fixture(autouse=True)
def _fresh_memory():
    data.clear_memory_cache()
    yield
    data.clear_memory_cache()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ---------------------------------------------------------------------------------------
# Bundled datasets.


def test_mnist_bundled_offline_split_and_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("SSLJAX_CACHE", str(tmp_path))
    cfg = dataset("mnist")
    train_x, train_y = data.load_split(cfg, "train")
    test_x, test_y = data.load_split(cfg, "test")
    assert train_x.shape == (4000, 28, 28, 1) and test_x.shape == (1000, 28, 28, 1)
    assert train_x.dtype == np.uint8 and train_y.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(train_y), [400] * 10)
    np.testing.assert_array_equal(np.bincount(test_y), [100] * 10)
    assert 25.0 < train_x.mean() < 45.0 and train_x.max() == 255  # MNIST mean pixel ~33
    assert set(np.unique(test_y)) == set(range(10))
    # The split is the documented one: first 400 rows of each class in file order.
    all_x, all_y = bundled.mnist_arrays()
    np.testing.assert_array_equal(train_x[:400], all_x[:400])
    np.testing.assert_array_equal(test_x[:100], all_x[400:500])
    np.testing.assert_array_equal(test_x[-100:], all_x[-100:])
    assert data.dataset_info(cfg) == (4000, (28, 28, 1), 10)

    cache = tmp_path / "mnist5k_v1.npz"
    assert cache.is_file() and not list(tmp_path.glob("*.tmp"))
    mtime = cache.stat().st_mtime_ns
    data.clear_memory_cache()

    def fail(*args):
        raise AssertionError("re-parsed the CSV although the cache exists")

    monkeypatch.setattr(bundled, "_parse_mnist_csv", fail)
    again_x, again_y = data.load_split(cfg, "train")
    np.testing.assert_array_equal(again_x, train_x)
    np.testing.assert_array_equal(again_y, train_y)
    assert cache.stat().st_mtime_ns == mtime


def test_mnist_resized_and_digits():
    x, _ = data.load_split(dataset("mnist", image_size=32), "test")
    assert x.shape == (1000, 32, 32, 1) and x.dtype == np.uint8
    cfg = dataset("digits")
    tx, ty = data.load_split(cfg, "train")
    vx, vy = data.load_split(cfg, "test")
    assert tx.shape == (1438, 8, 8, 1) and vx.shape == (359, 8, 8, 1)
    assert tx.dtype == np.uint8 and tx.max() == 255 and tx.min() == 0
    counts = np.bincount(vy) / (np.bincount(vy) + np.bincount(ty))
    assert np.all(np.abs(counts - 0.2) < 0.02)  # stratified
    assert data.dataset_info(cfg) == (1438, (8, 8, 1), 10)


# ---------------------------------------------------------------------------------------
# Arrays and the global order.


def make_arrays(n=50, size=6, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = (np.arange(n) % 5).astype(np.int32)
    return images, labels


def test_from_arrays_batches_follow_the_documented_global_order():
    images, labels = make_arrays()
    source = data.from_arrays(images, labels)
    batches = take(data.make_train_iterator(source, global_batch_size=16, seed=3,
                                            process_index=0, process_count=1), 7)
    spe = 50 // 16
    for s, batch in enumerate(batches):
        e, j = divmod(s, spe)
        rows = np.random.default_rng([3, e]).permutation(50)[j * 16:(j + 1) * 16]
        np.testing.assert_array_equal(batch["index"], rows)
        np.testing.assert_array_equal(batch["image"], images[rows])
        np.testing.assert_array_equal(batch["label"], labels[rows])
        assert batch["image"].dtype == np.uint8 and batch["label"].dtype == np.int32
        assert batch["index"].dtype == np.int32
    epoch0 = np.concatenate([b["index"] for b in batches[:spe]])
    assert len(set(epoch0.tolist())) == spe * 16  # no repeats within an epoch
    other = take(data.make_train_iterator(source, global_batch_size=16, seed=4,
                                          process_index=0, process_count=1), 1)
    assert not np.array_equal(other[0]["index"], batches[0]["index"])


def test_resume_at_step_k_equals_uninterrupted():
    images, labels = make_arrays()
    data.register_arrays("toy_resume", train=(images, labels), test=(images[:10], labels[:10]))
    try:
        cfg = dataset("toy_resume")
        full = take(data.make_train_iterator(cfg, global_batch_size=8, seed=1,
                                             process_index=0, process_count=1), 15)
        for k in (1, 6, 11):  # 6 steps per epoch: inside and across epoch boundaries
            resumed = take(data.make_train_iterator(cfg, global_batch_size=8, seed=1,
                                                    start_step=k, process_index=0,
                                                    process_count=1), 15 - k)
            for a, b in zip(full[k:], resumed, strict=True):
                for key in ("image", "label", "index"):
                    np.testing.assert_array_equal(a[key], b[key])
        assert data.steps_per_epoch(cfg, 8) == 6
        assert data.dataset_info(cfg) == (50, (6, 6, 3), 5)
    finally:
        data.unregister_arrays("toy_resume")


def test_registered_arrays_resize_and_validation():
    images, labels = make_arrays(size=10)
    data.register_arrays("toy_resize", train=(images.astype(np.float32) / 255, labels))
    try:
        x, y = data.load_split(dataset("toy_resize", image_size=4), "train")
        assert x.shape == (50, 4, 4, 3) and x.dtype == np.uint8
        with pytest.raises(DataError) as err:
            data.load_split(dataset("toy_resize"), "validation")
        assert_one_line(err, "validation", "train")
    finally:
        data.unregister_arrays("toy_resize")
    with pytest.raises(DataError) as err:
        data.register_arrays("bad", train=(images, labels), test=(images[:, :5], labels))
    assert_one_line(err, "different image shapes")
    with pytest.raises(DataError) as err:
        data.from_arrays(images, labels[:-1])
    assert_one_line(err, "labels")
    with pytest.raises(DataError) as err:
        data.from_arrays(images.astype(np.float32), labels)
    assert_one_line(err, "[0, 1]")
    with pytest.raises(ConfigError) as err:
        data.register_arrays("mnist", train=(images, labels))
    assert_one_line(err, "mnist")
    with pytest.raises(ConfigError) as err:
        data.dataset_info(dataset("arrays"))
    assert_one_line(err, "register_arrays")


def test_eval_iterator_pads_and_covers_each_example_once():
    images, labels = make_arrays(n=23)
    source = data.from_arrays(images, labels, test=(images, labels))
    batches = list(data.make_eval_iterator(source, "test", 10, process_index=0, process_count=1))
    assert len(batches) == 3
    assert all(b["image"].shape == (10, 6, 6, 3) for b in batches)
    mask = np.concatenate([b["mask"] for b in batches])
    index = np.concatenate([b["index"] for b in batches])
    np.testing.assert_array_equal(index[mask], np.arange(23))
    assert mask.sum() == 23 and batches[-1]["mask"].dtype == bool
    np.testing.assert_array_equal(batches[1]["image"], images[10:20])


def test_batch_iterator_reports_errors_and_stops():
    def broken():
        yield {"x": np.zeros(1)}
        raise ValueError("boom")

    it = arrays.BatchIterator(broken, prefetch=2)
    next(it)
    with pytest.raises(ValueError, match="boom"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    with arrays.BatchIterator(lambda: iter(range(100)), prefetch=2) as it2:
        assert next(it2) == 0
    with pytest.raises(StopIteration):
        next(it2)


# ---------------------------------------------------------------------------------------
# Image folders.


def write_image(path, size, mode, value, fmt):
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"L": (), "RGB": (3,)}[mode]
    array = np.full((size[1], size[0], *channels), value, np.uint8)
    Image.fromarray(array).save(path, format=fmt)


def make_folder(root, *, layout_splits=True, corrupt=True):
    """Two classes; mixed PNG/JPEG, RGB/grayscale and sizes; a stray text file."""
    prefix = root / "train" if layout_splits else root
    for i in range(5):
        write_image(prefix / "cat" / f"c{i}.png", (20 + 4 * i, 16), "RGB", 40, "PNG")
        write_image(prefix / "dog" / f"d{i}.jpg", (16, 16 + 2 * i), "L", 200, "JPEG")
    (prefix / "cat" / "notes.txt").write_text("not an image")
    if layout_splits:
        write_image(root / "test" / "dog" / "x.jpeg", (30, 30), "RGB", 200, "JPEG")
        write_image(root / "test" / "cat" / "y.PNG", (12, 12), "L", 40, "PNG")
    if corrupt:
        (prefix / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    return root


def test_image_folder_split_layout(tmp_path):
    root = make_folder(tmp_path / "imgs", corrupt=False)
    cfg = dataset("image_folder", data_dir=str(root), image_size=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x, y = data.load_split(cfg, "train")
        data.load_split(cfg, "test")
    stray = [w for w in caught if issubclass(w.category, data.DataWarning)]
    assert len(stray) == 1 and "notes.txt" in str(stray[0].message)
    assert x.shape == (10, 8, 8, 3) and x.dtype == np.uint8  # RGB because some images are
    np.testing.assert_array_equal(y, [0] * 5 + [1] * 5)  # classes sorted: cat, dog
    assert np.all(np.abs(x[:5].astype(int) - 40) <= 2)  # PNG cats, gray 40
    assert np.all(np.abs(x[5:].astype(int) - 200) <= 3)  # grayscale JPEG dogs, gray 200
    tx, ty = data.load_split(cfg, "test")
    np.testing.assert_array_equal(ty, [0, 1])
    assert tx.shape == (2, 8, 8, 3)
    assert data.dataset_info(cfg) == (10, (8, 8, 3), 2)
    batch = take(data.make_train_iterator(cfg, global_batch_size=4, seed=0, process_index=0,
                                          process_count=1), 1)[0]
    assert batch["image"].shape == (4, 8, 8, 3)


def test_image_folder_one_tree_grayscale_split(tmp_path):
    root = tmp_path / "gray"
    for c in ("a", "b"):
        for i in range(10):
            write_image(root / c / f"{i}.png", (12, 12), "L", 10 if c == "a" else 90, "PNG")
    cfg = dataset("image_folder", data_dir=str(root), eval_split="val")
    x, y = data.load_split(cfg, "train")
    vx, vy = data.load_split(cfg, "val")
    assert x.shape == (16, 12, 12, 1) and vx.shape == (4, 12, 12, 1)
    np.testing.assert_array_equal(np.bincount(vy), [2, 2])
    np.testing.assert_array_equal(x[y == 1], np.full((8, 12, 12, 1), 90, np.uint8))
    data.clear_memory_cache()
    vx2, _ = data.load_split(cfg, "val")  # the split is deterministic
    np.testing.assert_array_equal(vx, vx2)


def test_image_folder_corrupt_image(tmp_path):
    root = make_folder(tmp_path / "imgs", layout_splits=False)
    cfg = dataset("image_folder", data_dir=str(root), image_size=8)
    with pytest.raises(DataError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data.load_split(cfg, "train")
    assert_one_line(err, "broken.jpg", "skip_corrupt")
    cfg.skip_corrupt = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x, _ = data.load_split(cfg, "train")
        vx, _ = data.load_split(cfg, "test")
    messages = [str(w.message) for w in caught if issubclass(w.category, data.DataWarning)]
    assert len(messages) == 2  # one for the stray file, one for the corrupt image
    assert any("broken.jpg" in m and "unreadable" in m for m in messages)
    assert x.shape[0] + vx.shape[0] == 10


def test_image_folder_bad_inputs(tmp_path):
    with pytest.raises(ConfigError) as err:
        data.dataset_info(dataset("image_folder"))
    assert_one_line(err, "data_dir")
    with pytest.raises(DataError) as err:
        data.dataset_info(dataset("image_folder", data_dir=str(tmp_path / "nope")))
    assert_one_line(err, "does not exist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as err:
        data.dataset_info(dataset("image_folder", data_dir=str(tmp_path / "empty")))
    assert_one_line(err, "no class subfolders")
    (tmp_path / "noimg" / "cls").mkdir(parents=True)
    with pytest.raises(DataError) as err:
        data.dataset_info(dataset("image_folder", data_dir=str(tmp_path / "noimg")))
    assert_one_line(err, "no images")
    root = make_folder(tmp_path / "mixed", corrupt=False)
    with pytest.raises(DataError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data.dataset_info(dataset("image_folder", data_dir=str(root), image_size=0))
    assert_one_line(err, "different sizes", "dataset.image_size")
    # one class of three holds only an empty subfolder and a stray file: not a class of 0
    partly = tmp_path / "partly"
    for c in ("ant", "bee"):
        for i in range(3):
            write_image(partly / c / f"{i}.png", (8, 8), "L", 50, "PNG")
    (partly / "cow" / "sub").mkdir(parents=True)
    (partly / "cow" / "readme.txt").write_text("no pictures here")
    with pytest.raises(DataError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data.dataset_info(dataset("image_folder", data_dir=str(partly)))
    assert_one_line(err, "'cow'", "hold no images", "add images or remove them")


# ---------------------------------------------------------------------------------------
# Bad configuration.


def test_bad_config_errors_are_one_line():
    with pytest.raises(ConfigError) as err:
        data.dataset_info(dataset("mnist", image_size=-4))
    assert_one_line(err, "image_size", "-4")
    with pytest.raises(ConfigError) as err:
        data.make_train_iterator(dataset("mnist"), global_batch_size=10, seed=0,
                                 process_index=0, process_count=4)
    assert_one_line(err, "divisible", "4 processes")
    with pytest.raises(ConfigError) as err:
        data.make_eval_iterator(dataset("mnist"), "test", 10, process_index=0, process_count=3)
    assert_one_line(err, "divisible")
    with pytest.raises(ConfigError) as err:
        data.make_train_iterator(dataset("digits"), global_batch_size=4096, seed=0,
                                 process_index=0, process_count=1)
    assert_one_line(err, "larger than", "1438")
    with pytest.raises(ConfigError) as err:
        data.dataset_info(dataset(""))
    assert_one_line(err, "dataset.name")
    with pytest.raises(ConfigError) as err:
        data.make_train_iterator(dataset("digits"), global_batch_size=8, seed=-1,
                                 process_index=0, process_count=1)
    assert_one_line(err, "seed")


def test_in_memory_path_does_not_import_tensorflow():
    code = (
        "import sys, numpy as np, ssljax.data as d\n"
        "cfg = dict(name='mnist', image_size=0, train_split='train', eval_split='test')\n"
        "b = next(d.make_train_iterator(cfg, global_batch_size=8, seed=0, process_index=0,"
        " process_count=1))\n"
        "d.register_arrays('t', train=(np.zeros((4, 2, 2, 1), np.uint8), np.arange(4)))\n"
        "next(d.make_train_iterator(dict(name='t'), global_batch_size=2, seed=0,"
        " process_index=0, process_count=1))\n"
        "d.load_split(cfg, 'test')\n"
        "assert b['image'].shape == (8, 28, 28, 1)\n"
        "bad = [m for m in ('tensorflow', 'tensorflow_datasets') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
