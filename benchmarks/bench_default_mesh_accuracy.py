"""Benchmark: is a DNP cell's default mesh accurate? t63 on the default mesh vs converged.

    python3 benchmarks/bench_default_mesh_accuracy.py [--quick] [--former] [--tolerance TOL]

For each parameter set (40 mM unless named, r_s = 0.5 nm, D0 = 5e-16 m^2/s, P_e = 0.9,
speedup global) it runs the default mesh of a cell and the converged 1-D radial cell
(r_s/400 on the source surface; the Wigner-Seitz sphere reduces exactly to it, physics.md
1.2) at the same time tolerance (default 1e-5), so the difference is the spatial error of
the default mesh (the time errors of the same integrator cancel: see
tests/system/test_dnp_default_mesh.py). Prints one table row per case: case, DOFs of the
default mesh, t63 default, t63 converged, error %, wall time of the default run (setup and
stepping) at this tolerance and at the default time.tolerance (1e-3, the run a user makes).
``--former`` meshes with the former default (mesh_size_source = r_s/4 in 3-D, r_s/10 radial)
for the before/after table. Numbers are measurements of this machine, never asserted.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np

R_S = 0.5e-9
BASE = {
    "name": "bench_default_mesh",
    "geometry": {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": R_S},
    "model": {"type": "nuclear_diffusion", "D0": 5e-16, "speedup": "global", "source": "continuous",
              "source_polarization": 0.9, "exchange_rate": 1e6},
    "time": {"t_end": 0.03, "dt_initial": 1e-7},
    "output": {"plot": False, "render": False, "field_snapshots": 1, "progress_interval": 1e9},
}
# (label, cell, geometry changes, model changes, t_end)
CASES = [
    ("k_x 1e6, 40 mM", "dnp_radial", {}, {}, 0.03),
    ("k_x 1e6, 40 mM, barrier 0.3 nm", "dnp_radial", {"barrier_radius": 0.3e-9}, {}, 0.03),
    ("k_x 1e6, 10 mM", "dnp_radial", {"electron_concentration": "10 mM"}, {}, 0.15),
    ("k_x 50, 40 mM", "dnp_radial", {}, {"exchange_rate": 50.0}, 5.0),
    ("k_x 1e6, 40 mM, D0 5e-15", "dnp_sphere", {}, {"D0": 5e-15}, 0.003),
    ("k_x 1e6, 40 mM", "dnp_sphere", {}, {}, 0.03),
    ("k_x 50, 40 mM", "dnp_sphere", {}, {"exchange_rate": 50.0}, 5.0),
    ("k_x 1e6, 40 mM, barrier 0.3 nm", "dnp_sphere", {"barrier_radius": 0.3e-9}, {}, 0.03),
    ("k_x 1e6, 10 mM, D0 5e-15", "dnp_sphere", {"electron_concentration": "10 mM"}, {"D0": 5e-15}, 0.015),
    ("k_x 1e6, 40 mM, D0 5e-15", "dnp_cube", {}, {"D0": 5e-15}, 0.003),
]
QUICK = [0, 1, 2, 4]
CONVERGED = {"mesh_size_source": R_S / 400}
FORMER = {"dnp_radial": R_S / 10, "dnp_sphere": R_S / 4, "dnp_cube": R_S / 4}


def t63(geometry: dict, model: dict, t_end: float, tolerance: float) -> dict:
    from fem_spin.analysis import time_to_fraction
    from fem_spin.config import parse_config
    from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem
    from fem_spin.solvers import TimeStepper

    raw = copy.deepcopy(BASE)
    raw["geometry"].update(geometry)
    raw["model"].update(model)
    raw["time"].update({"t_end": t_end, "tolerance": tolerance})
    t0 = time.perf_counter()
    cfg = parse_config(raw)
    problem = NuclearDiffusionProblem(cfg).initialise()
    setup = time.perf_counter() - t0
    t, p = [0.0], [problem.mean_polarization()]

    def record(info):
        t.append(info.t)
        p.append(problem.mean_polarization())

    stepper = TimeStepper(problem, cfg.time, on_step=record)
    stepper.run()
    out = {"t63": time_to_fraction(np.array(t), np.array(p), cfg.model.source_polarization),
           "dofs": problem.num_dofs, "steps": stepper.step, "setup": setup,
           "wall": time.perf_counter() - t0}
    problem.destroy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four cheap cases")
    parser.add_argument("--former", action="store_true", help="the former default meshes")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="time.tolerance of the comparison")
    args = parser.parse_args()
    cases = [CASES[i] for i in QUICK] if args.quick else CASES
    print(f"| cell | case | default DOFs | t63 default (ms) | t63 converged (ms) | error % | "
          f"wall s (tol {args.tolerance:g}) | wall s (tol 1e-3) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, cell, geometry, model, t_end in cases:
        mesh = {"type": cell, **geometry}
        if args.former:
            mesh["mesh_size_source"] = FORMER[cell]
        ref = t63({**geometry, **CONVERGED}, model, t_end, args.tolerance)
        default = t63(mesh, model, t_end, args.tolerance)
        user = t63(mesh, model, t_end, 1e-3)
        error = 100 * (default["t63"] / ref["t63"] - 1)
        print(f"| {cell} | {label} | {default['dofs']} | {1e3 * default['t63']:.4f} | "
              f"{1e3 * ref['t63']:.4f} | {error:+.2f} | {default['wall']:.1f} | "
              f"{user['wall']:.1f} (setup {user['setup']:.1f}) |", flush=True)


if __name__ == "__main__":
    main()
