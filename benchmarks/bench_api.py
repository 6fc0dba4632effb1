"""The cost of repeated ``fem_spin.simulate`` calls: what a parameter study or a fit pays.

    python3 benchmarks/bench_api.py [--quick] [--out DIR]     # measure (serial)
    python3 benchmarks/bench_api.py --report [--out DIR]      # markdown from the JSON

The case is the 1-D radial DNP cell (``dnp_radial``, 40 mM nitroxide, r_s = 0.6 nm,
cycle-averaged source towards P_e = 0.9, global speed-up) up to ``t_end``. One process makes
``calls`` calls, each with another D0 (``overrides={"model.D0": ...}``), and records per call
the wall time of the whole call, the time stepping alone (summary.json's ``stepping_s``: from
the set-up problem to the end) and their ratio. The first call builds the mesh and compiles
the forms; later calls reuse the mesh (api.py keeps it) and find the forms in FFCx's cache.
The issue's target: a later call costs at most 1.2x its time stepping. Numbers are
measurements of this machine, never asserted by tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CASE = {
    "name": "bench_api",
    "geometry": {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": 0.6e-9},
    "model": {"type": "nuclear_diffusion", "D0": 5e-16, "speedup": "global",
              "source": "cycle_averaged", "source_polarization": 0.9, "repetition_rate": 1e3,
              "exchange_probability": 1.0, "pre_coefficient": 1e-60},
    "time": {"t_end": 0.05, "dt_initial": 1e-6, "tolerance": 1e-5},
    "output": {"plot": False, "render": False, "progress_interval": 1e9},
}


def measure(quick: bool) -> list[dict]:
    import fem_spin
    from fem_spin import api

    api.clear_mesh_cache()
    t_end = 0.01 if quick else 0.05
    rows = []
    for k, D0 in enumerate([5e-16, 4e-16, 6e-16] if quick else [5e-16, 4e-16, 6e-16, 3e-16, 7e-16]):
        t0 = time.perf_counter()
        result = fem_spin.simulate(CASE, overrides={"model.D0": D0, "time.t_end": t_end})
        total = time.perf_counter() - t0
        stepping = result.summary["stepping_s"]
        rows.append({"call": k + 1, "D0": D0, "t_end": t_end, "steps": result.summary["steps"],
                     "dofs": result.summary["dofs"], "total_s": total, "stepping_s": stepping,
                     "ratio": total / stepping, "t63_s": result.summary.get("t63")})
        print(f"call {k + 1}: D0 = {D0:g}, {result.summary['steps']} steps, total {total:.3f} s, "
              f"stepping {stepping:.3f} s, ratio {total / stepping:.3f}", flush=True)
    return rows


def report(rows: list[dict]) -> str:
    lines = ["# Repeated fem_spin.simulate calls (benchmarks/bench_api.py)", "",
             f"Machine: {platform.machine()}, {platform.python_implementation()} "
             f"{platform.python_version()}. Case: dnp_radial, t_end = {rows[0]['t_end']} s, "
             f"{rows[0]['dofs']} DOFs.", "",
             "| call | D0 (m^2/s) | steps | whole call (s) | time stepping (s) | ratio |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['call']} | {r['D0']:g} | {r['steps']} | {r['total_s']:.3f} | "
                     f"{r['stepping_s']:.3f} | {r['ratio']:.3f} |")
    later = [r["ratio"] for r in rows[1:]]
    if later:
        lines += ["", f"Later calls: whole call / time stepping = {min(later):.3f} - {max(later):.3f} "
                      f"(target: at most 1.2); the first call: {rows[0]['ratio']:.3f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs, three calls")
    ap.add_argument("--report", action="store_true", help="write markdown from the JSON")
    ap.add_argument("--out", default=str(HERE / "results"), help="directory of the JSON/markdown")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report:
        rows = json.loads((out / "bench_api.json").read_text())
        (out / "bench_api.md").write_text(report(rows))
        print(report(rows))
        return
    rows = measure(args.quick)
    (out / "bench_api.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
