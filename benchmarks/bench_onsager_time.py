"""The Onsager Fig. 8 case (examples/onsager_fig8.toml, nonlinear formulation) in time:
steps and wall time of variable-order BDF, BDF2 and backward Euler for a given accuracy of rho2 (issue 20).

The error is the max-norm of rho2 at every node at t_end against the variable-order BDF at tolerance
1e-8 on the same mesh (time error only). Usage:

    ./fem-env python3 benchmarks/bench_onsager_time.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from pathlib import Path

import numpy as np

from fem_spin.config import parse_config
from fem_spin.models.onsager import OnsagerTransportProblem
from fem_spin.solvers import TimeStepper

REPO = Path(__file__).resolve().parents[1]


def run(scheme: str, tolerance: float, t_end: float | None) -> dict:
    raw = tomllib.loads((REPO / "examples" / "onsager_fig8.toml").read_text())
    raw.pop("sweep", None)
    raw["time"].update(scheme=scheme, tolerance=tolerance)
    if t_end is not None:
        raw["time"]["t_end"] = t_end
    cfg = parse_config(raw, base_dir=REPO / "examples")
    problem = OnsagerTransportProblem(cfg).initialise()
    stepper = TimeStepper(problem, cfg.time)
    start = time.perf_counter()
    stepper.run()
    wall = time.perf_counter() - start
    rho2 = problem.nodal_state()[1].copy()
    problem.destroy()
    return {"steps": stepper.step, "wall_s": wall, "rho2": rho2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the run, fewer tolerances")
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args()
    t_end = 0.0035 if args.quick else None
    reference = run("bdf", 1e-7 if args.quick else 1e-8, t_end)
    cases = [("bdf", 1e-3), ("bdf", 1e-4), ("bdf", 1e-5), ("bdf2", 1e-3), ("bdf2", 3e-4), ("bdf2", 1e-4),
             ("backward_euler", 1e-3), ("backward_euler", 3e-4)]
    if args.quick:
        cases = [("bdf", 1e-3), ("bdf2", 1e-3), ("backward_euler", 1e-3)]
    rows = []
    for scheme, tol in cases:
        r = run(scheme, tol, t_end)
        rows.append({"scheme": scheme, "tolerance": tol, "steps": r["steps"], "wall_s": round(r["wall_s"], 2),
                     "rho2_error": float(np.max(np.abs(r["rho2"] - reference["rho2"])))})
        print(rows[-1], flush=True)
    lines = ["| scheme | tolerance | steps | wall (s) | max rho2 error at t_end |", "|---|---|---|---|---|"]
    lines += [f"| {r['scheme']} | {r['tolerance']:g} | {r['steps']} | {r['wall_s']:.2f} | {r['rho2_error']:.1e} |"
              for r in rows]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_onsager_time.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "bench_onsager_time.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
