"""Writes valet_fert_reference.json: R of coarse versions of examples/nonlocal_spin_valve.toml
(collinear, P and AP) and of demos/hanle.py (vector spin accumulation with precession, three
fields) by the valet_fert of commit fefaa0f (before issue 23), with an LU solve so that the
numbers are the discrete solution to round-off. tests/system/test_spin_hall.py runs the same
cases with theta_SH = 0 given explicitly and compares (issue 23: "theta_SH = 0 reproduces
today's valet_fert").

Run with that commit's fem_spin first on the path (``git archive fefaa0f | tar -x -C /tmp/vf``):
    ./fem-env python3 tests/system/data/valet_fert_reference.py /tmp/vf
"""

import json
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIRECT = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}


def cases() -> dict[str, dict]:
    nlsv = tomllib.loads((HERE.parents[2] / "examples" / "nonlocal_spin_valve.toml").read_text())
    nlsv["geometry"].update(mesh_size_junction=40e-9, mesh_size=400e-9, n_extension=2e-6)
    barrier = {"interface": "AlOx tunnel barrier", "magnetization": [0, 1, 0]}
    cobalt = {"material": "Co@4.2K", "magnetization": [0, 1, 0]}
    hanle = {"name": "hanle",
             "geometry": {"type": "lateral_spin_valve", "separation": 650e-9, "n_width": 100e-9,
                          "n_thickness": 50e-9, "n_extension": 2e-6, "f_width": 100e-9,
                          "f_thickness": 50e-9, "barrier_thickness": 2e-9,
                          "mesh_size_junction": 40e-9, "mesh_size": 400e-9},
             "model": {"type": "valet_fert", "current": 100e-6, "precession": True,
                       "field_direction": [0, 0, 1], "hanle_fields": [0.0, 0.05, -0.1],
                       "configurations": ["parallel", "antiparallel"],
                       "regions": {"N": {"material": "Al@4.2K"}, "F1": cobalt, "F2": cobalt,
                                   "barrier1": barrier, "barrier2": barrier}}}
    out = {}
    for name, raw in (("nonlocal_spin_valve", nlsv), ("hanle", hanle)):
        raw["output"] = {"plot": False, "render": False}
        raw["solver"] = {"petsc_options": dict(DIRECT)}
        out[name] = raw
    return out


def solve(raw: dict) -> list[dict]:
    from fem_spin.config import parse_config
    from fem_spin.models.valet_fert import ValetFertProblem

    problem = ValetFertProblem(parse_config(raw)).initialise()
    rows = [dict(row) for row, _ in problem.solve_cases()]
    problem.destroy()
    return [{k: row[k] for k in ("configuration", "field_T", "resistance_ohm", "max_spin_accumulation_V")}
            for row in rows]


if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])
    data = {"commit": "fefaa0f (valet_fert before issue 23)", "cases": {}}
    for name, raw in cases().items():
        data["cases"][name] = {"raw": raw, "rows": solve(raw)}
    (HERE / "valet_fert_reference.json").write_text(json.dumps(data, indent=1) + "\n")
    print(json.dumps({k: v["rows"] for k, v in data["cases"].items()}, indent=1))
