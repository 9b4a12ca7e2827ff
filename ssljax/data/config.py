"""The `dataset` config block, read once into a typed, validated record.

Fields (of an `ml_collections.ConfigDict`, a dict, or any object with attributes):

| field | default | meaning |
|---|---|---|
| `name` | required | "mnist", "digits", "fashion_mnist", "image_folder", registered or TFDS |
| `data_dir` | "" | image folder's root; fashion_mnist's idx files or TFDS dir; TFDS data dir |
| `image_size` | 0 | side of the square images after resize; 0 = native size |
| `train_split` | "train" | split name (TFDS slicing such as "train[:90%]" works) |
| `eval_split` | "test" | held-out split name |
| `num_classes` | 0 | 0 = infer from the data |
| `download` | False | TFDS: download and prepare a missing dataset |
| `skip_corrupt` | False | image folder: skip unreadable images with a warning |
| `split_seed` | 0 | image folder without split folders: seed of the per-class 80/20 split |
| `in_memory` | False | TFDS: load the train split into memory and use the exact global order |
| `shuffle_buffer` | 0 | TFDS streaming: shuffle buffer per process (0 = min(shard, 10,000)) |
| `image_key` / `label_key` | "image" / "label" | TFDS feature names |
| `max_in_memory_gb` | 8.0 | image folder: refuse to hold more decoded images than this |
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ssljax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """A validated copy of the `dataset` config block (see the module docstring)."""

    name: str
    data_dir: str = ""
    image_size: int = 0
    train_split: str = "train"
    eval_split: str = "test"
    num_classes: int = 0
    download: bool = False
    skip_corrupt: bool = False
    split_seed: int = 0
    in_memory: bool = False
    shuffle_buffer: int = 0
    image_key: str = "image"
    label_key: str = "label"
    max_in_memory_gb: float = 8.0


_FIELDS = {f.name: f for f in dataclasses.fields(DatasetConfig)}


def _get(cfg: Any, key: str, default: Any) -> Any:
    if isinstance(cfg, dict):
        return cfg.get(key, default)
    getter = getattr(cfg, "get", None)
    if callable(getter):  # ConfigDict (also FrozenConfigDict)
        try:
            return getter(key, default)
        except (KeyError, AttributeError):
            return default
    return getattr(cfg, key, default)


def parse_config(cfg: Any) -> DatasetConfig:
    """Reads and validates a `dataset` config block.

    Raises:
      ConfigError: missing name, negative image_size, wrong types.
    """
    if isinstance(cfg, DatasetConfig):
        return cfg
    if isinstance(cfg, str):
        cfg = {"name": cfg}
    values = {}
    for key, field in _FIELDS.items():
        default = None if key == "name" else field.default
        value = _get(cfg, key, default)
        if value is None and key != "name":
            value = default
        values[key] = value
    name = values["name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            "dataset.name is missing; set it, e.g. --config.dataset.name=mnist (bundled, "
            "offline), cifar10 (TFDS) or image_folder"
        )
    values["name"] = name.strip()
    for key in ("image_size", "num_classes", "split_seed", "shuffle_buffer"):
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                if float(value) != int(value):
                    raise ValueError
                value = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"dataset.{key} must be an integer, got {value!r}") from None
        values[key] = value
    if values["image_size"] < 0:
        raise ConfigError(
            f"dataset.image_size must be >= 0 (0 = native size), got {values['image_size']}; "
            "set e.g. --config.dataset.image_size=32"
        )
    if values["num_classes"] < 0:
        raise ConfigError(
            f"dataset.num_classes must be >= 0 (0 = infer), got {values['num_classes']}"
        )
    for key in ("data_dir", "train_split", "eval_split", "image_key", "label_key"):
        values[key] = str(values[key] or "")
    for key in ("train_split", "eval_split"):
        if not values[key]:
            raise ConfigError(f"dataset.{key} is empty; set it, e.g. 'train' or 'test'")
    for key in ("download", "skip_corrupt", "in_memory"):
        values[key] = bool(values[key])
    values["max_in_memory_gb"] = float(values["max_in_memory_gb"])
    return DatasetConfig(**values)
