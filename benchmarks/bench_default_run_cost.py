"""Benchmark: where the default run's time goes, and what its mesh rule buys (issue 20 item 3).

    python3 benchmarks/bench_default_run_cost.py profile [none|global ...]
    python3 benchmarks/bench_default_run_cost.py envelope [CASE ...]

``profile``: one variant of the default run (fem_spin/configs/default.toml, error estimate,
pictures and snapshots off) under cProfile: steps, Newton and Krylov iterations, setup and
stepping (summary.json) and the functions with the most own time (the linear solves, the
observables' assemblies, ...).

``envelope``: t63 of the default run's global variant on the periodic cube for mesh rules
that change one part of the default rule at a time (``_DNPCell``: the envelope h = r/N
outside the source with the surface size held at r_s/12, the surface size with the
envelope held at r/12, the growth from the surface), mesh cache off (the rules differ only
in code, not in the geometry's parameters). Cases: default, env8, env10, env16 (envelope
r/8, r/10, r/16, surface r_s/12), surf8 (surface r_s/8), growth0.5. One line of JSON per
case: DOFs, t63 (ms), steps, Newton and Krylov iterations, CPU and wall seconds of the
process. Numbers are measurements of this machine, never asserted.
"""

from __future__ import annotations

import copy
import cProfile
import json
import os
import pstats
import sys
import time
import tomllib
from pathlib import Path


def default_raw(speedup: str) -> dict:
    import fem_spin

    raw = tomllib.loads((Path(fem_spin.__file__).parent / "configs" / "default.toml").read_text())
    raw.pop("sweep")
    raw["model"]["speedup"] = speedup
    raw["output"].update(error_estimate=False, plot=False, render=False, field_snapshots=0,
                         progress_interval=1e9)
    return raw


def profile(speedups: list[str]) -> None:
    from fem_spin.api import simulate

    for speedup in speedups or ["none", "global"]:
        prof = cProfile.Profile()
        c0, t0 = time.process_time(), time.perf_counter()
        prof.enable()
        s = simulate(default_raw(speedup), quiet=True).summary
        prof.disable()
        print(json.dumps({"speedup": speedup, **{k: s.get(k) for k in (
            "dofs", "steps", "newton_iterations", "linear_iterations", "rejected_steps",
            "setup_s", "stepping_s")}, "t63_ms": 1e3 * s["buildup"]["t63_s"],
            "cpu_s": round(time.process_time() - c0, 2), "wall_s": round(time.perf_counter() - t0, 2)}))
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)


CASES = {
    "default": {},
    "env8": {"envelope": 8.0, "surface_cells": 12.0},
    "env10": {"envelope": 10.0, "surface_cells": 12.0},
    "env16": {"envelope": 16.0, "surface_cells": 12.0},
    "surf8": {"surface_cells": 8.0},
    "growth0.5": {"growth": 0.5},
}


def envelope(names: list[str]) -> None:
    os.environ["FEM_SPIN_MESH_CACHE"] = "off"
    from fem_spin.api import clear_mesh_cache, simulate
    from fem_spin.geometry import dnp_cell

    cell = dnp_cell._DNPCell
    original = (cell.surface_size, cell.default_envelope_cells, dnp_cell.SURFACE_GROWTH)
    for name in names or list(CASES):
        case = CASES[name]
        cell.surface_size, cell.default_envelope_cells, dnp_cell.SURFACE_GROWTH = original
        cell.default_envelope_cells = case.get("envelope", original[1])
        dnp_cell.SURFACE_GROWTH = case.get("growth", original[2])
        if "surface_cells" in case:
            def surface_size(self, cells=case["surface_cells"]):
                h0 = self.mesh_scale * self.source_radius / cells
                if self.source_layer is not None:
                    h0 = min(h0, self.mesh_scale * self.source_layer / dnp_cell.SURFACE_LAYER_CELLS)
                return h0
            cell.surface_size = surface_size
        clear_mesh_cache()
        c0, t0 = time.process_time(), time.perf_counter()
        s = simulate(copy.deepcopy(default_raw("global")), quiet=True).summary
        print(json.dumps({"case": name, "dofs": s["dofs"], "t63_ms": round(1e3 * s["buildup"]["t63_s"], 4),
                          "steps": s["steps"], "newton": s["newton_iterations"],
                          "linear": s["linear_iterations"], "cpu_s": round(time.process_time() - c0, 1),
                          "wall_s": round(time.perf_counter() - t0, 1)}), flush=True)
    cell.surface_size, cell.default_envelope_cells, dnp_cell.SURFACE_GROWTH = original


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("profile", "envelope"):
        sys.exit(__doc__)
    (profile if sys.argv[1] == "profile" else envelope)(sys.argv[2:])
