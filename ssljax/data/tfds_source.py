"""TFDS datasets streamed with tf.data (TensorFlow is imported only here, lazily).

Training stream of process p of P (global batch B, local batch b = B // P):

1. Shard: the process reads its own contiguous block of the split, examples
   `[p * n_p, (p + 1) * n_p)` with `n_p = N // P` (`tfds.even_splits(...,
   drop_remainder=True)`, so only that block's records are read). Each example keeps
   its position in the split as `index`.
2. Epochs: epoch e is the block shuffled with a buffer (`dataset.shuffle_buffer`,
   default min(n_p, 10,000)) seeded from (seed, e, p), truncated to `spe * b`
   examples, `spe = N // B`. So every step belongs to one epoch, as on the in-memory
   path, and images are still undecoded at this point.
3. Resume at step k: start at epoch `k // spe` and skip `(k % spe) * b` undecoded
   examples, which reproduces the uninterrupted stream exactly and costs reading at
   most one epoch of records, never decoding them.
4. Decode (JPEGs: central square cropped at decode time with
   `tf.image.decode_and_crop_jpeg`; other formats: decode then crop), resize to
   `image_size` (bilinear, antialiased), batch(b, drop_remainder), prefetch, with
   `options.deterministic = True`.

Unlike the in-memory path, the global batch at step s depends on the number of
processes (each shuffles its own block); set `dataset.in_memory=True` for small
datasets to get the process-count-independent order.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ssljax.data.arrays import Batch, pad_batch
from ssljax.data.config import DatasetConfig
from ssljax.errors import ConfigError, DataError

DEFAULT_SHUFFLE_BUFFER = 10_000
_SEED_MOD = 2**31 - 1
_loaded: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's C++ start-up lines off stderr unless the user asked for them.

    `TF_CPP_MIN_LOG_LEVEL=3` silences TF's own logging; `TF_ENABLE_ONEDNN_OPTS=0` removes the
    "oneDNN custom operations are on" notice, which is also what makes absl print "All log
    messages before absl::InitializeLog() ..." (TF runs only the host input pipeline here,
    where oneDNN's kernels do not matter); `NO_GCE_CHECK=true` stops TF's cloud file system
    from probing the GCE metadata server for credentials (a warning on every machine off
    Google Cloud, when TFDS looks a name up). Values already in the environment win.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("NO_GCE_CHECK", "true")


@functools.cache
def import_tf() -> tuple[Any, Any]:
    """Imports TensorFlow (with its GPUs hidden, JAX owns them) and TFDS."""
    quiet_tensorflow()
    try:
        import tensorflow as tf  # noqa: PLC0415
        import tensorflow_datasets as tfds  # noqa: PLC0415
    except ImportError as e:
        raise DataError(
            f"TFDS datasets need tensorflow and tensorflow-datasets ({e}); pip install "
            "tensorflow-cpu tensorflow-datasets, or use a bundled dataset (mnist, digits), "
            "an image folder or registered arrays"
        ) from None
    try:
        tf.config.set_visible_devices([], "GPU")
    except (RuntimeError, ValueError):
        pass  # TF already initialized its devices; nothing to do
    return tf, tfds


def clear_cache() -> None:
    """Forgets splits loaded by `load_split`."""
    _loaded.clear()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:200]


def get_builder(cfg: DatasetConfig) -> Any:
    """`tfds.builder(name, data_dir=...)`, with one-line errors; prepares it if asked."""
    _, tfds = import_tf()
    try:
        builder = tfds.builder(cfg.name, data_dir=cfg.data_dir or None)
    except tfds.core.DatasetNotFoundError:
        raise DataError(_unknown_name_message(cfg.name, tfds)) from None
    except Exception as e:  # noqa: BLE001 - any TFDS failure becomes one line
        raise DataError(f"cannot open TFDS dataset '{cfg.name}': {_first_line(e)}") from None
    if cfg.download and not builder.is_prepared():
        try:
            builder.download_and_prepare()
        except Exception as e:  # noqa: BLE001
            raise DataError(
                f"downloading/preparing TFDS dataset '{cfg.name}' failed: {_first_line(e)}"
            ) from None
    return builder


def _unknown_name_message(name: str, tfds: Any) -> str:
    from ssljax.data.arrays import registered_names  # noqa: PLC0415
    from ssljax.data.bundled import BUNDLED_NAMES  # noqa: PLC0415
    from ssljax.data.pipeline import SOURCES  # noqa: PLC0415

    local = [*SOURCES, *registered_names()]
    try:
        tfds_names = list(tfds.list_builders())
    except Exception:  # noqa: BLE001
        tfds_names = []
    base = name.split(":")[0]
    # ssljax's own names first, each name once (several TFDS builders share a name).
    close = list(dict.fromkeys(difflib.get_close_matches(base, local, n=3, cutoff=0.6)
                               + difflib.get_close_matches(base, tfds_names, n=5, cutoff=0.6)))
    hint = f"did you mean {', '.join(close[:5])}? " if close else ""
    return (
        f"unknown dataset '{name}'; {hint}offline: {', '.join(BUNDLED_NAMES)} (bundled), "
        "fashion_mnist (scripts/get_data.sh fashion_mnist); or image_folder with "
        "dataset.data_dir, arrays given to ssljax.data.register_arrays, or a TFDS name "
        "(https://www.tensorflow.org/datasets/catalog)"
    )


def _not_prepared_message(cfg: DatasetConfig, builder: Any) -> str:
    data_dir = cfg.data_dir or str(builder.data_dir_root)
    manual = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    how = f"tfds build {cfg.name} --data_dir={data_dir}"
    if manual:
        how += " --manual_dir=DIR_WITH_THE_DOWNLOADED_FILES"
    return (
        f"TFDS dataset '{cfg.name}' is not prepared in {data_dir}; prepare it with `{how}` "
        "(needs network) or set dataset.download=True"
        + ("" if not manual else " after downloading its files by hand (see its TFDS page)")
    )


def _as_dataset(cfg: DatasetConfig, builder: Any, split: Any) -> Any:
    """The split's examples in file order, images left encoded (decoded later, resized)."""
    _, tfds = import_tf()
    decoders = None
    if isinstance(_image_feature(cfg, builder), tfds.features.Image):
        decoders = {cfg.image_key: tfds.decode.SkipDecoding()}
    try:
        return builder.as_dataset(split=split, shuffle_files=False, decoders=decoders)
    except AssertionError:
        raise DataError(_not_prepared_message(cfg, builder)) from None
    except (KeyError, ValueError) as e:
        known = ", ".join(builder.info.splits.keys()) or "unknown"
        raise DataError(
            f"TFDS dataset '{cfg.name}' has no split {str(split)!r} ({_first_line(e)}); its "
            f"splits: {known}; set dataset.train_split/eval_split"
        ) from None


