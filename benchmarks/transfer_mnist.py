"""Transfer benchmark of a pretraining run on the bundled MNIST digits or Fashion-MNIST.

    python benchmarks/transfer_mnist.py runs/demo [--out=/tmp/transfer_bench] [--quick]
        [--parts=linear,finetune,folder] [--devices=1]
    # semi-supervised fine-tuning on Fashion-MNIST, three label subsets:
    python benchmarks/transfer_mnist.py runs/dp_fmnist --dataset=fashion_mnist \
        --parts=finetune --fractions=0.01,0.1 --seeds=0,1,2
    # the same with SimCLR's Nesterov SGD (Appendix B.5) instead of AdamW:
    ... -- --config.optimizer.name=sgd --config.optimizer.base_lr=0.05 \
        --config.optimizer.lr_scaling=linear --config.optimizer.nesterov=True

Given the workdir of a pretraining run on that dataset (e.g. `python -m ssljax.pretrain
--config=configs/simclr_mnist.py`, or `...:fashion_mnist`), runs (each program in its own
subprocess, as a user would):

1. linear evaluation, both protocols (`configs/linear_eval_mnist.py`, cached and paper);
2. fine-tuning with 1%, 10% and 100% of the labels (`configs/finetune_mnist.py`, its
   `fashion_mnist` variant on Fashion-MNIST; `--fractions`), from the SSL encoder and from
   a random initialisation of the same network, once per label-subset seed (`--seeds`:
   the mean is reported, with the range); overrides after `--` go to every fine-tuning.
   The SSL runs fine-tune the encoder with its projector's first layer
   (`--projector_layers=1`, SimCLR v2's semi-supervised protocol; the default, as it
   measured best here, see the README) while the scratch runs train the plain encoder;
   `--projector_layers=0` fine-tunes the encoder alone (for a checkpoint whose method has
   no MLP projector, e.g. DINO);
3. on an image-folder dataset it writes first ("threes vs eights": MNIST 3s and 8s drawn
   in a random bright colour on a random dark background, RGB PNGs in train/<class>/ and
   test/<class>/ folders, 50 training images per class, 100 test images per class):
   feature extraction (frozen encoder, standardised features), fine-tuning, and
   fine-tuning from scratch. The grayscale encoder sees the luma of these colour images.

Prints a table and, last, one line of JSON with every number and the checks: on the
digits linear top-1 >= 0.97, the two linear protocols within 1 point, SSL beats scratch by
>= 2 points with 10% labels; on Fashion-MNIST SSL beats scratch by >= 5 points with 1% and
by >= 2 points with 10% of the labels. The image-folder part runs on the digits only.
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
# dataset -> (config variant suffix, {label fraction: minimum SSL gain over scratch})
DATASETS = {"mnist": ("", {0.1: 0.02}),
            "fashion_mnist": (":fashion_mnist", {0.01: 0.05, 0.1: 0.02})}


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


def _mean_range(values: list[float]) -> str:
    """`0.9123` for one value, `0.9123 (0.9001-0.9200)` for several."""
    m = float(np.mean(values))
    return f"{m:.4f}" if len(values) == 1 else f"{m:.4f} ({min(values):.4f}-{max(values):.4f})"


def _report(linear: dict, finetune: dict, folder: dict, dataset: str) -> dict:
    """Prints the tables; returns the numbers and checks for the JSON line.

    `finetune` maps (fraction, "ssl" | "scratch") to the list of results, one per seed.
    """
    out: dict = {}
    checks: dict = {}
    if linear:
        print(f"\nlinear evaluation ({dataset} held-out split)")
        print(f"  {'protocol':<10} {'top1':>7} {'top5':>7} {'seconds':>8}")
        for p, r in linear.items():
            print(f"  {p:<10} {r['top1']:>7.4f} {r['top5']:>7.4f} {r['seconds']:>8.0f}")
        out["linear"] = {p: {"top1": r["top1"], "top5": r["top5"], "seconds": r["seconds"]}
                         for p, r in linear.items()}
        if dataset == "mnist":
            checks["linear_top1_ge_0.97"] = linear["cached"]["top1"] >= 0.97
            gap = abs(linear["cached"]["top1"] - linear["paper"]["top1"])
            checks["linear_protocols_within_1pt"] = gap <= 0.01
    if finetune:
        fracs = sorted({f for f, _ in finetune})
        print("\nfine-tuning, top-1 (SSL init vs random init; mean (range) over label subsets)")
        print(f"  {'labels':<14} {'ssl':>24} {'scratch':>24} {'gain':>7}")
        out["finetune"] = {}
        for frac in fracs:
            s, z = finetune[(frac, "ssl")], finetune[(frac, "scratch")]
            st, zt = [r["top1"] for r in s], [r["top1"] for r in z]
            gain = float(np.mean(st) - np.mean(zt))
            label = f"{frac:.0%} ({s[0]['num_labels']})"
            print(f"  {label:<14} {_mean_range(st):>24} {_mean_range(zt):>24} "
                  f"{100 * gain:>+6.1f}p")
            out["finetune"][f"{frac:g}"] = {"ssl": st, "scratch": zt, "gain": round(gain, 4),
                                           "num_labels": s[0]["num_labels"]}
            need = DATASETS[dataset][1].get(frac)
            if need is not None:
                checks[f"ssl_gain_{frac:.0%}_ge_{100 * need:g}pts"] = gain >= need
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
    parser.add_argument("pretrain_workdir", help="workdir of a finished pretraining run")
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS))
    parser.add_argument("--out", default="", help="where the runs go (default: a temp dir)")
    parser.add_argument("--devices", type=int, default=1, help="fake CPU devices per run")
    parser.add_argument("--parts", default="linear,finetune,folder",
                        help="comma-separated subset of linear,finetune,folder")
    parser.add_argument("--fractions", default=",".join(f"{f:g}" for f in FRACTIONS),
                        help="label fractions of the fine-tuning part")
    parser.add_argument("--seeds", default="0", help="label-subset seeds of the fine-tuning")
    parser.add_argument("--projector_layers", type=int, default=1,
                        help="SSL fine-tuning from the first N pretrained projector layers "
                             "(SimCLR v2); the scratch runs keep the plain encoder")
    parser.add_argument("--quick", action="store_true", help="few steps (smoke test only)")
    args, rest = parser.parse_known_args()
    # After `--`: --config.key=value flags for every fine-tuning run (parse_known_args, as
    # argparse hands a `nargs="*"` positional its share before the options that follow).
    args.overrides = [a for a in rest if a != "--"]
    bad = [a for a in args.overrides if not a.startswith("--config.")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}; fine-tuning overrides are "
                     "--config.key=value")
    t0 = time.time()
    parts = set(args.parts.split(","))
    unknown = parts - {"linear", "finetune", "folder"}
    if unknown:
        parser.error(f"--parts: unknown {sorted(unknown)}; use linear, finetune, folder")
    if "folder" in parts and args.dataset != "mnist":
        parser.error("--parts=folder runs on the digits only; drop it for --dataset="
                     f"{args.dataset}")
    fracs = [float(f) for f in args.fractions.split(",")]
    if not all(0 < f <= 1 for f in fracs):
        parser.error(f"--fractions={args.fractions}: each must be in (0, 1]")
    seeds = [int(x) for x in args.seeds.split(",")]
    init = Path(args.pretrain_workdir).absolute()
    if not (init / "encoder").is_dir() and not init.name == "encoder":
        parser.error(f"{init} holds no exported encoder/; pass the workdir of a finished "
                     "`python -m ssljax.pretrain` run")
    out = Path(args.out or tempfile.mkdtemp(prefix="ssljax_transfer_")).absolute()
    out.mkdir(parents=True, exist_ok=True)
    quick = ("--config.max_steps=20",) if args.quick else ()
    variant = DATASETS[args.dataset][0]
    le_cfg, ft_cfg = "configs/linear_eval_mnist.py", f"configs/finetune_mnist.py{variant}"
    le_data = () if args.dataset == "mnist" else (f"--config.dataset.name={args.dataset}",)
    run = lambda *a, **k: run_program(*a, devices=args.devices, **k)  # noqa: E731

    print(f"transfer benchmark of {init} on {args.dataset} -> {out}", flush=True)
    linear, finetune, folder_runs = {}, {}, {}
    if "linear" in parts:
        for p in ("cached", "paper"):
            linear[p] = run("ssljax.linear_eval", le_cfg, out / f"linear_{p}",
                            f"--config.init_from={init}", f"--config.protocol={p}",
                            *le_data, *quick)
    if "finetune" in parts:
        ssl_extra = ((f"--config.projector_layers={args.projector_layers}",)
                     if args.projector_layers else ())
        ssl_extra += ("--config.encoder.name=",)  # the checkpoint's encoder (any network)
        for frac in fracs:
            # The scratch baseline is the checkpoint's own network, freshly initialised.
            scratch = ("--config.random_init=True", "--config.encoder.name=")
            for name, src, extra in (("ssl", init, ssl_extra), ("scratch", init, scratch)):
                finetune[(frac, name)] = [run(
                    "ssljax.finetune", ft_cfg, out / f"finetune_{name}_{frac:g}_seed{seed}",
                    f"--config.init_from={src}", f"--config.label_fraction={frac}",
                    f"--config.seed={seed}", *extra, *quick, *args.overrides)
                    for seed in seeds]
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

    summary = {"benchmark": "transfer_mnist", "dataset": args.dataset, "init_from": str(init),
               "seeds": seeds, "overrides": args.overrides,
               "projector_layers": args.projector_layers, "quick": args.quick,
               **_report(linear, finetune, folder_runs, args.dataset),
               "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
