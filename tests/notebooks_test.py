"""The Colab notebooks in colab/: committed clean, and executable top to bottom.

Each notebook runs in a fresh Jupyter kernel started from ipykernel's "python3"
kernelspec, which launches `sys.executable` (this virtualenv's Python), in the
repository root, so the notebooks' install cell finds `configs/` and installs nothing.
`SSLJAX_QUICK=1` switches every notebook to tiny settings (a few training steps, small
evaluation subsets): these tests check that the notebooks run, not their accuracy.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.program_utils import UNOPTIMIZED

pytestmark = pytest.mark.slow  # each notebook runs in its own Jupyter kernel: minutes

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(REPO.glob("colab/*.ipynb"))
EXPECTED = [
    "classic_pretext_tasks.ipynb",
    "losses_as_a_library.ipynb",
    "quickstart.ipynb",
    "tpu_pods.ipynb",
    "transfer_learning.ipynb",
]
QUICK_SWITCH = 'QUICK = os.environ.get("SSLJAX_QUICK") == "1"'
# What a notebook must print in quick mode beyond running (offline: no download).
PRINTS = {
    "transfer_learning.ipynb": [
        "download skipped: quick mode",
        "tensors in torchvision's layout",
        "embed: (8, 28, 28, 3) uint8 -> (8, 512) float32",
        "ResNet-18, feature extraction: top-1",
        "ResNet-18,        fine-tuning: top-1",
        "3s vs 8s folder: ResNet-18 imported, fine-tuning",
    ],
}


def kernel_env(tmp_dir: Path) -> dict[str, str]:
    """The kernel's environment: quick mode, CPU only, the test session's data cache.

    conftest.py fakes 8 CPU devices for this process through XLA_FLAGS; the kernel gets
    only the tests' LLVM optimisation level 0 instead (tests/program_utils.py):
    quickstart and transfer_learning run on one device like a CPU Colab runtime, and the
    notebooks that need several devices fake them in their first cell. The notebooks'
    workdirs (`tempfile.mkdtemp`) go to `tmp_dir`, which pytest cleans up.
    """
    env = dict(os.environ)
    env["XLA_FLAGS"] = UNOPTIMIZED  # as the programs' test runs (tests/program_utils.py)
    env["SSLJAX_QUICK"] = "1"
    env["JAX_PLATFORMS"] = "cpu"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.setdefault("SSLJAX_CACHE", str(REPO / ".cache"))
    env["TMPDIR"] = str(tmp_dir)
    return env


def execute(nb: nbformat.NotebookNode, tmp_dir: Path) -> nbformat.NotebookNode:
    """Runs every cell of `nb` in a new python3 kernel in the repository root."""
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    client.execute(env=kernel_env(tmp_dir))
    return nb


def stdout_of(cell: nbformat.NotebookNode) -> str:
    return "".join(
        o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"
    )


def test_the_five_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    badge = f"https://colab.research.google.com/github/ssljax/ssljax/blob/main/colab/{path.name}"
    assert badge in nb.cells[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert QUICK_SWITCH in code[0].source
    assert '"--depth=1"' in code[1].source and '"-e"' in code[1].source
    for cell in code:
        assert cell.outputs == [], f"{path.name}: a cell has outputs: {cell.source[:60]!r}"
        assert cell.execution_count is None, f"{path.name}: execution count set"


def test_kernel_runs_this_interpreter_and_imports_ssljax(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import os, sys, ssljax\n"
            "print(sys.prefix)\n"
            "print(ssljax.__file__)\n"
            "print(os.getcwd())\n"
            "print(os.environ['SSLJAX_QUICK'], os.environ.get('XLA_FLAGS', ''))"
        )
    )
    prefix, ssljax_file, cwd, env_line = stdout_of(execute(nb, tmp_path).cells[0]).splitlines()
    assert Path(prefix).resolve() == Path(sys.prefix).resolve()
    assert Path(ssljax_file).resolve().is_relative_to(REPO)
    assert Path(cwd).resolve() == REPO
    quick, *xla_flags = env_line.split()
    assert quick == "1" and xla_flags == [UNOPTIMIZED]  # conftest's 8 devices not inherited


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_quick_mode(path, tmp_path):
    nb = nbformat.read(str(path), as_version=4)
    start = time.monotonic()
    execute(nb, tmp_path)
    seconds = time.monotonic() - start
    print(f"{path.name}: executed in {seconds:.0f} s")
    outputs = [stdout_of(c) for c in nb.cells if c.cell_type == "code"]
    assert "quick mode: True" in outputs[0]
    assert "ssljax is already available" in outputs[1]
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")
    printed = "\n".join(outputs)
    for text in PRINTS.get(path.name, []):
        assert text in printed, f"{path.name} did not print {text!r}"
