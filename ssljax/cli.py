"""Flags and top-level error handling shared by the three programs.

Every program takes `--config=configs/....py` with `--config.key=value`
overrides (ml_collections `config_flags`), `--workdir`, and the multi-host
flags. Any mistake a user can make — a missing config file, an unknown config
key, a bad value — ends with one line on stderr, `ssljax: error: ...`, and exit
status 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from absl import flags
from ml_collections import config_flags

from ssljax.errors import ConfigError, SSLJaxError

EXIT_USAGE = 2
REQUIRED_PRETRAIN_KEYS = (
    "method",
    "seed",
    "batch_size",
    "num_epochs",
    "max_steps",
    "checkpoint_every_steps",
    "dataset.name",
    "encoder.name",
)


def define_flags() -> Any:
    """Defines --config, --workdir and the multi-host flags; returns the config flag holder."""
    cfg = config_flags.DEFINE_config_file(
        "config", None, "Path to a config file (configs/<method>_<dataset>.py).", lock_config=True
    )
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, summaries and results.")
    flags.DEFINE_string("coordinator_address", None, "Multi-host: HOST:PORT of process 0.")
    flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
    flags.DEFINE_integer("process_id", None, "Multi-host: this process's index.")
    flags.DEFINE_integer(
        "coordinator_timeout", 300, "Multi-host: seconds to wait for the coordinator."
    )
    flags.DEFINE_integer(
        "cpu_devices", 0,
        "CPU only: split this host into N XLA devices (data-parallel over the cores; 0 = one).",
    )
    return cfg


def error_exit(msg: str) -> None:
    """Prints `ssljax: error: <one line>` on stderr and exits with status 2."""
    line = " ".join(str(msg).split())
    print(f"ssljax: error: {line}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def _flag_error_message(e: Exception, argv: list[str]) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    m = re.search(r"Unknown command line flag '([^']+)'", msg)
    if m:
        name = m.group(1)
        if name.startswith("config."):
            return (
                f"config key '{name[len('config.') :]}' does not exist in this config "
                f"(from --{name}=...); check the spelling against the config file"
            )
        return f"unknown flag --{name}; run with --helpfull for the list of flags"
    return msg


def parse_flags(argv: list[str] | None = None) -> None:
    """Parses flags; any error becomes a one-line message and exit 2."""
    argv = list(sys.argv if argv is None else argv)
    try:
        flags.FLAGS(argv)
    except flags.Error as e:
        error_exit(_flag_error_message(e, argv))
    except (KeyError, AttributeError) as e:
        # ml_collections raises these when an override names a key the config lacks.
        key = str(e).strip("'\"")
        culprit = next((a for a in argv if a.startswith("--config.") and key in a), None)
        if culprit:
            name = culprit.split("=", 1)[0][len("--config.") :]
            error_exit(
                f"config key '{name}' does not exist in this config (from {culprit}); "
                "check the spelling against the config file"
            )
        error_exit(f"could not load the config: {' '.join(str(e).split())[:300]}")
    except Exception as e:  # noqa: BLE001 - errors raised while loading the config file
        error_exit(f"could not load the config: {' '.join(str(e).split())[:300]}")


def load_config(holder: Any) -> Any:
    """The parsed config, or a one-line error when --config is missing or unreadable."""
    path = flags.FLAGS["config"].config_filename if flags.FLAGS["config"].present else None
    if not path:
        error_exit("--config is required, e.g. --config=configs/simclr_mnist.py")
    if not os.path.exists(path.split(":")[0]):
        error_exit(f"config file {path.split(':')[0]!r} does not exist; see the configs/ folder")
    try:
        config = holder.value
        config.to_dict()
    except Exception as e:  # noqa: BLE001 - ml_collections wraps load errors in _ErrorConfig
        error_exit(f"could not load config {path!r}: {' '.join(str(e).split())[:300]}")
    return config


def require_keys(config: Any, keys: tuple[str, ...]) -> None:
    """Raises `ConfigError` naming the first missing dotted key."""
    for key in keys:
        node = config
        for part in key.split("."):
            if part not in node:
                raise ConfigError(f"config is missing required key {key!r}")
            node = node[part]


def require_workdir() -> str:
    """The --workdir flag, or a one-line error."""
    wd = flags.FLAGS.workdir
    if not wd:
        error_exit("--workdir is required, e.g. --workdir=runs/demo")
    return wd


def setup_logging() -> None:
    """INFO logs on stderr for ssljax; quiet TensorFlow and absl."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # absl puts its own handler on the root logger at import; replace it (force=True) so
    # that ssljax's INFO lines reach stderr in a plain format.
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
        force=True,
    )
    for noisy in ("absl", "jax._src", "orbax", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def print_summary(results: dict[str, Any]) -> None:
    """Prints the results as one line of JSON: the last line of stdout."""
    print(json.dumps(results, sort_keys=False), flush=True)


def run_program(main: Callable[[], dict[str, Any] | None]) -> None:
    """Runs a program's main, turning `SSLJaxError`s into one-line errors."""
    setup_logging()
    try:
        main()
    except SSLJaxError as e:
        error_exit(str(e))
    except KeyboardInterrupt:
        error_exit("interrupted")


_HOLDER: Any = None


def configure_cpu() -> None:
    """`--cpu_devices` and ssljax's XLA:CPU convolution flag; before JAX's backends start."""
    from ssljax import parallel  # noqa: PLC0415
    from ssljax.models import conv  # noqa: PLC0415

    parallel.set_cpu_devices(flags.FLAGS.cpu_devices)
    conv.set_cpu_flags()


def _flags_main(train_and_evaluate: Callable[[Any, str], dict[str, Any]]) -> dict[str, Any]:
    """Flags → `train_and_evaluate(config, workdir)`; prints the results as the last line."""
    import jax  # noqa: PLC0415 - keep `ssljax.cli` importable before XLA flags are set

    from ssljax import parallel  # noqa: PLC0415

    parse_flags()
    config = load_config(_HOLDER)
    workdir = require_workdir()
    configure_cpu()
    parallel.initialize_distributed(
        flags.FLAGS.coordinator_address,
        flags.FLAGS.num_processes,
        flags.FLAGS.process_id,
        timeout_s=flags.FLAGS.coordinator_timeout,
    )
    results = train_and_evaluate(config, workdir)
    if jax.process_count() > 1 and "final_loss" in results:
        logging.getLogger("ssljax").info(
            "process %d/%d: final_loss=%s",
            jax.process_index(), jax.process_count(), results["final_loss"],
        )
    if parallel.is_main_process():
        print_summary(results)
    return results


def run_main(train_and_evaluate: Callable[[Any, str], dict[str, Any]]) -> None:
    """A program's console-script entry point: flags, one-line errors, last-line JSON."""
    global _HOLDER
    if _HOLDER is None:
        _HOLDER = define_flags()
    run_program(lambda: _flags_main(train_and_evaluate))
