"""Every method on the bundled MNIST digits: linear top-1, kNN top-1 and wall time.

    python benchmarks/mnist_methods.py                       # all 8 methods, one after another
    python benchmarks/mnist_methods.py --methods=byol,dino   # a subset
    python benchmarks/mnist_methods.py --out=runs/methods    # keep the workdirs
    python benchmarks/mnist_methods.py --seeds=0,1,2         # mean and range over 3 seeds

Runs `python -m ssljax.pretrain --config=configs/<method>_mnist.py` for each method in its
own subprocess, exactly as a user would (one process, the machine's default devices), and
times the whole program: start-up, compilation, training, and the final kNN and linear
probe on the 1,000 held-out digits. Runs are sequential so that each has the machine to
itself. With several `--seeds` every method runs once per seed (`--config.seed=S`: the
initialisation, the data order and the augmentations change) and the table gives the
mean with the range; single-seed differences of up to a point are common on this split.
Prints a Markdown table (the README's methods table is pasted from it) and, last, ONE
line of JSON with every run and the per-method summary.

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


def run_method(method: str, workdir: Path, overrides: list[str], seed: int = 0) -> dict:
    """One pretraining run of configs/<method>_mnist.py; returns its row of the table."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cmd = [
        sys.executable, "-m", "ssljax.pretrain", f"--config=configs/{method}_mnist.py",
        f"--workdir={workdir}", "--config.plots=False", f"--config.seed={seed}", *overrides,
    ]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        return {"method": method, "seed": seed, "error": tail[0], "wall_s": round(wall, 1)}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "method": method,
        "seed": seed,
        "linear_top1": round(res["linear_top1"], 4),
        "knn_top1": round(res["knn_top1"], 4),
        "steps": res["steps"],
        "final_loss": round(res["final_loss"], 4),
        "effective_rank": round(res.get("effective_rank", float("nan")), 1),
        "program_s": res["seconds"],
        "wall_s": round(wall, 1),
    }


def summarize(rows: list[dict]) -> list[dict]:
    """Per method: mean, min and max of linear/kNN top-1 and wall time over its seeds."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        runs = [r for r in rows if r["method"] == method]
        ok = [r for r in runs if "error" not in r]
        row = {"method": method, "seeds": [r["seed"] for r in runs], "failed": len(runs) - len(ok)}
        for key in ("linear_top1", "knn_top1", "wall_s"):
            vals = [r[key] for r in ok]
            if vals:
                row[key] = round(sum(vals) / len(vals), 4)
                row[key + "_range"] = [min(vals), max(vals)]
        if ok:
            row["steps"] = ok[0]["steps"]
        if not ok:
            row["error"] = runs[0]["error"]
        out.append(row)
    return out


def _span(row: dict, key: str, digits: int = 3) -> str:
    lo, hi = row[key + "_range"]
    text = f"{row[key]:.{digits}f}"
    return text if lo == hi else f"{text} ({lo:.{digits}f}–{hi:.{digits}f})"


def markdown(summary: list[dict]) -> str:
    """The table: one line per method (mean and range when it ran with several seeds)."""
    lines = [
        "| method | linear top-1 | kNN top-1 | seeds | steps | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary:
        seeds = ",".join(str(s) for s in r["seeds"])
        if "error" in r:
            lines.append(f"| {r['method']} | failed: {r['error']} | | {seeds} | | |")
            continue
        minutes, seconds = divmod(int(round(r["wall_s_range"][1])), 60)
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        at_most = "≤ " if len(r["seeds"]) > 1 else ""  # the slowest of the seeds
        lines.append(
            f"| {r['method']} | {_span(r, 'linear_top1')} | {_span(r, 'knn_top1')} "
            f"| {seeds}{failed} | {r['steps']} | {at_most}{minutes} min {seconds:02d} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--seeds", default="0",
                        help="comma-separated seeds; each method runs once per seed")
    parser.add_argument("--out", default="", help="keep the workdirs here (default: temp dir)")
    parser.add_argument("overrides", nargs="*",
                        help="extra --config.key=value flags passed to every run")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers; got {args.seeds!r}")
    if not seeds:
        parser.error("--seeds is empty; pass e.g. --seeds=0 or --seeds=0,1,2")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        rows = []
        for method in methods:
            for seed in seeds:
                workdir = root / (method if seeds == [0] else f"{method}_seed{seed}")
                if workdir.exists() and any(workdir.iterdir()):
                    sys.exit(f"mnist_methods: error: {workdir} is not empty (it would resume); "
                             "pass a fresh --out")
                row = run_method(method, workdir, args.overrides, seed)
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    summary = summarize(rows)
    print(markdown(summary))
    print(json.dumps({
        "benchmark": "mnist_methods", "cpus": os.cpu_count(), "python": platform.python_version(),
        "summary": summary, "rows": rows,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
