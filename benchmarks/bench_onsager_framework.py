"""Cost per step of the Onsager framework's three-quantity model (two spin species) against the
two-quantity one on the same 3-D mesh, on 1 and 2 ranks (issue 22, "Performance").

    python3 benchmarks/bench_onsager_framework.py [--sizes 16,40] [--steps 5] [--out DIR]
    mpirun -n 2 python3 benchmarks/bench_onsager_framework.py [--sizes 16,40] [--out DIR]
    python3 benchmarks/bench_onsager_framework.py --report [--out DIR]

The case is bench_models.py's onsager_transport case (the Fig. 8 scenario in a 40 nm box of
[n, n, n] hexahedra: a step of rho2 in a field gradient, dipolar order 0.2), run as

* ``onsager_transport``: physics.md 2.2 written out (nonlinear formulation, 2 unknowns/node);
* ``framework_two_quantity``: instance 1 of the framework (the same model derived from its
  entropy by ufl.diff; 2 unknowns/node);
* ``framework_two_species``: instance 2, the same 1H plus 19F at half the 1H density with the
  opposite step (p_b = 0.3 / -0.4), 3 unknowns/node, three conserved totals;

each for ``--steps`` fixed backward-Euler steps of 0.1 l^2/Gamma (adaptive = false: the same
steps for every model and rank count), with the package's default solvers (3-D: GMRES with
ILU, block Jacobi on 2 ranks). Recorded per run: DOFs (total, per rank), setup and stepping
wall time (slowest rank), Newton and Krylov iterations, wall time per step and per Newton
iteration, and the CPU/wall ratio of the stepping (below 0.85: the cores were shared with
other processes, flagged in the report). Entries are keyed by (model, n, ranks) in
DIR/bench_onsager_framework.json (rank 0 writes; reruns replace their entries); --report
writes DIR/bench_onsager_framework.md with the three-quantity/two-quantity ratios and the
2-rank efficiency T_1 / (2 T_2) per step. Numbers are measurements of this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from mpi4py import MPI

MODELS = ("onsager_transport", "framework_two_quantity", "framework_two_species")
L = 40e-9          # box edge (m); l = B_d/|grad B| = 3.1 nm, l^2/Gamma = 3.5 ms
DT = 3.5e-4        # 0.1 l^2/Gamma


def case_raw(model: str, n: int, steps: int) -> dict:
    raw = {"name": f"bench_{model}",
           "geometry": {"type": "box", "size": [L, L, L], "origin": [-L / 2] * 3, "cells": [n, n, n]},
           "model": {"type": "onsager_transport", "formulation": "nonlinear",
                     "spin_density": "4.86e22 cm^-3", "B0": 0.0893, "field": "linear",
                     "field_gradient": [4.4e4, 0.0, 0.0], "initial_dipolar_order": 0.2,
                     "initial_polarization": -0.9, "region_polarization": 0.9,
                     "initial_profile": "step", "step_width": 2e-9},
           "time": {"t_end": steps * DT, "dt_initial": DT, "adaptive": False, "scheme": "backward_euler"},
           "output": {"plot": False, "render": False}}
    if model != "onsager_transport":
        raw["model"].update(type="onsager_framework", instance="two_quantity")
    if model == "framework_two_species":
        raw["model"].update(instance="two_species", second_spin_density="2.43e22 cm^-3",
                            second_gyromagnetic_ratio=2.518148e8, second_rate_ratio=0.886,
                            second_initial_polarization=0.3, second_region_polarization=-0.4)
    return raw


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_case(model: str, n: int, steps: int, comm) -> dict:
    from fem_spin.config import parse_config
    from fem_spin.solvers import TimeStepper

    comm.barrier()
    t0 = time.perf_counter()
    config = parse_config(case_raw(model, n, steps))
    problem = type(config.model).problem_class(config, comm).initialise()
    comm.barrier()
    setup = time.perf_counter() - t0
    counts = {"newton": 0, "krylov": 0}

    def count(info):
        counts["newton"] += info.newton_iterations
        counts["krylov"] += info.linear_iterations

    stepper = TimeStepper(problem, config.time, on_step=count)
    cpu0, t1 = _cpu_s(), time.perf_counter()
    stepper.run()
    comm.barrier()
    stepping = time.perf_counter() - t1
    ratio = (_cpu_s() - cpu0) / max(stepping, 1e-9)
    im = problem.u.function_space.dofmap.index_map
    bs = problem.u.function_space.dofmap.index_map_bs
    owned = comm.allgather(im.size_local * bs)
    observables = problem.observables()
    out = {"model": model, "n": n, "ranks": comm.size, "dofs": int(problem.num_dofs),
           "dofs_per_rank_max": int(max(owned)), "steps": int(stepper.step),
           "setup_s": comm.allreduce(setup, op=MPI.MAX), "stepping_s": comm.allreduce(stepping, op=MPI.MAX),
           "newton_iterations": counts["newton"], "krylov_iterations": counts["krylov"],
           "stepping_cpu_wall_ratio_min": comm.allreduce(ratio, op=MPI.MIN),
           "load_average_1min": os.getloadavg()[0],
           "dipolar_mean_final": float(observables["dipolar_mean"])}
    out["s_per_step"] = out["stepping_s"] / max(out["steps"], 1)
    out["s_per_newton_iteration"] = out["stepping_s"] / max(out["newton_iterations"], 1)
    problem.destroy()
    return out


def _store(path: Path, new: list[dict]) -> None:
    old = json.loads(path.read_text()) if path.exists() else []
    keys = {(r["model"], r["n"], r["ranks"]) for r in new}
    rows = [r for r in old if (r["model"], r["n"], r["ranks"]) not in keys] + new
    path.write_text(json.dumps(sorted(rows, key=lambda r: (r["n"], r["ranks"], r["model"])), indent=1) + "\n")


def report(rows: list[dict]) -> str:
    def pick(model, n, ranks):
        return next((r for r in rows if (r["model"], r["n"], r["ranks"]) == (model, n, ranks)), None)

    lines = ["# Onsager framework: three quantities against two on one 3-D mesh", "",
             "`benchmarks/bench_onsager_framework.py` (see its docstring); wall times of the slowest "
             "rank; * = stepping CPU/wall < 0.85 (cores shared with other processes).", "",
             "| model | n | ranks | DOFs | DOFs/rank | steps | Newton | Krylov | setup (s) | per step (s) "
             "| per Newton it. (s) | CPU/wall |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        flag = "*" if r["stepping_cpu_wall_ratio_min"] < 0.85 else ""
        lines.append(f"| {r['model']} | {r['n']} | {r['ranks']} | {r['dofs']} | {r['dofs_per_rank_max']} | "
                     f"{r['steps']} | {r['newton_iterations']} | {r['krylov_iterations']} | {r['setup_s']:.2f} | "
                     f"{r['s_per_step']:.3f} | {r['s_per_newton_iteration']:.3f} | "
                     f"{r['stepping_cpu_wall_ratio_min']:.2f}{flag} |")
    lines += ["", "| n | ranks | two species / framework two-quantity, per step | per Newton it. "
              "| framework / onsager_transport (two quantities), per step |", "|---|---|---|---|---|"]
    for n in sorted({r["n"] for r in rows}):
        for ranks in sorted({r["ranks"] for r in rows if r["n"] == n}):
            two, one, ref = (pick(m, n, ranks) for m in ("framework_two_species", "framework_two_quantity",
                                                          "onsager_transport"))
            if two and one:
                lines.append(f"| {n} | {ranks} | {two['s_per_step'] / one['s_per_step']:.2f} | "
                             f"{two['s_per_newton_iteration'] / one['s_per_newton_iteration']:.2f} | "
                             + (f"{one['s_per_step'] / ref['s_per_step']:.2f} |" if ref else "- |"))
    lines += ["", "2-rank efficiency per step, T_1 / (2 T_2):", "", "| model | n | DOFs/rank on 2 | efficiency |",
              "|---|---|---|---|"]
    for r2 in (r for r in rows if r["ranks"] == 2):
        r1 = pick(r2["model"], r2["n"], 1)
        if r1:
            lines.append(f"| {r2['model']} | {r2['n']} | {r2['dofs_per_rank_max']} | "
                         f"{r1['s_per_step'] / (2 * r2['s_per_step']):.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,40", help="cells per edge n, comma-separated")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default="results/bench")
    parser.add_argument("--report", action="store_true", help="write the markdown report only")
    args = parser.parse_args()
    out = Path(args.out)
    path = out / "bench_onsager_framework.json"
    comm = MPI.COMM_WORLD
    if args.report:
        text = report(json.loads(path.read_text()))
        (out / "bench_onsager_framework.md").write_text(text)
        print(text)
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for model in args.models.split(","):
            rows.append(run_case(model, n, args.steps, comm))
            if comm.rank == 0:
                print(json.dumps(rows[-1]), flush=True)
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        _store(path, rows)


if __name__ == "__main__":
    main()
