"""Benchmark suite over every landed model (issue 7, "Scale"), three sizes, 1 and 2 ranks.

    python3 benchmarks/bench_models.py [--quick] [--models a,b] [--out DIR]         # one rank
    mpirun -n 2 python3 benchmarks/bench_models.py [--quick] [--models a,b] [--out DIR]
    python3 benchmarks/bench_models.py --report [--out DIR]                        # markdown

Models and sizes (structured hexahedra where the geometry allows, so that refinement is
uniform; fine is ~1e5 DOFs per rank on 2 ranks):

* ``nuclear_diffusion``: hyperpolarized ball spreading in a 100 nm box, global speed-up,
  box cells [n, n, n], 6 backward-Euler steps of a fixed dt (adaptive = false);
* ``onsager_transport``: the Fig. 8 scenario of examples/onsager_fig8.toml in 3-D (step
  of rho2 in a field gradient, nonlinear formulation, 2 unknowns per node) in a 40 nm
  box, cells [n, n, n], 5 fixed steps;
* ``valet_fert``: the lateral (nonlocal) spin valve of tests/system/test_valet_fert.py with AlOx
  barriers (2 unknowns per node, tetrahedra), refined by mesh_size / mesh_size_junction;
  steady: its "steps" are the solved cases (parallel and antiparallel);
* ``triplet_dnp``: the tabulated multiscale model of examples/triplet_dnp_naphthalene.toml
  (radial unit cell, crystal prism); sizes refine the crystal mesh; its cost is the
  unit-cell table (runs shared out over the ranks, each serial) plus the lookup steps.

Every run records DOFs (total and per rank), steps (or cases), Newton and Krylov
iterations, wall time of setup and solve, time per DOF per step, PETSc KSPSolve/PCSetUp
time, peak RSS per rank (max and mean; the high-water mark is reset before each run
through /proc/self/clear_refs, so a run does not inherit the peak of the one before),
memory per DOF, ghost DOFs per rank and the halo-exchange bytes per Krylov iteration
(ghosts x 8 bytes), and a physics observable at the end (to check that ranks and solvers
agree), and the CPU/wall ratio of the solve phase (below 0.85 the run shared its cores with
other processes: flagged in the report). The PDE models are also run with BoomerAMG (PETSc's
hypre defaults, and settings for 3-D), GAMG and MUMPS LU at every size (``--compare fine``:
only the largest); an alternative predicted (from its smaller sizes) to exceed
``--max-run-seconds`` runs fewer steps, or is skipped with its prediction recorded. The
default solver runs ``--repeat`` times (2) per size and rank count and the fastest run is
kept (timings on a shared machine vary from run to run). Entries are keyed by
(model, size, ranks, solver) in DIR/bench_models.json (rank 0 writes; reruns replace
their entries); --report writes DIR/bench_models.md: one table per model, the growth of
cost with DOFs, parallel efficiency, memory per DOF, the solver comparison and a
weak-scaling projection to cluster sizes (a model, labelled as such). Numbers are
measurements of this machine, never asserted by tests.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import platform
import resource
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

# --------------------------------------------------------------------------- solvers
MUMPS = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
#: BoomerAMG with the usual settings for 3-D problems (PETSc's hypre defaults, strong threshold
#: 0.25 and Falgout coarsening, are tuned for 2-D and give dense coarse grids on 3-D hexahedra)
HYPRE_3D = {"pc_hypre_boomeramg_strong_threshold": 0.5, "pc_hypre_boomeramg_coarsen_type": "HMIS",
            "pc_hypre_boomeramg_interp_type": "ext+i", "pc_hypre_boomeramg_P_max": 4,
            "pc_hypre_boomeramg_agg_nl": 1}


def _solvers(ksp: str) -> dict[str, dict]:
    """The package default and the alternatives it is measured against. A ``pc_type`` alone
    keeps the model's Krylov method (``ksp``, named in the label) and its tolerances, so every
    alternative is compared at the default's accuracy."""
    return {"default": {},
            f"{ksp}+hypre": {"pc_type": "hypre"},
            f"{ksp}+hypre-3d": {"pc_type": "hypre", **HYPRE_3D},
            f"{ksp}+gamg": {"pc_type": "gamg"},
            "mumps": dict(MUMPS)}


# --------------------------------------------------------------------------- models
def nuclear_diffusion_raw(n: int, steps: int, petsc: dict) -> dict:
    L, dt = 100e-9, 1.0          # sqrt(D0 dt) = 10 nm per step
    return {"name": "bench_nd",
            "geometry": {"type": "box", "size": [L, L, L], "cells": [n, n, n]},
            "model": {"type": "nuclear_diffusion", "D0": 1e-16, "speedup": "global",
                      "region_shape": "ball", "region_center": [L / 2] * 3, "region_radius": L / 4,
                      "region_polarization": 0.9, "initial_polarization": 0.0},
            "time": {"t_end": steps * dt, "dt_initial": dt, "adaptive": False},
            "solver": {"petsc_options": petsc}, "output": {"plot": False, "render": False}}


def onsager_raw(n: int, steps: int, petsc: dict) -> dict:
    L, dt = 40e-9, 3.5e-4        # l = B_d/|grad B| = 3.1 nm, l^2/Gamma = 3.5 ms
    return {"name": "bench_onsager",
            "geometry": {"type": "box", "size": [L, L, L], "origin": [-L / 2] * 3, "cells": [n, n, n]},
            "model": {"type": "onsager_transport", "formulation": "nonlinear",
                      "spin_density": "4.86e22 cm^-3", "B0": 0.0893, "field": "linear",
                      "field_gradient": [4.4e4, 0.0, 0.0], "initial_dipolar_order": 0.2,
                      "initial_polarization": -0.9, "region_polarization": 0.9,
                      "initial_profile": "step", "step_width": 2e-9},
            "time": {"t_end": steps * dt, "dt_initial": dt, "adaptive": False},
            "solver": {"petsc_options": petsc}, "output": {"plot": False, "render": False}}


def valet_fert_raw(h: tuple[float, float], steps: int, petsc: dict) -> dict:
    mesh_size, junction = h
    cu = {"resistivity": 2e-8, "spin_diffusion_length": 500e-9, "diffusion_constant": 5e-3}
    py = {"resistivity": 1.5e-7, "spin_diffusion_length": 20e-9, "bulk_polarization": 0.4,
          "magnetization": [0, 1, 0]}
    barrier = {"area_resistance": 1e-12, "polarization": 0.3, "magnetization": [0, 1, 0]}
    return {"name": "bench_nlsv",
            "geometry": {"type": "lateral_spin_valve", "separation": 600e-9, "n_width": 100e-9,
                         "n_thickness": 40e-9, "n_extension": 1.5e-6, "f_width": 100e-9,
                         "f_thickness": 40e-9, "barrier_thickness": 2e-9, "mesh_size": mesh_size,
                         "mesh_size_junction": junction},
            "model": {"type": "valet_fert", "current": 1e-4,
                      "regions": {"N": cu, "F1": py, "F2": py, "barrier1": barrier, "barrier2": barrier}},
            "solver": {"petsc_options": petsc}, "output": {"plot": False, "render": False}}


