"""Spin-valve mesh accuracy (issue 20, item 3): transparent-contact Delta R of a lateral spin
valve with lambda_F = 5 nm on uniform junction meshes and on the default boundary-layer mesh.

    python3 benchmarks/bench_spin_valve_mesh.py [--quick] [--write-reference]

The device is examples/nonlocal_spin_valve.toml without barriers (transparent Cu/F
contacts): Cu@4.2K strip (lambda_N = 1 um, 100 x 50 nm), two 100 nm x 20 nm electrodes
500 nm apart with permalloy's resistivity and polarization (1.5e-7 Ohm m, 0.73) and
lambda_F = 5 nm. Rows:

* ``uniform``: the junction boxes meshed at mesh_size_junction = 10, 5, 2.5 nm (the old
  way to converge; 2.5 nm skipped with --quick), mesh_size 150 nm as in the example;
* ``graded default``: no mesh sizes given: the geometry grades structured layers from
  the F/N interfaces (lambda_F/20, ratio 1.2) with the geometric junction size;
* ``graded k``: the converged reference: the boundary layer refined (first layer
  lambda_F/10/2^k, ratio 1 + 0.15/2^k, k = 0, 1, 2) at mesh_size_junction 10 nm and
  mesh_size 40 nm; Richardson extrapolation of the three with the observed order gives
  the converged Delta R (the lateral sizes change it by < 0.1 %: junction 7.07 nm
  +0.05 %, far size 20 nm -0.06 %, measured when the rule was chosen).

Errors are against the extrapolated value. ``--write-reference`` stores it (and the case)
in tests/system/data/spin_valve_mesh_reference.json, which
tests/system/test_spin_valve_mesh.py compares a fresh default run with.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

from mpi4py import MPI

from fem_spin.config import parse_config
from fem_spin.models.valet_fert import ValetFertProblem

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "system" / "data" / "spin_valve_mesh_reference.json"
LAMBDA_F = 5e-9
F = {"resistivity": 1.5e-7, "spin_diffusion_length": LAMBDA_F, "bulk_polarization": 0.73,
     "magnetization": [0, 1, 0]}
CASE = {"name": "transparent_nlsv", "output": {"plot": False, "render": False},
        "geometry": {"type": "lateral_spin_valve", "separation": 500e-9, "n_width": 100e-9,
                     "n_thickness": 50e-9, "n_extension": 3e-6, "f_width": 100e-9,
                     "f_thickness": 20e-9},
        "model": {"type": "valet_fert", "current": 1e-4,
                  "regions": {"N": {"material": "Cu@4.2K"}, "F1": F, "F2": F}}}


def run(geometry: dict, comm=MPI.COMM_WORLD) -> dict:
    """Delta R, DOFs and wall time of the case with ``geometry`` keys added."""
    raw = copy.deepcopy(CASE)
    raw["geometry"].update(geometry)
    start = time.perf_counter()
    problem = ValetFertProblem(parse_config(raw), comm).initialise()
    for _ in problem.solve_cases():
        pass
    summary = problem.summary()
    dofs = problem.V.dofmap.index_map.size_global * problem.V.dofmap.index_map_bs
    problem.destroy()
    return {"dofs": int(dofs), "delta_R_ohm": summary["delta_R_ohm"],
            "takahashi_maekawa_ohm": summary["delta_R_takahashi_maekawa_ohm"],
            "wall_s": time.perf_counter() - start}


def richardson(values: list[float]) -> tuple[float, float]:
    """(extrapolated value, observed order) of three values at refinement ratio 2."""
    d1, d2 = values[1] - values[0], values[2] - values[1]
    order = math.log2(d1 / d2)
    return values[2] + d2 / (2.0**order - 1.0), order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 2.5 nm uniform mesh")
    parser.add_argument("--write-reference", action="store_true",
                        help=f"store the converged value in {REFERENCE.relative_to(REPO)}")
    args = parser.parse_args()
    rows = []
    for h in (10e-9, 5e-9) if args.quick else (10e-9, 5e-9, 2.5e-9):
        rows.append((f"uniform, junction {h * 1e9:g} nm", run({"mesh_size_junction": h, "mesh_size": 150e-9})))
    rows.append(("graded default (lambda_F/20, ratio 1.2)", run({})))
    series = []
    for k in range(3):
        first, ratio = LAMBDA_F / 10 / 2**k, 1 + 0.15 / 2**k
        result = run({"mesh_size_interface": first, "mesh_grading": ratio,
                      "mesh_size_junction": 10e-9, "mesh_size": 40e-9})
        rows.append((f"graded {k}: lambda_F/{10 * 2**k}, ratio {ratio:g}", result))
        series.append(result["delta_R_ohm"])
    converged, order = richardson(series)
    if MPI.COMM_WORLD.rank != 0:
        return
    print(f"converged Delta R = {converged * 1e3:.4f} mOhm (Richardson, observed order {order:.2f}); "
          f"Takahashi-Maekawa thin-wire {rows[0][1]['takahashi_maekawa_ohm'] * 1e3:.4f} mOhm "
          f"({rows[0][1]['takahashi_maekawa_ohm'] / converged - 1:+.1%}: contact width); "
          f"{MPI.COMM_WORLD.size} rank(s)")
    print(f"| {'mesh rule':<42} | {'DOFs':>8} | {'Delta R (mOhm)':>14} | {'error':>7} | {'wall (s)':>8} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 16}|{'-' * 9}|{'-' * 10}|")
    for label, r in rows:
        print(f"| {label:<42} | {r['dofs']:>8} | {r['delta_R_ohm'] * 1e3:>14.4f} | "
              f"{r['delta_R_ohm'] / converged - 1:>+7.1%} | {r['wall_s']:>8.1f} |")
    if args.write_reference:
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE.write_text(json.dumps({
            "case": CASE, "delta_R_ohm": converged, "observed_order": order,
            "series_delta_R_ohm": series, "generated_by": "benchmarks/bench_spin_valve_mesh.py "
            "--write-reference"}, indent=1) + "\n")
        print(f"wrote {REFERENCE.relative_to(REPO)}")


if __name__ == "__main__":
    main()
