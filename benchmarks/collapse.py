"""Collapse demonstration: SimSiam with and without the stop-gradient on the digits.

    python benchmarks/collapse.py                 # 2 runs of 300 steps
    python benchmarks/collapse.py --steps=60      # a quicker look

Runs `python -m ssljax.pretrain --config=configs/simsiam_mnist.py` twice (each in its own
subprocess, as a user would), with `--config.stop_gradient=True` and `=False`, for the
same number of steps (the schedule is shortened to match), and prints a short table and,
last, ONE line of JSON with, per run:

- `final_loss`: the last logged loss (−1 is the minimum: every p equals its z);
- `proj_embedding_std`: the in-step `embedding_std` of the projector output (std over the
  batch of the L2-normalised z, averaged over dimensions; SimSiam paper, Figure 2),
  and `proj_embedding_std_normalized` = that × sqrt(d), which is ≈ 1 for outputs spread
  over the sphere and 0 for a collapsed batch;
- `embedding_std`, `effective_rank`: the same health metrics of the encoder features of
  the 1,000 held-out digits (no augmentation, inference-mode BN);
- `knn_top1`, `linear_top1`: the held-out accuracies (chance = 0.1).

Expected (paper, Figure 2): without the stop-gradient the loss runs to −1 and the
normalised std to ~0 — with the projector's output BatchNorm it cannot reach exactly 0
(the batch mean of each dimension is 0, so the outputs cannot all be equal) — and kNN
drops towards chance; with it the std stays near 1 and the probes are far above chance.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "simsiam_mnist.py"
STEPS_PER_EPOCH = 4000 // 256  # bundled MNIST train split / the config's batch


def run_simsiam(stop_gradient: bool, steps: int, workdir: Path) -> dict:
    """One pretraining run; returns its results plus the last logged in-step metrics."""
    env = dict(os.environ)
    env.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    epochs = max(1, math.ceil(steps / STEPS_PER_EPOCH))
    cmd = [
        sys.executable, "-m", "ssljax.pretrain", f"--config={CONFIG}", f"--workdir={workdir}",
        f"--config.stop_gradient={stop_gradient}", f"--config.num_epochs={epochs}",
        f"--config.max_steps={steps}", "--config.tensorboard=False", "--config.plots=False",
        "--config.checkpoint_every_steps=0", "--config.log_every_steps=10",
    ]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()
            if line.strip().startswith("{")]
    last = [r for r in rows if "embedding_std" in r and "loss" in r][-1]
    proj_dim = _proj_dim()
    return {
        "steps": res["steps"],
        "final_loss": round(float(last["loss"]), 4),
        "proj_embedding_std": round(float(last["embedding_std"]), 5),
        "proj_embedding_std_normalized": round(float(last["embedding_std"]) * proj_dim**0.5, 4),
        "embedding_std": round(float(res["encoder_std"]), 5),
        "effective_rank": round(float(res["encoder_effective_rank"]), 2),
        "knn_top1": round(float(res["knn_top1"]), 4),
        "linear_top1": round(float(res["linear_top1"]), 4),
        "seconds": round(time.time() - t0, 1),
    }


def _proj_dim() -> int:
    sys.path.insert(0, str(REPO))
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("simsiam_mnist", CONFIG)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return int(mod.get_config().head.out_dim)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--out", type=str, default="", help="work folder (default: a temp dir)")
    args = p.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="ssljax_collapse_"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    runs = {}
    for name, sg in (("stop_gradient", True), ("no_stop_gradient", False)):
        runs[name] = run_simsiam(sg, args.steps, out / name)
        r = runs[name]
        print(f"{name:<17} loss {r['final_loss']:+.3f}  proj std×√d "
              f"{r['proj_embedding_std_normalized']:.3f}  feat rank {r['effective_rank']:.1f}  "
              f"kNN {r['knn_top1']:.3f}  linear {r['linear_top1']:.3f}  ({r['seconds']:.0f}s)",
              flush=True)
    collapsed = runs["no_stop_gradient"]
    healthy = runs["stop_gradient"]
    summary = {
        "benchmark": "collapse",
        "method": "simsiam",
        "dataset": "mnist",
        "steps": args.steps,
        **runs,
        "collapse_signature": bool(
            collapsed["proj_embedding_std_normalized"]
            < 0.5 * healthy["proj_embedding_std_normalized"]
            and collapsed["final_loss"] < healthy["final_loss"]
        ),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
