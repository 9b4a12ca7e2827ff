"""Selecting a source from the `dataset` config and building train/eval iterators.

`dataset.name` selects the source:

- "mnist", "digits": bundled, offline (`ssljax.data.bundled`);
- "fashion_mnist": TFDS's prepared copy or the original idx files
  (`ssljax.data.fashion_mnist`);
- "image_folder": `dataset.data_dir` (`ssljax.data.folder`);
- a name given to `register_arrays` (or a `Source` from `from_arrays` passed directly);
- anything else: a TFDS dataset (`ssljax.data.tfds_source`; TensorFlow is imported
  only then).

All in-memory sources share the deterministic global-order batching of
`ssljax.data.arrays`, whose global batch at step s depends only on (seed, s).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ssljax.data import arrays, bundled, fashion_mnist, folder
from ssljax.data.arrays import BatchIterator, Source
from ssljax.data.config import DatasetConfig, parse_config
from ssljax.errors import ConfigError
from ssljax.registry import Registry

DatasetLike = Any  # ml_collections.ConfigDict | dict | DatasetConfig | Source


class DatasetInfo(NamedTuple):
    """What `dataset_info` returns (a tuple, also readable by field name)."""

    num_train_examples: int
    image_shape: tuple[int, int, int]  # (H, W, C) after resizing
    num_classes: int  # 0 when unknown (unlabelled data and no dataset.num_classes)


def _folder(cfg: DatasetConfig) -> Source:
    return folder.load_folder(
        cfg.data_dir, image_size=cfg.image_size, train_split=cfg.train_split,
        eval_split=cfg.eval_split, skip_corrupt=cfg.skip_corrupt, split_seed=cfg.split_seed,
        max_in_memory_gb=cfg.max_in_memory_gb,
    )


# dataset.name -> loader of an in-memory `Source` (other names: register_arrays, then TFDS).
SOURCES: Registry = Registry("dataset", key="dataset.name")
SOURCES.register("mnist", lambda cfg: bundled.load_bundled("mnist"))
SOURCES.register("digits", lambda cfg: bundled.load_bundled("digits"))
SOURCES.register("fashion_mnist", lambda cfg: fashion_mnist.load(cfg.data_dir))
SOURCES.register("image_folder", _folder)


def _resolve(dataset: DatasetLike) -> tuple[DatasetConfig, Source | None]:
    """The parsed config and the in-memory source (None for a streamed TFDS dataset)."""
    if isinstance(dataset, Source):
        return DatasetConfig(name=dataset.name), dataset
    cfg = parse_config(dataset)
    if cfg.name in SOURCES:
        return cfg, SOURCES[cfg.name](cfg)
    if cfg.name == "arrays":
        raise ConfigError(
            "dataset.name='arrays' needs a name: call ssljax.data.register_arrays(NAME, "
            "train=(images, labels), test=(images, labels)) and set dataset.name=NAME"
        )
    return cfg, arrays.registered(cfg.name)


def _processes(process_index: int | None, process_count: int | None) -> tuple[int, int]:
    if process_index is None or process_count is None:
        import jax  # noqa: PLC0415 - only when the caller does not say

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if process_count < 1 or not 0 <= process_index < process_count:
        raise ConfigError(
            f"process_index={process_index} is outside [0, process_count={process_count})"
        )
    return int(process_index), int(process_count)


def _check_batch(batch_size: int, process_count: int, what: str = "batch_size") -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ConfigError(f"{what} must be an integer, got {batch_size!r}")
    if batch_size <= 0:
        raise ConfigError(f"{what} must be positive, got {batch_size}")
    if batch_size % process_count:
        lo = max(process_count, batch_size // process_count * process_count)
        raise ConfigError(
            f"{what}={batch_size} is not divisible by the {process_count} processes; use a "
            f"multiple of {process_count}, e.g. {lo}"
        )


def dataset_info(dataset: DatasetLike) -> DatasetInfo:
    """Facts the model and schedule need, without building a pipeline.

    Args:
      dataset: the `dataset` config block (or a `Source`).

    Returns:
      `DatasetInfo(num_train_examples, (H, W, C) after resizing, num_classes)`.
    """
    cfg, source = _resolve(dataset)
    if source is None:
        from ssljax.data import tfds_source  # noqa: PLC0415

        return DatasetInfo(*tfds_source.info(cfg))
    images, _ = source.split(cfg.train_split)
    num_classes = cfg.num_classes or source.num_classes
    return DatasetInfo(int(images.shape[0]), source.image_shape(cfg.image_size), int(num_classes))


def steps_per_epoch(dataset: DatasetLike, global_batch_size: int) -> int:
    """Full global batches per epoch, `num_train_examples // global_batch_size`.

    Raises:
      ConfigError: the batch is not positive or larger than the training split.
    """
    _check_batch(global_batch_size, 1)
    n = dataset_info(dataset)[0]
    if global_batch_size > n:
        raise ConfigError(
            f"batch_size={global_batch_size} is larger than the {n} training examples; use a "
            f"batch size of at most {n}"
        )
    return n // global_batch_size


def make_train_iterator(
    dataset: DatasetLike,
    *,
    global_batch_size: int,
    seed: int,
    start_step: int = 0,
    process_index: int | None = None,
    process_count: int | None = None,
) -> BatchIterator:
    """Infinite iterator of this process's share of the global training batches.

    Each item is `{"image": uint8 [b, H, W, C], "label": int32 [b], "index": int32 [b]}`
    with `b = global_batch_size // process_count`: rows `[p*b, (p+1)*b)` of the global
    batch, `index` being each example's position in the train split. For in-memory
    sources the global batch at step s depends only on (seed, s) (see
    `ssljax.data.arrays`); TFDS streams are sharded per process (see
    `ssljax.data.tfds_source`). In both cases `start_step=k` yields exactly what the
    uninterrupted iterator yields from its k-th batch on.

    Args:
      dataset: the `dataset` config block (or a `Source`).
      global_batch_size: batch size over all processes and devices.
      seed: non-negative data-order seed.
      start_step: the first step to produce (resuming).
      process_index: this process (default `jax.process_index()`); with a mesh, use
        `ssljax.data.process_data_shard(mesh)`.
      process_count: number of processes (default `jax.process_count()`).

    Raises:
      ConfigError: bad batch size / seed / step; DataError: the data cannot be used.
    """
    process_index, process_count = _processes(process_index, process_count)
    _check_batch(global_batch_size, process_count)
    for what, value in (("seed", seed), ("start_step", start_step)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ConfigError(f"{what} must be a non-negative integer, got {value!r}")
    cfg, source = _resolve(dataset)
    if source is None:
        from ssljax.data import tfds_source  # noqa: PLC0415

        if not cfg.in_memory:
            stream = tfds_source.train_batches(
                cfg,
                global_batch_size=global_batch_size,
                seed=int(seed),
                start_step=int(start_step),
                process_index=process_index,
                process_count=process_count,
            )
            return BatchIterator(lambda: stream, prefetch=2)
        images, labels = tfds_source.load_split(cfg, cfg.train_split)
    else:
        images, labels = source.split(cfg.train_split, cfg.image_size)
    n = images.shape[0]
    if global_batch_size > n:
        raise ConfigError(
            f"batch_size={global_batch_size} is larger than the {n} training examples of "
            f"'{cfg.name}'; use a batch size of at most {n}"
        )
    return arrays.array_train_iterator(
        images,
        labels,
        global_batch_size=int(global_batch_size),
        seed=int(seed),
        start_step=int(start_step),
        process_index=process_index,
        process_count=process_count,
    )


def load_split(dataset: DatasetLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A whole split in memory: images uint8 [N, H, W, C] and labels int32 [N].

    Meant for the small evaluation sets of kNN and linear probes; for large splits use
    `make_eval_iterator`. Images are resized to `dataset.image_size` like the training
    batches.
    """
    cfg, source = _resolve(dataset)
    if source is None:
        from ssljax.data import tfds_source  # noqa: PLC0415

        return tfds_source.load_split(cfg, split)
    return source.split(split, cfg.image_size)


