"""In-memory sources and the deterministic global-order batching they share.

A `Source` holds named splits of uint8 images `[N, H, W, C]` and int32 labels `[N]`
in host memory. The bundled datasets, image folders, user arrays (and TFDS datasets
with `dataset.in_memory=True`) all end up here, and are batched the same way:

    spe    = N // B                                     (steps per epoch, remainder dropped)
    e, j   = divmod(s, spe)                             (epoch, step within the epoch)
    perm   = np.random.default_rng([seed, e]).permutation(N)
    global = perm[j * B:(j + 1) * B]                    (rows of the global batch at step s)
    local  = global[p * b:(p + 1) * b],  b = B // P     (process p of P)

so the global batch at step s depends only on (seed, s): not on the number of
processes or devices, and a run resumed at step k sees exactly the batches the
uninterrupted run sees. Batches are assembled by a background thread a few steps
ahead. Nothing here imports TensorFlow or JAX.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ssljax.errors import ConfigError, DataError

Batch = dict[str, np.ndarray]

# User arrays registered with `register_arrays`, looked up by `dataset.name`.
_REGISTRY: dict[str, Source] = {}
# Names that `register_arrays` may not take (they mean something else in `dataset.name`).
RESERVED_NAMES = ("mnist", "digits", "fashion_mnist", "image_folder", "arrays")


@dataclasses.dataclass(frozen=True)
class Source:
    """An in-memory dataset: named splits of images and labels.

    Attributes:
      name: a short name used in messages.
      splits: split name -> (images uint8 [N, H, W, C], labels int32 [N]).
      num_classes: number of classes (labels lie in [0, num_classes)).
    """

    name: str
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]]
    num_classes: int
    _resized: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def split(self, split: str, image_size: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Returns `(images, labels)` of a split, resized to `image_size` (0 = native).

        Raises:
          DataError: the split does not exist.
        """
        if split not in self.splits:
            raise DataError(
                f"dataset '{self.name}' has no split '{split}' (it has: "
                f"{', '.join(sorted(self.splits))}); set dataset.train_split/eval_split to one "
                "of those"
            )
        images, labels = self.splits[split]
        if image_size <= 0 or images.shape[1:3] == (image_size, image_size):
            return images, labels
        key = (split, image_size)
        if key not in self._resized:
            self._resized[key] = resize_images(images, image_size)
        return self._resized[key], labels

    def image_shape(self, image_size: int = 0) -> tuple[int, int, int]:
        """(H, W, C) of the images after resizing to `image_size` (0 = native)."""
        images = next(iter(self.splits.values()))[0]
        if image_size > 0:
            return (image_size, image_size, images.shape[3])
        return tuple(int(d) for d in images.shape[1:])