def _image_feature(cfg: DatasetConfig, builder: Any) -> Any:
    features = builder.info.features
    if cfg.image_key not in features:
        raise DataError(
            f"TFDS dataset '{cfg.name}' has no feature '{cfg.image_key}' (features: "
            f"{', '.join(features.keys())}); set dataset.image_key"
        )
    return features[cfg.image_key]


def num_examples(cfg: DatasetConfig, builder: Any, split: str) -> int:
    """Examples in `split` (slicing allowed), from the metadata or by counting."""
    if len(builder.info.splits.keys()):
        try:
            return int(builder.info.splits[split].num_examples)
        except (KeyError, ValueError) as e:
            raise DataError(
                f"TFDS dataset '{cfg.name}' has no split {split!r} ({_first_line(e)}); its "
                f"splits: {', '.join(builder.info.splits.keys())}; set dataset.train_split/"
                "eval_split"
            ) from None
    # No split metadata (e.g. under tfds.testing.mock_data): ask the dataset itself.
    ds = _as_dataset(cfg, builder, split)
    n = int(ds.cardinality())
    return n if n >= 0 else int(ds.reduce(0, lambda c, _: c + 1))


def info(cfg: DatasetConfig) -> tuple[int, tuple[int, int, int], int]:
    """(train examples, image shape after resize, number of classes) of a TFDS dataset."""
    builder = get_builder(cfg)
    n = num_examples(cfg, builder, cfg.train_split)
    return n, _image_shape(cfg, builder), _num_classes(cfg, builder)


def _image_shape(cfg: DatasetConfig, builder: Any) -> tuple[int, int, int]:
    shape = tuple(_image_feature(cfg, builder).shape)
    channels = shape[-1] if len(shape) == 3 and shape[-1] else 3
    if cfg.image_size > 0:
        return (cfg.image_size, cfg.image_size, int(channels))
    if len(shape) != 3 or None in shape:
        raise ConfigError(
            f"images of TFDS dataset '{cfg.name}' have no fixed size {shape}; set "
            "dataset.image_size, e.g. --config.dataset.image_size=224"
        )
    return tuple(int(d) for d in shape)


