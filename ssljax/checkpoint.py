"""Orbax checkpoints: keep-N async saves, safe resume, atomic files.

Layout of a pretraining workdir::

    config.json          the run's full config (written once; guards against mixing runs)
    checkpoints/<step>/  Orbax CheckpointManager steps: `state` (TrainState) + `meta` (JSON)
    encoder/             the encoder only (`ssljax.encoder_io`), for linear_eval / finetune
    encoder_spec.json    how to rebuild that encoder and preprocess its inputs
    corrupt_checkpoints/ checkpoints that could not be restored, moved aside (never deleted)

Restoring walks from the newest step backwards: a step that fails to restore is
moved to `corrupt_checkpoints/` with a warning and the previous one is tried.
Orbax writes each step to a temporary directory and renames it when complete,
so a process killed mid-save leaves no half-written step behind.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from ssljax.errors import CheckpointError, as_os_error, os_error_message

# errnos of a restore that says nothing about the checkpoint itself (it is not quarantined)
NOT_DAMAGE = frozenset({errno.EACCES, errno.EPERM, errno.EIO, errno.ENOMEM, errno.EMFILE,
                        errno.ENFILE, errno.EAGAIN, errno.EINTR, errno.ENOSPC})

_log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Writes JSON via a temporary file + rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)


class Checkpointer:
    """Keep-N, asynchronous Orbax checkpoints of the train state under `workdir/checkpoints`.

    Args:
      workdir: the run's directory.
      max_to_keep: how many recent steps to keep.
      async_save: save in a background thread (the train loop keeps going).
    """

    def __init__(
        self, workdir: str | os.PathLike, *, max_to_keep: int = 3, async_save: bool = True
    ):
        self.workdir = Path(workdir).absolute()
        self.directory = self.workdir / "checkpoints"
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            create=True,
            enable_async_checkpointing=async_save,
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "meta")
        )

    def save(self, step: int, state: Any, meta: dict[str, Any], *, force: bool = False) -> bool:
        """Starts saving `state` at `step` (returns at once when async)."""
        if step in self.manager.all_steps():
            return False
        return self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
            force=force,
        )

    def wait(self) -> None:
        """Blocks until pending saves are on disk."""
        self.manager.wait_until_finished()

    def steps(self) -> list[int]:
        """Completed checkpoint steps, oldest first."""
        return sorted(self.manager.all_steps())

    def last_good(self) -> str:
        """"step N in DIR" for the newest completed checkpoint, or "none yet"."""
        try:
            steps = sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())
        except OSError:
            steps = []
        return f"step {steps[-1]} in {self.directory}" if steps else "none yet"

    def restore_latest(self, abstract_state: Any) -> tuple[Any, dict[str, Any], int] | None:
        """Restores the newest usable step: (state, meta, step), or None if there is none.

        A step that cannot be read, or whose arrays hold NaN/Inf (training never saves a
        non-finite state, so such values are damage), is moved to `corrupt_checkpoints/`
        (on process 0) and the previous step is tried; nothing is deleted. A step that
        fails because it holds a state of ANOTHER structure (a changed config) is not
        damage: it is left alone and a one-line `CheckpointError` says so; so is one that
        fails for a reason of the machine (permissions, I/O, memory: `NOT_DAMAGE`).
        """
        for step in reversed(self.steps()):
            try:
                restored = self.manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
                    ),
                )
            except Exception as e:  # noqa: BLE001 - any failure: a changed config, or damage
                mismatch = structure_mismatch(self.directory / str(step) / "state", abstract_state)
                if mismatch:
                    raise CheckpointError(
                        f"checkpoint step {step} in {self.directory} holds a state of another "
                        f"structure than this config's ({mismatch}); it was left unchanged: "
                        "resume with the config that wrote it, or use a fresh --workdir"
                    ) from None
                os_error = as_os_error(e)
                if isinstance(e, MemoryError) or (
                        os_error is not None and os_error.errno in NOT_DAMAGE):
                    # The machine, not the checkpoint: leave it, say so.
                    why = (os_error_message(os_error, f"checkpoint step {step} in "
                                            f"{self.directory} could not be read")
                           if os_error is not None else f"out of memory restoring checkpoint "
                           f"step {step} in {self.directory}; free memory and rerun")
                    raise CheckpointError(f"{why} (the checkpoint was left unchanged)") from None
                self._damaged(step, error_summary(e))
                continue
            if not _all_finite(restored["state"]):
                self._damaged(step, "it holds NaN/Inf values, which training never saves")
                continue
            return restored["state"], dict(restored["meta"] or {}), step
        return None

    def _damaged(self, step: int, why: str) -> None:
        _log.warning("checkpoint step %d in %s is damaged (%s); moving it to "
                     "corrupt_checkpoints/ and trying the previous one", step, self.directory, why)
        self._quarantine(step)

    def _quarantine(self, step: int) -> None:
        if jax.process_index() == 0:
            src = self.directory / str(step)
            dst_root = self.workdir / "corrupt_checkpoints"
            dst_root.mkdir(exist_ok=True)
            dst = dst_root / str(step)
            k = 1
            while dst.exists():
                dst = dst_root / f"{step}.{k}"
                k += 1
            if src.exists():
                shutil.move(str(src), str(dst))
        self.manager.reload()

    def close(self) -> None:
        """Waits for pending saves and releases the manager."""
        self.manager.wait_until_finished()
        self.manager.close()


def error_summary(e: BaseException) -> str:
    """The first line of an (Orbax / TensorStore) error, without its pybind11 details."""
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    line = re.split(r"\s*(See full TensorStore details|<bound method)", line)[0]
    return line.rstrip(" .:")[:200] or type(e).__name__


def structure_mismatch(path: str | Path, abstract: Any) -> str:
    """How the tree saved at `path` (an Orbax item) differs from `abstract`'s, in words;
    "" if it does not, or if the saved metadata cannot be read (then it is damage)."""
    try:
        saved = _shapes(ocp.StandardCheckpointer().metadata(Path(path).absolute()).item_metadata)
    except Exception:  # noqa: BLE001 - unreadable metadata: damage, not a structure change
        return ""
    want = _shapes(abstract)
    if not saved:
        return ""
    only_saved = sorted(saved.keys() - want.keys())
    only_here = sorted(want.keys() - saved.keys())
    if only_saved or only_here:
        first = only_here[:1] or only_saved[:1]
        side = "missing there" if only_here else "not in this config's state"
        return f"{len(only_saved) + len(only_here)} arrays differ, e.g. {first[0]} is {side}"
    for key in sorted(want):
        if tuple(saved[key]) != tuple(want[key]):
            return f"{key} is {list(saved[key])} there and {list(want[key])} here"
    return ""


def _key_name(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    """{"a/b/c": shape} of every array-like leaf of a state or its Orbax metadata."""
    return {"/".join(_key_name(k) for k in path): tuple(getattr(leaf, "shape", ()))
            for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
            if hasattr(leaf, "shape")}


def _all_finite(tree: Any) -> bool:
    """Whether every floating-point leaf is finite."""
    import numpy as np  # noqa: PLC0415

    for leaf in jax.tree.leaves(tree):
        a = np.asarray(jax.device_get(leaf))
        if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
            return False
    return True


def save_variables(target: str | os.PathLike, variables: Any) -> Path:
    """Saves a pytree of arrays with Orbax to `target`, replacing it atomically.

    All processes take part in the save; process 0 moves the finished staging folder
    into place, so a crash mid-save never leaves a half-written `target`.
    """
    target = Path(target).absolute()
    staging = target.with_name(f".{target.name}.tmp")
    if jax.process_index() == 0 and staging.exists():
        shutil.rmtree(staging)
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(staging, variables)
    ckptr.wait_until_finished()
    if jax.process_index() == 0:
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    return target
