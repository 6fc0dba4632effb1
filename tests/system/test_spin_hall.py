"""System tests of the spin Hall coupling and the magnetic-insulator mixing boundary condition
of valet_fert (docs/theory/spin_orbit_transport.md, issue 23): theta_SH = 0 reproduces the
model before issue 23, charge conservation with the spin Hall effect, the SMR of a 3-D bar
against Chen et al.'s closed form and the exact 1-D film, Onsager-Casimir reciprocity of the
assembled operator, and bad inputs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from fem_spin.config import ConfigError, parse_config
from fem_spin.models.valet_fert import ValetFertProblem

DATA = Path(__file__).resolve().parent / "data"


def solve(raw: dict) -> ValetFertProblem:
    problem = ValetFertProblem(parse_config(raw)).initialise()
    problem.rows = [row for row, _ in problem.solve_cases()]
    return problem


# --------------------------------------------------------------------------- theta_SH = 0
@pytest.mark.parametrize("case", ["nonlocal_spin_valve", "hanle"])
def test_zero_spin_hall_angle_reproduces_valet_fert_before_issue_23(case):
    """The example's nonlocal spin valve (collinear) and the Hanle demo's device (vector spin
    accumulation, precession, three fields), coarse, with theta_SH = 0 given on every
    non-magnetic region: R of every case equals valet_fert of commit fefaa0f (LU solves,
    tests/system/data/valet_fert_reference.py) to 1e-10. In the vector state the spin Hall
    terms are assembled (with zero coefficients) and the spin-current output is new."""
    reference = json.loads((DATA / "valet_fert_reference.json").read_text())["cases"][case]
    raw = copy.deepcopy(reference["raw"])
    raw["model"]["regions"]["N"]["spin_hall_angle"] = 0.0
    problem = solve(raw)
    assert len(problem.rows) == len(reference["rows"])
    for row, ref in zip(problem.rows, reference["rows"]):
        assert (row["configuration"], row["field_T"]) == (ref["configuration"], ref["field_T"])
        assert row["resistance_ohm"] == pytest.approx(ref["resistance_ohm"], rel=1e-10, abs=0)
        assert row["max_spin_accumulation_V"] == pytest.approx(ref["max_spin_accumulation_V"], rel=1e-10)
    problem.destroy()
