"""Shared helpers: small configurations built in memory, and a runner for CLI subprocesses.

The tests come in two tiers: ``tests/unit/`` (fast, one class or function at a time, no
long runs: ``make test-fast``) and ``tests/system/`` (exact and manufactured solutions,
conservation, cross-model limits, end-to-end runs, MPI, benchmarks' quick modes, demos).
``tests/model_kit.py`` is the shared kit every transient model runs.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fem_spin.config import parse_config

# [output] error_estimate = "auto" would rerun every short run of the suite on coarser meshes;
# the tests that check the estimate ask for it explicitly (error_estimate = true)
os.environ.setdefault("FEM_SPIN_ERROR_ESTIMATE", "off")
# the suite's meshes go to a mesh cache of its own (fem_spin/geometry/mesh_cache.py), never
# the user's: a directory made for this session (inherited by the CLI subprocesses), removed
# at exit by the process that made it
if "FEM_SPIN_MESH_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _MESH_CACHE = tempfile.mkdtemp(prefix="fem_spin_test_mesh_cache_")
    os.environ["FEM_SPIN_MESH_CACHE"] = _MESH_CACHE
    atexit.register(shutil.rmtree, _MESH_CACHE, True)

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# a few test modules share their cases (e.g. test_fuzz_config.SEEDS, test_dnp's configurations)
# across the tiers: both tier directories are importable from either
for _tier in ("system", "unit"):
    if str(HERE / _tier) not in sys.path:
        sys.path.insert(0, str(HERE / _tier))

BASE = {
    "name": "test",
    "geometry": {"type": "box", "size": [1e-7, 1e-8, 1e-8], "cells": [16, 1, 1]},
    "model": {"type": "nuclear_diffusion", "D0": 1e-16, "speedup": "none"},
    "time": {"t_end": 5.0, "dt_initial": 0.05, "adaptive": False},
    "output": {"plot": False, "render": False, "field_snapshots": 2, "progress_interval": 1e9},
}


def make_raw(**sections) -> dict:
    """BASE with sections updated key by key: make_raw(model={"speedup": "local"})."""
    raw = copy.deepcopy(BASE)
    for name, table in sections.items():
        if isinstance(table, dict):
            raw.setdefault(name, {}).update(table)
        else:
            raw[name] = table
    return raw


def make_config(**sections):
    return parse_config(make_raw(**sections))


def run_cli(*args, cwd=None, timeout=600, mpi: int = 0) -> subprocess.CompletedProcess:
    """Run ``fem-spin ARGS`` (optionally under mpirun -n N) in a subprocess."""
    cmd = [sys.executable, "-m", "fem_spin", *args]
    if mpi:
        cmd = ["mpirun", "-n", str(mpi), *cmd]
    return subprocess.run(cmd, cwd=cwd, env=_cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def run_until_rows_then_sigterm(config: Path, output_dir: Path, series: Path, rows: int,
                                timeout: float = 120) -> tuple[int, str]:
    """``fem-spin run CONFIG`` in a subprocess, SIGTERM once ``series`` (its time-series CSV)
    holds ``rows`` lines; returns (exit code, stderr)."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "fem_spin", "run", str(config), "--output-dir",
                             str(output_dir), "-q"], env=_cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline and (not series.exists() or len(series.read_text().splitlines()) < rows):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def resume_until_done(path) -> int:
    """``fem_spin.simulation.resume(path)`` again and again while time.max_steps pauses it
    (the limit holds for every job); returns the number of segments, the first run included."""
    from fem_spin.simulation import Paused, resume

    segments = 1
    while True:
        segments += 1
        try:
            resume(path, quiet=True)
            return segments
        except Paused:
            continue


def _cli_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    # A subprocess must not inherit the parent's MPI singleton state.
    for key in list(env):
        if key.startswith(("OMPI_COMM_WORLD", "PMIX_", "PMI_")):
            env.pop(key)
    return env


@pytest.fixture
def comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def serial_only():
    from mpi4py import MPI

    return pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="spawns its own processes")
