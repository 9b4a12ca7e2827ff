"""Each convolution of a network on the CPU, three ways: XLA, ssljax's gradients, oneDNN.

    python benchmarks/conv_layers.py                  # ResNet-18's CIFAR layers, 256 images
    python benchmarks/conv_layers.py --model=demo     # the demo's SmallCNN, 512 images

For every distinct layer shape (both views of the step as one batch: 256 CIFAR images for
ResNet-18's SimCLR step at 128 pairs, 512 digits for the demo), the median time of each
jitted operation alone:

- forward: XLA's convolution (`ssljax.models.conv`'s CPU flags: Eigen, not YNNPACK) and
  oneDNN's (`ssljax.models.native.forward`);
- input gradient: ssljax's per-phase stride-1 convolutions (`conv.input_gradient`) and
  oneDNN's backward-data;
- kernel gradient: ssljax's per-tap products (`conv.kernel_gradient`) and oneDNN's
  backward-weights.

Also checks that the two results of each pair agree (largest difference over the largest
value). Prints one line per layer (stderr) and, last, one line of JSON with the times in
ms and their totals over the network's layers (each shape times its count). Needs the
oneDNN library (`scripts/build_native.sh`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (images, size, C_in, C_out, kernel, stride, layers of this shape in the network)
RESNET18 = [(256, 32, 3, 64, 3, 1, 1), (256, 32, 64, 64, 3, 1, 4), (256, 32, 64, 128, 3, 2, 1),
            (256, 32, 64, 128, 1, 2, 1), (256, 16, 128, 128, 3, 1, 3),
            (256, 16, 128, 256, 3, 2, 1), (256, 16, 128, 256, 1, 2, 1),
            (256, 8, 256, 256, 3, 1, 3), (256, 8, 256, 512, 3, 2, 1),
            (256, 8, 256, 512, 1, 2, 1), (256, 4, 512, 512, 3, 1, 3)]
DEMO = [(512, 28, 1, 32, 3, 2, 1), (512, 14, 32, 64, 3, 2, 1), (512, 7, 64, 128, 3, 1, 1),
        (512, 7, 128, 256, 3, 2, 1)]
OPS = ("forward_xla", "forward_onednn", "input_grad_ssljax", "input_grad_onednn",
       "kernel_grad_ssljax", "kernel_grad_onednn")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("resnet18", "demo"), default="resnet18")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per operation")
    args = parser.parse_args()

    from ssljax import host_memory
    from ssljax.models import conv, native

    host_memory.keep_freed_memory()  # as the ssljax programs do (ssljax.cli.configure_cpu)
    conv.set_cpu_flags()  # before JAX starts, as the programs do
    import jax
    import jax.numpy as jnp

    if not native.available():
        parser.error("the oneDNN library is not built: run scripts/build_native.sh")

    def timed(fn, *a) -> float:
        fn(*a).block_until_ready()
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn(*a).block_until_ready()
            times.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(times)

    def rel_diff(a, b) -> float:
        return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))

    def operations(n, h, cin, cout, k, s):
        """{op: (jitted function, its arguments)} for one layer shape."""
        pad, strides = ((k // 2, k // 2),) * 2, (s, s)
        x = jax.random.normal(jax.random.key(0), (n, h, h, cin))
        w = jax.random.normal(jax.random.key(1), (k, k, cin, cout)) * 0.1
        y_shape = jax.eval_shape(lambda x, w: conv._plain(x, w, strides, pad), x, w).shape
        g = jax.random.normal(jax.random.key(2), y_shape)
        return {
            "forward_xla": (jax.jit(lambda x, w: conv._plain(x, w, strides, pad)), x, w),
            "forward_onednn": (jax.jit(lambda x, w: native.forward(x, w, y_shape, strides, pad)),
                               x, w),
            "input_grad_ssljax": (jax.jit(
                lambda g, w: conv.input_gradient(g, w, x.shape, strides, pad)), g, w),
            "input_grad_onednn": (jax.jit(
                lambda g, w: native.input_gradient(g, w, x.shape, strides, pad)), g, w),
            "kernel_grad_ssljax": (jax.jit(
                lambda x, g: conv.kernel_gradient(x, g, w.shape, strides, pad)), x, g),
            "kernel_grad_onednn": (jax.jit(
                lambda x, g: native.kernel_gradient(x, g, w.shape, strides, pad)), x, g),
        }

    layers, totals = [], dict.fromkeys(OPS, 0.0)
    for n, h, cin, cout, k, s, count in RESNET18 if args.model == "resnet18" else DEMO:
        fns = operations(n, h, cin, cout, k, s)
        row = {"shape": [n, h, h, cin, cout, k, s], "count": count}
        for op, (fn, *a) in fns.items():
            row[op] = round(timed(fn, *a), 2)
            totals[op] += count * row[op]
        outs = {op: fn(*a) for op, (fn, *a) in fns.items()}
        row["max_rel_diff"] = max(rel_diff(outs[f"{p}_onednn"], outs[f"{p}_{q}"])
                                  for p, q in (("forward", "xla"), ("input_grad", "ssljax"),
                                               ("kernel_grad", "ssljax")))
        print(json.dumps(row), file=sys.stderr, flush=True)
        layers.append(row)
    print(json.dumps({"benchmark": "conv_layers", "model": args.model, "layers": layers,
                      "total_ms": {op: round(t, 1) for op, t in totals.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