def triplet_raw(h: tuple[float, float], quick: bool, petsc: dict) -> dict:
    mesh_size, edge = h
    raw = {"name": "bench_triplet",
           "geometry": {"type": "crystal", "shape": "prism", "size": [4e-3, 4e-3, 1.5e-3],
                        "prism_angle": 57.3, "beam_diameter": 2.0e-3, "beam_point": [0.0, 0.0, 0.0],
                        "beam_direction": [0.0, 0.0, -1.0], "mesh_size": mesh_size,
                        "mesh_size_beam_edge": edge},
           "model": {"type": "triplet_dnp", "coupling": "tabulated", "cell_preset": "naphthalene_pentacene",
                     "cell_geometry": {"type": "dnp_radial"},
                     "cell_model": {"source": "cycle_averaged", "R1": 3e-3, "speedup": "global"},
                     "optics": {"beam_profile": "top_hat", "absorption_length": 20e-3,
                                "excitation": "linear", "peak_excitation": 1.0},
                     "band_diameters": [1.5e-3, 2.5e-3], "band_points": 5, "table_tolerance": 2e-3,
                     "compare_uncorrected": True},
           "time": {"t_end": 1800.0, "dt_initial": 1e-3, "tolerance": 2e-3},
           "solver": {"petsc_options": petsc}, "output": {"plot": False, "render": False}}
    if quick:
        raw["model"].update(compare_uncorrected=False, band_diameters=[], table_initial_points=3,
                            table_max_points=5, table_times=10, table_tolerance=5e-2)
        raw["time"].update(t_end=60.0, tolerance=2e-2)
    return raw


#: per model: kind, how to build the run dictionary, size parameters (full and quick),
#: steps (full, quick), the observable and the solver alternatives
MODELS = {
    "nuclear_diffusion": {
        "kind": "transient", "raw": nuclear_diffusion_raw,
        "sizes": {"coarse": 23, "medium": 36, "fine": 58},
        "quick_sizes": {"quick-coarse": 4, "quick-medium": 6, "quick-fine": 8},
        "steps": (6, 2), "observable": ("P_region", "mean P in the initial ball"),
        # the nodal-flux Newton hands Krylov a symmetric positive-definite operator
        "solvers": _solvers("cg")},
    "onsager_transport": {
        "kind": "transient", "raw": onsager_raw,
        "sizes": {"coarse": 18, "medium": 28, "fine": 45},
        "quick_sizes": {"quick-coarse": 3, "quick-medium": 4, "quick-fine": 5},
        "steps": (5, 2), "observable": ("dipolar_mean", "mean dipolar order rho1"),
        "solvers": _solvers("gmres")},
    "valet_fert": {
        "kind": "steady", "raw": valet_fert_raw,
        "sizes": {"coarse": (40e-9, 10e-9), "medium": (20e-9, 6e-9), "fine": (14e-9, 4e-9)},
        "quick_sizes": {"quick-coarse": (200e-9, 50e-9), "quick-medium": (160e-9, 40e-9),
                        "quick-fine": (120e-9, 30e-9)},
        "steps": (0, 0), "observable": ("delta_R_ohm", "nonlocal Delta R = R_P - R_AP (Ohm)"),
        "solvers": _solvers("cg")},
    "triplet_dnp": {
        "kind": "table", "raw": triplet_raw,
        "sizes": {"coarse": (0.8e-3, 0.2e-3), "medium": (0.4e-3, 0.1e-3), "fine": (0.25e-3, 0.06e-3)},
        "quick_sizes": {"quick-coarse": (2e-3, 1e-3), "quick-medium": (1.5e-3, 0.8e-3),
                        "quick-fine": (1.2e-3, 0.6e-3)},
        "steps": (0, 0), "observable": ("P_crystal", "crystal-average P at t_end"),
        "solvers": {"default": {}}},
}

SIZE_ORDER = ["quick-coarse", "quick-medium", "quick-fine", "coarse", "medium", "fine"]


