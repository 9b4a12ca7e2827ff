"""Times the real pretraining step against the encoder's own forward+backward.

    python benchmarks/step_time.py --config=configs/simclr_cifar10.py \
        --config.batch_size=256 --steps=20

Synthetic uint8 images at the config's resolution (no dataset, no TensorFlow) go
through the exact jitted, shard_mapped pretraining step of `ssljax.engine`
(augmentation, loss, gathered negatives, optimizer, EMA, probe). For comparison,
the same encoder runs a plain forward+backward (BatchNorm in train mode, a
squared-feature loss, no optimizer) on the same number of images (batch × views);
for methods with an EMA target (BYOL, MoCo, DINO) the reference also runs the target
encoder's forward pass on those images, which the method needs as much as the online
backward pass. What is left over is the SSL overhead: heads, loss, gathers, optimizer,
EMA update, augmentation and probe. For MAE (`--config=configs/mae_cifar10.py`) the
reference is the same ViT's forward + backward on *all* tokens, so `overhead_ratio` is
the MAE step (encoder on the visible quarter, light decoder on every token) against it.
Prints one JSON line:

    median_step_s, views_per_s, encoder_only_step_s, overhead_ratio (step / encoder
    only), plain_encoder_step_s and overhead_vs_plain (against the forward+backward
    alone, without the target's forward), flops_per_step (XLA cost analysis, all
    devices), mfu (when the device's peak is known), peak_memory_bytes, device, devices;
    with --profile_top=N also profile_top: the N operations that took longest in 3 traced
    steps, as [name, seconds per step] (on GPU/TPU the device's "XLA Ops"; on CPU the
    host threads' operations, which need XLA_FLAGS=--xla_cpu_enable_xprof_traceme).

On an accelerator without TensorFlow (synthetic data needs none), e.g. ResNet-50 SimCLR at
224 px in bfloat16: `bash benchmarks/accelerator.sh`.
"""

from __future__ import annotations

import collections
import functools
import glob
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402
from jax import lax  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from ssljax import cli, config_schema, data, engine, parallel  # noqa: E402

# Dense bf16 peak FLOP/s per device (vendor datasheets), for MFU.
PEAK_FLOPS = {
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "V100": 125e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v6 lite": 918e12,
    "TPU v6e": 918e12,
}

flags.DEFINE_integer("steps", 20, "Timed steps (after warm-up).")
flags.DEFINE_integer("warmup", 3, "Untimed warm-up steps.")
flags.DEFINE_integer("num_classes", 10, "Classes of the synthetic labels (online probe).")
flags.DEFINE_integer("image_size", 0, "Override the synthetic image side (0: from config).")
flags.DEFINE_integer("channels", 3, "Channels of the synthetic images.")
flags.DEFINE_integer("profile_top", 0, "Trace 3 steps and report the N longest operations.")


def _peak(device) -> float | None:
    kind = getattr(device, "device_kind", "")
    for name, peak in PEAK_FLOPS.items():
        if name.lower() in kind.lower():
            return peak
    return None


def _flops(compiled, num_devices: int) -> float | None:
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        # A shard_mapped program's cost analysis is per device.
        return float(cost["flops"]) * num_devices
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def _memory(compiled) -> int | None:
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"])
    try:
        m = compiled.memory_analysis()
        return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes)
    except Exception:  # noqa: BLE001
        return None


def _profile(run_step, top: int, steps: int = 3) -> list[list]:
    """The `top` operations by time per step over `steps` traced steps: [[name, s], ...].

    Device planes' "XLA Ops" lines on GPU/TPU; on CPU the host plane's operation events
    (JAX's and Python's own events, named with "$", "::" or "(", are left out).
    """
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            out = None
            for _ in range(steps):
                out = run_step()
            jax.block_until_ready(out)
        path = glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True)[0]
        profile = jax.profiler.ProfileData.from_file(path)
    totals = collections.Counter()
    planes = list(profile.planes)
    device = [p for p in planes if p.name.startswith("/device:")]
    for plane in device or [p for p in planes if p.name == "/host:CPU"]:
        for line in plane.lines:
            if device and line.name != "XLA Ops":
                continue
            for event in line.events:
                if device or not any(c in event.name for c in ("$", "::", "(")):
                    totals[event.name] += event.duration_ns * 1e-9 / steps
    return [[name, round(sec, 5)] for name, sec in totals.most_common(top)]


