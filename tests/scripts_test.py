"""The launch scripts in scripts/ are shellcheck-clean and refuse bad usage in one line."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.program_utils import REPO
from tests.tools import VENV_TOOLS, minimal_env, venv_tool

SCRIPTS = sorted(
    [*REPO.glob("scripts/*.sh"), *REPO.glob("scripts/*.sbatch"), REPO / ".ci" / "run"]
)


def test_there_are_launch_scripts():  # the rest of this module runs them
    names = {p.name for p in SCRIPTS}
    assert {"tpu_pod.sh", "slurm_multinode.sbatch", "single_host.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script):
    proc = subprocess.run([venv_tool("shellcheck"), str(script)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("tool", VENV_TOOLS)
def test_suite_tools_run_with_only_the_venv_and_the_system_on_path(tool):
    # The guard against a tool that only exists outside the project: with PATH reduced
    # to the venv's bin/ and /usr/bin:/bin, each tool the suite runs is found by name
    # (as scripts/test.sh arranges) and is the venv's own copy.
    env = minimal_env()
    found = shutil.which(tool, path=env["PATH"])
    assert found == venv_tool(tool), (tool, found)
    proc = subprocess.run([tool, "--version"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script, args", [("tpu_pod.sh", []), ("single_host.sh", ["only-one"]),
                                          ("get_data.sh", ["cifar"])])
def test_usage_error_is_one_line_exit_2(script, args):
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / script), *args], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("usage:") and "\n" not in proc.stderr.strip()


def _recorder(bin_dir, name):
    """A fake `name` on PATH that records its argv (one per line) and the XLA_FLAGS it saw."""
    log = bin_dir / f"{name}.log"
    tool = bin_dir / name
    tool.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\n'
                    f'echo "XLA_FLAGS=$XLA_FLAGS" >> "{log}"\n')
    tool.chmod(0o755)
    return log


def _run_script(script, args, env_extra, bin_dir):
    env = {**minimal_env(), **env_extra}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return subprocess.run(["bash", str(REPO / "scripts" / script), *args], env=env,
                          capture_output=True, text=True, cwd=REPO)


def test_single_host_script_runs_pretrain_with_fake_devices(tmp_path):
    log = _recorder(tmp_path, "python")
    proc = _run_script("single_host.sh", ["configs/simclr_mnist.py", "runs/x",
                                          "--config.max_steps=2"],
                       {"FAKE_DEVICES": "4", "PYTHON": str(tmp_path / "python")}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text().splitlines()
    assert lines[:5] == ["-m", "ssljax.pretrain", "--config=configs/simclr_mnist.py",
                         "--workdir=runs/x", "--config.max_steps=2"]
    assert "--xla_force_host_platform_device_count=4" in lines[-1]


def test_slurm_script_launches_one_pretrain_per_node_through_srun(tmp_path):
    log = _recorder(tmp_path, "srun")
    proc = _run_script("slurm_multinode.sbatch", [],
                       {"CONFIG": "configs/byol_imagenet.py", "WORKDIR": "/shared/run",
                        "EXTRA_FLAGS": "--config.num_epochs=3 --config.seed=1"}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "--kill-on-bad-exit=1"
    assert lines[2:8] == ["-m", "ssljax.pretrain", "--config=configs/byol_imagenet.py",
                          "--workdir=/shared/run", "--config.num_epochs=3", "--config.seed=1"]


@pytest.mark.parametrize("command, words", [
    ("create", ["tpus", "tpu-vm", "create", "ssljax-pod", "--accelerator-type", "v4-32"]),
    ("run", ["ssh", "--worker=all", "ssljax.pretrain", "--config='configs/simclr_imagenet.py'"]),
    ("delete", ["delete", "ssljax-pod", "--quiet"]),
])
def test_tpu_pod_script_calls_gcloud(tmp_path, command, words):
    log = _recorder(tmp_path, "gcloud")
    proc = _run_script("tpu_pod.sh", [command], {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = log.read_text()
    for word in words:
        assert word in text, (word, text)


def test_get_data_installs_fashion_mnist_with_apt_get(tmp_path):
    log = _recorder(tmp_path, "apt-get")
    fake_id = tmp_path / "id"
    fake_id.write_text("#!/bin/sh\necho 0\n")  # as root
    fake_id.chmod(0o755)
    proc = _run_script("get_data.sh", ["fashion_mnist"],
                       {"FASHION_MNIST_DIR": str(tmp_path / "none")}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines()[:4] == ["install", "-y", "-qq", "dataset-fashion-mnist"]


def test_get_data_finds_an_installed_copy(tmp_path):
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"")
    proc = _run_script("get_data.sh", ["fashion_mnist"], {"FASHION_MNIST_DIR": str(tmp_path)},
                       tmp_path)
    assert proc.returncode == 0 and "already installed" in proc.stdout


def test_build_native_without_a_compiler_says_so_and_succeeds(tmp_path):
    """scripts/build_native.sh never fails the set-up: without a compiler it builds
    nothing, says that the XLA path stays and exits 0 (in a copy of its tree)."""
    import sys  # noqa: PLC0415

    (tmp_path / "scripts").mkdir()
    (tmp_path / "ssljax" / "native").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "build_native.sh", tmp_path / "scripts")
    shutil.copy(REPO / "ssljax" / "native" / "dnnl_conv.cc", tmp_path / "ssljax" / "native")
    proc = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "build_native.sh"), sys.executable],
        env={**minimal_env(), "CXX": "no-such-compiler"}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "not built" in proc.stderr and "XLA path" in proc.stderr, proc.stderr
    assert not list((tmp_path / "ssljax" / "native").glob("*.so"))
