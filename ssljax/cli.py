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
EXIT_INTERRUPTED = 130  # Ctrl-C: checkpointed, rerun the same command to resume (128 + SIGINT)
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


HELP_FLAGS = ("-h", "--help", "--helpfull", "-help", "-helpfull")
# The console script of each program (its `python -m` module is `ssljax.<program>`).
SCRIPTS = {"pretrain": "ssljax-pretrain", "linear_eval": "ssljax-linear-eval",
           "finetune": "ssljax-finetune"}
EXAMPLES = {
    "pretrain": "python -m ssljax.pretrain --config=configs/simclr_mnist.py --workdir=runs/demo",
    "linear_eval": "python -m ssljax.linear_eval --config=configs/linear_eval_mnist.py "
                   "--config.init_from=runs/demo --workdir=runs/demo_linear",
    "finetune": "python -m ssljax.finetune --config=configs/finetune_mnist.py "
                "--config.init_from=runs/demo --config.label_fraction=0.1 --workdir=runs/demo_ft10",
}


def define_flags() -> Any:
    """Defines --config, --workdir and the multi-host flags; returns the config flag holder."""
    cfg = config_flags.DEFINE_config_file(
        "config", None, "Path to a config file (configs/<method>_<dataset>.py).", lock_config=True
    )
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, summaries and results.")
    flags.DEFINE_bool("show_config", False,
                      "Print the resolved config (every key with its value) and exit.")
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


def help_text(program: str, doc: str | None) -> str:
    """The `--help` text of a program: what it does, an example, its flags."""
    summary = (doc or "").strip().split("\n\n")[0].strip()
    lines = [f"usage: python -m ssljax.{program} --config=CONFIG --workdir=DIR "
             "[--config.KEY=VALUE ...] [flags]",
             f"       {SCRIPTS[program]} --config=CONFIG --workdir=DIR ...", "", summary, "",
             "example:", f"  {EXAMPLES[program]}", "",
             "configs: configs/*.py in the repository (one get_config() per file; "
             "`--config=file.py:variant` for files with variants); any key can be overridden "
             "with --config.KEY=VALUE, e.g. --config.batch_size=128 "
             "--config.optimizer.base_lr=0.1.",
             "  --config=FILE --show_config prints every key of a config with its value and exits.",
             "", "flags:"]
    for name in ("config", "workdir", "show_config", "cpu_devices", "coordinator_address",
                 "num_processes", "process_id", "coordinator_timeout"):
        flag = flags.FLAGS[name]
        default = "" if flag.default in (None, "") else f" (default: {flag.default})"
        lines.append(f"  --{name}: {flag.help}{default}")
    lines += ["  -h, --help, --helpfull: show this help and exit.", "",
              "Ends with results.json in --workdir and the same JSON as the last line of "
              "stdout. Errors are one line on stderr, `ssljax: error: ...`, exit status 2."]
    return "\n".join(lines)


def _did_you_mean(text: str, name: str = "") -> str:
    """ml_collections' `Did you mean "x" instead of "y"?` as `(did you mean 'block.x'?)`,
    with the block of the dotted key `name` the user wrote."""
    m = re.search(r'Did you mean "([^"]+)"', text)
    if not m:
        return ""
    block = name.rsplit(".", 1)[0] + "." if "." in name else ""
    return f" (did you mean '{block}{m.group(1)}'?)"


_TYPE_ERRORS = (  # absl's text for an override of the wrong type -> what the value must be
    ("invalid literal for int()", "an integer"),
    ("could not convert string to float", "a number"),
    ("Non-boolean argument", "True or False"),
)


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
    m = re.match(r"flag --config\.([\w.]+)=(.*?): (.*)$", msg)
    if m:
        for text, what in _TYPE_ERRORS:
            if text in m.group(3):
                return f"config key {m.group(1)}={m.group(2)} must be {what}"
    return msg


def parse_flags(argv: list[str] | None = None, program: str = "pretrain",
                doc: str | None = None) -> None:
    """Parses flags; `--help` prints the help and exits 0; an error is one line and exit 2."""
    argv = list(sys.argv if argv is None else argv)
    if any(a in HELP_FLAGS for a in argv[1:]):
        print(help_text(program, doc), flush=True)
        sys.exit(0)
    try:
        flags.FLAGS(argv)
    except SystemExit as e:  # raised by the config file itself while it was loaded
        error_exit(f"the config file called sys.exit({e.code!r}) while it was loaded; a config "
                   "file must only build and return its config")
    except flags.Error as e:
        error_exit(_flag_error_message(e, argv))
    except Exception as e:  # noqa: BLE001 - errors raised while loading the config file
        error_exit(_missing_key_message(e, argv)
                   or f"could not load the config: {' '.join(str(e).split())[:300]}")


