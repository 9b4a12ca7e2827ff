"""Every method on a small real dataset, with the baselines every SSL table is read against.

    python benchmarks/methods_table.py                                # the bundled digits
    python benchmarks/methods_table.py --dataset=fashion_mnist        # Fashion-MNIST
    python benchmarks/methods_table.py --methods=byol,dino --seeds=0,1,2 --out=runs/table
    python benchmarks/methods_table.py --dataset=fashion_mnist --methods= --baselines=all

Each method runs `python -m ssljax.pretrain --config=configs/<method>_mnist.py` (the
digits) or `--config=configs/<method>_mnist.py:fashion_mnist` (its Fashion-MNIST variant,
with its own budget) in its own subprocess, exactly as a user would, one after another so
that each has the machine to itself; the wall time covers start-up, compilation, training
and the final kNN and linear probe on the held-out split (1,000 digits, or the 10,000
Fashion-MNIST test images). With several `--seeds` every method runs once per seed and the
table gives the mean with the range.

Baselines, measured in the same run (`--baselines=logreg,knn,supervised,random`, or `all`):
  - `logreg`: L2-regularised logistic regression on the raw pixels (scikit-learn, C
    chosen from {0.01, 0.1, 1} on a held-out 10% of the training split);
  - `knn`: the same weighted kNN as the SSL rows (k=200, T=0.07, cosine) on raw pixels,
    and plain 1-NN (Euclidean);
  - `supervised`: the same encoder (SmallCNN) trained from scratch with every label, for
    the same wall-clock budget as a method (`--budget_s`, default 600 s on the digits and
    900 s on Fashion-MNIST): `ssljax.finetune` with `init_from=""`, its step count
    calibrated by a short run;
  - `random`: for every method run, the same network freshly initialised (nothing
    restored) under `ssljax.linear_eval`'s cached probe (`--config.random_init=True`,
    the run's own feature read-out): what the pretraining added over a random network,
    a column of its own.

Prints a Markdown table (the README's tables are pasted from it) and, last, ONE line of
JSON with every run, the baselines and the per-method summary.

Targets: digits linear top-1 >= 0.96 within 10 minutes; Fashion-MNIST >= 0.88 for every
joint-embedding method (and masked methods, when added) and >= 0.90 for the best, within
15 minutes on a 2-core CPU.
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ssljax.methods import METHODS as _REGISTRY  # noqa: E402

# Every registered method with a digits config (configs/<name>_mnist.py), in the
# registry's order: all but colorization, which needs colour images.
METHODS = tuple(m for m in _REGISTRY if (REPO / "configs" / f"{m}_mnist.py").exists())
# The methods of the default run (`--methods` not given): those that do not use labels.
DEFAULT = tuple(m for m in METHODS if not _REGISTRY[m].uses_labels)
DATASETS = {"mnist": {"variant": "", "budget_s": 600.0},
            "fashion_mnist": {"variant": ":fashion_mnist", "budget_s": 900.0}}
BASELINES = ("logreg", "knn", "supervised", "random")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def _program(module: str, args: list[str]) -> tuple[dict | None, str, float]:
    """Runs `python -m module args`; (last-line JSON or None, last stderr line, wall s)."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=_env(),
                          capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines()[-1:] or ["(no stderr)"])[0], wall
    return json.loads(proc.stdout.strip().splitlines()[-1]), "", wall


def run_method(method: str, dataset: str, workdir: Path, overrides: list[str],
               seed: int = 0) -> dict:
    """One pretraining run of the method's config for `dataset`; its row of the table."""
    config = f"configs/{method}_mnist.py{DATASETS[dataset]['variant']}"
    res, err, wall = _program("ssljax.pretrain", [
        f"--config={config}", f"--workdir={workdir}", "--config.plots=False",
        f"--config.seed={seed}", *overrides])
    if res is None:
        return {"method": method, "seed": seed, "error": err, "wall_s": round(wall, 1)}
    return {
        "method": method, "seed": seed,
        "linear_top1": round(res["linear_top1"], 4), "knn_top1": round(res["knn_top1"], 4),
        "steps": res["steps"], "final_loss": round(res["final_loss"], 4),
        "encoder_effective_rank": round(res.get("encoder_effective_rank", float("nan")), 1),
        "program_s": res["seconds"], "wall_s": round(wall, 1),
    }


# ------------------------------------------------------------------------- baselines


