"""The docs' examples run: every ```python block of docs/*.md, in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.program_utils import REPO, env_for

# ```python blocks run; ```py blocks (excerpts of library code) are shown only.
PAGES = sorted(REPO.glob("docs/*.md"))
BLOCKS = [(page, i, code) for page in PAGES
          for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))]


def test_every_public_module_has_a_page_with_an_example():
    pages = {p.stem for p, _, _ in BLOCKS}
    assert {"losses", "augment", "optim", "models", "methods", "data", "programs"} <= pages


@pytest.mark.slow  # a fresh interpreter per example
@pytest.mark.parametrize("page, index, code", BLOCKS,
                         ids=[f"{p.stem}-{i}" for p, i, _ in BLOCKS])
def test_doc_example_runs(page, index, code):
    env = env_for(1)
    if "xla_force_host_platform_device_count=8" in code:
        env.pop("XLA_FLAGS")  # the example fakes its own devices
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{page.name} example {index}:\n{proc.stderr[-3000:]}"
