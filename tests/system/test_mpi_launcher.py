"""A batch scheduler's SIGTERM to ``mpirun`` (issue 18): through ``fem-spin-mpirun``
(fem_spin/mpi_launcher.py, what ``./fem-env mpirun`` runs) the run stops cleanly on both ranks,
exits 130 with fem-spin's one stop line, and keeps summary.json even when the signal comes
twice. Plain Open MPI 5 mpirun kills the ranks 250 ms after a SIGTERM and exits 1."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import _cli_env, make_raw, serial_only
from fem_spin.config import dump_toml
from fem_spin.io import read_timeseries
from fem_spin.mpi_launcher import _relay_stderr

pytestmark = [serial_only(), pytest.mark.serial]  # spawns mpirun: run alone (Makefile test-serial)

BANNER = ("--------------------------------------------------------------------------\n"
          "prterun detected that one or more processes exited with non-zero status,\n"
          "thus causing the job to be terminated. The first process to do so was:\n\n"
          "   Process name: [prterun-vm-10690@1,0]\n"
          "   Exit code:    {code}\n"
          "--------------------------------------------------------------------------\n")


def relayed(text: str) -> str:
    sink = io.StringIO()
    _relay_stderr(io.StringIO(text), sink)
    return sink.getvalue()


def test_prterun_report_is_dropped_only_after_fem_spins_own_message():
    line = "fem-spin: error: stopped by SIGTERM\n"
    assert relayed(line + BANNER.format(code=130)) == line
    assert relayed(line + BANNER.format(code=2)) == line
    crash = BANNER.format(code=139)   # a segfault: mpirun's report is all the user gets
    assert relayed(crash) == crash
    other = "-----\nsome other boxed notice\n-----\nafter\n"
    assert relayed(other) == other
    assert relayed("----- unterminated\nline\n") == "----- unterminated\nline\n"


def _launch(tmp_path, name: str):
    raw = make_raw(name=name, geometry={"cells": [60, 6, 6]},
                   time={"t_end": 2000.0, "dt_initial": 1e-3, "adaptive": False})
    (tmp_path / "run.toml").write_text(dump_toml(raw))
    cmd = [sys.executable, "-m", "fem_spin.mpi_launcher", "mpirun", "-n", "2", sys.executable, "-m",
           "fem_spin", "run", str(tmp_path / "run.toml"), "--output-dir", str(tmp_path), "-q"]
    proc = subprocess.Popen(cmd, env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    series = tmp_path / name / "timeseries.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not series.exists() or len(series.read_text().splitlines()) < 6):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    return proc, tmp_path / name


def _check_stopped(proc, run_dir):
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.count("fem-spin: error") == 1 and "SIGTERM" in err, err
    assert "Traceback" not in err and "prterun detected" not in err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"].startswith("stopped") and summary["ranks"] == 2
    series = read_timeseries(run_dir / "timeseries.csv")
    assert len(series["t"]) >= 6 and np.all(np.diff(series["t"]) > 0)
    assert (run_dir / "checkpoint" / "manifest.json").is_file()
    assert (run_dir / "fields.pvd").read_text().strip().endswith("</VTKFile>")


def test_sigterm_to_mpirun_stops_both_ranks_and_exits_130(tmp_path):
    proc, run_dir = _launch(tmp_path, "once")
    proc.send_signal(signal.SIGTERM)
    _check_stopped(proc, run_dir)


def test_two_sigterms_50_ms_apart_keep_summary_json(tmp_path):
    proc, run_dir = _launch(tmp_path, "twice")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _check_stopped(proc, run_dir)
