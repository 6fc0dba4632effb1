"""fem_spin against FiPy at matched accuracy: the periodic-cube CW DNP buildup (physics.md 1.2).

    python3 benchmarks/bench_fipy_comparison.py [--case fast|slow] [--quick] [--out DIR]

One problem, two codes: fem_spin (P1 tetrahedra graded towards the electron, Newton on
w = artanh P, dolfinx_mpc periodicity) and FiPy (uniform ``PeriodicGrid3D`` finite
volumes, benchmarks/fipy_dnp_cube.py). Both step backward Euler on the same prescribed time
grid (geometric steps from 1e-5 s to t_end plus the sample times), so the comparison is
about the spatial discretisation and the cost of a step; the time error of that grid is
measured separately by halving every step (fem_spin, coarsest mesh) and reported.

Accuracy is the largest |Pbar - Pbar_ref| over 10 log-spaced times, with the reference a
finer fem_spin mesh on the same grid; each code climbs its resolution ladder until it is
within ``--target`` (1e-3) of it, and the cost of that first matching level is compared.
FiPy's finest level is reported too, as an independent check that both codes converge to
the same reference.

Cases: ``fast`` is the glassy_1H_nitroxide preset (k_x = 1e3 1/s: a 0.14 nm source layer,
sqrt(D0/k_x), inside r_s = 0.6 nm), ``slow`` the same with k_x = 100 1/s (layer 0.45 nm).
Results go to DIR/bench_fipy_<case>.{json,md}. FiPy comes from PyPI (``make bench``
installs it into .cache/pydeps); serial runs only, FiPy's PETSc suite (CG + hypre).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).parent))

R_S = 0.6e-9
#: the fem_spin ladder is h_s = r_s/d (the mesh grows as h_s r/r_s outside the source, up to
#: the geometry's default bulk size); its last two levels give the reference by Richardson
#: extrapolation (second order)
CASES = {
    "fast": {"exchange_rate": 1e3, "t_end": 0.3, "fem_ladder": [4, 6, 8, 12, 16, 20, 24],
             "fipy_ladder": [12, 16, 24, 32, 40, 48, 56]},
    "slow": {"exchange_rate": 1e2, "t_end": 2.0, "fem_ladder": [2, 3, 4, 6, 8, 12, 16],
             "fipy_ladder": [8, 12, 16, 24, 32, 48]},
}
QUICK = {"exchange_rate": 1e2, "t_end": 0.5, "fem_ladder": [2, 3], "fipy_ladder": [8]}
STEPS = 120


def sample_times(t_end: float) -> np.ndarray:
    return np.logspace(math.log10(t_end) - 2.5, math.log10(t_end), 10)


def step_grid(t_end: float, steps: int) -> np.ndarray:
    return np.unique(np.concatenate([np.geomspace(1e-5, t_end, steps), sample_times(t_end)]))


def raw_config(case: dict, divisions: float) -> dict:
    return {"preset": "glassy_1H_nitroxide", "name": "bench_fipy",
            "geometry": {"type": "dnp_cube", "mesh_size_source": R_S / divisions},
            "model": {"speedup": "global", "source_polarization": 0.9,
                      "exchange_rate": case["exchange_rate"]},
            "time": {"t_end": case["t_end"], "dt_initial": case["t_end"], "adaptive": False}}


def run_fem_spin(case: dict, divisions: float, grid: np.ndarray) -> dict:
    """fem_spin on the prescribed grid: every grid time is an output stop, so with adaptivity
    off and dt_initial = t_end each step lands on the next grid time."""
    from fem_spin.config import parse_config
    from fem_spin.models import NuclearDiffusionProblem
    from fem_spin.solvers import TimeStepper

    comm = MPI.COMM_WORLD
    t0 = time.perf_counter()
    config = parse_config(raw_config(case, divisions))
    problem = NuclearDiffusionProblem(config, comm).initialise()
    setup = time.perf_counter() - t0
    wanted = {float(t) for t in sample_times(case["t_end"])}
    values, counts = {}, {"newton": 0, "krylov": 0}

    def on_step(info):
        counts["newton"] += info.newton_iterations
        counts["krylov"] += info.linear_iterations

    def on_output(t):
        if t in wanted:
            values[t] = problem.mean_polarization()

    stepper = TimeStepper(problem, config.time, output_times=[float(t) for t in grid],
                          on_step=on_step, on_output=on_output)
    t1 = time.perf_counter()
    stepper.run()
    solve = time.perf_counter() - t1
    out = {"code": "fem_spin", "resolution": f"h_s = r_s/{divisions:g}", "dofs": problem.num_dofs,
           "steps": stepper.step, "newton_iterations": counts["newton"],
           "krylov_iterations": counts["krylov"], "setup_s": setup, "solve_s": solve,
           "P_mean": [values[t] for t in sorted(wanted)]}
    problem.destroy()
    return out


def run_fipy(case: dict, n_cells: int, grid: np.ndarray) -> dict:
    from fem_spin.units import cell_side, number_density
    from fipy_dnp_cube import solve

    side_nm = cell_side(number_density("40 mM")) * 1e9
    r = solve(n_cells, side_nm, R_S * 1e9, D0_nm2_s=2e-17 * 1e18, exchange_rate=case["exchange_rate"],
              source_polarization=0.9, step_times=grid, sample_times=sample_times(case["t_end"]))
    return {"code": "FiPy", "resolution": f"{n_cells}^3 cells", "dofs": r["cells"], "steps": r["steps"],
            "newton_iterations": r["sweeps"], "krylov_iterations": None, "setup_s": r["setup_s"],
            "solve_s": r["solve_s"], "P_mean": r["P_mean"]}


def error(result: dict, reference: dict) -> float:
    return float(np.max(np.abs(np.subtract(result["P_mean"], reference["P_mean"]))))


def richardson(coarse: dict, fine: dict, d_coarse: float, d_fine: float, order: float = 2.0) -> dict:
    """Extrapolate two levels of a second-order method to h -> 0."""
    ratio = (d_fine / d_coarse) ** order
    pc, pf = np.asarray(coarse["P_mean"]), np.asarray(fine["P_mean"])
    return {"code": "fem_spin", "resolution": f"Richardson r_s/{d_coarse:g} + r_s/{d_fine:g}",
            "dofs": fine.get("dofs"), "P_mean": list(pf + (pf - pc) / (ratio - 1))}


def observed_order(levels: list[dict], ladder: list[float]) -> float:
    """Order p with (h1^p - h2^p) / (h2^p - h3^p) = |P1 - P2| / |P2 - P3| (max norm over the
    sample times) from three levels h = r_s/d; NaN with fewer levels."""
    from scipy.optimize import brentq

    if len(levels) < 3:
        return math.nan
    p = [np.asarray(r["P_mean"]) for r in levels]
    measured = np.max(np.abs(p[1] - p[0])) / np.max(np.abs(p[2] - p[1]))
    h = [1.0 / d for d in ladder]
    model = lambda q: (h[0] ** q - h[1] ** q) / (h[1] ** q - h[2] ** q) - measured  # noqa: E731
    try:
        return float(brentq(model, 0.1, 8.0))
    except ValueError:
        return math.nan


def climb(runner, ladder, reference, target, log) -> list[dict]:
    """Run the ladder upwards until the error is within target; return every level run."""
    levels = []
    for level in ladder:
        r = runner(level)
        r["error"] = error(r, reference)
        levels.append(r)
        log(f"  {r['code']:>8} {r['resolution']:>16}: {r['dofs']:>7} unknowns, solve {r['solve_s']:7.1f} s, "
            f"max |Pbar - ref| = {r['error']:.2e}")
        if r["error"] <= target:
            break
    return levels


def report(out_dir: Path, name: str, data: dict) -> Path:
    lines = [f"# fem_spin vs FiPy at matched accuracy: periodic-cube DNP buildup, case `{name}`", "",
             f"k_x = {data['exchange_rate']:g} 1/s, t_end = {data['t_end']:g} s, global speed-up, "
             f"P_e = 0.9; {data['steps']} backward-Euler steps on a common geometric grid (its time error, "
             f"from halving every step: {data['time_error']:.1e}). Reference: fem_spin at "
             f"{data['reference']['resolution']} ({data['reference']['dofs']} DOFs). Target: max |Pbar - ref| "
             f"<= {data['target']:g} at 10 log-spaced times.", "",
             "| code | resolution | unknowns | sweeps / Newton its | solve (s) | ms/step | max error |",
             "|---|---|---|---|---|---|---|"]
    for r in data["fem_spin"] + data["fipy"]:
        lines.append(f"| {r['code']} | {r['resolution']} | {r['dofs']} | {r['newton_iterations']} | "
                     f"{r['solve_s']:.1f} | {1e3 * r['solve_s'] / r['steps']:.1f} | {r['error']:.1e} |")
    lines += ["", data["verdict"], ""]
    md = out_dir / f"bench_fipy_{name}.md"
    md.write_text("\n".join(lines))
    return md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=sorted(CASES), default="fast")
    ap.add_argument("--quick", action="store_true", help="tiny ladders and grid (CI plumbing check)")
    ap.add_argument("--target", type=float, default=1e-3)
    ap.add_argument("--out", default="results/bench")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    if comm.size != 1:
        raise SystemExit("bench_fipy_comparison.py: run it serially (FiPy's side is serial)")
    case = QUICK if args.quick else CASES[args.case]
    name = "quick" if args.quick else args.case
    steps = 20 if args.quick else STEPS
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    grid = step_grid(case["t_end"], steps)

    log(f"case {name}: fem_spin ladder h_s = r_s/d, d = {case['fem_ladder']}, on {len(grid)} steps")
    fem_levels = []
    for d in case["fem_ladder"]:
        fem_levels.append(run_fem_spin(case, d, grid))
        log(f"  fem_spin r_s/{d:g}: {fem_levels[-1]['dofs']} DOFs, solve {fem_levels[-1]['solve_s']:.1f} s")
    reference = richardson(fem_levels[-2], fem_levels[-1], case["fem_ladder"][-2], case["fem_ladder"][-1])
    for r in fem_levels:
        r["error"] = error(r, reference)
        log(f"  fem_spin {r['resolution']:>14}: max |Pbar - ref| = {r['error']:.2e}")
    order = observed_order(fem_levels[-3:], case["fem_ladder"][-3:])
    log(f"  observed order of the last three levels: {order:.2f}")
    coarse = case["fem_ladder"][0]
    halved = run_fem_spin(case, coarse, step_grid(case["t_end"], 2 * steps))
    time_error = error(halved, fem_levels[0])
    log(f"  time error of the grid (fem_spin r_s/{coarse}, steps halved): {time_error:.1e}")
    try:
        import fipy  # noqa: F401
    except ImportError:
        raise SystemExit("FiPy is not installed: `make bench` installs it into .cache/pydeps "
                         "(python3 -m pip install --target .cache/pydeps fipy)") from None
    fipy_levels = climb(lambda n: run_fipy(case, n, grid), case["fipy_ladder"], reference, args.target, log)

    fem_ok = [r for r in fem_levels if r["error"] <= args.target]
    fipy_ok = [r for r in fipy_levels if r["error"] <= args.target]
    if fem_ok and fipy_ok:
        ratio = fipy_ok[0]["solve_s"] / fem_ok[0]["solve_s"]
        verdict = (f"At matched accuracy fem_spin ({fem_ok[0]['resolution']}, {fem_ok[0]['solve_s']:.1f} s) is "
                   f"{ratio:.1f}x {'faster' if ratio >= 1 else 'slower'} than FiPy ({fipy_ok[0]['resolution']}, "
                   f"{fipy_ok[0]['solve_s']:.1f} s).")
    else:
        ratio = None
        verdict = ("Not both codes reached the target on their ladders: "
                   f"fem_spin {'yes' if fem_ok else 'no'}, FiPy {'yes' if fipy_ok else 'no'}; "
                   "compare the cost at the accuracy each reached in the table.")
    log(verdict)
    data = {"case": name, "exchange_rate": case["exchange_rate"], "t_end": case["t_end"], "steps": len(grid),
            "target": args.target, "time_error": time_error, "reference": reference, "observed_order": order,
            "fem_spin": fem_levels, "fipy": fipy_levels, "speedup_fem_spin_over_fipy": ratio,
            "verdict": verdict}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"bench_fipy_{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    log(f"wrote {report(out_dir, name, data)}")


if __name__ == "__main__":
    main()
