"""Metrics to disk and screen: JSONL always, TensorBoard when available, a progress bar.

`metrics.jsonl` in the workdir gets one JSON object per logged step (the plots
read it). TensorBoard event files go to `workdir/tensorboard` through
`tf.summary` when TensorFlow can be imported; on an accelerator box without
TensorFlow the JSONL log is all there is, with one warning. Only process 0 writes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import jax

_log = logging.getLogger(__name__)


class MetricWriter:
    """Writes scalar metrics as JSON lines and TensorBoard summaries.

    Args:
      workdir: run directory.
      tensorboard: also write TensorBoard event files (needs TensorFlow).
    """

    def __init__(self, workdir: str | os.PathLike, *, tensorboard: bool = True):
        self.enabled = jax.process_index() == 0
        self.path = Path(workdir) / "metrics.jsonl"
        self._tb = None
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                import tensorboard  # noqa: F401, PLC0415 - tf.summary needs it
                import tensorflow as tf  # noqa: PLC0415 - optional, heavy

                tf.config.set_visible_devices([], "GPU")
                self._tb = tf.summary.create_file_writer(str(Path(workdir) / "tensorboard"))
                self._tf = tf
            except ImportError:
                _log.warning(
                    "TensorFlow/TensorBoard is not installed: TensorBoard summaries "
                    "are off (metrics.jsonl is still written)"
                )

    def write(self, step: int, metrics: dict[str, Any]) -> None:
        """Appends `metrics` (python scalars) for `step`."""
        if not self.enabled:
            return
        row = {"step": int(step), **{k: _scalar(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            with self._tb.as_default(step=int(step)):
                for k, v in row.items():
                    if k != "step" and isinstance(v, float):
                        self._tf.summary.scalar(k, v)

    def close(self) -> None:
        """Flushes TensorBoard."""
        if self._tb is not None:
            self._tb.flush()


def _scalar(v: Any) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """All rows of `workdir/metrics.jsonl` (empty list if none)."""
    path = Path(workdir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a kill -9; the rest is intact
    return rows


def progress_bar(total: int, initial: int, desc: str) -> Any:
    """A tqdm bar (notebook-aware) with steps/s and ETA; None off process 0."""
    if jax.process_index() != 0:
        return None
    from tqdm.auto import tqdm  # noqa: PLC0415

    interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="step",
        dynamic_ncols=True,
        mininterval=0.5 if interactive else 10.0,
        file=sys.stderr,
    )