def check_arrays(images: Any, labels: Any, *, what: str = "images") -> tuple[np.ndarray, ...]:
    """Validates and normalizes one split's arrays.

    Args:
      images: [N, H, W] or [N, H, W, C] with C in {1, 3}; uint8 (or integers in
        [0, 255]) or floats in [0, 1].
      labels: integer labels [N].
      what: name of the split, for messages.

    Returns:
      images uint8 [N, H, W, C] and labels int32 [N].

    Raises:
      DataError: wrong rank, channel count, value range or length.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DataError(
            f"{what} have shape {images.shape}; pass images as [N, H, W] or [N, H, W, C] "
            "with C = 1 or 3"
        )
    if labels.shape != (images.shape[0],):
        raise DataError(
            f"{what}: {images.shape[0]} images but labels of shape {labels.shape}; pass one "
            "integer label per image"
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{what}: labels have dtype {labels.dtype}; pass integer class labels")
    if images.dtype != np.uint8:
        if np.issubdtype(images.dtype, np.floating):
            lo, hi = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
            if lo < 0.0 or hi > 1.0:
                raise DataError(
                    f"{what}: float images must lie in [0, 1] (found [{lo:.3g}, {hi:.3g}]); "
                    "pass uint8 images or scale them to [0, 1]"
                )
            images = np.round(images * 255.0).astype(np.uint8)
        elif np.issubdtype(images.dtype, np.integer) or images.dtype == bool:
            if images.size and (images.min() < 0 or images.max() > 255):
                raise DataError(f"{what}: integer images must lie in [0, 255]; pass uint8 images")
            images = images.astype(np.uint8)
        else:
            raise DataError(f"{what}: images have dtype {images.dtype}; pass uint8 images")
    return np.ascontiguousarray(images), labels.astype(np.int32)


def from_arrays(
    images: Any,
    labels: Any,
    *,
    test: tuple[Any, Any] | None = None,
    num_classes: int = 0,
    name: str = "arrays",
) -> Source:
    """A `Source` over NumPy arrays, usable wherever a dataset config is accepted.

    Args:
      images: training images [N, H, W(, C)], uint8 or floats in [0, 1].
      labels: training labels [N].
      test: optional `(images, labels)` of a `"test"` split with the same image shape.
      num_classes: number of classes; 0 infers `max(label) + 1`.
      name: name used in messages.

    Returns:
      A `Source` with split `"train"` (and `"test"`).
    """
    splits = {"train": (images, labels)}
    if test is not None:
        splits["test"] = test
    return _make_source(name, splits, num_classes)


def register_arrays(
    name: str,
    train: tuple[Any, Any],
    test: tuple[Any, Any] | None = None,
    *,
    num_classes: int = 0,
    **splits: tuple[Any, Any],
) -> Source:
    """Registers arrays under `name`, so that `dataset.name = name` selects them.

    Args:
      name: the dataset name to use in configs (not a bundled name).
      train: `(images, labels)` of the `"train"` split.
      test: optional `(images, labels)` of the `"test"` split.
      num_classes: number of classes; 0 infers `max(label) + 1`.
      **splits: more splits, e.g. `val=(images, labels)`.

    Returns:
      The registered `Source` (registering a name again replaces it).
    """
    if not isinstance(name, str) or not name or name in RESERVED_NAMES:
        raise ConfigError(
            f"cannot register arrays as {name!r}; choose a name other than "
            f"{', '.join(RESERVED_NAMES)}"
        )
    all_splits = {"train": train, **({"test": test} if test is not None else {}), **splits}
    source = _make_source(name, all_splits, num_classes)
    _REGISTRY[name] = source
    return source


def unregister_arrays(name: str) -> None:
    """Forgets arrays registered under `name` (no error if there are none)."""
    _REGISTRY.pop(name, None)


def registered(name: str) -> Source | None:
    """The `Source` registered under `name`, or None."""
    return _REGISTRY.get(name)


def registered_names() -> list[str]:
    """Names currently registered with `register_arrays`."""
    return sorted(_REGISTRY)


def _make_source(name: str, splits: Mapping[str, Any], num_classes: int) -> Source:
    checked = {}
    for split, pair in splits.items():
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise DataError(f"split '{split}' of '{name}' must be an (images, labels) pair")
        checked[split] = check_arrays(*pair, what=f"'{name}' {split} images")
    shapes = {s: im.shape[1:] for s, (im, _) in checked.items()}
    if len(set(shapes.values())) > 1:
        desc = ", ".join(f"{s}: {'x'.join(map(str, sh))}" for s, sh in shapes.items())
        raise DataError(
            f"splits of '{name}' have different image shapes ({desc}); resize them to one "
            "shape (H, W, C) before passing them"
        )
    if num_classes <= 0:
        num_classes = max((int(lb.max()) + 1 for _, lb in checked.values() if lb.size), default=0)
    return Source(name=name, splits=checked, num_classes=int(num_classes))


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resizes uint8 [N, H, W, C] images to [N, size, size, C] (central square crop + bilinear).

    Non-square images are first cropped to their central square, so the aspect ratio is
    kept (the usual resize-then-center-crop evaluation transform).
    """
    from PIL import Image  # noqa: PLC0415 - Pillow is only needed when resizing

    out = np.empty((images.shape[0], size, size, images.shape[3]), np.uint8)
    for i, im in enumerate(images):
        pil = Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im)
        out[i] = np.asarray(square_resize(pil, size)).reshape(size, size, -1)
    return out


def square_resize(pil_image: Any, size: int) -> Any:
    """Crops a Pillow image to its central square and resizes it to size x size (bilinear)."""
    from PIL import Image  # noqa: PLC0415

    w, h = pil_image.size
    s = min(w, h)
    if (w, h) != (s, s):
        left, top = (w - s) // 2, (h - s) // 2
        pil_image = pil_image.crop((left, top, left + s, top + s))
    if s != size:
        pil_image = pil_image.resize((size, size), Image.Resampling.BILINEAR)
    return pil_image