def _missing_key_message(e: BaseException, argv: list[str]) -> str:
    """The one-line "does not exist" error for an override of a key the config lacks.

    ml_collections raises a KeyError / AttributeError (sometimes wrapped) whose text starts
    with the quoted key and may end with `Did you mean "x" instead of "y"?`; "" if `e` is
    not that.
    """
    text = str(e.args[0]) if getattr(e, "args", None) else str(e)
    text = text.strip().strip('"')
    m = re.search(r"'\\*([A-Za-z0-9_.]+)\\*'", text) or re.match(r"^([A-Za-z0-9_.]+)$", text)
    if not m:
        return ""
    key = m.group(1).rsplit(".", 1)[-1]
    culprit = next((a for a in argv if a.startswith("--config.")
                    and a.split("=", 1)[0].endswith(key)), None)
    if culprit is None:
        return ""
    name = culprit.split("=", 1)[0][len("--config."):]
    return (f"config key '{name}' does not exist in this config (from {culprit})"
            f"{_did_you_mean(text, name)}; check the spelling (--show_config lists the keys)")


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
    except SystemExit as e:
        error_exit(f"config file {path!r} called sys.exit({e.code!r}) while it was loaded; a "
                   "config file must only build and return its config")
    except Exception as e:  # noqa: BLE001 - ml_collections wraps load errors in _ErrorConfig
        error_exit(_missing_key_message(e, sys.argv)
                   or f"could not load config {path!r}: {' '.join(str(e).split())[:300]}")
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
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # see data.tfds_source.quiet_tensorflow
    os.environ.setdefault("NO_GCE_CHECK", "true")
    # absl puts its own handler on the root logger at import; replace it (force=True) so
    # that ssljax's INFO lines reach stderr in a plain format.
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
        force=True,
    )
    for noisy in ("jax._src", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Orbax (through absl) and asyncio log the tracebacks of failed background writes;
    # ssljax reports such a failure itself, in one line, when it surfaces.
    for noisy in ("absl", "orbax", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)


def print_summary(results: dict[str, Any]) -> None:
    """Prints the results as one line of JSON: the last line of stdout."""
    print(json.dumps(results, sort_keys=False), flush=True)


INTERRUPTED = {
    # A second Ctrl-C (or one outside the training loop): stop without checkpointing.
    "pretrain": "interrupted; the newest checkpoint (if any) is kept, rerun the same command "
                "to resume",
    # linear_eval and finetune keep no checkpoints (their runs are short next to pretraining).
    "evaluation": "interrupted; this program keeps no checkpoints: rerun the same command to "
                  "start again",
}


def _late_callback_hook(unraisable: Any) -> None:
    """`sys.unraisablehook` that drops "Event loop is closed" from TensorStore's callbacks.

    When a checkpoint write fails (a full disk), Orbax closes its event loop while
    TensorStore's threads still complete the other pending writes; each completion calls
    `loop.call_soon_threadsafe`, and the resulting RuntimeError is reported as unraisable
    (a bare traceback per write, seen on Python 3.11.2). The failure itself is reported in
    one line; these echoes of it are not. Every other case goes to the default hook.
    """
    exc = unraisable.exc_value
    if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
        logging.getLogger("ssljax").debug("dropped a late write callback: %s", exc)
        return
    sys.__unraisablehook__(unraisable)


def run_program(main: Callable[[], dict[str, Any] | None], program: str = "pretrain") -> None:
    """Runs a program's main, turning `SSLJaxError`s into one-line errors and Ctrl-C into
    one line and exit status 130."""
    setup_logging()
    sys.unraisablehook = _late_callback_hook
    try:
        main()
    except SSLJaxError as e:
        error_exit(str(e))
    except KeyboardInterrupt:
        message = INTERRUPTED["pretrain" if program == "pretrain" else "evaluation"]
        print(f"ssljax: {message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED)


_HOLDER: Any = None


def configure_cpu() -> None:
    """`--cpu_devices`, ssljax's XLA:CPU convolution flag and the reuse of freed step memory
    (`ssljax.host_memory`); before JAX's backends start."""
    from ssljax import host_memory, parallel  # noqa: PLC0415
    from ssljax.models import conv  # noqa: PLC0415

    host_memory.keep_freed_memory()
    parallel.set_cpu_devices(flags.FLAGS.cpu_devices)
    conv.set_cpu_flags()


def _program_of(fn: Callable[..., Any]) -> tuple[str, str | None]:
    module = sys.modules.get(fn.__module__)
    name = fn.__module__.rsplit(".", 1)[-1]
    if name == "__main__" and module is not None and getattr(module, "__spec__", None):
        name = module.__spec__.name.rsplit(".", 1)[-1]
    return (name if name in SCRIPTS else "pretrain"), getattr(module, "__doc__", None)


def show_config(config: Any, program: str) -> None:
    """Prints the config resolved against `program`'s schema (every key) and exits 0."""
    from ssljax import config_schema  # noqa: PLC0415

    try:
        resolved, _ = config_schema.resolve(config, program)
    except SSLJaxError as e:
        error_exit(str(e))
    print(resolved, flush=True)
    sys.exit(0)


def _flags_main(train_and_evaluate: Callable[[Any, str], dict[str, Any]]) -> dict[str, Any]:
    """Flags → `train_and_evaluate(config, workdir)`; prints the results as the last line."""
    import jax  # noqa: PLC0415 - keep `ssljax.cli` importable before XLA flags are set

    from ssljax import parallel  # noqa: PLC0415

    program, doc = _program_of(train_and_evaluate)
    parse_flags(program=program, doc=doc)
    config = load_config(_HOLDER)
    if flags.FLAGS.show_config:
        show_config(config, program)
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
    if results.get("status") == "interrupted":
        sys.exit(EXIT_INTERRUPTED)
    return results


def run_main(train_and_evaluate: Callable[[Any, str], dict[str, Any]]) -> None:
    """A program's console-script entry point: flags, one-line errors, last-line JSON."""
    global _HOLDER
    if _HOLDER is None:
        _HOLDER = define_flags()
    run_program(lambda: _flags_main(train_and_evaluate), _program_of(train_and_evaluate)[0])