def _time(fn, args_fn, warmup: int, steps: int) -> list[float]:
    out = None
    for _ in range(warmup):
        out = fn(*args_fn(out))
    jax.block_until_ready(out)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        out = fn(*args_fn(out))
        jax.block_until_ready(out)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    FLAGS = flags.FLAGS
    config = cli.load_config(HOLDER)
    mesh = parallel.make_mesh()
    parallel.check_batch_divisible(config.batch_size, mesh)
    try:
        info = data.dataset_info(config.dataset)
        size, channels, num_classes = info.image_shape[0], info.image_shape[2], info.num_classes
    except Exception:  # noqa: BLE001 - dataset not prepared here: synthetic shapes from flags
        size = config.dataset.image_size or 32
        channels, num_classes = FLAGS.channels, FLAGS.num_classes
    size = FLAGS.image_size or size
    config, _ = config_schema.resolve(config)
    run = engine.build(config, mesh, num_classes=num_classes, image_shape=(size, size, channels),
                       steps_per_epoch=100)
    method, specs, state, step = run.method, run.specs, run.state, run.step
    view_shape = (specs[0].out_size, specs[0].out_size, channels)

    rng = np.random.default_rng(0)
    b = config.batch_size
    host = {
        "image": rng.integers(0, 256, (b, size, size, channels), dtype=np.uint8),
        "label": rng.integers(0, num_classes, (b,), dtype=np.int32),
    }
    batch = {k: jax.device_put(v, parallel.batch_sharded(mesh)) for k, v in host.items()}
    compiled = step.lower(state, batch).compile()
    holder = {"state": state}

    def run_step():
        holder["state"], m = step(holder["state"], batch)
        return m["loss"]

    step_times = _time(lambda: run_step(), lambda _: (), FLAGS.warmup, FLAGS.steps)

    # Encoder alone: forward + backward on batch × views images of the first view's size.
    n_views = len(specs)
    enc_images = jax.device_put(
        jnp.asarray(rng.random((b * n_views, *view_shape), dtype=np.float32)),
        parallel.batch_sharded(mesh),
    )
    encoder = method.model.encoder
    # The step donates its input state: read the encoder from the latest one.
    state = holder["state"]
    params, stats = state.params["encoder"], state.batch_stats.get("encoder", {})

    def enc_step(params, stats, x, with_target=False):
        def loss(p):
            variables = {"params": p, "batch_stats": stats} if stats else {"params": p}
            if stats:
                h, upd = encoder.apply(variables, x, train=True, mutable=["batch_stats"])
            else:
                h, upd = encoder.apply(variables, x, train=True), {}
            return lax.pmean(jnp.mean(jnp.square(h)), parallel.DATA_AXIS), upd

        (val, _), grads = jax.value_and_grad(loss, has_aux=True)(params)
        if with_target:  # the target encoder's forward (train-mode BN), no gradient
            variables = {"params": params, "batch_stats": stats} if stats else {"params": params}
            h = encoder.apply(variables, x, train=True, mutable=["batch_stats"])[0]
            val = val + lax.pmean(jnp.mean(h), parallel.DATA_AXIS)
        return val, grads

    def timed(with_target):
        fn = parallel.shard_step(
            functools.partial(enc_step, with_target=with_target), mesh,
            in_specs=(P(), P(), P(parallel.DATA_AXIS)), out_specs=(P(), P()),
        )
        compiled_fn = fn.lower(params, stats, enc_images).compile()
        times = _time(lambda: fn(params, stats, enc_images), lambda _: (), FLAGS.warmup,
                      FLAGS.steps)
        return statistics.median(times), compiled_fn

    has_target = bool(getattr(method, "has_target", False))
    plain_med, enc_compiled = timed(False)
    enc_med, enc_compiled = timed(True) if has_target else (plain_med, enc_compiled)
    med = statistics.median(step_times)
    nd = mesh.devices.size
    flops = _flops(compiled, nd)
    peak = _peak(jax.devices()[0])
    result = {
        "benchmark": "step_time",
        "method": method.name,
        "encoder": config.encoder.name,
        "dtype": config.encoder.dtype,
        "batch_size": b,
        "views": n_views,
        "image_size": size,
        "median_step_s": round(med, 5),
        "views_per_s": round(b * n_views / med, 1),
        "encoder_only_step_s": round(enc_med, 5),
        "overhead_ratio": round(med / enc_med, 3),
        "plain_encoder_step_s": round(plain_med, 5),
        "overhead_vs_plain": round(med / plain_med, 3),
        "flops_per_step": flops,
        "encoder_only_flops": _flops(enc_compiled, nd),
        "mfu": round(flops / med / (peak * nd), 4) if (flops and peak) else None,
        "peak_memory_bytes": _memory(compiled),
        "device": jax.devices()[0].device_kind,
        "devices": nd,
    }
    if FLAGS.profile_top:
        result["profile_top"] = _profile(run_step, FLAGS.profile_top)
    print(json.dumps(result), flush=True)


HOLDER = None

if __name__ == "__main__":
    HOLDER = cli.define_flags()
    cli.parse_flags()
    cli.configure_cpu()
    cli.setup_logging()
    main()
