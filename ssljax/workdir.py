"""The workdir check every program runs before it writes anything.

`check(workdir, program=..., config=..., init_from=...)` refuses, with one line and before
any work starts:

- a workdir that is a file;
- for `linear_eval` / `finetune`: the pretraining workdir given as `init_from` (compared
  after resolving `..` and symlinks), or any other program's workdir;
- for `pretrain`: a workdir holding another run (a different method, encoder or dataset).

It returns True when the workdir holds an earlier run of the same program and config
(pretraining then resumes from its newest checkpoint).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ssljax.checkpoint import CONFIG_FILE
from ssljax.errors import CheckpointError

# Config keys that must match for a pretraining workdir to be resumed by a new command.
IDENTITY_KEYS = ("method", "encoder.name", "dataset.name")


def _get(d: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _saved_config(wd: Path) -> dict[str, Any] | None:
    path = wd / CONFIG_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is unreadable ({e}); use a fresh --workdir or restore that file") from None


def _program_of(saved: dict[str, Any]) -> str:
    """Which program wrote a saved config: a pretraining config has `method`."""
    return "pretrain" if "method" in saved else "an evaluation program"


def check(workdir: str | os.PathLike, *, program: str, config: dict[str, Any],
          init_from: str = "") -> bool:
    """Validates `workdir` for a run; True if it holds an earlier run of this pretraining.

    Args:
      workdir: the --workdir.
      program: "pretrain", "linear_eval" or "finetune".
      config: the run's config as a dict.
      init_from: the evaluation programs' `config.init_from`.

    Raises:
      CheckpointError: see the module docstring.
    """
    wd = Path(workdir)
    if wd.exists() and not wd.is_dir():
        raise CheckpointError(f"--workdir={wd} is a file, not a directory; pick another path")
    saved = _saved_config(wd)
    if program != "pretrain":
        if init_from:
            src = Path(init_from).resolve()
            src = src.parent if src.name == "encoder" else src
            if wd.resolve() == src:
                raise CheckpointError(
                    f"--workdir={wd} is the pretraining workdir given as init_from; pick a "
                    "separate --workdir for the evaluation results")
        if saved is not None and "method" in saved:
            raise CheckpointError(
                f"--workdir={wd} holds a pretraining run; pick a separate --workdir for the "
                f"{program} results (nothing was changed)")
        return False
    if saved is None:
        return False
    if "method" not in saved:
        raise CheckpointError(
            f"--workdir={wd} holds the results of {_program_of(saved)}, not a pretraining run; "
            "use a fresh --workdir (nothing in it was changed)")
    for key in IDENTITY_KEYS:
        old, new = _get(saved, key), _get(config, key)
        if old != new:
            raise CheckpointError(
                f"--workdir={wd} holds a run with {key}={old!r} but this config has {key}={new!r}; "
                "use a fresh --workdir (nothing in the old one was changed)")
    return True