def _num_classes(cfg: DatasetConfig, builder: Any) -> int:
    if cfg.num_classes > 0:
        return cfg.num_classes
    features = builder.info.features
    feature = features[cfg.label_key] if cfg.label_key and cfg.label_key in features else None
    return int(getattr(feature, "num_classes", 0) or 0)


def _decode_fn(cfg: DatasetConfig, builder: Any) -> Any:
    """Maps an encoded image (or a uint8 tensor) to uint8 [H, W, C] at the configured size."""
    _, tfds = import_tf()
    feature = _image_feature(cfg, builder)
    return make_decoder(
        shape=_image_shape(cfg, builder),
        image_size=cfg.image_size,
        native_shape=tuple(feature.shape),
        encoded=isinstance(feature, tfds.features.Image),
    )


def make_decoder(
    *, shape: tuple[int, int, int], image_size: int, native_shape: tuple, encoded: bool = True
) -> Any:
    """A tf function: encoded image bytes (or a uint8 tensor) -> uint8 `shape` [H, W, C].

    With `image_size > 0` and images not already that size, the central square is taken
    (cropped at decode time for JPEGs, `tf.image.decode_and_crop_jpeg`) and resized with
    antialiased bilinear interpolation.

    Args:
      shape: output (H, W, C).
      image_size: target side, 0 = native size.
      native_shape: the stored image shape, None for unknown dimensions.
      encoded: the input is encoded bytes (PNG, JPEG, ...) rather than a uint8 tensor.
    """
    tf, _ = import_tf()
    h, w, c = shape
    size = image_size
    resize = size > 0 and tuple(native_shape[:2]) != (size, size)

    def decode_full(data: Any) -> Any:
        if not encoded:
            return data
        return tf.io.decode_image(data, channels=c, expand_animations=False)

    def center_square(img: Any) -> Any:
        shape = tf.shape(img)
        s = tf.minimum(shape[0], shape[1])
        top, left = (shape[0] - s) // 2, (shape[1] - s) // 2
        return img[top:top + s, left:left + s, :]

    def decode(data: Any) -> Any:
        if not resize:
            img = decode_full(data)
            return tf.ensure_shape(img, (h, w, c))
        if encoded:
            def jpeg() -> Any:
                shape = tf.image.extract_jpeg_shape(data)
                s = tf.minimum(shape[0], shape[1])
                window = tf.stack([(shape[0] - s) // 2, (shape[1] - s) // 2, s, s])
                return tf.image.decode_and_crop_jpeg(data, window, channels=c)

            img = tf.cond(tf.io.is_jpeg(data), jpeg, lambda: center_square(decode_full(data)))
        else:
            img = center_square(data)
        img = tf.image.resize(img, (size, size), method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)

    return decode


def _label(cfg: DatasetConfig, builder: Any, example: dict) -> Any:
    tf, _ = import_tf()
    if cfg.label_key and cfg.label_key in builder.info.features:
        return tf.cast(example[cfg.label_key], tf.int32)
    return tf.constant(-1, tf.int32)  # unlabelled dataset


def _options(tf: Any) -> Any:
    options = tf.data.Options()
    options.deterministic = True
    return options


def train_batches(
    cfg: DatasetConfig,
    *,
    global_batch_size: int,
    seed: int,
    start_step: int,
    process_index: int,
    process_count: int,
) -> Iterator[Batch]:
    """This process's training batches from `start_step` on (see the module docstring)."""
    tf, tfds = import_tf()
    builder = get_builder(cfg)
    n = num_examples(cfg, builder, cfg.train_split)
    spe = n // global_batch_size
    if spe <= 0:
        raise ConfigError(
            f"batch_size={global_batch_size} is larger than the {n} examples of '{cfg.name}' "
            f"{cfg.train_split}; use a batch size of at most {n}"
        )
    b = global_batch_size // process_count
    per = n // process_count
    offset = process_index * per
    if len(builder.info.splits.keys()):
        sub = tfds.even_splits(cfg.train_split, process_count, drop_remainder=True)[process_index]
        shard = _as_dataset(cfg, builder, sub)
    else:  # no split metadata (mock data): read the split and keep this block
        shard = _as_dataset(cfg, builder, cfg.train_split).skip(offset).take(per)
    shard = shard.enumerate(start=offset).map(
        lambda i, ex: {
            "image": ex[cfg.image_key],
            "label": _label(cfg, builder, ex),
            "index": tf.cast(i, tf.int32),
        }
    )
    buffer = max(1, min(per, cfg.shuffle_buffer or DEFAULT_SHUFFLE_BUFFER))
    per_epoch = spe * b
    seed_base = (seed % _SEED_MOD) * 1_000_003 % _SEED_MOD

    def epoch(e: Any) -> Any:
        epoch_seed = (seed_base + e * 10_007 + process_index) % _SEED_MOD
        return shard.shuffle(buffer, seed=epoch_seed, reshuffle_each_iteration=False).take(
            per_epoch
        )

    start_epoch, within = divmod(start_step, spe)
    ds = tf.data.Dataset.range(start_epoch, 2**62).flat_map(epoch)
    if within:
        ds = ds.skip(within * b)
    decode = _decode_fn(cfg, builder)
    ds = ds.map(
        lambda ex: {**ex, "image": decode(ex["image"])}, num_parallel_calls=tf.data.AUTOTUNE
    )
    ds = ds.batch(b, drop_remainder=True).prefetch(tf.data.AUTOTUNE).with_options(_options(tf))
    return _numpy(ds, cfg.name)


def _numpy(ds: Any, name: str) -> Iterator[Any]:
    """`ds.as_numpy_iterator()` whose TensorFlow errors (e.g. a corrupt record) are one line."""
    tf, _ = import_tf()
    it = ds.as_numpy_iterator()
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except tf.errors.OpError as e:
            raise DataError(
                f"reading TFDS dataset '{name}' failed: {_first_line(e)}; check its files or "
                f"prepare it again (tfds build {name} --overwrite)"
            ) from None
        yield item


def _ordered(cfg: DatasetConfig, builder: Any, split: str) -> Any:
    """The split in file order as {"image" (encoded), "label", "index"}."""
    tf, _ = import_tf()
    ds = _as_dataset(cfg, builder, split).enumerate()
    return ds.map(
        lambda i, ex: {
            "image": ex[cfg.image_key],
            "label": _label(cfg, builder, ex),
            "index": tf.cast(i, tf.int32),
        }
    )


def eval_batches(
    cfg: DatasetConfig, split: str, *, batch_size: int, process_index: int, process_count: int,
    max_examples: int = 0,
) -> Iterator[Batch]:
    """Fixed-order padded batches of `split`, like `arrays.array_eval_batches`.

    `max_examples > 0`: only the first `max_examples` examples of the split.
    """
    tf, _ = import_tf()
    builder = get_builder(cfg)
    n = num_examples(cfg, builder, split)
    b = batch_size // process_count
    ds = _ordered(cfg, builder, split)
    if 0 < max_examples < n:
        n = max_examples
        ds = ds.take(n)
    if process_count > 1:
        ds = ds.filter(lambda ex: (ex["index"] // b) % process_count == process_index)
    decode = _decode_fn(cfg, builder)
    ds = ds.map(
        lambda ex: {**ex, "image": decode(ex["image"])}, num_parallel_calls=tf.data.AUTOTUNE
    )
    ds = ds.batch(b).prefetch(tf.data.AUTOTUNE).with_options(_options(tf))
    return _padded(ds, cfg.name, -(-n // batch_size), b, _image_shape(cfg, builder))


def _padded(
    ds: Any, name: str, num_batches: int, b: int, shape: tuple[int, ...]
) -> Iterator[Batch]:
    count = 0
    for batch in _numpy(ds, name):
        count += 1
        yield pad_batch(batch, b, image_shape=shape)
    empty = {
        "image": np.zeros((0, *shape), np.uint8),
        "label": np.zeros((0,), np.int32),
        "index": np.zeros((0,), np.int32),
    }
    for _ in range(num_batches - count):
        yield pad_batch(empty, b, image_shape=shape)


def load_split(cfg: DatasetConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A whole split decoded into memory: uint8 [N, H, W, C] and int32 [N] (memoized)."""
    key = (cfg.name, cfg.data_dir, split, cfg.image_size, cfg.image_key, cfg.label_key)
    if key not in _loaded:
        tf, _ = import_tf()
        builder = get_builder(cfg)
        decode = _decode_fn(cfg, builder)
        ds = _ordered(cfg, builder, split).map(
            lambda ex: (decode(ex["image"]), ex["label"]), num_parallel_calls=tf.data.AUTOTUNE
        )
        ds = ds.batch(1024).prefetch(tf.data.AUTOTUNE).with_options(_options(tf))
        images, labels = [], []
        for im, lb in _numpy(ds, cfg.name):
            images.append(im)
            labels.append(lb)
        if not images:
            raise DataError(f"split {split!r} of TFDS dataset '{cfg.name}' is empty")
        _loaded[key] = (np.concatenate(images), np.concatenate(labels).astype(np.int32))
    return _loaded[key]
