"""A workdir belongs to one program and one run: checks, lock, resume rules, up-front probes.

Every program calls `check(workdir, program=..., config=..., init_from=...)` before any
work starts, then `claim(...)` before it writes anything. Together they

- refuse a workdir that is a file, that another program owns (`ssljax_run.json` records
  the program and a run id; a pretraining workdir is also recognised by its
  `config.json`), or — for `linear_eval`/`finetune` — the pretraining run given as
  `init_from`, after resolving `..` and symlinks;
- on a pretraining resume, compare the saved `config.json` with the new config: a change
  of a key that changes the run's state or meaning (method, encoder, heads, loss,
  optimizer, batch size, epochs, dataset, augmentation, seed, ...) is refused with one line
  naming each changed key, old → new; changes of `HARMLESS` keys (the step cap, logging,
  checkpoint cadence, evaluation settings) are accepted and logged.
  `--config.resume_with_changes=True` accepts the others too, for changes that keep the
  state's shapes (a learning rate, the number of epochs): the user's explicit decision;
- probe that the workdir and its `checkpoints/` are writable directories (a probe file is
  written and removed), with at least `MIN_FREE_MB` free, before anything else is written;
- take an advisory lock (`fcntl.flock` on `.ssljax.lock`, holding the owner's PID) that
  dies with the process, so that a second process on the same workdir stops with one line
  naming the PID that holds it, and a stale lock of a killed process never blocks.

Multi-host runs take the lock and write the marker on process 0 only.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ssljax.checkpoint import CONFIG_FILE, write_json_atomic
from ssljax.errors import CheckpointError, as_os_error, os_error_message  # noqa: F401 - re-exported

MARKER = "ssljax_run.json"
LOCK = ".ssljax.lock"
MIN_FREE_MB = 256
# Config keys whose change does not change what a resumed pretraining run computes
# (prefixes end with "."). Everything else must match the saved config.json to resume.
HARMLESS = ("max_steps", "log_every_steps", "eval_every_steps", "checkpoint_every_steps",
            "keep_checkpoints", "tensorboard", "plots", "nonfinite", "resume_with_changes",
            "eval.", "dataset.data_dir")

_held: dict[str, Any] = {}  # resolved workdir -> open lock file (kept for the process's life)


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else k))
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is unreadable ({e}); use a fresh --workdir or restore that file") from None


def _owner(wd: Path) -> str | None:
    """The program that owns `wd`: its marker's, or "pretrain" for a pretraining config."""
    marker = _read_json(wd / MARKER)
    if marker is not None:
        return marker.get("program")
    saved = _read_json(wd / CONFIG_FILE)
    if saved is None:
        return None
    return "pretrain" if "method" in saved else "an evaluation program"


