"""The lateral spin valve's default mesh resolves the F/N boundary layer (issue 20, item 3).

Transparent contacts, lambda_F = 5 nm (the device of benchmarks/bench_spin_valve_mesh.py,
whose --write-reference regenerates tests/system/data/spin_valve_mesh_reference.json: the
converged Delta R by Richardson extrapolation of three refined boundary-layer meshes).
A fresh run at the default mesh must be within 2 % of it with at most 50k DOFs; the old
uniform junction mesh at the same cost (5 nm) is more than 15 % low, so the reference tells
the two apart."""

from __future__ import annotations

import copy
import json

from conftest import REPO
from fem_spin.config import parse_config
from fem_spin.limits import estimate_mesh
from fem_spin.models.valet_fert import ValetFertProblem

REFERENCE = json.loads((REPO / "tests" / "system" / "data" / "spin_valve_mesh_reference.json").read_text())


def delta_r(**geometry) -> tuple[float, int, object]:
    raw = copy.deepcopy(REFERENCE["case"])
    raw["geometry"].update(geometry)
    config = parse_config(raw)
    problem = ValetFertProblem(config).initialise()
    for _ in problem.solve_cases():
        pass
    dofs = problem.V.dofmap.index_map.size_global * problem.V.dofmap.index_map_bs
    value = problem.summary()["delta_R_ohm"]
    problem.destroy()
    return value, dofs, config


def test_default_mesh_gives_transparent_delta_r_within_2_percent_at_most_50k_dofs():
    value, dofs, config = delta_r()
    assert config.geometry.interface_size(1) == 5e-9 / 20          # graded from lambda_F
    assert dofs <= 50_000, dofs
    assert abs(value / REFERENCE["delta_R_ohm"] - 1) < 0.02, (value, REFERENCE["delta_R_ohm"])
    # the resource estimate made before meshing counts the boundary layers
    assert 0.6 <= 2 * estimate_mesh(config.geometry).vertices / dofs <= 1.6


def test_a_given_junction_size_stays_authoritative_and_the_uniform_mesh_is_far_off():
    value, dofs, config = delta_r(mesh_size_junction=5e-9, mesh_size=150e-9)
    assert config.geometry.graded_blocks() == {}
    assert value / REFERENCE["delta_R_ohm"] - 1 < -0.15, value
