"""Benchmark: CW DNP buildup in the periodic cube (physics.md 1.2) at three mesh sizes.

    python3 benchmarks/bench_dnp_cube.py [--quick] [--out DIR]          # one rank
    mpirun -n 2 python3 benchmarks/bench_dnp_cube.py [--quick] [--out DIR]
    python3 benchmarks/bench_dnp_cube.py --report [--out DIR]           # markdown table

Each run records DOFs, time steps, Newton and Krylov iterations, wall time, time per DOF
per step and the peak resident memory per rank, appended to DIR/bench_dnp_cube.json
(one entry per rank count and size); --report writes DIR/bench_dnp_cube.md. Numbers are
measurements of this machine, never asserted by tests.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from mpi4py import MPI

R_S = 0.6e-9
SIZES = {"coarse": R_S / 2, "medium": R_S / 4, "fine": R_S / 6}


def run_case(label: str, h_source: float, t_end: float) -> dict:
    from fem_spin.config import parse_config
    from fem_spin.models import NuclearDiffusionProblem
    from fem_spin.solvers import TimeStepper

    raw = {"preset": "glassy_1H_nitroxide", "name": "bench",
           "geometry": {"type": "dnp_cube", "mesh_size_source": h_source},
           "model": {"speedup": "global", "source_polarization": 0.9},
           "time": {"t_end": t_end, "dt_initial": 1e-5, "tolerance": 2e-3}}
    comm = MPI.COMM_WORLD
    comm.barrier()
    t0 = time.perf_counter()
    config = parse_config(raw)
    problem = NuclearDiffusionProblem(config, comm).initialise()
    t_setup = time.perf_counter() - t0
    totals = {"newton": 0, "krylov": 0}

    def count(info):
        totals["newton"] += info.newton_iterations
        totals["krylov"] += info.linear_iterations

    stepper = TimeStepper(problem, config.time, on_step=count)
    t1 = time.perf_counter()
    stepper.run()
    comm.barrier()
    t_solve = time.perf_counter() - t1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    peak = comm.allreduce(peak_mb, op=MPI.MAX)
    out = {"case": label, "ranks": comm.size, "dofs": problem.num_dofs, "steps": stepper.step,
           "newton_iterations": totals["newton"], "krylov_iterations": totals["krylov"],
           "setup_s": t_setup, "solve_s": t_solve,
           "us_per_dof_step": 1e6 * t_solve / (problem.num_dofs * max(stepper.step, 1)),
           "peak_rss_mb_per_rank": peak, "P_mean_final": problem.mean_polarization()}
    problem.destroy()
    return out


def report(out_dir: Path) -> Path:
    data = json.loads((out_dir / "bench_dnp_cube.json").read_text())
    lines = ["| case | ranks | DOFs | steps | Newton | Krylov | solve (s) | us/DOF/step | peak MB/rank | Pbar(t_end) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in data:
        lines.append(f"| {r['case']} | {r['ranks']} | {r['dofs']} | {r['steps']} | {r['newton_iterations']} | "
                     f"{r['krylov_iterations']} | {r['solve_s']:.2f} | {r['us_per_dof_step']:.1f} | "
                     f"{r['peak_rss_mb_per_rank']:.0f} | {r['P_mean_final']:.6f} |")
    serial = {r["case"]: r for r in data if r["ranks"] == 1}
    par = {r["case"]: r for r in data if r["ranks"] == 2}
    notes = []
    for case in serial:
        if case in par:
            eff = serial[case]["solve_s"] / (2 * par[case]["solve_s"])
            notes.append(f"- {case}: parallel efficiency on 2 ranks {100 * eff:.0f} %")
    md = out_dir / "bench_dnp_cube.md"
    md.write_text("# Periodic-cube DNP buildup benchmark\n\n" + "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n")
    return md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one coarse case, short run (CI)")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--out", default="results/bench")
    args = ap.parse_args()
    out_dir = Path(args.out)
    comm = MPI.COMM_WORLD
    if args.report:
        if comm.rank == 0:
            print(report(out_dir).read_text())
        return
    sizes = {"coarse": SIZES["coarse"]} if args.quick else SIZES
    t_end = 0.02 if args.quick else 0.3
    results = [run_case(label, h, t_end) for label, h in sizes.items()]
    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "bench_dnp_cube.json"
        old = json.loads(path.read_text()) if path.exists() else []
        old = [r for r in old if not (r["ranks"] == comm.size and r["case"] in sizes)]
        path.write_text(json.dumps(old + results, indent=2) + "\n")
        for r in results:
            print(f"{r['case']:>7} ranks={r['ranks']} dofs={r['dofs']} steps={r['steps']} "
                  f"solve={r['solve_s']:.2f}s us/dof/step={r['us_per_dof_step']:.1f} "
                  f"peak={r['peak_rss_mb_per_rank']:.0f}MB", flush=True)


if __name__ == "__main__":
    main()
