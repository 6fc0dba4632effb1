"""The benchmark script runs in its quick mode (numbers are measured, never asserted)."""

import json
import os
import subprocess
import sys

from conftest import REPO, serial_only

pytestmark = serial_only()


def test_bench_quick_mode_writes_json_and_report(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    script = str(REPO / "benchmarks" / "bench_dnp_cube.py")
    for extra in (["--quick"], ["--report"]):
        res = subprocess.run([sys.executable, script, *extra, "--out", str(tmp_path)], env=env,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads((tmp_path / "bench_dnp_cube.json").read_text())
    assert data[0]["dofs"] > 100 and data[0]["steps"] > 0 and data[0]["newton_iterations"] > 0
    assert 0 < data[0]["P_mean_final"] < 0.9
    assert "| coarse | 1 |" in (tmp_path / "bench_dnp_cube.md").read_text()
