"""The Onsager framework's instances on a 3-D mesh, on 1 and 2 ranks (issue 22).

Both instances (two_quantity: one species; two_species: three quantities) on a small box of
hexahedra with a field gradient oblique to the axes and a ball of opposite polarization:
every conserved total kept to 1e-10 of its scale, the entropy non-decreasing at every
backward-Euler step (theory note 1.4-1.5), and |rho| < 1 per species under steps of over
ten times the diffusion time of a cell. The 1-D versions are in test_onsager_framework.py
and test_onsager_two_species.py; all are marked ``parallel``.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.config import parse_config
from fem_spin.models.onsager_framework import OnsagerFrameworkProblem
from fem_spin.solvers import TimeStepper

from test_onsager import ELL, T_UNIT
from test_onsager_framework import framework_config, run
from test_onsager_two_species import SECOND

#: 40 x 20 x 20 l^3 in 6 x 3 x 3 hexahedra (112 nodes); the ball holds ~10 of them
BOX = {"type": "box", "origin": [-20 * ELL, -10 * ELL, -10 * ELL], "size": [40 * ELL, 20 * ELL, 20 * ELL],
       "cells": [6, 3, 3]}
#: |grad B| = 1e4 T/m as in the 1-D tests, oblique so that every direction carries flux
GRADIENT = [float(g) for g in 1e4 * np.array([2.0, 1.0, 1.0]) / np.sqrt(6.0)]
BALL = {"initial_profile": "ball", "region_center": [3 * ELL, 2 * ELL, -1 * ELL], "region_radius": 8 * ELL,
        "field_gradient": GRADIENT}
INSTANCES = {"two_quantity": {}, "two_species": SECOND}


def config_3d(instance: str, model: dict | None = None, time: dict | None = None) -> dict:
    raw = framework_config(geometry=BOX, model={**BALL, **INSTANCES[instance], **(model or {})},
                           time=time or {})
    raw["geometry"] = dict(BOX)       # the interval's keys would be unknown to a box
    return raw


@pytest.mark.parallel
@pytest.mark.parametrize("instance", list(INSTANCES))
def test_3d_totals_conserved_and_entropy_grows_every_step(instance):
    problem, rows, _ = run(config_3d(instance, time={"scheme": "backward_euler", "t_end": 4 * T_UNIT,
                                                     "tolerance": 1e-2}))
    assert len(rows) > 10
    # the run moved: the dipolar order took energy from the Zeeman reservoirs
    assert abs(rows[-1]["dipolar_mean"] - rows[0]["dipolar_mean"]) > 1e-3
    for name in problem.system.quantities:
        values = np.array([r[name] for r in rows])
        drift = np.max(np.abs(values - values[0])) / problem.total_scales[name]
        print(instance, name, "drift / scale", drift)
        assert drift < 1e-10, name
    entropy = np.array([r["entropy"] for r in rows])
    print(instance, "smallest entropy step / S", np.diff(entropy).min() / abs(entropy[0]))
    assert np.diff(entropy).min() >= -1e-12 * abs(entropy[0])
    assert entropy[-1] - entropy[0] > 1e-3 * abs(entropy[0])
    assert max(r["rho_max"] for r in rows) < 1


@pytest.mark.parallel
@pytest.mark.parametrize("instance", list(INSTANCES))
def test_3d_bounded_with_huge_steps(instance):
    """|p| = 0.9999 on both sides of the ball's sharp edge, steps of 500 l^2/Gamma (11 times
    the diffusion time h^2/Gamma of a cell, h = 6.7 l; the first is cut by Newton failures and
    the steps grow back to 500): rho(Omega) stays a state, and the totals are kept."""
    near = {"initial_dipolar_order": 0.0, "initial_polarization": -0.9999, "region_polarization": 0.9999}
    if instance == "two_species":
        near.update(second_initial_polarization=0.9999, second_region_polarization=-0.9999)
    cfg = parse_config(config_3d(instance, model=near, time={
        "t_end": 2000 * T_UNIT, "dt_initial": 500 * T_UNIT, "adaptive": False, "scheme": "backward_euler"}))
    problem = OnsagerFrameworkProblem(cfg, MPI.COMM_WORLD).initialise()
    rows, steps = [problem.observables()], []

    def record(info):
        rows.append(problem.observables())
        steps.append(info.dt)

    TimeStepper(problem, cfg.time, on_step=record).run()
    print(instance, "steps / (l^2/Gamma)", np.array(steps) / T_UNIT)
    assert rows[0]["rho_max"] > 0.9998 and max(steps) >= 500 * T_UNIT
    assert max(r["rho_max"] for r in rows) < 1
    for key in ("P_min", "P_max") + (("Pb_min", "Pb_max") if instance == "two_species" else ()):
        assert all(-1 < r[key] < 1 for r in rows), key
    # The energy is referred to B0 (theory note 1.6): near saturation Newton stops with the
    # moments kept to ~1e-12 of their scales (printed), which the lab-frame energy would carry
    # ~250 times over (B0 = 1 T against B_d + max|B - B0| = 4 mT); referred to B0 it is checked
    # as it is reported.
    series = {name: np.array([r[name] for r in rows]) for name in problem.system.quantities}
    for name, values in series.items():
        drift = np.max(np.abs(values - values[0])) / problem.total_scales[name]
        print(instance, name, "drift / scale", drift)
        assert drift < 1e-10, name


@pytest.mark.parallel
def test_energy_of_the_3d_two_species_example_conserved_with_its_scale():
    """examples/onsager_two_species_3d.toml at its time tolerance (1e-2) and t_end on a
    coarser mesh (13 steps): every total, the energy included, kept to 1e-10 of its
    documented scale, which leaves B0 times the moments out (checked: the scale is below 1 %
    of B0 (|M_a| + |M_b|)). The energy is referred to B0 (theory note 1.6); measured 6e-13,
    where the lab-frame energy E - B0 (M_a + M_b) of the same run drifts 8e-10 of this scale
    (printed)."""
    import tomllib

    from conftest import REPO

    with open(REPO / "examples" / "onsager_two_species_3d.toml", "rb") as f:
        raw = tomllib.load(f)
    raw["geometry"]["cells"] = [6, 3, 3]
    raw["output"] = {"plot": False, "render": False}
    problem, rows, _ = run(raw)
    assert len(rows) > 5 and problem.mesh.topology.dim == 3
    assert abs(rows[-1]["dipolar_mean"] - rows[0]["dipolar_mean"]) > 1e-3       # energy moved
    scales = problem.total_scales
    assert scales["energy"] < 1e-2 * problem.params.B0 * (scales["moment_a"] + scales["moment_b"])
    for name in problem.system.quantities:
        values = np.array([r[name] for r in rows])
        drift = np.max(np.abs(values - values[0])) / scales[name]
        print("3-D example", name, "drift / scale", drift, "steps", len(rows) - 1)
        assert drift < 1e-10, name
    lab = np.array([r["energy"] - problem.params.B0 * (r["moment_a"] + r["moment_b"]) for r in rows])
    print("3-D example: lab-frame energy drift / scale", np.max(np.abs(lab - lab[0])) / scales["energy"])