def random_network(workdir: Path, seed: int = 0) -> dict:
    """The linear probe of `workdir`'s network freshly initialised (nothing restored).

    Reads the features the run's own evaluation read (`encoder.features` or
    `eval.vit_features` of a ViT, `eval.feature_layer`; CPC's patch grid is the
    checkpoint's), with `ssljax.linear_eval`'s cached probe on the run's dataset.
    """
    config = json.loads((workdir / "config.json").read_text())
    extra = []
    features = config.get("eval", {}).get("vit_features") or config["encoder"].get("features")
    if features:
        extra.append(f"--config.encoder.features={features}")
    if config.get("eval", {}).get("feature_layer"):
        extra.append(f"--config.encoder.feature_layer={config['eval']['feature_layer']}")
    res, err, wall = _program("ssljax.linear_eval", [
        "--config=configs/linear_eval_mnist.py", f"--config.init_from={workdir}",
        "--config.random_init=True", f"--config.seed={seed}", "--config.plots=False",
        "--config.tensorboard=False", f"--workdir={workdir.parent / (workdir.name + '_random')}",
        *extra])
    if res is None:
        return {"random_error": err}
    return {"random_linear_top1": round(res["top1"], 4), "random_wall_s": round(wall, 1)}


def pixel_baselines(dataset: str, which: set[str]) -> list[dict]:
    """Raw-pixel logistic regression and kNN on the dataset's train/test splits."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.neighbors import KNeighborsClassifier  # noqa: PLC0415

    from ssljax import data  # noqa: PLC0415
    from ssljax.evaluate import knn  # noqa: PLC0415

    cfg = {"name": dataset}
    tr_x, tr_y = data.load_split(cfg, "train")
    te_x, te_y = data.load_split(cfg, "test")
    tr = tr_x.reshape(len(tr_x), -1).astype(np.float32) / 255.0
    te = te_x.reshape(len(te_x), -1).astype(np.float32) / 255.0
    rows = []
    if "logreg" in which:
        t0 = time.time()
        rng = np.random.default_rng(0)
        hold = rng.permutation(len(tr))[: len(tr) // 10]
        fit = np.setdiff1d(np.arange(len(tr)), hold)
        scores = {}
        for c in (0.01, 0.1, 1.0):
            clf = LogisticRegression(C=c, max_iter=300).fit(tr[fit], tr_y[fit])
            scores[c] = clf.score(tr[hold], tr_y[hold])
        best = max(scores, key=scores.get)
        clf = LogisticRegression(C=best, max_iter=300).fit(tr, tr_y)
        rows.append({"method": "raw pixels: logistic regression", "linear_top1":
                     round(float(clf.score(te, te_y)), 4), "C": best,
                     "wall_s": round(time.time() - t0, 1)})
    if "knn" in which:
        t0 = time.time()
        weighted = knn.knn_accuracy(tr, tr_y, te, te_y, num_classes=10, k=200,
                                    temperature=0.07)["top1"]
        one_nn = KNeighborsClassifier(n_neighbors=1).fit(tr, tr_y).score(te, te_y)
        rows.append({"method": "raw pixels: kNN", "knn_top1": round(float(weighted), 4),
                     "one_nn_top1": round(float(one_nn), 4),
                     "wall_s": round(time.time() - t0, 1)})
    return rows


def supervised_baseline(dataset: str, root: Path, budget_s: float,
                        calibration_steps: int = 200) -> dict:
    """SmallCNN trained from scratch on every label for about `budget_s` seconds.

    A first run of `calibration_steps` steps measures the step time and the program's
    fixed cost; the timed run gets as many steps as the budget leaves (none when that is
    no more than `calibration_steps`: the calibration run is then the result)."""
    base = [f"--config=configs/finetune_mnist.py{DATASETS[dataset]['variant']}",
            "--config.init_from=", "--config.label_fraction=1.0", "--config.plots=False",
            "--config.log_every_steps=50"]
    calib, err, wall = _program("ssljax.finetune", [
        *base, f"--workdir={root / 'calibrate'}", f"--config.num_steps={calibration_steps}"])
    if calib is None:
        return {"method": "supervised (same encoder)", "error": err}
    rows = [json.loads(line) for line in (root / "calibrate" / "metrics.jsonl").read_text()
            .splitlines()]
    per_step = 1.0 / rows[-2]["steps_per_s"] if len(rows) > 2 else wall / calibration_steps
    overhead = wall - calibration_steps * per_step
    steps = max(calibration_steps, int((budget_s - overhead) / per_step))
    res = calib  # a budget that leaves no more steps: the calibration run is the result
    if steps > calibration_steps:
        res, err, wall = _program("ssljax.finetune", [
            *base, f"--workdir={root / 'supervised'}", f"--config.num_steps={steps}"])
    if res is None:
        return {"method": "supervised (same encoder)", "error": err}
    return {"method": "supervised (same encoder)", "linear_top1": round(res["top1"], 4),
            "steps": res["steps"], "wall_s": round(wall, 1), "budget_s": budget_s}


# ------------------------------------------------------------------------- tables


def summarize(rows: list[dict]) -> list[dict]:
    """Per method: mean, min and max of linear/kNN top-1 and wall time over its seeds."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        runs = [r for r in rows if r["method"] == method]
        ok = [r for r in runs if "error" not in r]
        row = {"method": method, "seeds": [r["seed"] for r in runs], "failed": len(runs) - len(ok)}
        for key in ("linear_top1", "knn_top1", "wall_s", "random_linear_top1"):
            vals = [r[key] for r in ok if key in r]
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


