"""Input-pipeline throughput: host decode/resize/batch and device augmentation.

    python benchmarks/input_pipeline.py            # full sizes
    python benchmarks/input_pipeline.py --quick    # smaller sizes, a smoke run

Prints ONE line of JSON (images per second unless said otherwise):

- `host_mnist_inmemory`: bundled MNIST train batches (global batch 256) from the
  in-memory global-order path (gather + prefetch thread).
- `host_folder_load`: decoding + center-crop + resizing a generated folder of
  96x96 JPEGs (with texture) to 64x64 with Pillow in threads (the one-time load).
- `host_folder_batches`: train batches (256) from that folder once loaded.
- `host_tfdata_jpeg`: a TFDS-like tf.data pipeline on the same JPEG bytes held in
  memory: decode_and_crop_jpeg + antialiased resize to 64 + batch(256) + prefetch,
  the ops `ssljax.data.tfds_source` uses (null where TensorFlow is not installed).
- `device_augment_simclr64`, `device_augment_digits28`: one jitted
  `ssljax.augment.augment_view` of a batch of 256 (SimCLR view at 64x64x3; the
  digits view at 28x28x1), after warm-up, synchronised with `block_until_ready`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ssljax.data as data  # noqa: E402

BATCH = 256


def _rate(n_images: int, seconds: float) -> float:
    return round(n_images / max(seconds, 1e-9), 1)


def bench_inmemory(steps: int) -> float:
    it = data.make_train_iterator(
        dict(name="mnist"), global_batch_size=BATCH, seed=0, process_index=0, process_count=1
    )
    for _ in range(3):
        next(it)
    t = time.perf_counter()
    for _ in range(steps):
        next(it)
    dt = time.perf_counter() - t
    it.close()
    return _rate(steps * BATCH, dt)


def make_jpegs(n: int, side: int = 96) -> list[bytes]:
    """Textured RGB JPEGs (smooth gradients + noise), quality 90."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side] / side
    out = []
    for i in range(n):
        base = np.stack([xx * 255, yy * 255, (xx + yy) * 127], -1) * (0.5 + 0.5 * (i % 7) / 7)
        img = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def bench_folder(jpegs: list[bytes], steps: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        for i, raw in enumerate(jpegs):
            path = Path(tmp, "train", f"class{i % 10}", f"{i:05d}.jpg")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(raw)
        cfg = dict(name="image_folder", data_dir=tmp, image_size=64)
        t = time.perf_counter()
        images, _ = data.load_split(cfg, "train")
        load = _rate(images.shape[0], time.perf_counter() - t)
        it = data.make_train_iterator(
            cfg, global_batch_size=BATCH, seed=0, process_index=0, process_count=1
        )
        next(it)
        t = time.perf_counter()
        for _ in range(steps):
            next(it)
        batches = _rate(steps * BATCH, time.perf_counter() - t)
        it.close()
        data.clear_memory_cache()
    return load, batches


def bench_tfdata(jpegs: list[bytes], steps: int) -> float | None:
    try:
        from ssljax.data import tfds_source

        tf, _ = tfds_source.import_tf()
    except Exception:  # noqa: BLE001 - no TensorFlow on this machine
        return None
    decode = tfds_source.make_decoder(
        shape=(64, 64, 3), image_size=64, native_shape=(None, None, 3), encoded=True
    )
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(jpegs)).repeat()
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(BATCH, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    it = ds.with_options(options).as_numpy_iterator()
    for _ in range(2):
        next(it)
    t = time.perf_counter()
    for _ in range(steps):
        batch = next(it)
    assert batch.shape == (BATCH, 64, 64, 3)
    return _rate(steps * BATCH, time.perf_counter() - t)


def bench_augment(steps: int) -> dict[str, float | str | None]:
    try:
        import jax

        from ssljax import augment
    except ImportError as e:
        return {"device_augment_error": f"ssljax.augment unavailable: {e}"}
    out: dict[str, float | str | None] = {"device": jax.devices()[0].device_kind}
    rng = np.random.default_rng(0)
    cases = {
        "device_augment_simclr64": (augment.simclr_views(64)[0], (BATCH, 64, 64, 3)),
        "device_augment_digits28": (augment.digits_views(28)[0], (BATCH, 28, 28, 1)),
    }
    key = jax.random.key(0)
    indices = np.arange(BATCH, dtype=np.int32)
    for name, (spec, shape) in cases.items():
        images = jax.device_put(rng.random(shape, dtype=np.float32))

        @jax.jit
        def run(step, images, spec=spec):
            keys = augment.example_keys(key, step, 0, indices)
            return augment.augment_view(keys, images, spec)

        run(0, images).block_until_ready()  # compile
        run(1, images).block_until_ready()
        t = time.perf_counter()
        for s in range(steps):
            result = run(s + 2, images)
        result.block_until_ready()
        out[name] = _rate(steps * BATCH, time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = parser.parse_args()
    n_jpegs, steps = (512, 4) if args.quick else (2048, 20)
    t0 = time.perf_counter()
    result: dict[str, object] = {
        "benchmark": "input_pipeline",
        "batch": BATCH,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    result["host_mnist_inmemory"] = bench_inmemory(steps * 10)
    jpegs = make_jpegs(n_jpegs)
    load, batches = bench_folder(jpegs, steps)
    result["host_folder_load"] = load
    result["host_folder_batches"] = batches
    result["host_tfdata_jpeg"] = bench_tfdata(jpegs, steps)
    result.update(bench_augment(max(2, steps // 2)))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
