"""Image folders: the usual transfer-learning layout of class subfolders.

Two layouts are understood (`data_dir` = `dataset.data_dir`):

1. Split folders: `data_dir/<split>/<class>/<image>` for the train split and any
   other split (e.g. `train/`, `val/`, `test/`). The classes are the subfolders of
   the train split, in sorted order (label = position); other splits may use a
   subset of them.
2. One tree: `data_dir/<class>/<image>` (used when `data_dir/<train_split>` does not
   exist). It is split per class: a permutation of the class's files (sorted by
   path) seeded with `[dataset.split_seed (default 0), class_index]` puts the first
   `round(0.2 * n)` files in `eval_split` and the rest in `train_split`.

Images (`.png .jpg .jpeg .bmp .gif .webp`, any case, searched recursively inside
class folders) are decoded with Pillow in a few threads and held in memory as
uint8. Channels: if any image of the folder is in colour, all images are converted
to RGB (C = 3), otherwise they stay grayscale (C = 1). With `image_size > 0` each
image is cropped to its central square and resized to `image_size` (JPEGs are
decoded at a reduced scale first where that saves work); with `image_size = 0`
all images must have the same size. Other files inside class folders are skipped
with one warning; an unreadable image is a `DataError` naming it, or, with
`dataset.skip_corrupt = True`, skipped with one warning.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from ssljax.data.arrays import Source, square_resize
from ssljax.errors import ConfigError, DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
EVAL_FRACTION = 0.2
_GRAY_MODES = ("1", "L", "LA", "La", "I", "F")

_loaded: dict[tuple, Source] = {}


class DataWarning(UserWarning):
    """Something in the data was skipped or converted; the message says what."""


def load_folder(
    data_dir: str,
    *,
    image_size: int = 0,
    train_split: str = "train",
    eval_split: str = "test",
    skip_corrupt: bool = False,
    split_seed: int = 0,
    max_in_memory_gb: float = 8.0,
) -> Source:
    """Loads an image folder into memory (once per process and set of arguments).

    Args:
      data_dir: the folder (see the module docstring for the layouts).
      image_size: side of the square images after crop + resize; 0 keeps the native
        size, which then must be the same for every image.
      train_split: name of the training split (its folder, in the split layout).
      eval_split: name of the held-out split.
      skip_corrupt: skip unreadable images with a warning instead of failing.
      split_seed: seed of the 80/20 split of the one-tree layout.
      max_in_memory_gb: refuse folders whose decoded images would take more memory.

    Returns:
      A `Source` whose splits are the split folders (or `train_split`/`eval_split`).

    Raises:
      ConfigError: `data_dir` is empty.
      DataError: missing/empty folder, unreadable image, mixed sizes with image_size 0.
    """
    if not data_dir:
        raise ConfigError(
            "dataset.data_dir is empty; set it to a folder of class subfolders, e.g. "
            "--config.dataset.data_dir=/path/to/images (with train/<class>/*.jpg)"
        )
    root = Path(data_dir).expanduser().resolve()
    key = (str(root), image_size, train_split, eval_split, skip_corrupt, split_seed)
    if key not in _loaded:
        _loaded[key] = _load(
            root, image_size, train_split, eval_split, skip_corrupt, split_seed, max_in_memory_gb
        )
    return _loaded[key]


def clear_cache() -> None:
    """Forgets folders loaded by this process."""
    _loaded.clear()


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files(path: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(Path(dirpath, f) for f in sorted(filenames))
    return out


def _load(
    root: Path,
    image_size: int,
    train_split: str,
    eval_split: str,
    skip_corrupt: bool,
    split_seed: int,
    max_in_memory_gb: float,
) -> Source:
    if not root.exists():
        raise DataError(
            f"dataset.data_dir={root} does not exist; set it to a folder of class subfolders"
        )
    if not root.is_dir():
        raise DataError(
            f"dataset.data_dir={root} is a file; set it to a folder of class subfolders"
        )
    if image_size < 0:
        raise ConfigError(f"dataset.image_size must be >= 0 (0 = native size), got {image_size}")

    # (split, class index, path) for every file inside a class folder.
    split_layout = (root / train_split).is_dir()
    entries: list[tuple[str, int, Path]] = []
    if split_layout:
        classes = [d.name for d in _subdirs(root / train_split)]
        for split_dir in _subdirs(root):
            for class_dir in _subdirs(split_dir):
                if class_dir.name not in classes:
                    raise DataError(
                        f"{class_dir} is not a class of {root / train_split} (its classes: "
                        f"{', '.join(classes[:10])}); give every split the same class folders"
                    )
                label = classes.index(class_dir.name)
                entries.extend((split_dir.name, label, f) for f in _files(class_dir))
    else:
        classes = [d.name for d in _subdirs(root)]
        for label, name in enumerate(classes):
            entries.extend(("", label, f) for f in _files(root / name))
    if not classes:
        raise DataError(
            f"no class subfolders in dataset.data_dir={root}; arrange images as "
            f"{root}/<class>/<image>.png or {root}/{train_split}/<class>/<image>.png"
        )

    images = [e for e in entries if e[2].suffix.lower() in IMAGE_EXTENSIONS]
    others = [e[2] for e in entries if e[2].suffix.lower() not in IMAGE_EXTENSIONS]
    if others:
        names = ", ".join(str(p.relative_to(root)) for p in others[:3])
        warnings.warn(
            f"skipped {len(others)} non-image file(s) in {root} (e.g. {names}); only "
            f"{' '.join(IMAGE_EXTENSIONS)} files are read",
            DataWarning,
            stacklevel=4,
        )
    if not images:
        raise DataError(
            f"no images ({' '.join(IMAGE_EXTENSIONS)}) in the class folders of "
            f"dataset.data_dir={root}"
        )
    counted = {label for _, label, _ in images}
    empty = [c for i, c in enumerate(classes) if i not in counted]
    if empty:
        raise DataError(
            f"class folder(s) {', '.join(repr(c) for c in empty[:5])} of dataset.data_dir={root} "
            "hold no images (only empty subfolders or other files); add images or remove them"
        )
    if image_size > 0:
        need_gb = len(images) * image_size * image_size * 3 / 2**30
        if need_gb > max_in_memory_gb:
            raise DataError(
                f"the {len(images)} images of {root} need {need_gb:.1f} GB in memory at "
                f"image_size={image_size}; lower dataset.image_size or prepare the folder as a "
                "TFDS dataset (tfds.folder_dataset.ImageFolder) and stream it"
            )

    workers = min(8, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        decoded = list(pool.map(lambda e: _decode(e[2], image_size), images))

    bad = [(e[2], r) for e, r in zip(images, decoded, strict=True) if isinstance(r, str)]
    if bad and not skip_corrupt:
        path, reason = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(
            f"cannot read image {path}{more}: {reason}; remove it or set "
            "dataset.skip_corrupt=True to skip unreadable images"
        )
    if bad:
        names = ", ".join(str(p.relative_to(root)) for p, _ in bad[:3])
        warnings.warn(
            f"skipped {len(bad)} unreadable image(s) in {root} (e.g. {names})",
            DataWarning,
            stacklevel=4,
        )
    kept = [(e, a) for e, a in zip(images, decoded, strict=True) if not isinstance(a, str)]
    if not kept:
        raise DataError(f"none of the images in {root} could be read")

    if image_size == 0:
        sizes = {}
        for e, a in kept:
            sizes.setdefault(a.shape[:2], e[2])
        if len(sizes) > 1:
            (s1, p1), (s2, p2) = list(sizes.items())[:2]
            raise DataError(
                f"images in {root} have different sizes ({p1.relative_to(root)}: "
                f"{s1[0]}x{s1[1]}, {p2.relative_to(root)}: {s2[0]}x{s2[1]}); set "
                "dataset.image_size to a positive size to resize them all"
            )
    channels = 3 if any(a.ndim == 3 for _, a in kept) else 1

    def stack(items: list) -> tuple[np.ndarray, np.ndarray]:
        arrays = [_to_channels(a, channels) for _, a in items]
        labels = np.array([e[1] for e, _ in items], dtype=np.int32)
        return np.stack(arrays), labels

    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if split_layout:
        for split in sorted({e[0] for e, _ in kept}):
            splits[split] = stack([(e, a) for e, a in kept if e[0] == split])
    else:
        train, held = [], []
        for label in range(len(classes)):
            items = [(e, a) for e, a in kept if e[1] == label]
            n_eval = int(round(EVAL_FRACTION * len(items)))
            perm = np.random.default_rng([split_seed, label]).permutation(len(items))
            chosen = set(perm[:n_eval].tolist())
            for i, item in enumerate(items):
                (held if i in chosen else train).append(item)
        splits[train_split] = stack(train)
        if held:
            splits[eval_split] = stack(held)
        logging.getLogger("ssljax").info(
            "image folder %s: %d classes, no split folders, so each class is split %d/%d "
            "(seed dataset.split_seed=%d): %d %s / %d %s images", root, len(classes),
            round(100 * (1 - EVAL_FRACTION)), round(100 * EVAL_FRACTION), split_seed,
            len(train), train_split, len(held), eval_split)
    if train_split not in splits:
        raise DataError(f"no readable images in {root / train_split}")
    return Source(name=f"image_folder:{root}", splits=splits, num_classes=len(classes))


def _decode(path: Path, image_size: int) -> np.ndarray | str:
    """Decodes one image to uint8 [H, W] (grayscale) or [H, W, 3]; a string on failure."""
    from PIL import Image  # noqa: PLC0415 - keeps `import ssljax.data` light

    try:
        with Image.open(path) as im:
            if image_size > 0 and im.format == "JPEG":
                im.draft(im.mode, (image_size, image_size))  # DCT-domain downscale
            im.load()
            if im.mode.startswith("I;16"):
                arr = (np.asarray(im, dtype=np.float32) / 257.0).round().astype(np.uint8)
                im = Image.fromarray(arr)
            im = im.convert("L" if im.mode in _GRAY_MODES else "RGB")
            if image_size > 0:
                im = square_resize(im, image_size)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'bad data'}"


def _to_channels(a: np.ndarray, channels: int) -> np.ndarray:
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[-1] != channels:
        a = np.repeat(a, channels, axis=-1)
    return a
