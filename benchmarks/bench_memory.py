"""Peak memory of meshing and of short runs: the constants of fem_spin/limits.py (issue 18).

    python3 benchmarks/bench_memory.py [--quick] [--out DIR]     # measure (serial)
    python3 benchmarks/bench_memory.py --report [--out DIR]      # fit and write markdown

Every measurement is a fresh Python process, in two phases:

* ``import`` - fem_spin, dolfinx, PETSc, gmsh and MPI loaded, nothing else: the base cost of
  a rank (limits.BASE_BYTES; a run also loads the compiled forms, ~50-100 MB more);
* ``run`` - phase 1: the configuration's mesh is built (gmsh on rank 0, handed to dolfinx):
  its peak RSS (``ru_maxrss``) against the mesh's real number of cells gives bytes per cell
  (limits.BYTES_PER_CELL: gmsh's mesh and the dolfinx mesh, tags, connectivity). Then freed
  memory is returned to the system (glibc ``malloc_trim``) and the peak is reset
  (``/proc/self/clear_refs``); phase 2: ``fem_spin.simulation.run_single`` on that mesh for a
  few fixed time steps (time series, no plots, pictures or snapshots): its peak beyond the RSS
  before it, against the degrees of freedom, gives bytes per DOF (limits.BYTES_PER_DOF:
  functions, the PETSc Jacobian and preconditioner, Krylov vectors, assembly). The whole
  run's peak is recorded too: it stays below base + mesh + solve (phase 2 reuses memory
  gmsh freed), which is the sum limits.py predicts.

Cases: nuclear_diffusion (1 unknown per node) and onsager_transport (2 per node) on a
1 um box of tetrahedra (``mesh_size`` 1/16, 1/24, 1/36 um; ``--quick`` 1/10, 1/14 um).
The fit: least-squares slopes (with intercept) over the sizes. DIR/bench_memory.json holds
the measurements (reruns replace entries of the same case and size); DIR/bench_memory.md
the table and the fitted constants. Numbers are measurements of this machine, never
asserted by tests; limits.py states the constants it uses (rounded up).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

ND_MODEL = {"type": "nuclear_diffusion", "D0": 1e-16, "speedup": "global", "region_shape": "ball",
            "region_center": [5e-7, 5e-7, 5e-7], "region_radius": 2e-7, "region_polarization": 0.5}
ONSAGER_MODEL = {"type": "onsager_transport", "spin_density": 4.86e28, "B0": 1.0,
                 "formulation": "nonlinear", "field": "linear", "field_gradient": [1e4, 0.0, 0.0],
                 "transport_coefficient": 1e-16, "initial_profile": "ball",
                 "region_center": [5e-7, 5e-7, 5e-7], "region_radius": 2e-7,
                 "region_polarization": 0.3, "initial_dipolar_order": 0.1}
MODELS = {"nuclear_diffusion": (ND_MODEL, 1e-2), "onsager_transport": (ONSAGER_MODEL, 1e-3)}
DIVISIONS = (16, 24, 36)
QUICK_DIVISIONS = (10, 14)
STEPS = 3


def config(model: str, divisions: int) -> dict:
    table, dt = MODELS[model]
    return {"name": f"mem_{model}_{divisions}",
            "geometry": {"type": "box", "size": [1e-6, 1e-6, 1e-6], "mesh_size": 1e-6 / divisions},
            "model": dict(table),
            "time": {"t_end": STEPS * dt, "dt_initial": dt, "adaptive": False},
            "output": {"plot": False, "render": False, "field_snapshots": 0,
                       "progress_interval": 1e9, "checkpoint_interval": 0}}


# --------------------------------------------------------------------------- child processes
def _peak_bytes() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0   # KiB on Linux


def _rss_bytes() -> float:
    with open("/proc/self/statm") as f:
        import os

        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _trim_and_reset_peak() -> float:
    """Return freed heap to the system, reset the peak RSS; the RSS now (bytes)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _rss_bytes()


def child(mode: str, model: str, divisions: int) -> dict:
    """Run one measurement in this (fresh) process and return its record."""
    from mpi4py import MPI

    import dolfinx  # noqa: F401
    import gmsh  # noqa: F401
    from petsc4py import PETSc  # noqa: F401

    import fem_spin.models  # noqa: F401
    from fem_spin.config import parse_config

    record = {"mode": mode, "model": model if mode != "import" else "", "divisions": divisions}
    if mode == "import":
        record["peak_bytes"] = _peak_bytes()
        return record
    cfg = parse_config(config(model, divisions))
    from fem_spin.limits import estimate

    est = estimate(cfg)
    record.update(estimated_cells=est.cells, estimated_dofs=est.dofs, estimated_bytes=est.memory)
    from fem_spin.geometry import create_mesh
    from fem_spin.simulation import run_single

    data = create_mesh(cfg.geometry, MPI.COMM_WORLD)
    record["cells"] = data.mesh.topology.index_map(3).size_global
    record["vertices"] = data.mesh.geometry.index_map().size_global
    record["mesh_peak_bytes"] = _peak_bytes()
    record["rss_before_solve"] = _trim_and_reset_peak()
    problem = type(cfg.model).problem_class(cfg, MPI.COMM_WORLD, mesh_data=data).initialise()
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_single(cfg, Path(tmp), MPI.COMM_WORLD, quiet=True, problem=problem)
    record["dofs"] = summary["dofs"]
    record["steps"] = summary["steps"]
    record["solve_peak_bytes"] = _peak_bytes()
    # the peak of the whole process: that of the phases, as the reset hid the mesh's
    record["peak_bytes"] = max(record["mesh_peak_bytes"], record["solve_peak_bytes"])
    return record


