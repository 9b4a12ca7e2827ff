"""Runs every documented mistake and writes the README's errors table from what it printed.

    python scripts/errors_table.py            # run every case, rewrite the table in README.md
    python scripts/errors_table.py --check    # exit 1 where README.md's row differs
    python scripts/errors_table.py --quick    # only the cases without training or TensorFlow

Each case runs the program as a user would (`python -m ssljax.<program> ...`, in a fresh
temporary folder shown as `/tmp/runs`) and records the line it printed: the
`ssljax: error: ...` line and the exit status, or the warning / status line. The table sits
between the `errors-table` markers of README.md. Cases that need root (a read-only or
full tmpfs) keep their README row where they cannot run. `tests/errors_table_test.py`
runs `--check --quick`.

The plain cases run in forks of this process, which has imported the programs' modules
once (`python -m` pays about 2 s of imports per case here): each child sets the case's
environment, argv and working directory, runs the program's entry point exactly as
`python -m ssljax.<program>` does and exits with its status, its stderr in a file. The
cases that train, interrupt or fill a disk, and the set-ups, still start `python -m`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BEGIN, END = "<!-- errors-table:begin -->", "<!-- errors-table:end -->"
SHOWN_ROOT = "/tmp/runs"
DEMO = "--config=configs/simclr_mnist.py"
QUICK_RUN = ("--config.max_steps=3", "--config.batch_size=64", "--config.plots=False",
             "--config.tensorboard=False", "--config.eval.max_train_examples=400",
             "--config.eval.max_eval_examples=200", "--config.eval.linear_epochs=2")


@dataclasses.dataclass(frozen=True)
class Case:
    """One mistake: what it is, the arguments (with `{T}` for the temporary folder), what
    the table shows of them, and where its line comes from."""

    mistake: str
    program: str
    args: tuple[str, ...]
    shown: str  # the example column; "" shows the args after the config
    expect: str = "error"  # "error" (last stderr line), or a substring of a log line
    quick: bool = True  # no training, no TensorFlow: part of `--check --quick`
    setup: tuple[str, ...] = ()
    devices: int = 1
    runner: str = ""  # a special way to run it (signals, full disk)
    normalise: tuple[tuple[str, str], ...] = ()


PRE = "{T}/pre"  # a finished 3-step pretraining run (setup "pretrained")
LIN = ("--config=configs/linear_eval_mnist.py",)
FT = ("--config=configs/finetune_mnist.py",)

CASES: tuple[Case, ...] = (
    # ---- the config
    Case("unknown method", "pretrain", (DEMO, "--config.method=simclrr"), ""),
    Case("unknown encoder", "pretrain", (DEMO, "--config.encoder.name=resnet9000"), ""),
    Case("misspelt config key", "pretrain", (DEMO, "--config.optimizer.momentun=0.9"), ""),
    Case("config key that does not exist", "pretrain", (DEMO, "--config.no_such_key=1"), ""),
    Case("value of the wrong type", "pretrain", (DEMO, "--config.num_epochs=1.5"), ""),
    Case("missing config file", "pretrain", ("--config=configs/nope.py",),
         "--config=configs/nope.py"),
    Case("config file that calls sys.exit", "pretrain", ("--config={T}/exits.py",),
         "a config file with `sys.exit(0)`", setup=("exits",)),
    Case("pretraining config given to linear_eval", "linear_eval", (DEMO,), DEMO),
    Case("batch size 0", "pretrain", (DEMO, "--config.batch_size=0"), ""),
    Case("batch not divisible by the devices", "pretrain",
         (DEMO, "--config.batch_size=60", "--cpu_devices=8"), ""),
    Case("keep no checkpoint", "pretrain", (DEMO, "--config.keep_checkpoints=0"), ""),
    Case("checkpoint cadence below 1", "pretrain",
         (DEMO, "--config.checkpoint_every_steps=-1"), ""),
    Case("temperature ≤ 0", "pretrain", (DEMO, "--config.loss.temperature=0"), ""),
    Case("kNN k = 0", "pretrain", (DEMO, "--config.eval.knn_k=0"), ""),
    Case("negative image size", "pretrain", (DEMO, "--config.augment.image_size=-1"), ""),
    Case("head of width 0", "pretrain", (DEMO, "--config.head.out_dim=0"), ""),
    Case("unknown enumeration value", "pretrain", (DEMO, "--config.nonfinite=ignore"), ""),
    Case("patch size does not divide the image", "pretrain",
         (DEMO, "--config.encoder.name=vit_test"), "--config.encoder.name=vit_test (28-px digits)"),
    Case("EMA evaluation of a method without a target", "pretrain",
         (DEMO, "--config.eval.encoder=target"), ""),
    Case("setting the chosen optimizer does not read (a warning; the run goes on)", "pretrain",
         (DEMO, "--config.optimizer.momentum=0.95", "--workdir={T}/afile"),
         "--config.optimizer.momentum=0.95", expect="config: ", setup=("afile",)),
    Case("label_fraction outside (0, 1]", "finetune",
         (*FT, f"--config.init_from={PRE}", "--config.label_fraction=1.5"),
         "--config.label_fraction=1.5"),
    # ---- the data
    Case("unknown dataset", "pretrain", (DEMO, "--config.dataset.name=imagenett"), "",
         quick=False),
    Case("TFDS dataset not prepared", "pretrain",
         (DEMO, "--config.dataset.name=cifar10", "--config.dataset.data_dir={T}/tfds"),
         "--config.dataset.name=cifar10", quick=False, setup=("tfds",),
         normalise=((r"in \S+/tfds", "in DIR"), (r"--data_dir=\S+/tfds", "--data_dir=DIR"))),
    Case("missing image folder", "pretrain",
         (DEMO, "--config.dataset.name=image_folder", "--config.dataset.data_dir=/nonexistent"),
         "--config.dataset.name=image_folder --config.dataset.data_dir=/nonexistent"),
    Case("image folder without class folders", "pretrain",
         (DEMO, "--config.dataset.name=image_folder", "--config.dataset.data_dir={T}/empty"),
         "--config.dataset.data_dir=/tmp/runs/empty", setup=("folders",)),
    Case("class folders that hold no images", "pretrain",
         (DEMO, "--config.dataset.name=image_folder", "--config.dataset.data_dir={T}/hollow"),
         "--config.dataset.data_dir=/tmp/runs/hollow", setup=("folders",)),
    Case("unreadable image", "pretrain",
         (DEMO, "--config.dataset.name=image_folder", "--config.dataset.data_dir={T}/broken"),
         "a corrupt `broken.jpg` in the folder", setup=("folders",)),
    # ---- the workdir
    Case("workdir is a file", "pretrain", (DEMO, "--workdir={T}/afile"),
         "--workdir=/tmp/runs/afile", setup=("afile",)),
    Case("path component too long", "pretrain", (DEMO, "--workdir={T}/" + "a" * 300),
         "a 300-character --workdir name",
         normalise=((r"/tmp/runs/a{300}", "/tmp/runs/aaa…"),)),
    Case("resume with a changed config", "pretrain",
         (DEMO, f"--workdir={PRE}", "--config.batch_size=128", "--config.head.out_dim=32"),
         "--workdir=<a run> --config.batch_size=128 --config.head.out_dim=32",
         setup=("pretrained",)),
    Case("resume with another method", "pretrain",
         ("--config=configs/byol_mnist.py", f"--workdir={PRE}"),
         "byol_mnist.py --workdir=<a SimCLR run>", setup=("pretrained",),
         normalise=((r"\(and \d+ more\)", "(and N more)"),)),
    Case("pretraining into an evaluation workdir", "pretrain",
         (DEMO, "--workdir={T}/lin"), "--workdir=<a linear_eval workdir>",
         setup=("evaluated",), quick=False),
    Case("evaluation into its own init_from", "linear_eval",
         (*LIN, f"--config.init_from={PRE}", f"--workdir={PRE}"),
         "--config.init_from=W --workdir=W", setup=("pretrained",)),
    Case("evaluation inside its init_from", "finetune",
         (*FT, f"--config.init_from={PRE}", f"--workdir={PRE}/ft"),
         "--config.init_from=W --workdir=W/ft", setup=("pretrained",)),
    Case("resume_with_changes and a changed network", "pretrain",
         (DEMO, f"--workdir={PRE}", "--config.resume_with_changes=True",
          "--config.head.out_dim=32"),
         "--workdir=<a run> --config.resume_with_changes=True --config.head.out_dim=32",
         setup=("pretrained",)),
    Case("evaluation into another program's workdir", "finetune",
         (*FT, f"--config.init_from={PRE}", "--workdir={T}/lin"),
         "--workdir=<a linear_eval workdir>", setup=("pretrained", "evaluated"), quick=False),
    Case("workdir in use by another process", "pretrain", (DEMO, "--workdir={T}/busy"),
         "a second run on a running run's --workdir", setup=("busy",),
         normalise=((r"process \d+", "process PID"),)),
    Case("read-only workdir", "pretrain", (DEMO, "--workdir={T}/ro/run"),
         "--workdir on a read-only file system", setup=("readonly",)),
    Case("disk full during the run", "pretrain", (DEMO, "--workdir={T}/full/run"),
         "the disk fills up during training", runner="fill_disk", quick=False,
         normalise=((r"\(/tmp/runs/full/run/[^)]*\)", "(W/...)"), (r"step \d+", "step K"))),
    # ---- init_from
    Case("init_from missing", "linear_eval", (*LIN, "--config.init_from=/nonexistent"),
         "--config.init_from=/nonexistent"),
    Case("init_from not a pretraining run", "linear_eval", (*LIN, "--config.init_from={T}"),
         "--config.init_from=/tmp/runs (some folder)"),
    Case("init_from with a missing encoder file", "linear_eval",
         (*LIN, "--config.init_from={T}/gappy"), "an encoder/ with a file deleted",
         setup=("gappy",), normalise=((r"array index: \(.*\)\)\)", "array index: (...))"),)),
    Case("checkpoint and config disagree", "linear_eval",
         (*LIN, f"--config.init_from={PRE}", "--config.encoder.name=resnet18"),
         "--config.encoder.name=resnet18 on a SmallCNN run", setup=("pretrained",)),
    Case("head classes ≠ dataset classes", "finetune",
         (*FT, f"--config.init_from={PRE}", "--config.num_classes=5"),
         "--config.num_classes=5 on the digits", setup=("pretrained",), quick=False),
    # ---- during training
    Case("NaN/Inf loss or gradient", "pretrain",
         (DEMO, "--config.optimizer.name=sgd", "--config.optimizer.base_lr=1e38",
          "--config.checkpoint_every_steps=1", "--config.max_steps=40"),
         "--config.optimizer.name=sgd --config.optimizer.base_lr=1e38", quick=False,
         normalise=((r"at step \d+", "at step N"), (r"step \d+ in", "step K in"))),
    Case("Ctrl-C (exit 130; rerun to resume)", "pretrain", (DEMO, "--workdir={T}/int"),
         "Ctrl-C during training", expect="interrupted at step", runner="interrupt",
         quick=False, normalise=((r"step \d+", "step N"),)),
    Case("coordinator unreachable", "pretrain",
         (DEMO, "--coordinator_address=127.0.0.1:1", "--num_processes=2", "--process_id=1",
          "--coordinator_timeout=10"),
         "--coordinator_address=127.0.0.1:1 --num_processes=2 --process_id=1 "
         "--coordinator_timeout=10", quick=False),
)


# ------------------------------------------------------------------------------ set-ups

def _python(program: str, args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", f"ssljax.{program}", *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def _env(devices: int = 1) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def _finish(proc: subprocess.Popen, what: str) -> None:
    out, err = proc.communicate(timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"set-up {what} failed:\n{err[-3000:]}")


def _mount(target: Path, size_mb: int, readonly: bool = False) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs",
                         str(target)], capture_output=True).returncode == 0
    if ok and readonly:
        subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)
    return ok


class Setups:
    """The folders and runs the cases need, made once, on demand."""

    def __init__(self, root: Path):
        self.root = root
        self.done: dict[str, bool] = {}
        self.cleanup: list[Callable[[], None]] = []

    def need(self, name: str) -> bool:
        if name not in self.done:
            self.done[name] = bool(getattr(self, name)())
        return self.done[name]

    def close(self) -> None:
        for fn in reversed(self.cleanup):
            fn()

    def exits(self):
        (self.root / "exits.py").write_text("import sys\nsys.exit(0)\n")
        return True

    def afile(self):
        (self.root / "afile").write_text("not a folder\n")
        return True

    def tfds(self):
        (self.root / "tfds").mkdir()
        return True

    def folders(self):
        import numpy as np  # noqa: PLC0415
        from PIL import Image  # noqa: PLC0415

        (self.root / "empty").mkdir()
        for c in ("a", "b"):
            (self.root / "hollow" / c / "sub").mkdir(parents=True)
            d = self.root / "broken" / c
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(d / f"{i}.png")
        (self.root / "broken" / "a" / "broken.jpg").write_bytes(b"not a jpeg")
        return True

    def pretrained(self):
        proc = _python("pretrain", [DEMO, f"--workdir={self.root}/pre", *QUICK_RUN], _env())
        _finish(proc, "pretrained")
        return True

    def evaluated(self):
        self.need("pretrained")
        proc = _python("linear_eval", [*LIN, f"--config.init_from={self.root}/pre",
                                       f"--workdir={self.root}/lin",
                                       "--config.cached.epochs=5", "--config.plots=False"],
                        _env())
        _finish(proc, "evaluated")
        return True

    def gappy(self):
        self.need("pretrained")
        dst = self.root / "gappy"
        shutil.copytree(self.root / "pre", dst)
        victim = max((p for p in (dst / "encoder").rglob("*") if p.is_file()),
                     key=lambda p: p.stat().st_size)
        victim.unlink()
        return True

    def busy(self):
        """A process that holds the lock of `busy/` the way a running program does."""
        wd = self.root / "busy"
        wd.mkdir()
        holder = subprocess.Popen([sys.executable, "-c", (
            "import fcntl, os, sys, time\n"
            f"f = open({str(wd / '.ssljax.lock')!r}, 'a+')\n"
            "fcntl.flock(f, fcntl.LOCK_EX)\n"
            "f.truncate(0); f.write(str(os.getpid())); f.flush()\n"
            "print('ready', flush=True); time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
        holder.stdout.readline()
        self.cleanup.append(holder.kill)
        return True

    def readonly(self):
        target = self.root / "ro"
        if not _mount(target, 8, readonly=True):
            return False
        self.cleanup.append(lambda: subprocess.run(["umount", "-l", str(target)]))
        return True


# ------------------------------------------------------------------------------ running

def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 600) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.is_dir():
            return True
        time.sleep(0.1)
    return False


def _case_args(case: Case, setups: Setups) -> list[str] | None:
    """The case's arguments with its folders filled in, or None where it cannot run here."""
    for name in case.setup:
        if not setups.need(name):
            return None
    root = str(setups.root)
    args = [a.replace("{T}", root) for a in case.args]
    if not any(a.startswith("--workdir") for a in args):  # its own, shown as /tmp/runs/run
        args.append(f"--workdir={root}/{_slug(case)}")
    return args


