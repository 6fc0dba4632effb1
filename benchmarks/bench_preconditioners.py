"""Benchmark: cost per step against DOFs on the periodic DNP cube, ILU(0) vs multigrid.

    python3 benchmarks/bench_preconditioners.py [--quick] [--out DIR]        # one rank
    mpirun -n 2 python3 benchmarks/bench_preconditioners.py [--quick] [--out DIR]
    python3 benchmarks/bench_preconditioners.py --report [--out DIR]         # markdown

The fast case of bench_fipy_comparison.py (k_x = 1e3 1/s, t_end = 0.3 s, global speed-up)
on its prescribed grid of 129 backward-Euler steps, so that every size takes the same
steps and the cost of a step is comparable, at h_s = r_s/12, r_s/20, r_s/30 (27k, 119k and
about 400k DOFs), with ``[solver] preconditioner`` = ilu and multigrid. Each run records
DOFs, multigrid levels, Newton and Krylov iterations, solve time, time per DOF per step,
Pbar(t_end), the peak resident memory per rank (of the process so far: sizes run in
increasing order), PETSc's flop count of the run per DOF and step (every floating-point
operation PETSc logs: Krylov iterations, preconditioner set-up and application, coarse
operator updates, residuals; the work, which caches do not change), and the machine's mat-vec cost per DOF with the same operator (the baseline of
linear work: its growth with DOFs is the memory hierarchy, not the algorithm), appended to
DIR/bench_preconditioners.json. --report writes DIR/bench_preconditioners.md with the
per-step cost exponent between consecutive sizes next to the mat-vec exponent. Numbers are
measurements of this machine, never asserted by tests.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

from mpi4py import MPI
from petsc4py import PETSc

sys.path.insert(0, str(Path(__file__).resolve().parent))

DIVISIONS = [12, 20, 30]
QUICK_DIVISIONS = [4, 6]
PRECONDITIONERS = ["ilu", "multigrid"]


def run_case(divisions: float, preconditioner: str) -> dict:
    import bench_fipy_comparison as fipy_bench
    from bench_models import _matvec_ns_per_dof
    from fem_spin.config import parse_config
    from fem_spin.models import NuclearDiffusionProblem
    from fem_spin.solvers import TimeStepper

    case = fipy_bench.CASES["fast"]
    raw = fipy_bench.raw_config(case, divisions)
    raw["name"] = "bench_preconditioners"
    raw["solver"] = {"preconditioner": preconditioner}
    grid = fipy_bench.step_grid(case["t_end"], fipy_bench.STEPS)
    comm = MPI.COMM_WORLD
    comm.barrier()
    t0 = time.perf_counter()
    config = parse_config(raw)
    problem = NuclearDiffusionProblem(config, comm).initialise()
    t_setup = time.perf_counter() - t0
    totals = {"newton": 0, "krylov": 0, "rejected": 0}

    def count(info):
        totals["newton"] += info.newton_iterations
        totals["krylov"] += info.linear_iterations
        totals["rejected"] += info.rejected

    failures: dict[str, int] = {}     # reasons of failed step attempts (retried smaller)
    solve_step = problem.solve_step

    def recorded_solve_step():
        result = solve_step()
        if not result.converged:
            reason = result.reason.split(" (")[0][:120]
            failures[reason] = failures.get(reason, 0) + 1
        return result

    problem.solve_step = recorded_solve_step
    stepper = TimeStepper(problem, config.time, output_times=[float(t) for t in grid], on_step=count)
    flops_before = PETSc.Log.getFlops()
    comm.barrier()
    t1 = time.perf_counter()
    stepper.run()
    comm.barrier()
    t_solve = time.perf_counter() - t1
    flops = comm.allreduce(PETSc.Log.getFlops() - flops_before, op=MPI.SUM)
    multigrid = problem.newton.assembler.multigrid
    complexity = None
    if multigrid is not None:   # nonzeros of all levels over those of the fine operator
        fine = problem.newton.A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"]
        coarse = sum(A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"] for A in multigrid.operators)
        complexity = 1.0 + coarse / fine
    out = {"divisions": divisions, "preconditioner": preconditioner, "ranks": comm.size,
           "dofs": problem.num_dofs, "levels": multigrid.level_sizes if multigrid else None,
           "operator_complexity": complexity, "steps": stepper.step,
           "rejected_steps": totals["rejected"], "failures": failures,
           "newton_iterations": totals["newton"],
           "krylov_iterations": totals["krylov"], "setup_s": t_setup, "solve_s": t_solve,
           "us_per_dof_step": 1e6 * t_solve / (problem.num_dofs * max(stepper.step, 1)),
           "flops_per_dof_step": flops / (problem.num_dofs * max(stepper.step, 1)),
           "matvec_ns_per_dof": _matvec_ns_per_dof(problem, comm),
           "peak_rss_mb_per_rank": comm.allreduce(
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, op=MPI.MAX),
           "P_mean_final": problem.mean_polarization()}
    problem.destroy()
    return out


def _exponent(a: dict, b: dict, key: str) -> float:
    """d log(total cost) / d log(DOFs) between two runs, from a per-DOF quantity ``key``."""
    return 1.0 + math.log(b[key] / a[key]) / math.log(b["dofs"] / a["dofs"])


def report(out_dir: Path) -> Path:
    entries = json.loads((out_dir / "bench_preconditioners.json").read_text())
    latest = {}
    for e in entries:
        latest[(e["ranks"], e["preconditioner"], e["divisions"])] = e
    lines = ["| ranks | preconditioner | DOFs | levels | Newton | Krylov | Krylov/Newton | solve (s) | "
             "us/DOF/step | time exponent | mat-vec ns/DOF | mat-vec exponent | "
             "PETSc flop/DOF/step | flop exponent | rejected | peak MB/rank | Pbar(t_end) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    verdicts = []
    for (ranks, pc) in sorted({k[:2] for k in latest}):
        runs = sorted((e for k, e in latest.items() if k[:2] == (ranks, pc)), key=lambda e: e["dofs"])
        for i, e in enumerate(runs):
            slope = base = work = ""
            if i:
                s = _exponent(runs[i - 1], e, "us_per_dof_step")
                b = _exponent(runs[i - 1], e, "matvec_ns_per_dof")
                w = _exponent(runs[i - 1], e, "flops_per_dof_step")
                slope, base, work = f"{s:.2f}", f"{b:.2f}", f"{w:.2f}"
                verdicts.append((ranks, pc, runs[i - 1]["dofs"], e["dofs"], s, b, w))
            levels = "-" if not e["levels"] else len(e["levels"])
            peak = e.get("peak_rss_mb_per_rank")
            cells = [ranks, pc, e["dofs"], levels, e["newton_iterations"], e["krylov_iterations"],
                     f"{e['krylov_iterations'] / e['newton_iterations']:.1f}", f"{e['solve_s']:.1f}",
                     f"{e['us_per_dof_step']:.2f}", slope, f"{e['matvec_ns_per_dof']:.1f}", base,
                     f"{e['flops_per_dof_step']:.0f}", work, e.get("rejected_steps", "-"),
                     "-" if peak is None else f"{peak:.0f}", f"{e['P_mean_final']:.6f}"]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append("")
    for ranks, pc, n0, n1, s, b, w in verdicts:
        judged = ("linear up to the memory hierarchy" if s <= b + 0.05 else
                  f"{s - b:+.2f} above the mat-vec baseline")
        lines.append(f"- {pc}, {ranks} rank(s), {n0} -> {n1} DOFs: cost per step ~ DOFs^{s:.2f} "
                     f"(mat-vec DOFs^{b:.2f}: {judged}); work per step ~ DOFs^{w:.2f} "
                     f"({'linear' if w <= 1.1 else 'more than linear'})")
    path = out_dir / "bench_preconditioners.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small sizes (a smoke run)")
    parser.add_argument("--report", action="store_true", help="write the markdown table only")
    parser.add_argument("--divisions", type=float, nargs="+", default=None,
                        help=f"source resolutions r_s/d to run (default {DIVISIONS})")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    PETSc.Log.begin()   # flop counts: the work, whatever the caches do
    if args.report:
        if comm.rank == 0:
            print(report(args.out).read_text())
        return
    results = []
    for divisions in args.divisions or (QUICK_DIVISIONS if args.quick else DIVISIONS):
        for pc in PRECONDITIONERS:
            entry = run_case(divisions, pc)
            results.append(entry)
            if comm.rank == 0:
                print(json.dumps(entry), flush=True)
    if comm.rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "bench_preconditioners.json"
        old = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps(old + results, indent=1))


if __name__ == "__main__":
    main()
