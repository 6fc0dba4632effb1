"""Linear solver for spin Hall / SMR runs of valet_fert (issue 23, Performance): GMRES +
BoomerAMG (valet_fert's default for its nonsymmetric vector problem) against MUMPS LU on SMR
bars (Pt on YIG, theta_SH 0.056, G_r 5e14 S/m^2) of increasing size, graded through the
thickness. Per size: DOFs, set-up, the time of one case's solve (the second case, m = y: the
operator is assembled and factorised/preconditioned again for every case), iterations.

    ./fem-env python3 benchmarks/bench_spin_hall_solver.py [--sizes 20e-9,10e-9,5e-9]

Prints a table (rank 0); record `uptime` with it (2 cores shared).
"""

from __future__ import annotations

import argparse
import time

from mpi4py import MPI

from fem_spin.config import parse_config
from fem_spin.models.valet_fert import ValetFertProblem

SOLVERS = {"gmres+boomeramg": {},
           "gmres(100)+boomeramg": {"ksp_gmres_restart": 100},
           "mumps lu": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
           "mumps lu metis": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
                              "mat_mumps_icntl_7": 5}}


def raw(mesh_size: float, petsc: dict) -> dict:
    return {"name": "bench_she", "output": {"plot": False, "render": False},
            "geometry": {"type": "smr_bar", "length": 400e-9, "width": 100e-9, "thickness": 5e-9,
                         "mesh_size": mesh_size, "surface_cell": 0.17e-9, "thickness_grading": 1.1},
            "solver": {"petsc_options": dict(petsc)},
            "model": {"type": "valet_fert", "current": 1e-4, "current_contact": "left_end",
                      "ground": "right_end", "voltage_probes": ["probe_left", "probe_right"],
                      "hall_probes": ["hall_ymin", "hall_ymax"], "configurations": ["parallel"],
                      "switch_regions": [],
                      "regions": {"film": {"resistivity": 2.4e-7, "spin_diffusion_length": 3.4e-9,
                                           "spin_hall_angle": 0.056}},
                      "mixing_interfaces": {"interface": {"conductance_real": 5e14,
                                                          "magnetization": [[1, 0, 0], [0, 1, 0]]}}}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="20e-9,10e-9,5e-9")
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    if comm.rank == 0:
        print(f"{'solver':18s} {'DOFs':>8s} {'setup s':>8s} {'solve s':>8s} {'its':>5s} {'R_long(y) ohm':>16s} "
              f"{'SMR':>12s}")
    for size in (float(s) for s in args.sizes.split(",")):
        for name in args.solvers.split(","):
            petsc = SOLVERS[name]
            t0 = time.perf_counter()
            problem = ValetFertProblem(parse_config(raw(size, petsc)), comm).initialise()
            setup = time.perf_counter() - t0
            times, its = [], []
            for _ in problem.solve_cases():
                times.append(time.perf_counter())
                its.append(problem.linear_problem.solver.getIterationNumber())
            solve = times[1] - times[0]      # the second case alone
            s = problem.summary()
            if comm.rank == 0:
                print(f"{name:18s} {problem.num_dofs:8d} {setup:8.2f} {solve:8.2f} {its[1]:5d} "
                      f"{problem.results[1]['resistance_ohm']:16.10f} {s['smr_amplitude']:12.6e}", flush=True)
            problem.destroy()


if __name__ == "__main__":
    main()
