"""Every method on the bundled MNIST digits: linear top-1, kNN top-1 and wall time.

    python benchmarks/mnist_methods.py                       # all 8 methods, one after another
    python benchmarks/mnist_methods.py --methods=byol,dino   # a subset
    python benchmarks/mnist_methods.py --out=runs/methods    # keep the workdirs

Runs `python -m ssljax.pretrain --config=configs/<method>_mnist.py` for each method in its
own subprocess, exactly as a user would (one process, the machine's default devices), and
times the whole program: start-up, compilation, training, and the final kNN and linear
probe on the 1,000 held-out digits. Runs are sequential so that each has the machine to
itself. Prints a Markdown table (the README's methods table is pasted from it) and, last,
ONE line of JSON with every row.

Targets (issue 5): linear top-1 >= 0.96 and <= 10 minutes per method on a 2-core CPU.
Raw-pixel logistic regression on the same split reaches about 0.90.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METHODS = ("simclr", "mocov2", "mocov3", "byol", "simsiam", "barlowtwins", "vicreg", "dino")


def run_method(method: str, workdir: Path, overrides: list[str]) -> dict:
    """One pretraining run of configs/<method>_mnist.py; returns its row of the table."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cmd = [
        sys.executable, "-m", "ssljax.pretrain", f"--config=configs/{method}_mnist.py",
        f"--workdir={workdir}", "--config.plots=False", *overrides,
    ]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        return {"method": method, "error": tail[0], "wall_s": round(wall, 1)}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "method": method,
        "linear_top1": round(res["linear_top1"], 4),
        "knn_top1": round(res["knn_top1"], 4),
        "steps": res["steps"],
        "final_loss": round(res["final_loss"], 4),
        "effective_rank": round(res.get("effective_rank", float("nan")), 1),
        "program_s": res["seconds"],
        "wall_s": round(wall, 1),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| method | linear top-1 | kNN top-1 | steps | wall time |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | failed: {r['error']} | | | |")
            continue
        minutes, seconds = divmod(int(round(r["wall_s"])), 60)
        lines.append(
            f"| {r['method']} | {r['linear_top1']:.3f} | {r['knn_top1']:.3f} | {r['steps']} "
            f"| {minutes} min {seconds:02d} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--out", default="", help="keep the workdirs here (default: temp dir)")
    parser.add_argument("overrides", nargs="*",
                        help="extra --config.key=value flags passed to every run")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        rows = []
        for method in methods:
            workdir = root / method
            if workdir.exists() and any(workdir.iterdir()):
                sys.exit(f"mnist_methods: error: {workdir} is not empty (it would resume); "
                         "pass a fresh --out")
            row = run_method(method, workdir, args.overrides)
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    print(markdown(rows))
    print(json.dumps({
        "benchmark": "mnist_methods", "cpus": os.cpu_count(), "python": platform.python_version(),
        "rows": rows,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