def _minutes(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


def markdown(summary: list[dict], baselines: list[dict] = ()) -> str:
    """The table: one line per method (mean and range over seeds), then the baselines.

    With the `random` baseline, a last column gives each method's random network.
    """
    rand = any("random_linear_top1" in r for r in summary)
    lines = [
        "| method | linear top-1 | kNN top-1 | seeds | steps | wall time |"
        + (" random network, linear |" if rand else ""),
        "|---|---|---|---|---|---|" + ("---|" if rand else ""),
    ]
    for r in summary:
        seeds = ",".join(str(s) for s in r["seeds"])
        if "error" in r:
            lines.append(f"| {r['method']} | failed: {r['error']} | | {seeds} | | |"
                         + (" |" if rand else ""))
            continue
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        at_most = "≤ " if len(r["seeds"]) > 1 else ""  # the slowest of the seeds
        lines.append(
            f"| {r['method']} | {_span(r, 'linear_top1')} | {_span(r, 'knn_top1')} "
            f"| {seeds}{failed} | {r['steps']} | {at_most}{_minutes(r['wall_s_range'][1])} |"
            + ((f" {_span(r, 'random_linear_top1')} |" if "random_linear_top1" in r else " |")
               if rand else "")
        )
    for b in baselines:
        if "error" in b:
            lines.append(f"| {b['method']} | failed: {b['error']} | | | | |")
            continue
        lin = f"{b['linear_top1']:.3f}" if "linear_top1" in b else ""
        knn_cell = (f"{b['knn_top1']:.3f} (1-NN {b['one_nn_top1']:.3f})"
                    if "knn_top1" in b else "")
        lines.append(f"| {b['method']} | {lin} | {knn_cell} | | {b.get('steps', '')} "
                     f"| {_minutes(b['wall_s'])} |" + (" |" if rand else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS))
    parser.add_argument("--methods", default=",".join(DEFAULT),
                        help="comma-separated subset of " + ",".join(METHODS) + " (may be empty)")
    parser.add_argument("--seeds", default="0",
                        help="comma-separated seeds; each method runs once per seed")
    parser.add_argument("--baselines", default="",
                        help="comma-separated subset of " + ",".join(BASELINES) + ", or all")
    parser.add_argument("--budget_s", type=float, default=0.0,
                        help="wall-clock budget of the supervised baseline (0: the dataset's)")
    parser.add_argument("--calibration_steps", type=int, default=200,
                        help="steps of the supervised baseline's timing run (and its least "
                             "number of steps)")
    parser.add_argument("--out", default="", help="keep the workdirs here (default: temp dir)")
    parser.add_argument("overrides", nargs="*",
                        help="extra --config.key=value flags passed to every method's run")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    baselines = set(BASELINES) if args.baselines == "all" else {
        b.strip() for b in args.baselines.split(",") if b.strip()}
    if baselines - set(BASELINES):
        parser.error(f"unknown baseline(s) {sorted(baselines - set(BASELINES))}; choose from "
                     f"{', '.join(BASELINES)} or all")
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers; got {args.seeds!r}")
    if not seeds:
        parser.error("--seeds is empty; pass e.g. --seeds=0 or --seeds=0,1,2")
    if args.calibration_steps < 1:
        parser.error(f"--calibration_steps must be at least 1; got {args.calibration_steps}")
    budget = args.budget_s or DATASETS[args.dataset]["budget_s"]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        rows = []
        for method in methods:
            for seed in seeds:
                workdir = root / (method if seeds == [0] else f"{method}_seed{seed}")
                if workdir.exists() and any(workdir.iterdir()):
                    sys.exit(f"methods_table: error: {workdir} is not empty (it would resume); "
                             "pass a fresh --out")
                row = run_method(method, args.dataset, workdir, args.overrides, seed)
                if "random" in baselines and "error" not in row:
                    row.update(random_network(workdir, seed))
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
        base_rows = pixel_baselines(args.dataset, baselines)
        if "supervised" in baselines:
            base_rows.append(supervised_baseline(args.dataset, root, budget,
                                                  args.calibration_steps))
        for b in base_rows:
            print(json.dumps(b), file=sys.stderr, flush=True)
    summary = summarize(rows)
    print(markdown(summary, base_rows))
    print(json.dumps({
        "benchmark": "methods_table", "dataset": args.dataset, "cpus": os.cpu_count(),
        "python": platform.python_version(), "summary": summary, "rows": rows,
        "baselines": base_rows,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
