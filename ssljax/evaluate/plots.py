"""PNG plots of training curves and 2-D embeddings (matplotlib, Agg, imported lazily).

The figures are drawn on a ``matplotlib.figure.Figure`` with an Agg canvas, never through
``pyplot``, so calling these functions changes no global matplotlib state (a notebook's
inline backend keeps working) and needs no display. Show a result in a notebook with
``IPython.display.Image(path)``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

# Panels of `plot_training_curves`: (title, predicate on the key's last "/" component).
_PANELS = (
    ("loss", lambda k: k == "loss" or k.endswith("_loss") or k.startswith("loss_")),
    ("learning rate", lambda k: k in ("lr", "learning_rate")),
    ("accuracy", lambda k: "top1" in k or "top5" in k or k.endswith("accuracy")
     or k.endswith("_acc")),
    ("std of L2-normalised\nprojector outputs", lambda k: k == "embedding_std"),
    ("encoder features:\nstd / effective rank",
     lambda k: k.startswith("encoder_") or k == "effective_rank"),
)
# What the logged keys mean, for the legends.
_LABELS = {
    "loss": "training loss", "probe_loss": "online probe loss (linear layer on detached features)",
    "probe_top1": "online probe, training batch (linear layer on detached features)",
    "knn_top1": "kNN on held-out split", "linear_top1": "linear probe on held-out split",
    "test_top1": "held-out split", "train_top1": "training batch",
    "embedding_std": "in-step, first view (0 = collapse, ~1/sqrt(d) spread)",
}


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out_png: str | os.PathLike) -> str:
    out_png = os.fspath(out_png)
    parent = os.path.dirname(out_png)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig.savefig(out_png, format="png")
    return out_png


def _read_rows(metrics: str | os.PathLike | Iterable[Mapping[str, Any]]) -> list[Mapping]:
    if isinstance(metrics, (str, os.PathLike)):
        rows = []
        with open(metrics) as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
        return rows
    return list(metrics)


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    try:
        return math.isfinite(float(v)) and np.ndim(v) == 0
    except (TypeError, ValueError):
        return False


def plot_training_curves(
    metrics: str | os.PathLike | Iterable[Mapping[str, Any]],
    out_png: str | os.PathLike,
    title: str | None = None,
) -> str:
    """Plots loss, learning rate, accuracies and embedding health against the step.

    One subplot per group that has data: "loss" (``loss``, ``*_loss``), "learning rate"
    (``lr``, ``learning_rate``), "accuracy" (keys containing ``top1``/``top5`` or ending in
    ``accuracy``/``_acc``, e.g. ``knn_top1``, ``probe_top1``) and "embedding health"
    (``embedding_std*``, ``effective_rank``). Keys may carry a prefix such as ``train/``.
    Rows may hold different keys (train and eval rows); the x axis is each row's ``step``
    (the row's position when it has none). Non-numeric and non-finite values are skipped.

    Args:
        metrics: a JSON-lines file (one dict per line) or a sequence of dicts.
        out_png: where to write the PNG (parent folders are created).

    Returns:
        ``out_png`` as a string.

    Raises:
        ValueError: when no key has at least two points to draw a curve of.
    """
    rows = _read_rows(metrics)
    series: dict[str, tuple[list[float], list[float]]] = {}
    for i, row in enumerate(rows):
        step = row.get("step", i)
        step = float(step) if _is_number(step) else float(i)
        for key, value in row.items():
            if key == "step" or not _is_number(value):
                continue
            xs, ys = series.setdefault(key, ([], []))
            xs.append(step)
            ys.append(float(value))

    curves = {k: v for k, v in series.items() if len(v[0]) >= 2}  # no one-point "curves"
    panels = []
    for name, match in _PANELS:
        keys = sorted(k for k in curves if match(k.rsplit("/", 1)[-1]))
        if keys:
            panels.append((name, keys))
    if not panels:
        raise ValueError(f"plot_training_curves: no loss/lr/accuracy/health key with two or "
                         f"more points among {sorted(series)}")

    fig = _new_figure(7.0, 2.4 * len(panels) + 0.5)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, keys) in zip(axes, panels, strict=True):
        for key in keys:
            xs, ys = curves[key]
            label = _LABELS.get(key.rsplit("/", 1)[-1], key)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=label)
        ax.set_ylabel(name)
        if name == "loss" and all(min(curves[k][1]) > 0 for k in keys):
            ys = np.concatenate([curves[k][1] for k in keys])
            if ys.max() / ys.min() > 30:
                ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    axes[-1].set_xlabel("optimizer step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_embedding_2d(
    features,
    labels: Sequence[int] | np.ndarray | None,
    out_png: str | os.PathLike,
    method: str = "pca",
    max_points: int = 2000,
    seed: int = 0,
    title: str | None = None,
) -> str:
    """Scatter plot of features projected to 2-D by PCA or t-SNE, coloured by label.

    Args:
        features: ``[N, D]`` array (NumPy or jax).
        labels: integer ``[N]`` class labels, or ``None`` for a single colour.
        out_png: where to write the PNG (parent folders are created).
        method: ``"pca"`` (``sklearn.decomposition.PCA``) or ``"tsne"``
            (``sklearn.manifold.TSNE``, PCA init, perplexity ``min(30, (n - 1) / 3)``).
        max_points: a seeded random subset of this many points is drawn when ``N`` is
            larger (t-SNE is quadratic-ish in ``N``).
        seed: seeds the subset and t-SNE.
        title: figure title (default: the method and point count).

    Returns:
        ``out_png`` as a string.

    Raises:
        ValueError: on bad shapes, fewer than 3 points, or an unknown method.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"plot_embedding_2d: features must be [N, D]; got {x.shape}")
    y = None if labels is None else np.asarray(labels).reshape(-1)
    if y is not None and y.shape[0] != x.shape[0]:
        raise ValueError(
            f"plot_embedding_2d: {x.shape[0]} features but {y.shape[0]} labels")
    if method not in ("pca", "tsne"):
        raise ValueError(f"plot_embedding_2d: method must be 'pca' or 'tsne'; got {method!r}")
    if x.shape[0] < 3:
        raise ValueError(f"plot_embedding_2d: need at least 3 points; got {x.shape[0]}")
    if x.shape[0] > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(x.shape[0], max_points,
                                                           replace=False))
        x = x[keep]
        y = None if y is None else y[keep]
    n = x.shape[0]

    axis_names = ("t-SNE 1", "t-SNE 2")
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=min(2, x.shape[1]), random_state=seed)
        xy = pca.fit_transform(x)
        ratios = list(pca.explained_variance_ratio_) + [0.0]
        axis_names = tuple(f"PC{i + 1} ({100 * ratios[i]:.1f}% of the variance)"
                           for i in range(2))
    else:
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3.0), init="pca",
                  random_state=seed).fit_transform(x)
    if xy.shape[1] < 2:  # D == 1
        xy = np.concatenate([xy, np.zeros((n, 1))], axis=1)

    fig = _new_figure(6.0, 5.5)
    ax = fig.add_subplot(1, 1, 1)
    if y is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.7)
    else:
        classes = np.unique(y)
        if len(classes) <= 20:
            import matplotlib

            cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
            for i, c in enumerate(classes):
                sel = y == c
                ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.7, color=cmap(i), label=str(c))
            ax.legend(title="class", fontsize="small", markerscale=2, loc="best")
        else:
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=y, s=6, alpha=0.7, cmap="viridis")
            fig.colorbar(sc, ax=ax, label="label")
    ax.set_title(title or f"{method.upper()} of {n} embeddings", fontsize="medium")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.grid(alpha=0.2)
    fig.tight_layout()
    return _save(fig, out_png)


