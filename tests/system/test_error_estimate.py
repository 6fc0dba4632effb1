"""Every result with its own error estimate (issue 20 item 4, fem_spin/error_estimate.py):
the estimate in summary.json brackets the true error (against a converged run) within a
factor of 3, for two models; and it is switched as [output] error_estimate says."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin import simulate
from fem_spin.config import parse_config
from fem_spin.error_estimate import format_estimate, richardson, wanted
from fem_spin.simulation import run

import test_onsager
from test_time_accuracy import DNP_RADIAL, R_S


def run_with_estimate(raw: dict, tmp_path) -> dict:
    directory = MPI.COMM_WORLD.bcast(str(tmp_path), root=0)
    raw = copy.deepcopy(raw)
    raw["output"].update(error_estimate=True, field_snapshots=0, progress_interval=1e9)
    path = run(parse_config(raw), output_dir=directory, quiet=True)
    return json.loads((path / "summary.json").read_text())["error_estimate"]


def within_factor_3(entry: dict, true_value: float) -> float:
    estimate = entry.get("space", 0.0) + entry.get("time", 0.0)
    true_error = abs(entry["value"] - true_value)
    ratio = estimate / true_error
    assert 1 / 3 < ratio < 3, (entry, true_value, ratio)
    return ratio


def test_richardson_recovers_a_known_order_and_error():
    h = 0.1
    exact, C = 2.0, 5.0
    values = [exact + C * (r * h) ** 3 for r in (1.0, np.sqrt(2), 2.0)]
    error, order, assumed = richardson(*values, np.sqrt(2), 2.0)
    assert not assumed and order == pytest.approx(3.0, rel=1e-6)
    assert error == pytest.approx(C * h ** 3, rel=1e-6)
    # no asymptotic range (the differences change sign): the nominal order, flagged
    assert richardson(1.0, 1.1, 1.05, np.sqrt(2), 2.0)[2]


@pytest.mark.parallel
def test_dnp_buildup_estimate_brackets_the_error_of_the_default_radial_mesh(tmp_path):
    """The issue's DNP cell on the default radial mesh, which now resolves the source's boundary
    layer: t63 0.37 % short, measured estimate/true 2.00 (t63), 2.04 (t90), 1.75 (final
    Pbar) with observed orders 1.18-1.31 (variable-order BDF; with BDF2 2.01, 1.92, 1.89:
    the coarsened graded meshes are not quite in the asymptotic range; the time part is
    < 4 % of the estimate); on the former r_s/10 mesh
    (2.4 % short) 0.49 (t63), 0.47 (t90), measured on main. The radial mesh's size ratios
    from its DOFs in 1-D (Geometry.mesh_dimension)."""
    raw = copy.deepcopy(DNP_RADIAL)
    raw["time"]["tolerance"] = 1e-4
    table = run_with_estimate(raw, tmp_path)
    fine = copy.deepcopy(DNP_RADIAL)
    fine["geometry"].update(mesh_size_source=R_S / 160, mesh_size_bulk=2.15e-9 / 1600)
    fine["time"]["tolerance"] = 1e-6
    converged = simulate(fine).summary
    converged = MPI.COMM_WORLD.bcast(converged if MPI.COMM_WORLD.rank == 0 else None, root=0)
    for key in ("t63_s", "t90_s"):
        within_factor_3(table[f"buildup.{key}"], converged["buildup"][key])
    within_factor_3(table["final.P_mean"], converged["final"]["P_mean"])
    assert table["buildup.t63_s"]["time"] < 0.1 * table["buildup.t63_s"]["space"]
    assert format_estimate({"buildup.t63_s": table["buildup.t63_s"]})[0].startswith("t63 = 7.8")


@pytest.mark.parallel
def test_onsager_estimate_brackets_the_error_of_the_dipolar_order(tmp_path):
    """The Fig. 8-like step (test_onsager) on 80 cells: measured estimate/true 1.07 with the
    observed order 1.9."""
    raw = test_onsager.raw_config(time={"tolerance": 1e-5, "t_end": 2 * test_onsager.T_UNIT},
                                  geometry={"cells": 80}, output={})
    table = run_with_estimate(raw, tmp_path)
    fine = copy.deepcopy(raw)
    fine["geometry"]["cells"] = 640
    fine["time"]["tolerance"] = 1e-6
    converged = simulate(fine).summary
    converged = MPI.COMM_WORLD.bcast(converged if MPI.COMM_WORLD.rank == 0 else None, root=0)
    within_factor_3(table["final.dipolar_mean"], converged["final"]["dipolar_mean"])


def test_auto_estimates_short_runs_only_and_false_never(monkeypatch):
    monkeypatch.delenv("FEM_SPIN_ERROR_ESTIMATE", raising=False)
    raw = copy.deepcopy(DNP_RADIAL)
    config = parse_config(raw)
    assert wanted(config, {"status": "completed", "wall_time_s": 5.0})
    assert not wanted(config, {"status": "completed", "wall_time_s": 500.0})
    assert not wanted(config, {"status": "stopped", "wall_time_s": 5.0})
    raw["output"]["error_estimate"] = False
    assert not wanted(parse_config(raw), {"status": "completed", "wall_time_s": 5.0})
    raw["output"]["error_estimate"] = True
    assert wanted(parse_config(raw), {"status": "completed", "wall_time_s": 500.0})
    monkeypatch.setenv("FEM_SPIN_ERROR_ESTIMATE", "off")
    assert not wanted(config, {"status": "completed", "wall_time_s": 5.0})
