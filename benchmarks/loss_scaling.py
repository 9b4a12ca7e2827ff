"""Dense vs blockwise NT-Xent: value+gradient time and peak memory, N = 1k … 32k pairs.

    python benchmarks/loss_scaling.py                    # default sizes, d = 128
    python benchmarks/loss_scaling.py --sizes 1024 16384 --max-dense 8192

Each (mode, N) runs in a fresh subprocess, so its peak resident memory (ru_maxrss)
is its own; the subprocess compiles `jax.value_and_grad` of
`ssljax.losses.nt_xent` (dense, or `block_size=B`), runs it once to warm up, then
times `--repeats` calls. Prints a table on stderr and one JSON line on stdout with
every row plus the dense/blockwise value and gradient differences at the sizes
where both ran. Dense needs about 2N×2N float32 matrices several times over, so it
is skipped above --max-dense.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def _one(mode: str, n: int, d: int, block: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ssljax import losses

    rng = np.random.default_rng(0)
    za = jnp.asarray(rng.standard_normal((n, d), dtype=np.float32))
    zb = jnp.asarray(rng.standard_normal((n, d), dtype=np.float32))
    kw = {"block_size": block} if mode == "blockwise" else {}
    fn = jax.jit(
        jax.value_and_grad(lambda a, b: losses.nt_xent(a, b, temperature=0.1, **kw), argnums=(0, 1))
    )
    t0 = time.perf_counter()
    val, grads = jax.block_until_ready(fn(za, zb))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(za, zb))
        times.append(time.perf_counter() - t0)
    probe = np.asarray(grads[0][:64])
    return {
        "mode": mode,
        "pairs": n,
        "dim": d,
        "block_size": block if mode == "blockwise" else None,
        "median_s": round(statistics.median(times), 4),
        "first_call_s": round(first, 2),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "loss": float(val),
        "grad_head": probe.ravel()[:256].tolist(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 8192, 16384, 32768])
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--block-size", type=int, default=1024)
    ap.add_argument("--max-dense", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--one", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        mode, n = args.one[0], int(args.one[1])
        print(json.dumps(_one(mode, n, args.dim, args.block_size, args.repeats)))
        return

    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1", TF_CPP_MIN_LOG_LEVEL="3"
    )
    rows = []
    for n in args.sizes:
        for mode in ("dense", "blockwise"):
            if mode == "dense" and n > args.max_dense:
                continue
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    mode,
                    str(n),
                    "--dim",
                    str(args.dim),
                    "--block-size",
                    str(args.block_size),
                    "--repeats",
                    str(args.repeats),
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                rows.append({"mode": mode, "pairs": n, "error": proc.stderr.strip()[-300:]})
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{mode:9s} N={n:6d}  {row['median_s']:8.3f} s  "
                f"peak RSS {row['peak_rss_bytes'] / 2**30:6.2f} GiB",
                file=sys.stderr,
            )
    import numpy as np

    comparisons = []
    for n in args.sizes:
        pair = {r["mode"]: r for r in rows if r.get("pairs") == n and "error" not in r}
        if len(pair) == 2:
            d, b = pair["dense"], pair["blockwise"]
            comparisons.append(
                {
                    "pairs": n,
                    "time_ratio": round(b["median_s"] / d["median_s"], 3),
                    "loss_abs_diff": abs(d["loss"] - b["loss"]),
                    "grad_max_abs_diff": float(
                        np.max(np.abs(np.subtract(d["grad_head"], b["grad_head"])))
                    ),
                }
            )
    for r in rows:
        r.pop("grad_head", None)
    print(json.dumps({"benchmark": "loss_scaling", "rows": rows, "comparisons": comparisons}))


if __name__ == "__main__":
    main()