def subset_indices(n: int, max_examples: int) -> np.ndarray | None:
    """The fixed evaluation subset: `max_examples` of `n` indices (seed 0, sorted), or None.

    None means all examples (`max_examples` <= 0 or >= n).
    """
    if max_examples <= 0 or max_examples >= n:
        return None
    return np.sort(np.random.default_rng(0).permutation(n)[:max_examples])


def make_eval_iterator(
    dataset: DatasetLike,
    split: str,
    batch_size: int,
    process_index: int | None = None,
    process_count: int | None = None,
    max_examples: int = 0,
) -> BatchIterator:
    """Finite iterator over `split` in a fixed order, each example exactly once.

    Global batch j holds examples `[j*B, (j+1)*B)` (`B = batch_size`, over all
    processes); process p gets its rows `[p*b, (p+1)*b)`, `b = B // P`. Every process
    yields `ceil(N / B)` batches `{"image", "label", "index", "mask"}` of `b` rows; rows
    past the end of the split are zero with `mask=False` and `index=-1`.

    `max_examples > 0` limits the split to a fixed subset: for in-memory sources the
    examples `subset_indices(N, max_examples)` (a seeded random subset, in order), for
    streamed TFDS splits the first `max_examples` (TFDS shuffles files when it prepares a
    dataset).
    """
    process_index, process_count = _processes(process_index, process_count)
    _check_batch(batch_size, process_count)
    cfg, source = _resolve(dataset)
    if source is None:
        from ssljax.data import tfds_source  # noqa: PLC0415

        stream = tfds_source.eval_batches(
            cfg,
            split,
            batch_size=int(batch_size),
            process_index=process_index,
            process_count=process_count,
            max_examples=int(max_examples),
        )
        return BatchIterator(lambda: stream, prefetch=2)
    images, labels = source.split(split, cfg.image_size)
    idx = subset_indices(images.shape[0], int(max_examples))
    if idx is not None:
        images, labels = images[idx], labels[idx]
    return BatchIterator(
        lambda: arrays.array_eval_batches(
            images,
            labels,
            batch_size=int(batch_size),
            process_index=process_index,
            process_count=process_count,
        ),
        prefetch=2,
    )


def clear_memory_cache() -> None:
    """Forgets the datasets this process holds in memory (bundled, folders, TFDS splits)."""
    import sys  # noqa: PLC0415

    bundled.clear_cache()
    folder.clear_cache()
    fashion_mnist.clear_cache()
    tfds_module = sys.modules.get("ssljax.data.tfds_source")
    if tfds_module is not None:
        tfds_module.clear_cache()