# ----------------------------------------------------------------------------------------
# Global-order batching.


def array_train_iterator(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    global_batch_size: int,
    seed: int,
    start_step: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    prefetch: int = 4,
) -> BatchIterator:
    """Infinite iterator of this process's rows of the global batches, from `start_step`.

    The batches of the module docstring's formula, one permutation per epoch.
    """
    n = images.shape[0]
    spe = n // global_batch_size
    b = global_batch_size // process_count
    lo, hi = process_index * b, (process_index + 1) * b

    def batches() -> Iterator[Batch]:
        step, perm_epoch, perm = start_step, None, None
        while True:
            epoch, j = divmod(step, spe)
            if epoch != perm_epoch:
                perm, perm_epoch = np.random.default_rng([seed, epoch]).permutation(n), epoch
            rows = perm[j * global_batch_size + lo:j * global_batch_size + hi]
            yield {"image": images[rows], "label": labels[rows], "index": rows.astype(np.int32)}
            step += 1

    return BatchIterator(batches, prefetch=prefetch)


def array_eval_batches(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[Batch]:
    """Finite, fixed-order padded batches: global batch j holds examples [j*B, (j+1)*B).

    Every process yields `ceil(N / B)` batches of `b = B // P` rows (padding rows have
    `mask=False`, label 0, index -1), so SPMD steps see the same number of batches on
    every process, and every example appears exactly once across processes.
    """
    n = images.shape[0]
    b = batch_size // process_count
    for j in range(-(-n // batch_size)):
        lo = min(n, j * batch_size + process_index * b)
        hi = min(n, lo + b)
        yield pad_batch(
            {
                "image": images[lo:hi],
                "label": labels[lo:hi],
                "index": np.arange(lo, hi, dtype=np.int32),
            },
            b,
            image_shape=images.shape[1:],
        )


def pad_batch(batch: Batch, size: int, *, image_shape: tuple[int, ...]) -> Batch:
    """Pads a batch of `k <= size` rows to `size` rows and adds a boolean `mask`."""
    k = batch["label"].shape[0]
    out = {
        "image": np.zeros((size, *image_shape), np.uint8),
        "label": np.zeros((size,), np.int32),
        "index": np.full((size,), -1, np.int32),
        "mask": np.arange(size) < k,
    }
    out["image"][:k] = batch["image"]
    out["label"][:k] = batch["label"]
    out["index"][:k] = batch["index"]
    return out


class BatchIterator:
    """An iterator of batches produced by a background thread a few batches ahead.

    Use it as an iterator (`next(it)`), optionally in a `with` block; `close()` (or
    garbage collection) stops the thread. Exceptions raised while producing a batch are
    re-raised by `next`. With `prefetch=0` batches are produced in the calling thread.
    """

    def __init__(self, make_generator: Callable[[], Iterator[Batch]], *, prefetch: int = 4):
        self._gen = make_generator()
        self._closed = threading.Event()
        self._queue: queue.Queue | None = None
        self._thread = None
        if prefetch > 0:
            self._queue = queue.Queue(maxsize=prefetch)
            # The thread holds no reference to `self`, so an abandoned iterator is collected
            # and its finalizer stops the thread.
            self._thread = threading.Thread(
                target=_produce,
                args=(self._gen, self._queue, self._closed),
                daemon=True,
                name="ssljax-data",
            )
            self._thread.start()
        weakref.finalize(self, self._closed.set)

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> Batch:
        if self._closed.is_set():
            raise StopIteration
        if self._queue is None:
            return next(self._gen)
        item = self._queue.get()
        if item is _DONE:
            self._closed.set()
            raise StopIteration
        if isinstance(item, _Failure):
            self._closed.set()
            raise item.error
        return item

    def close(self) -> None:
        """Stops the background thread; further `next` calls raise StopIteration."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BatchIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DONE = object()


@dataclasses.dataclass
class _Failure:
    error: BaseException


def _produce(gen: Iterator[Batch], q: queue.Queue, closed: threading.Event) -> None:
    """Background loop of `BatchIterator`: fills `q` until `closed` is set."""

    def put(item: Any) -> bool:
        while not closed.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in gen:
            if not put(item):
                return
        put(_DONE)
    except BaseException as e:  # noqa: BLE001 - re-raised in the consumer's thread
        put(_Failure(e))
