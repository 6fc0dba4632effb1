"""Every demo is also a test: it runs to the end and its own assertions hold, and it writes
only below the directory it is given ($FEM_SPIN_DEMO_DIR), never into the repository (whose
root they used to litter with results_demo/, mrfm_tip/, PNGs) or the working directory."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, serial_only

pytestmark = serial_only()

DEMOS = sorted((REPO / "demos").glob("*.py"))

#: written by any Python or pytest run, not by a demo
_CACHES = {"__pycache__", ".pytest_cache", ".hypothesis", ".git"}
#: sources, which a demo never writes but colleagues editing the same checkout do
_SOURCES = (".py", ".md")


def repository_files() -> set[str]:
    """Every file of the checkout, ignored ones included (what ``git status --porcelain
    --untracked-files=all --ignored`` lists, without needing git, which the environment
    lacks), bytecode, tool caches and source files aside."""
    found = set()
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in _CACHES]
        found.update(os.path.relpath(os.path.join(root, f), REPO) for f in files
                     if not f.endswith(_SOURCES))
    return found


@pytest.mark.parametrize("demo", DEMOS, ids=[d.stem for d in DEMOS])
def test_demo_runs(demo: Path, tmp_path):
    out, cwd = tmp_path / "out", tmp_path / "cwd"
    cwd.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), FEM_SPIN_DEMO_DIR=str(out))
    before = repository_files()
    res = subprocess.run([sys.executable, str(demo)], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert list(out.glob("*.png")), "a demo draws its result in $FEM_SPIN_DEMO_DIR"
    assert not any(cwd.iterdir()), f"wrote into its working directory: {sorted(os.listdir(cwd))}"
    new = sorted(repository_files() - before)
    assert not new, f"wrote into the repository (or someone else did meanwhile): {new[:20]}"
