"""What a run of the Onsager framework writes (issue 22, step 5): per conserved quantity its
density as fields and probe profiles, its total and drift, the entropy, the equilibrium of
the conserved totals (equilibrium.json, equilibrium_profiles.csv) and the pictures, for the
two-species instance.

The equilibrium written is checked against ``onsager_two_species.equilibrium_from_totals``
called here on the totals of the time series' first row, with the nodes and lumped weights
of the 1-D mesh computed by hand (uniform cells: w = Delta h, half at the ends).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.analytic import onsager_two_species as two
from fem_spin.config import parse_config
from fem_spin.io.timeseries import read_timeseries
from fem_spin.simulation import run as run_simulation

from test_onsager import T_UNIT
from test_onsager_two_species import two_species_config
from test_onsager_framework_3d import config_3d

HBAR = 1.054571817e-34


def _run(raw, directory) -> Path:
    raw["output"] = {**raw.get("output", {}), "directory": str(directory), "field_snapshots": 3,
                     "progress_interval": 1e9}
    comm = MPI.COMM_WORLD
    return run_simulation(parse_config(raw), comm=comm, overwrite=True, quiet=True)


@pytest.mark.parallel
def test_two_species_run_writes_each_quantity_and_the_equilibrium_of_its_totals(tmp_path_factory):
    comm = MPI.COMM_WORLD
    base = comm.bcast(str(tmp_path_factory.mktemp("o2s")) if comm.rank == 0 else None, root=0)
    raw = two_species_config(geometry={"cells": 40}, time={"t_end": 3 * T_UNIT, "tolerance": 1e-2})
    raw["output"] = {"plot": True, "render": False}
    path = _run(raw, base)
    if comm.rank != 0:
        return
    files = {f.name for f in path.iterdir()}
    for name in ("timeseries.csv", "summary.json", "fields.pvd", "profiles.csv", "profiles_second_polarization.csv",
                 "profiles_dipolar_order.csv", "equilibrium.json", "equilibrium_profiles.csv",
                 "conserved_totals.png", "density_profiles.png", "entropy.png"):
        assert name in files, name
    series = read_timeseries(path / "timeseries.csv")
    quantities = ("moment_a", "moment_b", "energy")
    summary = json.loads((path / "summary.json").read_text())
    for name in quantities:
        assert summary[f"{name}_drift_relative"] < 1e-10 and summary["total_scales"][name] > 0, name
    assert np.all(np.diff(series["entropy"]) >= -1e-12 * abs(series["entropy"][0]))
    eq = json.loads((path / "equilibrium.json").read_text())

    # the equilibrium of the first row's totals, independently of the run's mesh objects
    cfg = parse_config(raw)
    p, g = cfg.model, cfg.geometry
    Delta = p.spin_density + p.second_spin_density
    x = np.linspace(g.x_min, g.x_max, g.cells + 1)
    w = np.full(x.size, Delta * (x[1] - x[0]))
    w[[0, -1]] /= 2
    B = p.B0 + p.field_gradient[0] * x
    mu_a, mu_b = 0.5 * HBAR * p.gyromagnetic_ratio, 0.5 * HBAR * p.second_gyromagnetic_ratio
    x_a, kappa = p.spin_density / Delta, mu_b / mu_a           # one dipolar field for both
    scales = (mu_a, mu_b, mu_a * p.dipolar_field)
    totals = [series[name][0] / s for name, s in zip(quantities, scales)]
    # the run's energy is referred to B0 (theory note 1.6)
    ref = two.equilibrium_from_totals(B, w, p.dipolar_field, x_a, kappa, mu_b / mu_a, totals, B_ref=p.B0,
                                      referred=True)
    print("theta", eq["theta"], ref.theta, "omega_a0", eq["omega_a0"], ref.omega_a0,
          "omega_b0", eq["omega_b0"], ref.omega_b0)
    for key in ("theta", "omega_a0", "omega_b0"):
        assert eq[key] == pytest.approx(getattr(ref, key), rel=1e-8, abs=1e-12), key
    assert abs(ref.theta) > 1e-3                              # the field separates: not trivial
    # its profiles on the probe line: the P1 interpolant of the nodal equilibrium
    profiles = np.loadtxt(path / "equilibrium_profiles.csv", delimiter=",", skiprows=1)
    along = profiles[:, 0] + g.x_min
    expected = (ref.rho[0], ref.rho[1] / x_a, ref.rho[2] / (1 - x_a))
    for k, values in enumerate(expected):
        assert np.abs(profiles[:, k + 1] - np.interp(along, x, values)).max() < 1e-8, k
    # its totals are the initial ones (the energy referred to B0, as its scale), the run's are kept
    totals = eq["conserved_totals"]
    for name in quantities:
        entry = totals[name]
        assert entry["initial"] == series[name][0] and entry["final"] == series[name][-1]
        difference = entry["equilibrium"] - entry["initial"]
        print(name, "equilibrium - initial, over the scale", difference / entry["scale"])
        assert abs(difference) < 1e-10 * entry["scale"], name
    S = eq["entropy_J_per_K"]
    assert S["initial"] < S["final"] < S["equilibrium"]
    assert math.isclose(S["final"], series["entropy"][-1], rel_tol=1e-14)
    assert eq["equilibrium_range"]["P_max"] == pytest.approx(max(expected[1]), abs=1e-10)
    assert eq["equilibrium_range"]["Pb_min"] == pytest.approx(min(expected[2]), abs=1e-10)
    assert eq["max_distance_to_equilibrium"] > 0.01           # still on its way at t_end


def test_two_species_3d_run_draws_both_polarizations(tmp_path):
    """A 3-D run renders species a's and b's polarizations (pyvista, off-screen)."""
    from fem_spin.viz.render import RenderUnavailable, _plotter

    try:
        _plotter().close()
    except RenderUnavailable as exc:
        pytest.skip(str(exc))
    raw = config_3d("two_species", time={"t_end": 2 * T_UNIT, "tolerance": 1e-2})
    raw["output"] = {"plot": False, "render": True}
    path = _run(raw, tmp_path)
    for name in ("polarization_3d.png", "polarization_3d_series.png", "species_polarizations_3d.png"):
        assert (path / name).stat().st_size > 10_000, name
