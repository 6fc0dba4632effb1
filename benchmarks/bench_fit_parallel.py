"""Wall time of a fit over 1 and 2 MPI rank groups (issue 21, "Parallel"; fitting/parallel.py).

    python3 benchmarks/bench_fit_parallel.py [--repeats N] [--out DIR]              # 1 group
    mpirun -n 2 python3 benchmarks/bench_fit_parallel.py [--repeats N] [--out DIR]  # 2 groups
    mpirun -n 2 python3 benchmarks/bench_fit_parallel.py --ranks-per-model 2 ...    # 1 group of 2
    python3 benchmarks/bench_fit_parallel.py --report [--out DIR]                   # markdown

The fit: examples/fit_dnp_global/fit.toml (three radial-cell buildups at 5, 20 and 80 mM,
shared D0 and k_x, one scale per curve in closed form), with the Jacobian by forward
sensitivities (the default: each evaluation's three datasets are the tasks) and by finite
differences (each Jacobian adds two columns of three datasets: six tasks). One untimed fit
first (mesh, forms), then ``--repeats`` timed fits in the same process; the fastest and the
median are kept. Every rank runs the fit; the wall time is rank 0's, between barriers.
Recorded with each entry: the date, the load average (os.getloadavg, before and after) and
the fitted values and standard errors; the report gives their largest relative difference
from the serial fit's (0 for groups of one rank: the same runs; within the solvers' tolerances
for groups of several ranks, where a 1-D system is solved by a Krylov method instead of LU). Entries are keyed by (Jacobian
method, ranks, ranks per model) in DIR/bench_fit_parallel.json (rank 0 writes; reruns
replace their entries); --report writes DIR/bench_fit_parallel.md. Numbers are
measurements of this machine, never asserted by tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GLOBAL = ROOT / "examples" / "fit_dnp_global" / "fit.toml"
METHODS = ("sensitivities", "finite_differences")


def measure(method: str, repeats: int, ranks_per_model: int | None) -> dict:
    from mpi4py import MPI

    from fem_spin.fitting import load_fit_config
    from fem_spin.fitting.driver import fit

    world = MPI.COMM_WORLD
    config = load_fit_config(GLOBAL)
    config = dataclasses.replace(config, fit=dataclasses.replace(config.fit, jacobian=method))
    rpm = ranks_per_model or 1
    fit(config, ranks_per_model=rpm)     # mesh and forms
    load_before = os.getloadavg()
    walls, result = [], None
    for _ in range(repeats):
        world.Barrier()
        started = time.perf_counter()
        result = fit(config, ranks_per_model=rpm)
        world.Barrier()
        walls.append(time.perf_counter() - started)
    return {"method": method, "ranks": world.size, "ranks_per_model": rpm, "groups": world.size // rpm,
            "wall_min_s": min(walls), "wall_median_s": statistics.median(walls), "walls_s": walls,
            "forward_runs": result.forward_runs, "forward_seconds": result.forward_seconds,
            "nfev": result.optimiser.get("nfev"), "njev": result.optimiser.get("njev"),
            "parameters": {k: {"value": e.value, "standard_error": e.standard_error}
                           for k, e in result.parameters.items()},
            "date": time.strftime("%Y-%m-%d %H:%M"), "load_before": list(load_before),
            "load_after": list(os.getloadavg()), "cpus": os.cpu_count()}


def _difference(entry: dict, base: dict) -> float:
    """Largest relative difference of the fitted values and standard errors from ``base``."""
    worst = 0.0
    for name, p in entry["parameters"].items():
        q = base["parameters"][name]
        for field in ("value", "standard_error"):
            worst = max(worst, abs(p[field] / q[field] - 1))
    return worst


def report(entries: list[dict]) -> str:
    lines = ["# Fit wall time over MPI rank groups (benchmarks/bench_fit_parallel.py)", "",
             "examples/fit_dnp_global (3 datasets, 2 shared parameters, 3 closed-form scales); wall "
             "time of a whole fit in a warm process (mesh and forms from an untimed first fit).", "",
             "| Jacobian | ranks | ranks per model | groups | wall, fastest (s) | wall, median (s) | "
             "speed-up over 1 group (fastest) | forward runs | load average before/after (1 min) | date | "
             "D0 (m^2/s) | k_x (1/s) | largest relative difference from the serial fit |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for method in METHODS:
        rows = sorted((e for e in entries if e["method"] == method), key=lambda e: (e["ranks"], -e["groups"]))
        base = next((e for e in rows if e["groups"] == 1 and e["ranks"] == 1), None)
        for e in rows:
            speedup = f"{base['wall_min_s'] / e['wall_min_s']:.2f}" if base else "n/a"
            difference = f"{_difference(e, base):.1e}" if base else "n/a"
            d0, kx = e["parameters"]["model.D0"], e["parameters"]["model.exchange_rate"]
            lines.append(f"| {method} | {e['ranks']} | {e['ranks_per_model']} | {e['groups']} | "
                         f"{e['wall_min_s']:.2f} | {e['wall_median_s']:.2f} | {speedup} | {e['forward_runs']} | "
                         f"{e['load_before'][0]:.1f}/{e['load_after'][0]:.1f} | {e['date']} | "
                         f"{d0['value']:.10g} | {kx['value']:.10g} | {difference} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ranks-per-model", type=int, default=None,
                        help="default 1: every rank its own group")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args()
    out = Path(args.out)
    path = out / "bench_fit_parallel.json"
    if not args.report:
        from mpi4py import MPI

        rows = [measure(m, args.repeats, args.ranks_per_model) for m in args.methods.split(",")]
        if MPI.COMM_WORLD.rank != 0:
            return
        out.mkdir(parents=True, exist_ok=True)
        entries = json.loads(path.read_text())["entries"] if path.exists() else []
        key = lambda e: (e["method"], e["ranks"], e["ranks_per_model"])
        new = {key(r) for r in rows}
        entries = [e for e in entries if key(e) not in new] + rows
        path.write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                                               f"{platform.python_implementation()} {platform.python_version()}",
                                    "entries": entries}, indent=1))
        for r in rows:
            print(json.dumps({k: r[k] for k in ("method", "ranks", "groups", "wall_min_s", "wall_median_s",
                                                  "forward_runs", "load_before", "load_after")}), flush=True)
    data = json.loads(path.read_text())
    text = f"Machine: {data['machine']}.\n\n" + report(data["entries"])
    (out / "bench_fit_parallel.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