def changed_keys(saved: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, old, new) for every key of both configs whose value differs, sorted."""
    a, b = _flat(saved), _flat(new)
    norm = lambda v: json.loads(json.dumps(v))  # noqa: E731 - tuples vs lists
    return sorted((k, norm(a[k]), norm(b[k])) for k in a.keys() & b.keys()
                  if norm(a[k]) != norm(b[k]))


def _harmless(key: str) -> bool:
    return any(key == h or (h.endswith(".") and key.startswith(h)) for h in HARMLESS)


def check_path(path: str | os.PathLike, flag: str = "--workdir") -> None:
    """A `CheckpointError` if a component of `path` is longer than its file system allows."""
    path = Path(os.path.abspath(path))
    existing = next((p for p in (path, *path.parents) if os.path.lexists(p)), Path("/"))
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise CheckpointError(
                f"{flag}={path} has a path component of {len(os.fsencode(part))} bytes "
                f"(\"{part[:20]}...\"); this file system allows {limit}: pick a shorter name")


def check(workdir: str | os.PathLike, *, program: str, config: dict[str, Any],
          init_from: str = "") -> bool:
    """Validates `workdir` for a run; True if it holds an earlier run of this pretraining.

    Raises:
      CheckpointError: see the module docstring. Nothing is written.
    """
    check_path(workdir)
    wd = Path(workdir)
    if wd.exists() and not wd.is_dir():
        raise CheckpointError(f"--workdir={wd} is a file, not a directory; pick another path")
    owner = _owner(wd)
    if program != "pretrain":
        if init_from:
            src = Path(init_from).resolve()
            src = src.parent if src.name == "encoder" else src
            here = wd.resolve()
            if here == src or src in here.parents:
                where = "is" if here == src else "is inside"
                raise CheckpointError(
                    f"--workdir={wd} {where} the pretraining workdir given as init_from; pick "
                    "a separate --workdir for the evaluation results")
        if owner is not None and owner != program:
            raise CheckpointError(
                f"--workdir={wd} holds the output of {owner}; pick a separate --workdir for "
                f"the {program} results (nothing was changed)")
        return False
    if owner is None:
        return False
    if owner != "pretrain":
        raise CheckpointError(
            f"--workdir={wd} holds the output of {owner}, not a pretraining run; use a fresh "
            "--workdir (nothing in it was changed)")
    saved = _read_json(wd / CONFIG_FILE) or {}
    changes = changed_keys(saved, config)
    first = ("method", "encoder.name", "dataset.name")  # named first: what the run is
    blocking = sorted((c for c in changes if not _harmless(c[0])),
                      key=lambda c: (c[0] not in first, first.index(c[0]) if c[0] in first
                                     else 0, c[0]))
    if blocking and not config.get("resume_with_changes", False):
        listed = ", ".join(f"{k}: {old!r} -> {new!r}" for k, old, new in blocking[:6])
        more = f" (and {len(blocking) - 6} more)" if len(blocking) > 6 else ""
        raise CheckpointError(
            f"--workdir={wd} holds a run with another config ({listed}{more}); resuming would "
            "change it: use a fresh --workdir, or --config.resume_with_changes=True to "
            "resume with these values (nothing in the workdir was changed)")
    return True


def probe(workdir: str | os.PathLike, *, checkpoints: bool) -> None:
    """Checks that `workdir` (and its `checkpoints/`) can be written, with enough free space.

    Creates the directories if needed (and removes them again when the check fails).

    Raises:
      CheckpointError: one line naming the path, the error and the fix.
    """
    wd = Path(workdir)
    created = []
    targets = [wd] + ([wd / "checkpoints"] if checkpoints else [])
    try:
        for d in targets:
            if d.exists() and not d.is_dir():
                raise CheckpointError(f"{d} is a file, not a directory; move it away or pick "
                                      "another --workdir")
            if not d.exists():
                try:
                    d.mkdir(parents=True)
                    created.append(d)
                except FileExistsError:  # another process made it just now: fine
                    pass
            probe_file = d / f".ssljax_probe_{os.getpid()}"
            probe_file.write_text("ok")
            probe_file.unlink()
        free = shutil.disk_usage(wd).free // 2**20
        if free < MIN_FREE_MB:
            raise CheckpointError(
                f"only {free} MiB are free on the disk of --workdir={wd}; ssljax needs at "
                f"least {MIN_FREE_MB} MiB for checkpoints: free some space or pick another "
                "--workdir")
    except OSError as e:
        for d in reversed(created):
            shutil.rmtree(d, ignore_errors=True)
        raise CheckpointError(os_error_message(e, f"--workdir={wd} cannot be written")) from None
    except CheckpointError:
        for d in reversed(created):
            shutil.rmtree(d, ignore_errors=True)
        raise


def claim(workdir: str | os.PathLike, *, program: str, main_process: bool = True) -> None:
    """Locks `workdir` for this process and records its owner (`ssljax_run.json`).

    Raises:
      CheckpointError: another live process holds the lock.
    """
    if not main_process:
        return
    wd = Path(workdir)
    key = str(wd.resolve())
    if key in _held:
        return
    f = open(wd / LOCK, "a+")  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise CheckpointError(
            f"--workdir={wd} is in use by process {holder}; wait for it to finish (or stop "
            "it), or use another --workdir") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    _held[key] = f
    if not (wd / MARKER).exists():
        write_json_atomic(wd / MARKER, {
            "program": program, "run_id": uuid.uuid4().hex,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        })


def release(workdir: str | os.PathLike) -> None:
    """Releases the lock taken by `claim` (it is released at exit in any case)."""
    f = _held.pop(str(Path(workdir).resolve()), None)
    if f is not None:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def record_config(workdir: str | os.PathLike, config: dict[str, Any]) -> None:
    """Writes `config.json`; an earlier, different one is kept as `config_history/<n>.json`."""
    wd = Path(workdir)
    path = wd / CONFIG_FILE
    old = _read_json(path)
    if old is not None and old != json.loads(json.dumps(config, default=str)):
        history = wd / "config_history"
        history.mkdir(exist_ok=True)
        n = len(list(history.glob("*.json")))
        write_json_atomic(history / f"{n}.json", old)
    write_json_atomic(path, config)
