"""Linear solvers for spin Hall / SMR / spin absorption runs of valet_fert (issue 23,
Performance). The spin Hall terms and the mixing boundary condition make the coupled
charge-spin operator (4 unknowns per node: mu_c, mu_s x/y/z) nonsymmetric; this measures, per
device, mesh size, solver and number of ranks: DOFs, set-up (mesh, spaces, forms, matrix),
the time of each solved case (assembly + preconditioner + Krylov solve), Krylov iterations,
and the peak resident set size per rank (ru_maxrss after resetting the peak, as
bench_models.py / bench_memory.py do).

Devices (the examples, scaled by mesh size):

* ``smr``: the SMR bar of examples/smr_pt_yig.toml (Pt 5 nm on YIG, theta_SH 0.056, the
  YIG/Pt@300K mixing conductance), 400 x 100 nm, hexahedra graded from 0.17 nm at both faces;
  the size parameter is the lateral cell size ``mesh_size`` (m). Cases: m = x (spin absorbed
  by the YIG), then m = y.
* ``absorption``: the Py/Cu/Pt spin-absorption valve of examples/spin_absorption_py_cu_pt.toml
  (Pt's library theta_SH 0.056 makes it a vector problem too); the size parameter is
  ``mesh_size_junction`` (m; ``mesh_size`` 4x, the graded contact layers from 0.17 nm as in the
  example). Cases: parallel, then antiparallel.

    ./fem-env python3 benchmarks/bench_spin_hall_solver.py --device smr --sizes 6e-9 --out results/bench
    ./fem-env mpirun -n 2 python3 benchmarks/bench_spin_hall_solver.py --device smr --sizes 6e-9 --out results/bench
    ./fem-env python3 benchmarks/bench_spin_hall_solver.py --report --out results/bench

Each measurement is appended to DIR/bench_spin_hall_solver.json (one JSON object a line, with
the 1-minute load average at its start and end: the machine is shared); ``--report`` prints the
markdown table of benchmarks/README.md section 12 (2-rank efficiency T1/(2 T2) of the case's
solve, iterations against DOFs; also written to DIR/bench_spin_hall_solver.md). ``--quick``
(tests): the SMR bar at 40 nm, the default and the fieldsplit solver, one case.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from mpi4py import MPI

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# every run meshes (set-up and peak memory include gmsh, as a first run of a user's would),
# unless FEM_SPIN_MESH_CACHE names a cache directory (repeats at 1e6 DOFs: the report marks them)
os.environ.setdefault("FEM_SPIN_MESH_CACHE", "off")

from bench_models import (_clear_solver_options, _cpu_s, _loadavg, _peak_mb,  # noqa: E402
                          _petsc_times, _reset_peak)

from fem_spin.models.valet_fert import ValetFertProblem  # noqa: E402

#: the charge potential and the three spin components are fields 0 and 1-3 of each node
_FIELDSPLIT = {"pc_type": "fieldsplit", "pc_fieldsplit_block_size": 4, "pc_fieldsplit_0_fields": 0,
               "pc_fieldsplit_1_fields": "1,2,3", "pc_fieldsplit_type": "multiplicative",
               "fieldsplit_0_ksp_type": "preonly", "fieldsplit_0_pc_type": "hypre",
               "fieldsplit_0_pc_hypre_type": "boomeramg",
               "fieldsplit_0_pc_hypre_boomeramg_coarsen_type": "HMIS",
               "fieldsplit_0_pc_hypre_boomeramg_interp_type": "ext+i",
               "fieldsplit_0_pc_hypre_boomeramg_strong_threshold": 0.5,
               "fieldsplit_1_ksp_type": "preonly", "fieldsplit_1_pc_type": "hypre",
               "fieldsplit_1_pc_hypre_type": "boomeramg",
               "fieldsplit_1_pc_hypre_boomeramg_coarsen_type": "HMIS",
               "fieldsplit_1_pc_hypre_boomeramg_interp_type": "ext+i",
               "fieldsplit_1_pc_hypre_boomeramg_strong_threshold": 0.5}
#: BoomerAMG on the whole coupled system with valet_fert's settings (HMIS, ext+i, strong
#: threshold 0.5, P_max 4, one aggressive level; the matrix has block size 4, so BoomerAMG
#: coarsens each unknown separately: "unknown" systems AMG)
_AMG = {k: v for k, v in ValetFertProblem.KRYLOV_DEFAULTS.items() if k.startswith("pc_")}
#: name -> [solver] petsc_options (a pc_type keeps valet_fert's GMRES and tolerances, a ksp_type
#: replaces the whole solver; "default": whatever valet_fert chooses)
SOLVERS = {
    "default": {},
    "gmres+amg": _AMG,
    "gmres+amg nodal": {**_AMG, "pc_hypre_boomeramg_nodal_coarsen": 6, "pc_hypre_boomeramg_nodal_coarsen_diag": 1},
    "gmres+amg no-agg": {**_AMG, "pc_hypre_boomeramg_agg_nl": 0},
    "bcgs+amg": {**ValetFertProblem.KRYLOV_DEFAULTS, "ksp_type": "bcgs"},
    "gmres+fieldsplit": _FIELDSPLIT,
    # the same with the coupled AMG's cheaper hierarchy on both blocks (P_max 4, one aggressive level)
    "gmres+fieldsplit agg": {**_FIELDSPLIT, **{f"fieldsplit_{i}_pc_hypre_boomeramg_{k}": v for i in (0, 1)
                                               for k, v in (("P_max", 4), ("agg_nl", 1))}},
    "gmres+fieldsplit additive": {**_FIELDSPLIT, "pc_fieldsplit_type": "additive"},
    "mumps lu": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
}

PT = {"material": "Pt@300K"}


def smr_raw(mesh_size: float, petsc: dict, cases: int) -> dict:
    directions = [[1, 0, 0], [0, 1, 0]][:cases]
    return {"name": "bench_she", "output": {"plot": False, "render": False},
            "geometry": {"type": "smr_bar", "length": 400e-9, "width": 100e-9, "thickness": 5e-9,
                         "probe_separation": 200e-9, "mesh_size": mesh_size, "surface_cell": 0.17e-9,
                         "thickness_grading": 1.1},
            "solver": {"petsc_options": dict(petsc)},
            "model": {"type": "valet_fert", "current": 1e-4, "current_contact": "left_end",
                      "ground": "right_end", "voltage_probes": ["probe_left", "probe_right"],
                      "hall_probes": ["hall_ymin", "hall_ymax"], "configurations": ["parallel"],
                      "switch_regions": [], "regions": {"film": dict(PT)},
                      "mixing_interfaces": {"interface": {"interface": "YIG/Pt@300K",
                                                          "magnetization": directions}}}}


def absorption_raw(junction: float, petsc: dict, cases: int) -> dict:
    import tomllib

    raw = tomllib.loads((HERE.parent / "examples" / "spin_absorption_py_cu_pt.toml").read_text())
    raw["name"] = "bench_absorption"
    raw["output"] = {"plot": False, "render": False}
    raw["geometry"].update(mesh_size_junction=junction, mesh_size=4 * junction, mesh_size_interface=0.17e-9)
    raw["solver"] = {"petsc_options": dict(petsc)}
    raw["model"]["configurations"] = ["parallel", "antiparallel"][:cases]
    return raw


def hanle_raw(junction: float, petsc: dict, cases: int) -> dict:
    """examples/nonlocal_spin_valve.toml with precession (no spin Hall, no mixing: valet_fert
    keeps GMRES + BoomerAMG on the coupled system for it); cases B = 0 and 20 mT along z."""
    import tomllib

    raw = tomllib.loads((HERE.parent / "examples" / "nonlocal_spin_valve.toml").read_text())
    raw["name"] = "bench_hanle"
    raw["output"] = {"plot": False, "render": False}
    raw["geometry"].update(mesh_size_junction=junction, mesh_size=7.5 * junction)
    raw["solver"] = {"petsc_options": dict(petsc)}
    raw["model"].update(precession=True, hanle_fields=[0.0, 0.02][:cases], configurations=["parallel"])
    raw["model"]["regions"]["N"]["diffusion_constant"] = 5e-3    # m^2/s, Cu (tests/system/test_valet_fert.py)
    return raw


DEVICES = {"smr": smr_raw, "absorption": absorption_raw, "hanle": hanle_raw}


def measure(device: str, size: float, solver: str, cases: int, comm) -> dict:
    from fem_spin.config import parse_config

    _clear_solver_options()
    comm.barrier()
    baseline = _reset_peak()
    petsc0 = _petsc_times()
    out = {"device": device, "size": size, "solver": solver, "ranks": comm.size, "cases": cases,
           "date": time.strftime("%Y-%m-%d %H:%M"), "load_start": _loadavg(),
           "mesh_cache": os.environ.get("FEM_SPIN_MESH_CACHE", "")}
    cpu0, t0 = _cpu_s(), time.perf_counter()
    problem = ValetFertProblem(parse_config(DEVICES[device](size, SOLVERS[solver], cases)), comm).initialise()
    comm.barrier()
    out["setup_s"] = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    out["dofs"] = int(problem.num_dofs)
    out["block_size"] = int(problem.linear_problem.A.getBlockSize())
    times, its, reasons = [], [], []
    t = time.perf_counter()
    for _ in problem.solve_cases():
        now = time.perf_counter()
        times.append(comm.allreduce(now - t, op=MPI.MAX))
        t = now
        its.append(problem.linear_problem.solver.getIterationNumber())
        reasons.append(problem.linear_problem.solver.getConvergedReason())
    out.update(case_s=times, iterations=its, converged_reasons=reasons,
               resistance_ohm=[r["resistance_ohm"] for r in problem.results])
    petsc1 = _petsc_times()
    for name in petsc0:
        out[f"{name}_s"] = comm.allreduce(petsc1[name] - petsc0[name], op=MPI.MAX)
    wall = time.perf_counter() - t0
    out["cpu_wall_min"] = comm.allreduce((_cpu_s() - cpu0) / max(wall, 1e-9), op=MPI.MIN)
    problem.destroy()
    del problem
    peaks = comm.allgather(_peak_mb())
    out["peak_rss_mb_max"] = max(peaks)
    out["peak_rss_mb_sum"] = sum(peaks)
    out["baseline_rss_mb_sum"] = sum(comm.allgather(baseline))
    out["load_end"] = _loadavg()
    return out


def _f(x, fmt):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def report(rows: list[dict]) -> str:
    """Markdown: one line per device, size, solver and ranks (the last measurement of each)."""
    last = {}
    for r in rows:
        last[(r["device"], r["size"], r["solver"], r["ranks"])] = r
    lines = ["| device | DOFs | solver | ranks | setup (s) | solve: fastest case (each case) (s) | iterations per case | "
             "peak RSS (MB, per rank max / all ranks) | 2-rank efficiency | load (start-end) | date |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(last, key=lambda k: (k[0], k[1] * -1, list(SOLVERS).index(k[2]) if k[2] in SOLVERS else 99,
                                           k[3])):
        r = last[key]
        # the fastest of the cases (equal work: the same operator with another m or
        # configuration), as bench_models.py reports the fastest of repeats on a shared machine
        solve = min(r["case_s"])
        eff = "-"
        if r["ranks"] == 2 and (key[0], key[1], key[2], 1) in last:
            one = last[(key[0], key[1], key[2], 1)]
            eff = f"{100 * min(one['case_s']) / (2 * solve):.0f} %"
        failed = any(c <= 0 for c in r["converged_reasons"])
        cached = r.get("mesh_cache", "off") not in ("off", "")
        lines.append(f"| {r['device']} | {r['dofs']:,} | {r['solver']} | {r['ranks']} | {r['setup_s']:.1f}"
                     f"{' (mesh cache on)' if cached else ''} | "
                     f"{solve:.1f} ({' / '.join(f'{c:.1f}' for c in r['case_s'])}) | "
                     f"{' / '.join(str(i) for i in r['iterations'])}{' (failed)' if failed else ''} | "
                     f"{r['peak_rss_mb_max']:.0f} / {r['peak_rss_mb_sum']:.0f} | {eff} | "
                     f"{_f(r['load_start'], '.1f')}-{_f(r['load_end'], '.1f')} | {r['date']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=sorted(DEVICES), default="smr")
    parser.add_argument("--sizes", default="20e-9,10e-9,6e-9",
                        help="comma-separated size parameters (m): smr mesh_size, absorption/hanle mesh_size_junction")
    parser.add_argument("--solvers", default="gmres+amg,gmres+amg nodal,gmres+fieldsplit")
    parser.add_argument("--cases", type=int, default=2, choices=(1, 2))
    parser.add_argument("--out", default=None, help="directory of bench_spin_hall_solver.json")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--quick", action="store_true", help="one coarse SMR bar, two solvers, one case")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    store = Path(args.out) / "bench_spin_hall_solver.json" if args.out else None
    if args.report:
        if comm.rank == 0:
            rows = [json.loads(line) for line in store.read_text().splitlines() if line.strip()]
            table = report(rows)
            (store.parent / "bench_spin_hall_solver.md").write_text(table + "\n")
            print(table)
        return
    from petsc4py import PETSc

    PETSc.Log.begin()
    if args.quick:
        args.device, args.sizes, args.solvers, args.cases = "smr", "40e-9", "gmres+amg,gmres+fieldsplit", 1
    for size in (float(s) for s in args.sizes.split(",")):
        for solver in args.solvers.split(","):
            if solver not in SOLVERS:
                parser.error(f"unknown solver {solver!r} (known: {', '.join(SOLVERS)})")
            row = measure(args.device, size, solver, args.cases, comm)
            if comm.rank == 0:
                print(json.dumps(row), flush=True)
                if store is not None:
                    store.parent.mkdir(parents=True, exist_ok=True)
                    with open(store, "a") as f:
                        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