def measure(mode: str, model: str = "", divisions: int = 0) -> dict:
    res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", mode,
                          "--model", model or "nuclear_diffusion", "--divisions", str(divisions)],
                         capture_output=True, text=True, timeout=3600,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    if res.returncode != 0:
        raise RuntimeError(f"{mode} {model} {divisions}: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- fit and report
def _slope(xs, ys) -> float:
    """Least-squares slope of ys over xs (with an intercept)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else float("nan")


def fit(data: list[dict]) -> dict:
    base = [r["peak_bytes"] for r in data if r["mode"] == "import"]
    runs = [r for r in data if r["mode"] == "run"]
    per_cell = _slope([r["cells"] for r in runs], [r["mesh_peak_bytes"] for r in runs])
    kept = _slope([r["cells"] for r in runs], [r["rss_before_solve"] for r in runs])
    out = {"base_bytes": max(base) if base else float("nan"), "bytes_per_cell": per_cell,
           "bytes_per_cell_kept": kept, "bytes_per_dof": {}}
    for model in MODELS:
        mine = [r for r in runs if r["model"] == model]
        if len(mine) >= 2:
            out["bytes_per_dof"][model] = _slope(
                [r["dofs"] for r in mine], [r["solve_peak_bytes"] - r["rss_before_solve"] for r in mine])
    return out


def _estimate_now(model: str, divisions: int) -> float:
    """limits.py's memory estimate of a case with its current constants (bytes)."""
    from fem_spin.config import parse_config
    from fem_spin.limits import estimate

    return estimate(parse_config(config(model, divisions))).memory


def report(data: list[dict], path: Path) -> None:
    f = fit(data)
    lines = ["# Peak memory of meshing and of short runs (benchmarks/bench_memory.py)", "",
             f"Measured on this machine ({platform.machine()}, Python {platform.python_version()}); "
             f"each row is a fresh process (peak RSS, ru_maxrss). Box 1 um, tetrahedra of size "
             f"1/divisions um; runs: {STEPS} fixed backward-Euler steps, no snapshots.", "",
             "| mode | model | divisions | cells | DOFs | mesh peak (MB) | solve: added (MB) | "
             "peak RSS (MB) | limits.py estimate (MB) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(data, key=lambda r: (r["mode"], r["model"], r["divisions"])):
        if r["mode"] == "import":
            lines.append(f"| import | | | | | | | {r['peak_bytes'] / 1e6:.0f} | |")
            continue
        lines.append(f"| run | {r['model']} | {r['divisions']} | {r['cells']} | {r['dofs']} | "
                     f"{r['mesh_peak_bytes'] / 1e6:.0f} | "
                     f"{(r['solve_peak_bytes'] - r['rss_before_solve']) / 1e6:.0f} | "
                     f"{r['peak_bytes'] / 1e6:.0f} | {_estimate_now(r['model'], r['divisions']) / 1e6:.0f} |")
    lines += ["", f"- base (import): {f['base_bytes'] / 1e6:.0f} MB",
              f"- bytes per cell while meshing (slope of the mesh peaks; limits.BYTES_PER_CELL): "
              f"{f['bytes_per_cell']:.0f}",
              f"- bytes per cell kept for the solve (slope of the RSS after meshing; "
              f"limits.BYTES_PER_CELL_KEPT): {f['bytes_per_cell_kept']:.0f}"]
    for model, value in f["bytes_per_dof"].items():
        lines.append(f"- bytes per DOF, {model} (slope of the memory the solve phase adds; "
                     f"limits.BYTES_PER_DOF): {value:.0f}")
    lines += ["", "limits.py predicts base + max(meshing, solving) per run; the last column is that "
                  "estimate with the constants limits.py holds now."]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two small sizes")
    ap.add_argument("--report", action="store_true", help="fit the measurements, write markdown")
    ap.add_argument("--out", default=str(HERE / "results"), help="directory of the JSON/markdown")
    ap.add_argument("--child", choices=("import", "run"), help=argparse.SUPPRESS)
    ap.add_argument("--model", default="nuclear_diffusion", help=argparse.SUPPRESS)
    ap.add_argument("--divisions", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.model, args.divisions)))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "bench_memory.json"
    data = json.loads(store.read_text()) if store.exists() else []
    if args.report:
        report(data, out / "bench_memory.md")
        print(f"wrote {out / 'bench_memory.md'}")
        return 0
    divisions = QUICK_DIVISIONS if args.quick else DIVISIONS
    todo = [("import", "", 0)] + [("run", m, d) for m in MODELS for d in divisions]
    for mode, model, d in todo:
        record = measure(mode, model, d)
        print(json.dumps(record), flush=True)
        data = [r for r in data if (r["mode"], r["model"], r["divisions"]) != (mode, model, d)] + [record]
        store.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
