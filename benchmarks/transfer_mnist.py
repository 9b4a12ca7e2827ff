"""Transfer benchmark of a pretraining run on the bundled MNIST digits.

    python benchmarks/transfer_mnist.py runs/demo [--out=/tmp/transfer_bench] [--quick]
        [--parts=linear,finetune,folder] [--devices=1]

Given the workdir of `python -m ssljax.pretrain --config=configs/simclr_mnist.py`, runs
(each program in its own subprocess, as a user would):

1. linear evaluation, both protocols (`configs/linear_eval_mnist.py`, cached and paper);
2. fine-tuning with 1%, 10% and 100% of the labels (`configs/finetune_mnist.py`), from
   the SSL encoder and from a random initialisation of the same network;
3. on an image-folder dataset it writes first ("threes vs eights": MNIST 3s and 8s drawn
   in a random bright colour on a random dark background, RGB PNGs in train/<class>/ and
   test/<class>/ folders, 50 training images per class, 100 test images per class):
   feature extraction (frozen encoder, standardised features), fine-tuning, and
   fine-tuning from scratch. The grayscale encoder sees the luma of these colour images.

Prints a table and, last, one line of JSON with every number and the checks:
linear top-1 >= 0.97, SSL beats scratch by >= 2 points with 10% labels, the two linear
protocols within 1 point.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FRACTIONS = (0.01, 0.1, 1.0)


def run_program(module: str, config: str, workdir: Path, *overrides: str,
                devices: int = 1) -> dict:
    """Runs `python -m module` and returns its last-line JSON (raises on failure)."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cmd = [sys.executable, "-m", module, f"--config={config}", f"--workdir={workdir}",
           "--config.tensorboard=False", *overrides]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {module.split('.')[-1]:<12} {workdir.name:<28} top1={res['top1']:.4f} "
          f"({res['seconds']:.0f}s)", flush=True)
    return res


def write_threes_vs_eights(root: Path, train_per_class: int = 50,
                           test_per_class: int = 100) -> Path:
    """Writes coloured MNIST 3s and 8s as an image folder (split layout); returns its path."""
    sys.path.insert(0, str(REPO))
    from PIL import Image

    from ssljax import data

    images, labels = data.load_split({"name": "mnist"}, "train")
    rng = np.random.default_rng(0)
    for name, digit in (("three", 3), ("eight", 8)):
        picks = np.flatnonzero(labels == digit)
        for split, sel in (("train", picks[:train_per_class]),
                           ("test", picks[train_per_class:train_per_class + test_per_class])):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in sel:
                ink, paper = rng.uniform(128, 255, size=3), rng.uniform(0, 64, size=3)
                alpha = images[i].astype(np.float32) / 255.0
                rgb = alpha * ink + (1 - alpha) * paper
                Image.fromarray(rgb.round().astype(np.uint8)).save(folder / f"{i}.png")
    return root


