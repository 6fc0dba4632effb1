"""The DNP cells' default meshes are accurate where the source is fast (issue 20, item 3).

At k_x = 1e6/s the source pins P to P_e inside r_s and the polarization leaves through a
boundary layer sqrt(D0/k_x) much thinner than r_s; the former default (h = r_s/4 at the
source) gave t63 12 % fast. The default now resolves that layer (dnp_cell.surface_size), and
t63 on the default mesh must be within 2 % of the converged radial cell (physics.md 1.2: the
Wigner-Seitz sphere reduces exactly to it for isotropic D0).

The time error is kept out of the comparison: both runs take the same time tolerance, and
the time errors of the same integrator on the same buildup cancel (measured on the radial
cell, former default mesh vs r_s/400: -2.38 % at tolerance 1e-5, -2.39 % at 1e-6, while
each t63 moves by 0.14 %), so what is compared is the spatial error. benchmarks/bench_default_mesh_accuracy.py measures
the same for more parameter sets, with time-converged references.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from fem_spin.analysis import time_to_fraction
from fem_spin.config import parse_config
from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem
from fem_spin.solvers import TimeStepper

R_S = 0.5e-9
CASE = {
    "name": "default_mesh",
    "geometry": {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": R_S},
    "model": {"type": "nuclear_diffusion", "D0": 5e-16, "speedup": "global", "source": "continuous",
              "source_polarization": 0.9, "exchange_rate": 1e6},
    "time": {"t_end": 0.03, "dt_initial": 1e-7, "tolerance": 1e-5},
    "output": {"plot": False, "render": False, "field_snapshots": 1, "progress_interval": 1e9},
}
#: the converged radial cell: r_s/400 on the surface (t63 changes by < 1e-4 from r_s/200)
CONVERGED = {"mesh_size_source": R_S / 400}


def t63(geometry=None, model=None, time=None) -> tuple[float, int]:
    """(t63 from Pbar at every accepted step, DOFs)."""
    raw = copy.deepcopy(CASE)
    for section, values in (("geometry", geometry), ("model", model), ("time", time)):
        raw[section].update(values or {})
    cfg = parse_config(raw)
    problem = NuclearDiffusionProblem(cfg).initialise()
    t, p = [0.0], [problem.mean_polarization()]

    def record(info):
        t.append(info.t)
        p.append(problem.mean_polarization())

    TimeStepper(problem, cfg.time, on_step=record).run()
    dofs = problem.num_dofs
    problem.destroy()
    return time_to_fraction(np.array(t), np.array(p), cfg.model.source_polarization), dofs


@pytest.mark.parametrize("model,geometry", [
    ({}, {}),                                              # the case, lambda = r_s/22
    ({"speedup": "local"}, {}),
    ({}, {"barrier_radius": 0.3e-9}),                      # a barrier shell 0.2 nm thick
])
def test_default_radial_cell_is_within_half_a_percent(model, geometry):
    """The radial cell (about 50 DOFs): measured 0.3 % (was 2.3 % on the former default)."""
    model = dict(model)
    time = {"t_end": model.pop("t_end")} if "t_end" in model else None
    ref, _ = t63({**geometry, **CONVERGED}, model, time)
    default, dofs = t63(geometry, model, time)
    assert abs(default / ref - 1) < 0.005, (default, ref, dofs)


def test_default_sphere_t63_is_within_two_percent_of_the_converged_radial_cell():
    """D0 = 5e-15 m^2/s, k_x = 1e6/s: lambda = 0.07 nm = r_s/7 (the issue's D0 = 5e-16 gives
    the same error at 113k DOFs, too slow for a test: benchmarks/README.md section 10).
    Time tolerance 2e-4 in both runs (see the module note). Measured -1.8 % at 28.6k DOFs
    (the former default: -12 %). Serial only: the mesh is gmsh's on rank 0 on any number of
    ranks and the partitions agree to 1e-7 (rank_agreement, test_mesh_cache), so a second
    run under mpirun (~30-60 s of the CI's parallel tier) would check nothing new."""
    case = {"model": {"D0": 5e-15}, "time": {"t_end": 0.003, "tolerance": 2e-4}}
    ref, _ = t63(CONVERGED, **case)
    sphere, dofs = t63({"type": "dnp_sphere"}, **case)
    assert abs(sphere / ref - 1) < 0.02, (sphere, ref, dofs)