def run_special(case: Case, setups: Setups) -> tuple[int, str] | None:
    """(exit status, the line) of a case with a `runner` (it trains in a subprocess and is
    interrupted or runs out of disk), or None where it cannot run here."""
    args = _case_args(case, setups)
    if args is None:
        return None
    proc_err = getattr(sys.modules[__name__], f"_run_{case.runner}")(case, args, setups)
    if proc_err is None:
        return None
    code, err = proc_err
    return code, _line(case, err, str(setups.root))


def _fork_program(program: str, args: list[str], env: dict[str, str], err_path: Path) -> int:
    """Starts `python -m ssljax.<program> args` as a fork of this process; returns its pid.

    The child takes `env` as its whole environment (JAX reads XLA_FLAGS and the device
    count when its backend starts, which happens in the child), runs in the repository
    root with stdout discarded and stderr into `err_path`, and exits with the program's
    status: SystemExit's code, or 1 with the traceback for an uncaught exception, as the
    interpreter would.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(devnull, 1)
        os.dup2(err, 2)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(REPO)
        module = importlib.import_module(f"ssljax.{program}")
        sys.argv = [module.__file__, *args]  # what `python -m` puts in sys.argv
        try:
            module.run()
            code = 0
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:  # sys.exit("message"): printed, status 1
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001 - the interpreter's behaviour
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


CASE_TIMEOUT_S = 900


def run_forked(cases: list[Case], setups: Setups, jobs: int) -> dict[Case, tuple | None]:
    """{case: (exit status, the line) or None} of plain cases, `jobs` forks at a time."""
    out: dict[Case, tuple | None] = {}
    queue = list(cases)
    running: dict[int, tuple[Case, Path, float]] = {}
    while queue or running:
        while queue and len(running) < jobs:
            case = queue.pop(0)
            args = _case_args(case, setups)
            if args is None:
                out[case] = None
                continue
            err_path = setups.root / f"{_slug(case)}.stderr"
            pid = _fork_program(case.program, args, _env(case.devices), err_path)
            running[pid] = (case, err_path, time.time() + CASE_TIMEOUT_S)
        for pid in list(running):  # only our forks: a set-up's process may be a child too
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done:
                if time.time() > running[pid][2]:
                    os.kill(pid, signal.SIGKILL)  # reaped, status -9, at the next poll
                continue
            case, err_path, _ = running.pop(pid)
            err = err_path.read_text(errors="replace")
            out[case] = (os.waitstatus_to_exitcode(status), _line(case, err, str(setups.root)))
        time.sleep(0.02)
    return out


def _run_interrupt(case: Case, args: list[str], setups: Setups):
    wd = Path(args[-1].split("=", 1)[1])
    proc = _python(case.program, [*args, "--config.checkpoint_every_steps=5",
                                  "--config.max_steps=100000", "--config.plots=False"], _env())
    if not _wait_for(wd / "checkpoints" / "5", proc):
        raise SystemExit(f"{case.mistake}: no checkpoint:\n{proc.communicate()[1][-2000:]}")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def _run_fill_disk(case: Case, args: list[str], setups: Setups):
    disk = setups.root / "full"
    if not _mount(disk, 256 + 8):  # workdir.MIN_FREE_MB + 8: the probe passes, then it fills
        return None
    setups.cleanup.append(lambda: subprocess.run(["umount", "-l", str(disk)]))
    wd = Path(args[-1].split("=", 1)[1])
    proc = _python(case.program, [*args, "--config.checkpoint_every_steps=5",
                                  "--config.max_steps=100000", "--config.plots=False"], _env())
    if not _wait_for(wd / "checkpoints" / "5", proc):
        raise SystemExit(f"{case.mistake}: no checkpoint:\n{proc.communicate()[1][-2000:]}")
    with open(disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 2**20)
        except OSError:
            pass
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def _slug(case: Case) -> str:
    return re.sub(r"\W+", "_", case.mistake)[:40]


def _line(case: Case, err: str, root: str) -> str:
    lines = err.strip().splitlines()
    if case.expect == "error":
        found = [ln for ln in lines if ln.startswith("ssljax: error: ")]
        line = found[-1][len("ssljax: error: "):] if found else f"(no error line) {lines[-1:]}"
    else:
        found = [ln for ln in lines if case.expect in ln]
        line = found[0] if found else f"(no line with {case.expect!r})"
        line = re.sub(r"^\S+ \S+ (INFO|WARNING) ", "", line)
    line = line.replace(f"{root}/{_slug(case)}", f"{SHOWN_ROOT}/run")
    line = line.replace(root, SHOWN_ROOT)
    for pattern, repl in case.normalise:
        line = re.sub(pattern, repl, line)
    return line


def row(case: Case, code: int, line: str) -> str:
    if case.shown:
        example = case.shown
    else:
        example = " ".join(a for a in case.args if a != DEMO)
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    example = f"`{esc(example)}`" if example.startswith("--") or ".py" in example else example
    status = str(code) if case.expect == "error" or case.runner == "interrupt" else "—"
    return f"| {esc(case.mistake)} | {example} | {status} | {esc(line)} |"


def _readme_rows() -> dict[str, str]:
    text = README.read_text()
    if BEGIN not in text:
        return {}
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = {}
    for ln in block.splitlines():
        if ln.startswith("| ") and not ln.startswith("| mistake") and not ln.startswith("|---"):
            rows[ln.split(" | ", 1)[0][2:].replace("\\|", "|")] = ln
    return rows


def _import_programs() -> None:
    """Imports the programs' modules (and JAX, Flax, Optax, Orbax behind them) once, for the
    forks; JAX's backends stay unstarted, so each child starts its own."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # read when jax is imported
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(REPO))
    for program in ("pretrain", "linear_eval", "finetune"):
        importlib.import_module(f"ssljax.{program}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with README.md only")
    parser.add_argument("--quick", action="store_true", help="only the quick cases")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    opts = parser.parse_args()
    cases = [c for c in CASES if c.quick or not opts.quick]
    old = _readme_rows()
    root = Path(tempfile.mkdtemp(prefix="ssljax_errors_"))
    setups = Setups(root)
    try:
        for c in cases:  # the set-ups first, one at a time (they train)
            for name in c.setup:
                setups.need(name)
        _import_programs()
        got = run_forked([c for c in cases if not c.runner], setups, opts.jobs)
        for c in cases:
            if c.runner:
                got[c] = run_special(c, setups)
    finally:
        setups.close()
        shutil.rmtree(root, ignore_errors=True)
    rows = {}
    for c in cases:
        result = got[c]
        rows[c.mistake] = old.get(c.mistake, "") if result is None else row(c, *result)
        print(rows[c.mistake] or f"(skipped: {c.mistake})", flush=True)
    if opts.check:
        bad = [m for m, r in rows.items() if r and old.get(m) != r]
        for m in bad:
            print(f"README differs for {m!r}:\n  README: {old.get(m)}\n  now:    {rows[m]}",
                  file=sys.stderr)
        return 1 if bad else 0
    table = ["| mistake | example | exit | what you see |", "|---|---|---|---|"]
    table += [rows.get(c.mistake) or old[c.mistake] for c in CASES
              if rows.get(c.mistake) or old.get(c.mistake)]
    text = README.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{BEGIN}\n" + "\n".join(table) + f"\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
