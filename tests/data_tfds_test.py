"""Tests of the TFDS / tf.data path of ssljax.data (offline: mock data and a tiny local build)."""

import numpy as np
import pytest

import ssljax.data as data
from ssljax.errors import DataError

tfds = pytest.importorskip("tensorflow_datasets")

TINY = "ssljax_tiny_jpeg"


def take(it, n):
    out = [next(it) for _ in range(n)]
    it.close()
    return out


def assert_same(batches_a, batches_b):
    assert len(batches_a) == len(batches_b)
    for a, b in zip(batches_a, batches_b, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.fixture(autouse=True)
def _fresh_memory():
    data.clear_memory_cache()
    yield
    data.clear_memory_cache()


@pytest.fixture
def mock_cifar():
    with tfds.testing.mock_data(num_examples=24):
        yield dict(name="cifar10", data_dir="", image_size=0)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A real, prepared TFDS dataset of JPEGs of several sizes: 40 train, 12 test images.

    Image i of a split is a constant gray level 5 * i (so content identifies it), label
    i % 4. The class is not registered: `tfds.builder(name, data_dir)` finds it from its
    files, as it would a dataset prepared elsewhere.
    """

    class SsljaxTinyJpeg(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                        "label": tfds.features.ClassLabel(num_classes=4),
                    }
                ),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(40), "test": self._generate_examples(12)}

        def _generate_examples(self, n):
            for i in range(n):
                shape = (20 + 4 * (i % 3), 16 + 8 * (i % 2), 3)
                yield i, {"image": np.full(shape, 5 * i, np.uint8), "label": i % 4}

    root = tmp_path_factory.mktemp("tfds")
    SsljaxTinyJpeg(data_dir=str(root)).download_and_prepare()
    return str(root)


# ---------------------------------------------------------------------------------------
# tfds.testing.mock_data (cifar10 metadata ships with TFDS; no split sizes: counted).


def test_mock_cifar10_batches_and_determinism(mock_cifar):
    assert data.dataset_info(mock_cifar) == (24, (32, 32, 3), 10)
    assert data.steps_per_epoch(mock_cifar, 8) == 3
    run = lambda seed: take(
        data.make_train_iterator(mock_cifar, global_batch_size=8, seed=seed, process_index=0,
                                 process_count=1), 7)
    first = run(0)
    batch = first[0]
    assert batch["image"].shape == (8, 32, 32, 3) and batch["image"].dtype == np.uint8
    assert batch["label"].shape == (8,) and batch["label"].dtype == np.int32
    assert batch["index"].dtype == np.int32
    for e in range(2):  # each epoch is a permutation of the 24 examples
        idx = np.concatenate([b["index"] for b in first[3 * e:3 * e + 3]])
        assert sorted(idx.tolist()) == list(range(24))
    assert not np.array_equal(np.concatenate([b["index"] for b in first[:3]]),
                              np.concatenate([b["index"] for b in first[3:6]]))
    assert_same(first, run(0))
    assert not np.array_equal(run(1)[0]["index"], first[0]["index"])


def test_mock_cifar10_resume_equals_uninterrupted(mock_cifar):
    make = lambda k: data.make_train_iterator(mock_cifar, global_batch_size=8, seed=5,
                                              start_step=k, process_index=0, process_count=1)
    full = take(make(0), 8)
    for k in (2, 4):  # inside the first epoch and inside the second
        assert_same(full[k:], take(make(k), 8 - k))


def test_mock_cifar10_resize_eval_and_load_split(mock_cifar):
    cfg = dict(mock_cifar, image_size=16)
    assert data.dataset_info(cfg)[1] == (16, 16, 3)
    batch = take(data.make_train_iterator(cfg, global_batch_size=4, seed=0, process_index=0,
                                          process_count=1), 1)[0]
    assert batch["image"].shape == (4, 16, 16, 3) and batch["image"].dtype == np.uint8
    images, labels = data.load_split(mock_cifar, "test")
    assert images.shape == (24, 32, 32, 3) and labels.dtype == np.int32
    batches = list(data.make_eval_iterator(mock_cifar, "test", 10, process_index=0,
                                           process_count=1))
    assert len(batches) == 3 and batches[-1]["mask"].sum() == 4
    mask = np.concatenate([b["mask"] for b in batches])
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches])[mask],
                                  np.arange(24))
    np.testing.assert_array_equal(np.concatenate([b["image"] for b in batches])[mask], images)


def test_tfds_errors_are_one_line(tmp_path):
    with pytest.raises(DataError) as err:
        data.make_train_iterator(dict(name="cifar10", data_dir=str(tmp_path)),
                                 global_batch_size=8, seed=0, process_index=0, process_count=1)
    msg = str(err.value)
    assert "\n" not in msg and "tfds build cifar10" in msg and "download=True" in msg
    with pytest.raises(DataError) as err:
        data.dataset_info(dict(name="cifar1O", data_dir=str(tmp_path)))
    msg = str(err.value)
    assert "\n" not in msg and "cifar10" in msg and "mnist" in msg


# ---------------------------------------------------------------------------------------
# A real prepared dataset: split slicing, JPEG crop-at-decode, resize.


def test_tiny_tfds_content_resume_and_in_memory(tiny_dir):
    cfg = dict(name=TINY, data_dir=tiny_dir, image_size=12)
    assert data.dataset_info(cfg) == (40, (12, 12, 3), 4)
    images, labels = data.load_split(cfg, "train")
    assert images.shape == (40, 12, 12, 3)
    # JPEG of a constant image: decode + crop + resize keeps the level, which names the image.
    levels = images.reshape(40, -1).mean(1) / 5
    assert np.abs(levels - np.round(levels)).max() < 0.3
    assert sorted(np.round(levels).astype(int).tolist()) == list(range(40))
    np.testing.assert_array_equal(labels, np.round(levels).astype(int) % 4)

    make = lambda k: data.make_train_iterator(cfg, global_batch_size=8, seed=2, start_step=k,
                                              process_index=0, process_count=1)
    full = take(make(0), 7)
    for b in full:  # each example arrives with its own image and label
        np.testing.assert_array_equal(b["image"], images[b["index"]])
        np.testing.assert_array_equal(b["label"], labels[b["index"]])
    assert_same(full[6:], take(make(6), 1))

    cfg_mem = dict(cfg, in_memory=True)  # exact global order, as for in-memory sources
    batch = take(data.make_train_iterator(cfg_mem, global_batch_size=8, seed=2,
                                          process_index=0, process_count=1), 1)[0]
    np.testing.assert_array_equal(batch["index"], np.random.default_rng([2, 0]).permutation(40)[:8])
    np.testing.assert_array_equal(batch["image"], images[batch["index"]])


def test_tiny_tfds_hosts_read_their_own_slices(tiny_dir):
    """With split metadata each host reads only its slice (tfds.even_splits), index intact."""
    cfg = dict(name=TINY, data_dir=tiny_dir, image_size=12)
    images, labels = data.load_split(cfg, "train")
    seen = []
    for p in range(2):
        it = data.make_train_iterator(cfg, global_batch_size=8, seed=9, process_index=p,
                                      process_count=2)
        batches = take(it, 5)  # one epoch: 5 steps x 4 rows = the host's 20 examples
        index = np.concatenate([b["index"] for b in batches])
        assert sorted(index.tolist()) == list(range(20 * p, 20 * p + 20))
        for b in batches:
            np.testing.assert_array_equal(b["image"], images[b["index"]])
            np.testing.assert_array_equal(b["label"], labels[b["index"]])
        seen.append(index)
    eval_batches = [list(data.make_eval_iterator(cfg, "test", 8, p, 2)) for p in range(2)]
    test_images, _ = data.load_split(cfg, "test")
    assert [len(b) for b in eval_batches] == [2, 2]  # ceil(12 / 8) on both hosts
    got = {int(i): img for bs in eval_batches for b in bs
           for i, img, m in zip(b["index"], b["image"], b["mask"], strict=True) if m}
    assert sorted(got) == list(range(12))
    for i, img in got.items():
        np.testing.assert_array_equal(img, test_images[i])
