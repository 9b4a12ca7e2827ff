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
import time
from pathlib import Path
from typing import Any

import jax

_log = logging.getLogger(__name__)


class MetricWriter:
    """Writes scalar metrics as JSON lines and TensorBoard summaries.

    Args:
      workdir: run directory.
      tensorboard: also write TensorBoard event files (needs TensorFlow).
      resume_step: the step this run starts from (0 for a fresh start). Rows after it are
        dropped (those steps are trained again), and so are its `final_*` evaluation rows
        (the evaluation is run again), so `metrics.jsonl` has each step once after any
        number of resumes and reruns. None keeps every row.
    """

    def __init__(self, workdir: str | os.PathLike, *, tensorboard: bool = True,
                 resume_step: int | None = None):
        self.enabled = jax.process_index() == 0
        self.path = Path(workdir) / "metrics.jsonl"
        self._tb = None
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            keep = [r for r in read_metrics(workdir) if r.get("step", 0) < resume_step
                    or (r.get("step", 0) == resume_step
                        and not any(k.startswith("final_") for k in r))]
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
            os.replace(tmp, self.path)
        if tensorboard:
            try:
                import tensorboard  # noqa: F401, PLC0415 - tf.summary needs it

                from ssljax.data.tfds_source import quiet_tensorflow  # noqa: PLC0415

                quiet_tensorflow()
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
    for line in path.read_bytes().splitlines():
        try:
            rows.append(json.loads(line.decode("utf-8")))
        except ValueError:  # UnicodeDecodeError is a ValueError
            continue  # a line cut by a kill -9, or damaged bytes; the rest is intact
    return rows


class PlainProgress:
    """A progress report for logs: one plain line every `every` seconds (and at the end).

    What a terminal's tqdm bar shows — step, share, rate, time left, the latest metrics —
    without carriage returns, so a log file gets readable lines instead of one long one.
    """

    def __init__(self, total: int, initial: int, desc: str, every: float = 30.0,
                 stream: Any = None):
        self.total, self.n, self.desc, self.every = total, initial, desc, every
        self.stream = stream or sys.stderr
        self.start_n, self.t0 = initial, time.time()
        self.last = self.t0
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.time()
        if now - self.last >= self.every or self.n >= self.total:
            self.last = now
            self._line(now)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = " ".join(f"{k}={v}" for k, v in values.items())

    def _line(self, now: float) -> None:
        rate = (self.n - self.start_n) / max(now - self.t0, 1e-9)
        left = (self.total - self.n) / rate if rate > 0 else 0.0
        minutes, seconds = divmod(int(left), 60)
        share = 100 * self.n / max(self.total, 1)
        print(f"{self.desc}: step {self.n}/{self.total} ({share:.0f}%), {rate:.2f} steps/s, "
              f"{minutes} min {seconds:02d} s left {self.postfix}".rstrip(),
              file=self.stream, flush=True)

    def close(self) -> None:
        pass


def progress_bar(total: int, initial: int, desc: str) -> Any:
    """A tqdm bar in a terminal or notebook, plain periodic lines otherwise; None off process 0."""
    if jax.process_index() != 0:
        return None
    if not (sys.stderr.isatty() or "ipykernel" in sys.modules):
        return PlainProgress(total, initial, desc)
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True,
                mininterval=0.5, file=sys.stderr)