def save_run_plots(workdir: str | os.PathLike, rows: Sequence[Mapping[str, Any]],
                   features: Any = None, labels: Any = None,
                   methods: Sequence[str] = ("pca", "tsne"), what: str = "",
                   max_tsne_points: int = 2000) -> list[str]:
    """`training_curves.png` and `embedding_<method>.png` (PCA and t-SNE) of a run.

    What every program writes at its end; a plot that fails is logged, never raised (a
    finished run must not fail on a picture). Curves need at least two points; t-SNE runs
    on at most `max_tsne_points` held-out points, so its cost does not grow with the data.

    Args:
        workdir: the run's directory.
        rows: its metric rows (`metrics.jsonl`).
        features: held-out features `[N, D]`, or None for no embedding plot.
        labels: their labels `[N]`.
        methods: the 2-D projections to draw ("pca", "tsne").
        what: the titles' description of the run, e.g. "simclr on mnist, step 900,
            encoder features of the test split".

    Returns:
        The paths written.
    """
    import logging  # noqa: PLC0415

    written = []
    for name, draw in [("training_curves.png", lambda path: plot_training_curves(
            rows, path, title=what.split(",")[0] if what else None))] + [
            (f"embedding_{m}.png", lambda path, m=m: plot_embedding_2d(
                features, labels, path, method=m,
                max_points=max_tsne_points if m == "tsne" else 10_000,
                title=f"{m.upper()}: {what}" if what else None)) for m in methods
            if features is not None]:
        try:
            written.append(draw(os.path.join(workdir, name)))
        except ValueError as e:  # e.g. no curve with two points: nothing worth drawing
            logging.getLogger("ssljax").info("no %s: %s", name, e)
        except Exception as e:  # noqa: BLE001 - a plot must never fail a finished run
            logging.getLogger("ssljax").warning("could not write %s: %s", name, e)
    return written
