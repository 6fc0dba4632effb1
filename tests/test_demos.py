"""Every demo is also a test: it runs to the end and its own assertions hold."""

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, serial_only

pytestmark = serial_only()

DEMOS = sorted((REPO / "demos").glob("*.py"))


@pytest.mark.parametrize("demo", DEMOS, ids=[d.stem for d in DEMOS])
def test_demo_runs(demo: Path, tmp_path):
    import os

    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, str(demo)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert list(tmp_path.glob("*.png")), "a demo draws its result"