# --------------------------------------------------------------------------- measurement helpers
def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_peak() -> float:
    """Free what can be freed, reset the peak-RSS counter (Linux >= 4.0); current RSS (MB)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _rss_mb()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


_EVENTS = ("KSPSolve", "PCSetUp", "MatMult")


def _petsc_times() -> dict[str, float]:
    from petsc4py import PETSc

    return {name: PETSc.Log.Event(name).getPerfInfo()["time"] for name in _EVENTS}


def _parallel_layout(problem, comm) -> dict:
    """DOFs per rank (owned), ghosts per rank, halo bytes per Krylov iteration."""
    dofmap = problem.u.function_space.dofmap
    im, bs = dofmap.index_map, dofmap.index_map_bs
    owned, ghosts = im.size_local * bs, im.num_ghosts * bs
    owned_all = comm.allgather(owned)
    ghosts_all = comm.allgather(ghosts)
    return {"dofs_per_rank_max": int(max(owned_all)), "dofs_per_rank_min": int(min(owned_all)),
            "ghosts_per_rank_max": int(max(ghosts_all)), "ghosts_per_rank_mean": float(np.mean(ghosts_all)),
            "block_size": int(bs),
            # one halo exchange (forward scatter of the ghost values) per mat-vec
            "halo_bytes_per_krylov_it_max": int(8 * max(ghosts_all))}


def _finish(comm, out: dict, baseline_mb: float, petsc0: dict, cpu0: float, t0: float) -> dict:
    # CPU time / wall time of the run, smallest over the ranks: well below 1 means the rank
    # waited (for another rank, or for a core that other processes were using)
    for key in ("setup_s", "solve_s", "table_s", "mesh_and_weights_s"):
        if key in out:   # the slowest rank's wall time (they differ by the last barrier only)
            out[key] = comm.allreduce(out[key], op=MPI.MAX)
    if "solve_s" in out:
        out["us_per_dof_step"] = 1e6 * out["solve_s"] / (out["dofs"] * max(out["steps"], 1))
    wall = time.perf_counter() - t0
    out["cpu_wall_ratio_min"] = comm.allreduce((_cpu_s() - cpu0) / max(wall, 1e-9), op=MPI.MIN)
    # the same over the solve phase only (setup has serial parts: gmsh meshes on rank 0)
    out["solve_cpu_wall_ratio_min"] = comm.allreduce(out.pop("_solve_cpu_wall", math.nan), op=MPI.MIN)
    out["load_average_1min_end"] = _loadavg()
    peak = _peak_mb()
    peaks = comm.allgather(peak)
    baselines = comm.allgather(baseline_mb)
    petsc1 = _petsc_times()
    for name in _EVENTS:
        out[f"{name}_s"] = comm.allreduce(petsc1[name] - petsc0[name], op=MPI.MAX)
    out["peak_rss_mb_per_rank_max"] = float(max(peaks))
    out["peak_rss_mb_per_rank_mean"] = float(np.mean(peaks))
    out["baseline_rss_mb_per_rank_mean"] = float(np.mean(baselines))
    # memory the run added over what the process held before it, summed over ranks, per DOF
    added = sum(p - b for p, b in zip(peaks, baselines))
    out["added_kb_per_dof"] = 1024.0 * added / max(out["dofs"], 1)
    out["peak_kb_per_dof"] = 1024.0 * sum(peaks) / max(out["dofs"], 1)
    return out


# --------------------------------------------------------------------------- one run
def run_case(model: str, size: str, param, solver: str, quick: bool, comm, steps: int | None = None) -> dict:
    from fem_spin.config import parse_config

    spec = MODELS[model]
    petsc = dict(spec["solvers"][solver])
    if steps is None:
        steps = spec["steps"][1 if quick else 0]
    if spec["kind"] == "transient":
        raw = spec["raw"](param, steps, petsc)
    elif spec["kind"] == "steady":
        raw = spec["raw"](param, 0, petsc)
    else:
        raw = spec["raw"](param, quick, petsc)
    _clear_solver_options()
    comm.barrier()
    baseline = _reset_peak()
    petsc0 = _petsc_times()
    out = {"model": model, "size": size, "ranks": comm.size, "solver": solver, "petsc_options": petsc,
           "size_parameter": param, "quick": quick, "load_average_1min_start": _loadavg()}
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    config = parse_config(raw)
    cls = type(config.model).problem_class
    if spec["kind"] == "table":
        return _run_table(out, config, cls, comm, t0, baseline, petsc0, cpu0)
    problem = cls(config, comm).initialise()
    comm.barrier()
    out["setup_s"] = time.perf_counter() - t0
    out["dofs"] = int(problem.num_dofs)
    out.update(_parallel_layout(problem, comm))
    if spec["kind"] == "transient":
        _run_transient(out, problem, config, comm)
    else:
        _run_steady(out, problem, comm)
    name = spec["observable"][0]
    out["observable"], out["observable_value"] = name, float(out.pop("_observable"))
    if solver == "default":
        out["matvec_ns_per_dof"] = _matvec_ns_per_dof(problem, comm)
    problem.destroy()
    del problem
    return _finish(comm, out, baseline, petsc0, cpu0, t0)


def _clear_solver_options() -> None:
    """Remove the solver options earlier runs left in PETSc's global options database.

    NewtonSolver and dolfinx's LinearProblem register their options under a prefix made of
    id(problem); Python reuses the id of a freed object, and the options are never removed,
    so without this a run would inherit options of an earlier run (e.g. BoomerAMG tuning)."""
    from petsc4py import PETSc

    opts = PETSc.Options()
    for key in list(opts.getAll()):
        if key.startswith(("fem_spin_", "dolfinx_solve_")):
            opts.delValue(key)


def _loadavg() -> float:
    import os

    try:
        return float(os.getloadavg()[0])
    except OSError:
        return math.nan


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _matvec_ns_per_dof(problem, comm) -> float | None:
    """Wall time of one product with the model's assembled operator, in ns per DOF of a rank:
    the machine's baseline for linear work. A mat-vec costs O(nnz), so any growth of this
    number with DOFs is the memory hierarchy (caches), not the algorithm."""
    A = getattr(getattr(problem, "newton", None), "A", None)
    if A is None:
        A = getattr(getattr(problem, "linear_problem", None), "A", None)
    if A is None or A.getSize()[0] == 0:
        return None
    x, y = A.createVecs()
    x.set(1.0)
    for _ in range(3):
        A.mult(x, y)
    reps = max(10, min(500, int(1e8 / max(A.getInfo()["nz_used"], 1.0))))
    comm.barrier()
    t = time.perf_counter()
    for _ in range(reps):
        A.mult(x, y)
    comm.barrier()
    seconds = (time.perf_counter() - t) / reps
    x.destroy()
    y.destroy()
    return 1e9 * seconds * comm.size / A.getSize()[0]


def _run_transient(out: dict, problem, config, comm) -> None:
    from fem_spin.solvers import TimeStepper

    totals = {"newton": 0, "krylov": 0, "rejected": 0}

    def count(info):
        totals["newton"] += info.newton_iterations
        totals["krylov"] += info.linear_iterations
        totals["rejected"] += info.rejected

    stepper = TimeStepper(problem, config.time, on_step=count)
    t1, c1 = time.perf_counter(), _cpu_s()
    stepper.run()
    comm.barrier()
    out["solve_s"] = time.perf_counter() - t1
    out["_solve_cpu_wall"] = (_cpu_s() - c1) / max(out["solve_s"], 1e-9)
    out.update(steps=int(stepper.step), newton_iterations=totals["newton"], krylov_iterations=totals["krylov"],
               rejected_steps=totals["rejected"])
    out["us_per_dof_step"] = 1e6 * out["solve_s"] / (out["dofs"] * max(out["steps"], 1))
    out["_observable"] = problem.observables()[MODELS[out["model"]]["observable"][0]]


def _run_steady(out: dict, problem, comm) -> None:
    t1, c1 = time.perf_counter(), _cpu_s()
    cases, krylov = 0, 0
    for _row, _fields in problem.solve_cases():
        cases += 1
        krylov += problem.linear_problem.solver.getIterationNumber()
    comm.barrier()
    out["solve_s"] = time.perf_counter() - t1
    out["_solve_cpu_wall"] = (_cpu_s() - c1) / max(out["solve_s"], 1e-9)
    # a linear model: one linear solve (assembly + factorisation or Krylov) per case
    out.update(steps=cases, newton_iterations=cases, krylov_iterations=int(krylov), rejected_steps=0)
    out["us_per_dof_step"] = 1e6 * out["solve_s"] / (out["dofs"] * max(cases, 1))
    out["_observable"] = problem.summary()["delta_R_ohm"]


def _run_table(out: dict, config, cls, comm, t0: float, baseline: float, petsc0: dict, cpu0: float) -> dict:
    """triplet_dnp: setup = mesh + optics + the unit-cell table; solve = the lookup steps."""
    from fem_spin.engine import output_times, sample_schedule
    from fem_spin.models.triplet_dnp import UnitCellTable

    timing = {}
    original = UnitCellTable.build

    def timed_build(table):
        ts = time.perf_counter()
        try:
            return original(table)
        finally:
            timing["table_s"] = time.perf_counter() - ts
            timing["table_points"] = len(table.curves)
            timing["table_runs"] = len(table.curves) * len(table.variants)
            timing["table_converged"] = bool(table.converged)

    UnitCellTable.build = timed_build
    try:
        problem = cls(config, comm).initialise()
    finally:
        UnitCellTable.build = original
    comm.barrier()
    out["setup_s"] = time.perf_counter() - t0
    out["table_s"] = comm.allreduce(timing["table_s"], op=MPI.MAX)
    out.update(table_points=timing["table_points"], table_runs=timing["table_runs"],
               table_converged=timing["table_converged"])
    out["mesh_and_weights_s"] = out["setup_s"] - out["table_s"]
    out["dofs"] = int(problem.num_dofs)
    out.update(_parallel_layout(problem, comm))
    # evaluated, not stepped: the times Engine.run_sampled visits
    schedule = sample_schedule(problem.sample_times(), output_times(config), config.time.t_end)
    t1, c1 = time.perf_counter(), _cpu_s()
    for t in schedule:
        problem.evaluate(t)
    comm.barrier()
    out["solve_s"] = time.perf_counter() - t1          # the lookup
    out["_solve_cpu_wall"] = (_cpu_s() - c1) / max(out["solve_s"], 1e-9)
    out.update(steps=len(schedule), newton_iterations=0, krylov_iterations=0, rejected_steps=0)
    out["us_per_dof_step"] = 1e6 * out["solve_s"] / (out["dofs"] * max(out["steps"], 1))
    out["observable"] = "P_crystal"
    out["observable_value"] = float(problem.observables()["P_crystal"])
    problem.destroy()
    del problem
    return _finish(comm, out, baseline, petsc0, cpu0, t0)


# --------------------------------------------------------------------------- driver
def _predicted_step_s(done: list[dict], model: str, solver: str, dofs: int) -> float | None:
    """Time per step (or case) of ``solver`` at ``dofs``, extrapolated from its smaller runs:
    the measured log-log slope of its last two sizes (clamped to [1, 2.5]), else 2 for LU
    and 1.3 for Krylov solvers, from the largest one. None without a smaller run."""
    prev = sorted((r for r in done if r["model"] == model and r["solver"] == solver and _ok(r)
                   and r["dofs"] < dofs), key=lambda r: r["dofs"])
    if not prev:
        return None
    last = prev[-1]
    if len(prev) >= 2:
        e = min(max(loglog_slope([prev[-2]["dofs"], last["dofs"]], [_per_step(prev[-2]), _per_step(last)]), 1.0), 2.5)
    else:
        e = 2.0 if solver == "mumps" or MODELS[model]["solvers"][solver].get("pc_type") == "lu" else 1.3
    return _per_step(last) * (dofs / last["dofs"]) ** e


def run_suite(models: list[str], quick: bool, compare: str, out_dir: Path, comm, max_run_s: float = 30.0,
              only_sizes: list[str] | None = None, only_solvers: list[str] | None = None,
              repeat: int = 1) -> list[dict]:
    """Every model at every size with the default solver, and the alternatives (at every size,
    or only the largest with compare = "fine"). An alternative whose run is predicted to take
    longer than ``max_run_s`` runs fewer steps (compared per step), or is skipped with its
    prediction recorded when even one step would exceed it."""
    from fem_spin.io import rank0_print

    path = out_dir / "bench_models.json"
    results = []
    for model in models:
        spec = MODELS[model]
        sizes = spec["quick_sizes"] if quick else spec["sizes"]
        largest = list(sizes)[-1]
        full_steps = spec["steps"][1 if quick else 0]
        # warm-up (not recorded): imports, form compilation and first-touch allocations of the
        # model land here instead of in the memory and setup time of its first measured run
        warm_size, warm_param = next(iter(spec["quick_sizes"].items()))
        run_case(model, warm_size, warm_param, "default", True, comm)
        for size, param in sizes.items():
            if only_sizes and size not in only_sizes:
                continue
            dofs = None
            for solver in spec["solvers"]:
                if solver != "default" and compare != "all" and size != largest:
                    continue
                if only_solvers and solver not in only_solvers:
                    continue
                steps = None
                if solver != "default" and dofs is not None and not quick:
                    # rank 0 decides (each rank measured its own wall times)
                    guess = comm.bcast(_predicted_step_s(results, model, solver, dofs), root=0)
                    count = full_steps if spec["kind"] == "transient" else 1
                    if guess is not None and guess * max(count, 1) > max_run_s:
                        fit = int(max_run_s // guess) if spec["kind"] == "transient" else 0
                        if fit < 1:
                            entry = {"model": model, "size": size, "ranks": comm.size, "solver": solver,
                                     "quick": quick, "dofs": dofs, "predicted_s_per_step": guess,
                                     "skipped": f"predicted {guess:.0f} s per {'step' if spec['kind'] == 'transient' else 'case'} "
                                                f"(extrapolated from its smaller sizes) > budget {max_run_s:.0f} s per run"}
                            results.append(entry)
                            rank0_print(f"{model:>18} {size:>12} ranks={comm.size} {solver:<11} SKIPPED: "
                                        f"{entry['skipped']}", comm=comm)
                            if comm.rank == 0:
                                _store(path, [entry])
                            continue
                        steps = min(fit, full_steps)
                t = time.perf_counter()
                try:
                    entry = run_case(model, size, param, solver, quick, comm, steps)
                    if solver == "default" and repeat > 1:
                        # the runs that give the exponents and efficiencies: best of `repeat`
                        # (the machine's run-to-run noise is large), the spread recorded
                        runs = [entry] + [run_case(model, size, param, solver, quick, comm, steps)
                                          for _ in range(repeat - 1)]
                        entry = min(runs, key=lambda r: r["solve_s"])
                        entry["solve_s_repeats"] = [r["solve_s"] for r in runs]
                except Exception as exc:  # a solver that fails is a result too (reported)
                    if solver == "default":
                        raise
                    entry = {"model": model, "size": size, "ranks": comm.size, "solver": solver,
                             "quick": quick, "failed": f"{type(exc).__name__}: {exc}"[:300]}
                entry["wall_s"] = time.perf_counter() - t
                results.append(entry)
                if solver == "default" and "dofs" in entry:
                    dofs = entry["dofs"]
                if "failed" in entry:
                    rank0_print(f"{model:>18} {size:>12} ranks={comm.size} {solver:<11} FAILED {entry['failed']}",
                                comm=comm)
                else:
                    rank0_print(f"{model:>18} {size:>12} ranks={comm.size} {solver:<11} dofs={entry['dofs']:>7} "
                                f"steps={entry['steps']:>3} newton={entry['newton_iterations']:>4} "
                                f"krylov={entry['krylov_iterations']:>6} setup={entry['setup_s']:6.2f}s "
                                f"solve={entry['solve_s']:7.2f}s us/dof/step={entry['us_per_dof_step']:7.2f} "
                                f"peak={entry['peak_rss_mb_per_rank_max']:.0f}MB cpu/wall={_cw(entry):.2f} "
                                f"{entry['observable']}={entry['observable_value']:.6g}", comm=comm)
                if comm.rank == 0:
                    _store(path, [entry])   # after every run: an interrupted suite keeps its results
    return results


def _cw(r: dict) -> float:
    """CPU/wall ratio of the solve phase (the whole run for entries without it)."""
    v = r.get("solve_cpu_wall_ratio_min")
    return v if v is not None and math.isfinite(v) else r["cpu_wall_ratio_min"]


def _ok(r: dict) -> bool:
    return "failed" not in r and "skipped" not in r


def _key(r: dict) -> tuple:
    return (r["model"], r["size"], r["ranks"], r["solver"])


def _store(path: Path, new: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(path.read_text()) if path.exists() else []
    keys = {_key(r) for r in new}
    merged = [r for r in old if _key(r) not in keys] + new
    merged.sort(key=lambda r: (list(MODELS).index(r["model"]) if r["model"] in MODELS else 99,
                               r["ranks"], SIZE_ORDER.index(r["size"]) if r["size"] in SIZE_ORDER else 99,
                               r["solver"] != "default", r["solver"]))
    path.write_text(json.dumps(merged, indent=1, default=float) + "\n")


# =========================================================================== report
#: communication model of the weak-scaling projection (stated in the report)
LATENCY_S = 2e-6
BANDWIDTH_BPS = 10e9
REDUCTIONS_PER_KRYLOV_IT = 2       # GMRES (classical Gram-Schmidt: one VecMDot + one VecNorm), CG (2 dots)
REDUCTIONS_PER_NEWTON_IT = 3       # residual norm, update norm, Pbar of the global speed-up
PROJECTION_RANKS = (16, 128, 1024)
#: a run whose smallest per-rank CPU/wall ratio is below this shared its cores with other processes
CONTENDED = 0.85


def loglog_slope(x, y) -> float:
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def _f(v, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def _sizes_of(rows) -> list[str]:
    return sorted({r["size"] for r in rows}, key=lambda s: SIZE_ORDER.index(s) if s in SIZE_ORDER else 99)


def _pick(rows, **want) -> dict | None:
    for r in rows:
        if all(r.get(k) == v for k, v in want.items()) and _ok(r):
            return r
    return None


def _per_step(r: dict) -> float:
    return r["solve_s"] / max(r["steps"], 1)


def _krylov_per_newton(r: dict) -> float:
    return r["krylov_iterations"] / max(r["newton_iterations"], 1)


def _model_table(model: str, rows: list[dict]) -> list[str]:
    default = [r for r in rows if r["solver"] == "default" and _ok(r)]
    if MODELS.get(model, {}).get("kind") == "table":
        lines = ["| size | ranks | crystal DOFs | DOFs/rank | table points | unit-cell runs | table (s) | "
                 "mesh+weights (s) | lookup steps | lookup (s) | us/DOF/step | peak MB/rank (max/mean) | "
                 "kB/DOF added | ghosts/rank | cpu/wall | P_crystal(t_end) |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in default:
            lines.append(
                f"| {r['size']} | {r['ranks']} | {r['dofs']} | {r['dofs_per_rank_max']} | {r['table_points']} | "
                f"{r['table_runs']} | {r['table_s']:.2f} | {r['mesh_and_weights_s']:.2f} | {r['steps']} | "
                f"{r['solve_s']:.3f} | {r['us_per_dof_step']:.3f} | {r['peak_rss_mb_per_rank_max']:.0f}/"
                f"{r['peak_rss_mb_per_rank_mean']:.0f} | {r['added_kb_per_dof']:.2f} | {r['ghosts_per_rank_max']} | "
                f"{_cw(r):.2f} | {r['observable_value']:.6f} |")
        return lines
    steps_name = "cases" if MODELS.get(model, {}).get("kind") == "steady" else "steps"
    newton_name = "solves" if steps_name == "cases" else "Newton"
    lines = [f"| size | ranks | DOFs | DOFs/rank | {steps_name} | {newton_name} | Krylov | setup (s) | solve (s) | "
             f"us/DOF/step | KSPSolve (s) | PCSetUp (s) | peak MB/rank (max/mean) | kB/DOF added | ghosts/rank | "
             f"halo kB/Krylov it | cpu/wall | {default[0]['observable'] if default else 'observable'} |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in default:
        lines.append(
            f"| {r['size']} | {r['ranks']} | {r['dofs']} | {r['dofs_per_rank_max']} | {r['steps']} | "
            f"{r['newton_iterations']} | {r['krylov_iterations']} | {r['setup_s']:.2f} | {r['solve_s']:.2f} | "
            f"{r['us_per_dof_step']:.2f} | {r['KSPSolve_s']:.2f} | {r['PCSetUp_s']:.2f} | "
            f"{r['peak_rss_mb_per_rank_max']:.0f}/{r['peak_rss_mb_per_rank_mean']:.0f} | "
            f"{r['added_kb_per_dof']:.2f} | {r['ghosts_per_rank_max']} | "
            f"{r['halo_bytes_per_krylov_it_max'] / 1024:.1f} | {_cw(r):.2f} | "
            f"{r['observable_value']:.8g} |")
    return lines


def _growth(model: str, rows: list[dict]) -> tuple[list[str], dict]:
    """Exponents of cost per step, Krylov its per Newton it and memory vs DOFs (1 rank)."""
    info = {}
    lines = []
    baseline = math.nan
    base = [r for r in rows if r["ranks"] == 1 and r["solver"] == "default" and _ok(r)
            and r.get("matvec_ns_per_dof")]
    if len(base) >= 2:
        dofs = [r["dofs"] for r in base]
        b = loglog_slope(dofs, [r["matvec_ns_per_dof"] for r in base])
        baseline = info["matvec_exponent"] = 1.0 + b
        lines.append(f"- machine baseline: one product with the assembled operator (linear work) costs "
                     f"{' / '.join('%.1f' % r['matvec_ns_per_dof'] for r in base)} ns per DOF, i.e. ~ "
                     f"DOFs^{1.0 + b:.2f} on this machine (caches); a solver whose exponent is within "
                     f"~0.05 of this is linear up to the memory hierarchy")
    solvers = [s for s in MODELS.get(model, {}).get("solvers", {"default": {}})]
    for solver in solvers:
        serial = [r for r in rows if r["ranks"] == 1 and r["solver"] == solver and _ok(r)]
        if len(serial) < 2:
            continue
        dofs = [r["dofs"] for r in serial]
        slope = loglog_slope(dofs, [_per_step(r) for r in serial])
        alpha = (loglog_slope(dofs, [max(_krylov_per_newton(r), 1e-300) for r in serial])
                 if all(r["krylov_iterations"] > 0 for r in serial) else math.nan)
        info[solver] = {"cost_exponent": slope, "krylov_exponent": alpha, "dofs": dofs}
        if solver == "default" or len(serial) >= 3:
            if not math.isfinite(slope):
                verdict = "not enough sizes"
            elif MODELS.get(model, {}).get("kind") == "table":
                verdict = ("no linear solve (a table lookup): "
                           + ("linear or better" if slope <= 1.15 else "superlinear"))
            elif slope <= 1.15:
                verdict = "linear (or better) per step (target met)"
            elif slope <= baseline + 0.05:
                verdict = ("linear up to this machine's memory hierarchy: the exponent of a mat-vec "
                           f"(DOFs^{baseline:.2f}) (target met)")
            elif slope <= 1.3:
                verdict = "slightly superlinear (target missed by a little)"
            else:
                verdict = "superlinear (target not met)"
            name = "lookup cost per step" if MODELS.get(model, {}).get("kind") == "table" else "solve cost per step"
            its = (f"; Krylov iterations per {'solve' if MODELS.get(model, {}).get('kind') == 'steady' else 'Newton iteration'}"
                   f" ~ DOFs^{alpha:.2f}" if math.isfinite(alpha) else "")
            lines.append(f"- {solver}: {name} ~ DOFs^{slope:.2f} over {min(dofs)}-{max(dofs)} DOFs (1 rank)"
                         f"{its}: **{verdict}**")
    if MODELS.get(model, {}).get("kind") == "table":
        serial = [r for r in rows if r["ranks"] == 1 and r["solver"] == "default" and _ok(r)]
        if serial:
            lines.append(f"- the unit-cell table does not depend on the crystal mesh: {serial[-1]['table_runs']} "
                         f"unit-cell runs, {serial[-1]['table_s']:.1f} s on 1 rank at the largest size")
    return lines, info


def _efficiency(model: str, rows: list[dict]) -> tuple[list[str], dict]:
    lines, eff = [], {}
    for size in _sizes_of(rows):
        one, two = _pick(rows, size=size, ranks=1, solver="default"), _pick(rows, size=size, ranks=2, solver="default")
        if not (one and two):
            continue
        e_solve = one["solve_s"] / (2 * two["solve_s"])
        e_setup = one["setup_s"] / (2 * two["setup_s"])
        eff[size] = e_solve
        extra = ""
        if MODELS.get(model, {}).get("kind") == "table":
            extra = f", unit-cell table {100 * one['table_s'] / (2 * two['table_s']):.0f} %"
        same = abs(one["observable_value"] - two["observable_value"]) <= 1e-6 * max(abs(one["observable_value"]), 1e-30)
        contended = min(_cw(one), _cw(two))
        warn = (f" **(contended: cpu/wall {contended:.2f}, other processes shared the cores; not a measurement "
                f"of the code)**" if contended < CONTENDED else "")
        lines.append(f"- {size} ({two['dofs_per_rank_max']} DOFs/rank on 2 ranks): solve {100 * e_solve:.0f} %, "
                     f"setup {100 * e_setup:.0f} %{extra}; observable on 1 vs 2 ranks "
                     f"{'agrees to 1e-6' if same else 'differs: %.8g vs %.8g' % (one['observable_value'], two['observable_value'])}"
                     f"{warn}")
    spreads = [f"{r['size']}/{r['ranks']} rank{'s' if r['ranks'] > 1 else ''} "
               f"{100 * (max(r['solve_s_repeats']) / min(r['solve_s_repeats']) - 1):.0f} %"
               for r in rows if r["solver"] == "default" and len(r.get("solve_s_repeats", [])) > 1]
    if spreads:
        n = len(next(r for r in rows if len(r.get("solve_s_repeats", [])) > 1)["solve_s_repeats"])
        lines.append(f"- run-to-run spread of the solve time (slowest / fastest of {n} repeats - 1; the fastest "
                     f"is reported): {', '.join(spreads)}")
    if eff:
        last = list(eff)[-1]
        two = _pick(rows, size=last, ranks=2, solver="default")
        one = _pick(rows, size=last, ranks=1, solver="default")
        target = two["dofs_per_rank_max"] >= 1e5
        if min(_cw(one), _cw(two)) < CONTENDED:
            verdict = "not assessed: the runs at the largest size were contended (rerun on an idle machine)"
        elif target:
            verdict = f"**{'met' if eff[last] >= 0.8 else 'not met'}** at {last} ({100 * eff[last]:.0f} %)"
        else:
            verdict = (f"not reached: the largest size has {two['dofs_per_rank_max']} DOFs/rank "
                       f"({100 * eff[last]:.0f} % there)")
        lines.append(f"- issue-7 target (>= 80 % at 1e5+ DOFs per rank): {verdict}")
        alternatives = []
        for solver in sorted({r["solver"] for r in rows if r["solver"] != "default"}):
            a1, a2 = _pick(rows, size=last, ranks=1, solver=solver), _pick(rows, size=last, ranks=2, solver=solver)
            if a1 and a2 and _ok(a1) and _ok(a2) and min(_cw(a1), _cw(a2)) >= CONTENDED:
                alternatives.append(f"{solver} {100 * _per_step(a1) / (2 * _per_step(a2)):.0f} % "
                                    f"({_per_step(a2) / _per_step(two):.2f}x the default's time on 2 ranks)")
        if alternatives:
            lines.append(f"- the same at {last} with the other solvers (per step): {', '.join(alternatives)}")
    return lines, eff


def _memory(model: str, rows: list[dict]) -> tuple[list[str], dict]:
    lines, info = [], {}
    for ranks in (1, 2):
        rr = [r for r in rows if r["ranks"] == ranks and r["solver"] == "default" and _ok(r)]
        if not rr:
            continue
        per = ", ".join(f"{r['size']} {r['added_kb_per_dof']:.2f}" for r in rr)
        marginal = math.nan
        if len(rr) >= 2 and rr[-1]["dofs"] != rr[0]["dofs"]:
            tot = [r["peak_rss_mb_per_rank_mean"] * r["ranks"] for r in rr]
            marginal = 1024 * (tot[-1] - tot[0]) / (rr[-1]["dofs"] - rr[0]["dofs"])
        info[ranks] = marginal
        lines.append(f"- {ranks} rank(s): memory added by a run, kB per DOF: {per}; marginal "
                     f"(peak of all ranks, largest minus smallest size) {_f(marginal, '.2f')} kB/DOF; "
                     f"peak {rr[-1]['peak_rss_mb_per_rank_max']:.0f} MB/rank at {rr[-1]['size']}")
    return lines, info


def _comparison(model: str, rows: list[dict]) -> tuple[list[str], dict]:
    spec = MODELS.get(model, {})
    if len(spec.get("solvers", {})) < 2:
        return [], {}
    alternatives = [r for r in rows if r["solver"] != "default"]
    if not alternatives:
        return [], {}
    largest = _sizes_of(alternatives)[-1]
    unit = "case" if spec.get("kind") == "steady" else "step"
    newton = "solve" if spec.get("kind") == "steady" else "Newton it"
    lines, best = [], {}
    lines.append(f"Solvers ({'; '.join(f'`{k}`: ' + (json.dumps(v) if v else 'package default') for k, v in spec['solvers'].items())}). "
                 f"Fastest = least solve time per {unit} (the problem setup is the same for all); the default "
                 f"solver's time is the fastest of its repeats, the others are single runs, so differences "
                 f"within the run-to-run spread (see above) are not significant. Runs predicted "
                 f"to exceed the budget per run take fewer steps (compared per step; the first steps of a run "
                 f"are the hardest) or are skipped with the prediction.")
    lines.append("")
    lines.append(f"At the largest size ({largest}):")
    lines.append("")
    lines.append(f"| ranks | solver | {unit}s | {newton}s | Krylov per {newton} | PCSetUp ms per {newton} | "
                 f"KSPSolve ms per {newton} | solve s per {unit} | us/DOF/{unit} | peak MB/rank | cpu/wall | observable | "
                 f"vs default (s per {unit}) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for ranks in (1, 2):
        entries = [r for r in rows if r["ranks"] == ranks and r["size"] == largest]
        base = _pick(entries, solver="default")
        ok = [r for r in entries if _ok(r)]
        if not ok:
            continue
        fastest = min(ok, key=_per_step)
        best[ranks] = fastest["solver"]
        for r in entries:
            if not _ok(r):
                why = r.get("skipped") or "failed: " + r.get("failed", "")[:100]
                lines.append(f"| {ranks} | {r['solver']} | - | - | - | - | - | - | - | - | - | {why} | "
                             + (f"~{r['predicted_s_per_step'] / _per_step(base):.0f}x (predicted) |"
                                if base and "predicted_s_per_step" in r else "- |"))
                continue
            nn = max(r["newton_iterations"], 1)
            rel = f"{_per_step(r) / _per_step(base):.2f}x" if base else "-"
            mark = " **fastest**" if r is fastest else ""
            lines.append(f"| {ranks} | {r['solver']}{mark} | {r['steps']} | {r['newton_iterations']} | "
                         f"{r['krylov_iterations'] / nn:.1f} | {1e3 * r['PCSetUp_s'] / nn:.1f} | "
                         f"{1e3 * r['KSPSolve_s'] / nn:.1f} | {_per_step(r):.3g} | {r['us_per_dof_step']:.2f} | "
                         f"{r['peak_rss_mb_per_rank_max']:.0f} | {_cw(r):.2f} | "
                         f"{r['observable_value']:.8g} | {rel} |")
    lines.append("")
    sizes = _sizes_of(rows)
    if len(_sizes_of(alternatives)) > 1:
        lines.append(f"Solve time per {unit} (s) at every size, 1 rank / 2 ranks:")
        lines.append("")
        lines.append("| solver | " + " | ".join(sizes) + " |")
        lines.append("|---|" + "---|" * len(sizes))
        for solver in spec["solvers"]:
            cells = []
            for size in sizes:
                vals = []
                for ranks in (1, 2):
                    r = _pick(rows, size=size, ranks=ranks, solver=solver)
                    skipped = next((x for x in rows if x["size"] == size and x["ranks"] == ranks
                                    and x["solver"] == solver and "skipped" in x), None)
                    vals.append(f"{_per_step(r):.3g}" if r else ("skip" if skipped else "-"))
                cells.append(" / ".join(vals))
            lines.append(f"| {solver} | " + " | ".join(cells) + " |")
        lines.append("")
    for ranks, name in best.items():
        lines.append(f"- fastest on {ranks} rank(s) at {largest}: **{name}**")
    return lines, best


def _projection(model: str, rows: list[dict], growth: dict) -> tuple[list[str], dict]:
    """Weak scaling at the DOFs per rank of the largest 2-rank run (see the report's assumptions)."""
    spec = MODELS.get(model, {})
    twos = [r for r in rows if r["ranks"] == 2 and _ok(r)]
    if not twos:
        return [], {}
    largest = _sizes_of(twos)[-1]
    lines, summary = [], {}
    if spec.get("kind") == "table":
        r = _pick(twos, size=largest, solver="default")
        t_step = _per_step(r)
        lines.append(f"triplet_dnp (lookup, {r['dofs_per_rank_max']} crystal DOFs per rank): the lookup has no "
                     f"halo exchange; per step ~6 scalar reductions (observables). Unit-cell table: "
                     f"{r['table_runs']} serial runs shared out over the ranks, a fixed cost that does not grow "
                     f"with the crystal, {r['table_s']:.1f} s on 2 ranks.")
        lines.append("")
        lines.append("| ranks P | crystal DOFs | lookup s/step | table (s), ideal sharing | weak efficiency of the lookup |")
        lines.append("|---|---|---|---|---|")
        one = _pick(rows, size=largest, ranks=1, solver="default")
        t_run = (one["table_s"] / max(one["table_runs"], 1)) if one else r["table_s"] * 2 / max(r["table_runs"], 1)
        for P in (2, *PROJECTION_RANKS):
            t = t_step + 6 * math.log2(P) * LATENCY_S
            table = t_run * math.ceil(r["table_points"] / min(P, r["table_points"])) * (r["table_runs"] / r["table_points"])
            lines.append(f"| {P} | {P * r['dofs_per_rank_max']:.3g} | {t:.2e} | {table:.1f} | "
                         f"{100 * (t_step + 6 * LATENCY_S) / t:.0f} % |")
        lines.append("")
        lines.append(f"- the table stops scaling at {r['table_points']} ranks (one efficiency per rank; both "
                     f"variants of a point run on the same rank)")
        lines.append("")
        return lines, summary
    table, inputs = [], []
    for solver in [s for s in spec.get("solvers", {}) if _pick(twos, size=largest, solver=s)]:
        r = _pick(twos, size=largest, solver=solver)
        if r["krylov_iterations"] == 0:
            continue
        n = r["dofs_per_rank_max"]
        bs = r["block_size"]
        steps = max(r["steps"], 1)
        t_step = _per_step(r)
        its = r["krylov_iterations"] / steps
        newton = r["newton_iterations"] / steps
        ksp = min(r["KSPSolve_s"] / steps, t_step)
        pcsetup = min(r["PCSetUp_s"] / steps, ksp)
        t_it = (ksp - pcsetup) / max(its, 1e-30)
        other = t_step - ksp
        alpha = growth.get(solver, {}).get("krylov_exponent", math.nan)
        # a direct solve: one "iteration" per linear solve (preonly + LU)
        direct = solver == "mumps" or r["krylov_iterations"] <= r["newton_iterations"]
        if direct:
            # LU: iterations stay 1; the factorisation's work grows like the measured cost exponent
            beta = growth.get(solver, {}).get("cost_exponent", math.nan)
            beta_note = ""
            if not math.isfinite(beta):
                beta, beta_note = 2.0, " (assumed: 3-D nested dissection)"
        alpha_used = 0.0 if (direct or not math.isfinite(alpha)) else max(alpha, 0.0)
        ghosts2 = r["ghosts_per_rank_max"]

        def ghosts(P):
            # interior rank of a 3-D decomposition into cube-like subdomains: 6 faces of
            # (n/bs)^(2/3) nodes; the measured 2-rank value (one interface) for P = 2
            return ghosts2 if P == 2 else 6 * (n / bs) ** (2 / 3) * bs

        def comm_it(P):
            return (LATENCY_S + 8 * ghosts(P) / BANDWIDTH_BPS) + REDUCTIONS_PER_KRYLOV_IT * math.log2(P) * LATENCY_S

        def comm_newton(P):
            return (LATENCY_S + 8 * ghosts(P) / BANDWIDTH_BPS) + REDUCTIONS_PER_NEWTON_IT * math.log2(P) * LATENCY_S

        def T(P):
            grow = (P / 2) ** alpha_used
            if direct:
                work = (P / 2) ** max(beta - 1, 0.0) if math.isfinite(beta) else math.nan
                return other + (ksp) * work + newton * comm_newton(P), 1.0, work
            return (other + pcsetup + its * grow * (t_it + comm_it(P)) + newton * comm_newton(P), grow, None)

        t2 = T(2)[0]
        effs, times, shares = {}, {}, {}
        for P in PROJECTION_RANKS:
            tp, grow, work = T(P)
            times[P], effs[P] = tp, t2 / tp
            shares[P] = ((its * grow * comm_it(P) + newton * comm_newton(P)) / tp) if not direct else math.nan
        summary[solver] = effs
        table.append(f"| {solver} | {r['steps']} | {its:.1f} | "
                     + (f"LU, beta = {beta:.2f}{beta_note}" if direct else f"{alpha_used:.2f}"
                        + ("" if math.isfinite(alpha) else " (not fitted)")) + " | "
                     + f"{t2:.3g} | " + " | ".join(f"{times[P]:.3g}" for P in PROJECTION_RANKS) + " | "
                     + " / ".join(f"{100 * effs[P]:.0f} %" for P in PROJECTION_RANKS) + " | "
                     + (f"{100 * shares[PROJECTION_RANKS[-1]]:.1f} %" if math.isfinite(shares[PROJECTION_RANKS[-1]])
                        else "-") + " |")
        if direct:
            inputs.append(f"- `{solver}`: {t_step:.3g} s/step measured = {other:.3g} s outside KSPSolve + "
                          f"{ksp:.3g} s KSPSolve (factorisation and solve, {newton:.1f} per step)")
        else:
            inputs.append(f"- `{solver}`: {t_step:.3g} s/step measured = {other:.3g} s outside KSPSolve + "
                          f"{pcsetup:.3g} s PCSetUp + {its:.1f} Krylov its x {1e3 * t_it:.3g} ms; "
                          f"{newton:.1f} Newton its (or solves) per step")
    if table:
        ref = _pick(twos, size=largest, solver="default") or twos[0]
        n, bs, g2 = ref["dofs_per_rank_max"], ref["block_size"], ref["ghosts_per_rank_max"]
        lines.append(f"**{model}** at {n} DOFs per rank (the {largest} size on 2 ranks); halo per exchange: "
                     f"{8 * g2:.3g} bytes measured on 2 ranks, {8 * 6 * (n / bs) ** (2 / 3) * bs:.3g} bytes "
                     f"assumed for P >= 16; total DOFs {', '.join(f'{P * n:.3g}' for P in PROJECTION_RANKS)} at "
                     f"P = {', '.join(map(str, PROJECTION_RANKS))}.")
        lines.append("")
        lines.append("| solver | steps measured | Krylov its/step (P = 2) | alpha (its ~ N^alpha) | s/step P = 2 | "
                     + " | ".join(f"s/step P = {P}" for P in PROJECTION_RANKS) + " | weak-scaling efficiency "
                     + " / ".join(map(str, PROJECTION_RANKS)) + " | communication share at "
                     f"{PROJECTION_RANKS[-1]} |")
        lines.append("|---|---|---|---|---|" + "---|" * len(PROJECTION_RANKS) + "---|---|")
        lines += table
        lines.append("")
        lines += inputs
        lines.append("")
    return lines, summary


def report(out_dir: Path) -> Path:
    import dolfinx
    from petsc4py import PETSc

    data = json.loads((out_dir / "bench_models.json").read_text())
    models = [m for m in MODELS if any(r["model"] == m for r in data)]
    md = ["# Benchmark suite: every model, three sizes, 1 and 2 ranks (`bench_models.py`)", "",
          f"Measured on this machine ({platform.machine()}, {_cores()} cores, dolfinx {dolfinx.__version__}, "
          f"PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}). Numbers are measurements, never asserted by "
          f"tests. `us/DOF/step` = solve wall time / (DOFs x steps) (for valet_fert: per solved case; "
          f"for triplet_dnp: the lookup). Peak RSS is reset before each run (/proc/self/clear_refs), "
          f"'kB/DOF added' = (peak - RSS before the run) summed over ranks / DOFs. `halo kB/Krylov it` = "
          f"ghost DOFs of the busiest rank x 8 bytes (one forward scatter per mat-vec). `cpu/wall` = CPU time / "
          f"wall time of the solve phase of a run, smallest over its ranks: below {CONTENDED} the run shared its cores with other "
          f"processes and its times are not a measurement of the code (flagged below).", ""]
    summary = {}
    for model in models:
        rows = [r for r in data if r["model"] == model]
        spec = MODELS[model]
        md += [f"## {model}", ""]
        if spec.get("kind") == "transient":
            md.append(f"{spec['steps'][0]} fixed backward-Euler steps (adaptive = false) per run; "
                      f"observable: {spec['observable'][1]}.")
        elif spec.get("kind") == "steady":
            md.append(f"Stationary: the 'cases' are the parallel and antiparallel configurations, one linear "
                      f"solve each (assembly + solve); observable: {spec['observable'][1]}.")
        else:
            md.append("Tabulated multiscale model: setup builds the unit-cell table (1-D radial cell runs, "
                      "shared out over the ranks), the time steps are lookups on the crystal mesh; "
                      f"observable: {spec['observable'][1]}.")
        md += [""] + _model_table(model, rows) + [""]
        growth_lines, growth = _growth(model, rows)
        eff_lines, eff = _efficiency(model, rows)
        mem_lines, mem = _memory(model, rows)
        md += ["Growth of cost with DOFs (target: linear per step with AMG):", ""] + growth_lines + [""]
        md += ["Parallel efficiency T1 / (2 T2):", ""] + eff_lines + [""]
        md += ["Memory per DOF:", ""] + mem_lines + [""]
        cmp_lines, best = _comparison(model, rows)
        if cmp_lines:
            md += ["### Solver comparison", ""] + cmp_lines + [""]
        summary[model] = {"growth": growth, "efficiency": eff, "memory": mem, "best": best}
    md += ["## Weak-scaling projection (a projection, not a measurement)", "",
           "Extrapolated, not measured: the time per step of a run with the same DOFs per rank as the largest "
           "2-rank run of each model, on P = 16, 128 and 1024 ranks. Assumptions:", "",
           "1. Compute per rank at fixed DOFs per rank is the measured 2-rank time (both cores busy, as on a "
           "full cluster node): the part outside KSPSolve (assembly, Newton bookkeeping) and PCSetUp stay "
           "constant per rank (exact for block-Jacobi/ILU, optimistic for AMG, whose setup grows with the "
           "number of levels); the time per Krylov iteration is (KSPSolve - PCSetUp) / iterations.",
           "2. Krylov iterations per step grow with the global DOFs N = P n as N^alpha, alpha fitted over "
           "the three serial sizes of the same solver (alpha < 0 is taken as 0; without three sizes alpha = 0).",
           f"3. Every Krylov iteration does one halo exchange (latency {LATENCY_S * 1e6:.0f} us + bytes / "
           f"{BANDWIDTH_BPS / 1e9:.0f} GB/s) and {REDUCTIONS_PER_KRYLOV_IT} global reductions (GMRES with "
           f"classical Gram-Schmidt: VecMDot + VecNorm; CG: two dot products), each costing log2(P) message "
           f"latencies; every Newton iteration adds one halo exchange and {REDUCTIONS_PER_NEWTON_IT} "
           f"reductions.",
           "4. Halo bytes: an interior rank of a 3-D decomposition into cube-like subdomains has 6 faces of "
           "(n/bs)^(2/3) nodes, bs unknowns each, 8 bytes per value (the measured 2-rank value has one "
           "interface). Messages to the 6 neighbours are charged sequentially-by-bytes but one latency "
           "(they overlap).",
           "5. No network contention, no load imbalance, no OS noise, perfect memory-bandwidth scaling across "
           "nodes; direct LU (MUMPS) is charged its measured serial cost exponent beta: work per rank grows as "
           "(P/2)^(beta - 1), which ignores its own communication (optimistic).",
           "6. Weak-scaling efficiency = T(2) / T(P), both from this model.", ""]
    for model in models:
        rows = [r for r in data if r["model"] == model]
        lines, proj = _projection(model, rows, summary[model]["growth"])
        summary[model]["projection"] = proj
        md += lines
    md += ["## Summary", "", "| model | cost exponent (default, 1 rank) | 2-rank efficiency at the largest size | "
           "marginal memory (kB/DOF, 1 rank) | fastest solver at the largest size (1 / 2 ranks) | "
           "projected weak-scaling efficiency at 1024 ranks (default; fastest) |",
           "|---|---|---|---|---|---|"]
    for model, s in summary.items():
        g = s["growth"].get("default", {})
        eff = s["efficiency"]
        last = list(eff)[-1] if eff else None
        best = s["best"]
        md.append(f"| {model} | {_f(g.get('cost_exponent', math.nan), '.2f')} | "
                  f"{(f'{100 * eff[last]:.0f} % ({last})') if last else '-'} | {_f(s['memory'].get(1, math.nan), '.2f')} | "
                  f"{best.get(1, 'n/a')} / {best.get(2, 'n/a')} | {_proj_cell(s.get('projection', {}), best.get(2))} |")
    path = out_dir / "bench_models.md"
    path.write_text("\n".join(md) + "\n")
    return path


def _proj_cell(projection: dict, fastest: str | None) -> str:
    cells = []
    for solver in ("default", fastest):
        eff = projection.get(solver, {}).get(PROJECTION_RANKS[-1]) if solver else None
        cells.append(f"{100 * eff:.0f} %" if eff is not None else "-")
    return "; ".join(cells)


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 2 steps (CI, < 60 s)")
    ap.add_argument("--report", action="store_true", help="write DIR/bench_models.md from the JSON")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    ap.add_argument("--compare", choices=("all", "fine"), default="all",
                    help="run the alternative solvers at every size (all) or only the largest (fine)")
    ap.add_argument("--max-run-seconds", type=float, default=30.0,
                    help="budget of one alternative-solver run: fewer steps, or skipped, beyond it")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs of the default solver per size and rank count, the fastest kept (not in --quick)")
    ap.add_argument("--sizes", default="", help="comma-separated subset of the size labels (default: all)")
    ap.add_argument("--solvers", default="", help="comma-separated subset of the solver labels (default: all)")
    ap.add_argument("--out", default="results/bench")
    args = ap.parse_args()
    out_dir = Path(args.out)
    comm = MPI.COMM_WORLD
    if args.report:
        if comm.rank == 0:
            print(report(out_dir).read_text())
        return
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)} (have {', '.join(MODELS)})")
    from petsc4py import PETSc

    PETSc.Log.begin()
    t0 = time.perf_counter()
    # the alternatives' options carry other prefixes' keys (valet_fert keeps its MUMPS key
    # under cg): PETSc's exit warning about unused options is noise here
    PETSc.Options().setValue("options_left", "0")
    run_suite(models, args.quick, args.compare, out_dir, comm, args.max_run_seconds,
              [s for s in args.sizes.split(",") if s], [s for s in args.solvers.split(",") if s],
              1 if args.quick else max(args.repeat, 1))
    if comm.rank == 0:
        print(f"bench_models: {len(models)} model(s) on {comm.size} rank(s) in {time.perf_counter() - t0:.0f} s "
              f"-> {out_dir / 'bench_models.json'}", flush=True)


if __name__ == "__main__":
    main()