def _report(linear: dict, finetune: dict, folder: dict) -> dict:
    """Prints the tables; returns the numbers and checks for the JSON line."""
    out: dict = {}
    checks: dict = {}
    if linear:
        print("\nlinear evaluation (1,000 held-out digits)")
        print(f"  {'protocol':<10} {'top1':>7} {'top5':>7} {'seconds':>8}")
        for p, r in linear.items():
            print(f"  {p:<10} {r['top1']:>7.4f} {r['top5']:>7.4f} {r['seconds']:>8.0f}")
        out["linear"] = {p: {"top1": r["top1"], "top5": r["top5"], "seconds": r["seconds"]}
                         for p, r in linear.items()}
        checks["linear_top1_ge_0.97"] = linear["cached"]["top1"] >= 0.97
        gap = abs(linear["cached"]["top1"] - linear["paper"]["top1"])
        checks["linear_protocols_within_1pt"] = gap <= 0.01
    if finetune:
        print("\nfine-tuning, top-1 (SSL init vs random init)")
        print(f"  {'labels':<12} {'ssl':>7} {'scratch':>8} {'gain':>7}")
        for frac in FRACTIONS:
            s, z = finetune[(frac, "ssl")], finetune[(frac, "scratch")]
            label = f"{frac:.0%} ({s['num_labels']})"
            print(f"  {label:<12} {s['top1']:>7.4f} {z['top1']:>8.4f} "
                  f"{100 * (s['top1'] - z['top1']):>+6.1f}p")
        out["finetune"] = {f"{frac:g}": {name: finetune[(frac, name)]["top1"]
                                         for name in ("ssl", "scratch")} for frac in FRACTIONS}
        gain10 = finetune[(0.1, "ssl")]["top1"] - finetune[(0.1, "scratch")]["top1"]
        checks["ssl_gain_10pct_ge_2pts"] = gain10 >= 0.02
    if folder:
        r0 = folder["finetune"]
        print(f"\nimage folder 'threes vs eights' ({r0['num_labels']} training images, "
              f"{r0['num_test']} test), top-1")
        for k, r in folder.items():
            print(f"  {k:<20} {r['top1']:.4f}")
        out["image_folder"] = {k: r["top1"] for k, r in folder.items()}
    out["checks"] = checks
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pretrain_workdir", help="workdir of a finished simclr_mnist run")
    parser.add_argument("--out", default="", help="where the runs go (default: a temp dir)")
    parser.add_argument("--devices", type=int, default=1, help="fake CPU devices per run")
    parser.add_argument("--parts", default="linear,finetune,folder",
                        help="comma-separated subset of linear,finetune,folder")
    parser.add_argument("--quick", action="store_true", help="few steps (smoke test only)")
    args = parser.parse_args()
    t0 = time.time()
    parts = set(args.parts.split(","))
    init = Path(args.pretrain_workdir).absolute()
    out = Path(args.out or tempfile.mkdtemp(prefix="ssljax_transfer_")).absolute()
    out.mkdir(parents=True, exist_ok=True)
    quick = ("--config.max_steps=20",) if args.quick else ()
    le_cfg, ft_cfg = "configs/linear_eval_mnist.py", "configs/finetune_mnist.py"
    run = lambda *a, **k: run_program(*a, devices=args.devices, **k)  # noqa: E731

    print(f"transfer benchmark of {init} -> {out}", flush=True)
    linear, finetune, folder_runs = {}, {}, {}
    if "linear" in parts:
        for p in ("cached", "paper"):
            linear[p] = run("ssljax.linear_eval", le_cfg, out / f"linear_{p}",
                            f"--config.init_from={init}", f"--config.protocol={p}", *quick)
    if "finetune" in parts:
        for frac in FRACTIONS:
            for name, src in (("ssl", init), ("scratch", "")):
                finetune[(frac, name)] = run(
                    "ssljax.finetune", ft_cfg, out / f"finetune_{name}_{frac:g}",
                    f"--config.init_from={src}", f"--config.label_fraction={frac}", *quick)
    if "folder" in parts:
        folder = out / "threes_vs_eights"
        if not folder.exists():
            write_threes_vs_eights(folder)
        folder_args = ("--config.dataset.name=image_folder",
                       f"--config.dataset.data_dir={folder}", "--config.batch_size=64",
                       "--config.num_steps=200", *quick)
        # Feature extraction standardises the frozen features (BatchNorm without affine
        # before the linear layer, as linear probes do); fine-tuning uses the plain head.
        for key, extra in (("feature_extraction", (f"--config.init_from={init}",
                                                   "--config.freeze_encoder=True",
                                                   "--config.head_bn=True")),
                           ("finetune", (f"--config.init_from={init}",)),
                           ("scratch", ("--config.init_from=",))):
            folder_runs[key] = run("ssljax.finetune", ft_cfg, out / f"folder_{key}",
                                   *extra, *folder_args)

    summary = {"benchmark": "transfer_mnist", "init_from": str(init), "quick": args.quick,
               **_report(linear, finetune, folder_runs), "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
