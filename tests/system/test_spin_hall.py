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
    # One rank: the same operations as the reference, equal to the last bit (measured). More
    # ranks: LU in another ordering; R_NL is ~1e-4 of the contact voltage, so its round-off
    # is ~1e-10 relative (1.1e-10 measured on 2 ranks for the Hanle case).
    rel = 1e-10 if problem.comm.size == 1 else 1e-9
    assert len(problem.rows) == len(reference["rows"])
    for row, ref in zip(problem.rows, reference["rows"]):
        assert (row["configuration"], row["field_T"]) == (ref["configuration"], ref["field_T"])
        assert row["resistance_ohm"] == pytest.approx(ref["resistance_ohm"], rel=rel, abs=0)
        assert row["max_spin_accumulation_V"] == pytest.approx(ref["max_spin_accumulation_V"], rel=rel)
    problem.destroy()


# --------------------------------------------------------------------------- SMR bar
PT = {"resistivity": 1.794e-7, "spin_diffusion_length": 3.4e-9, "spin_hall_angle": 0.056}
G_R, G_I, THICKNESS = 7e14, 5e13, 5e-9
DIRECTIONS = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]


def smr_bar(**model) -> dict:
    """Pt on YIG (the example's values), a bar long enough that the probes are 90 nm (26 lambda)
    from the contacts, graded to lambda/20 at both faces, 10 nm cells laterally."""
    raw = {"name": "smr", "output": {"plot": False, "render": False},
           "geometry": {"type": "smr_bar", "length": 240e-9, "width": 20e-9, "thickness": THICKNESS,
                        "probe_separation": 60e-9, "mesh_size": 10e-9, "surface_cell": 0.17e-9,
                        "thickness_grading": 1.1},
           "model": {"type": "valet_fert", "current": 1e-4, "current_contact": "left_end",
                     "ground": "right_end", "voltage_probes": ["probe_left", "probe_right"],
                     "hall_probes": ["hall_ymin", "hall_ymax"], "configurations": ["parallel"],
                     "switch_regions": [], "regions": {"film": dict(PT)},
                     "mixing_interfaces": {"interface": {"conductance_real": G_R, "conductance_imag": G_I,
                                                        "magnetization": DIRECTIONS}}}}
    raw["model"].update(model)
    return raw


@pytest.fixture(scope="module")
def smr():
    problem = solve(smr_bar())
    yield problem
    problem.destroy()


def test_smr_of_the_3d_bar_matches_chen_and_the_exact_film(smr):
    """(R_long(m = x) - R_long(m = y))/R_long(m = y) of the 3-D bar equals Chen et al.'s
    Delta rho_1/rho within 1 % and the exact 1-D film within 0.5 % (note section 6); the
    transverse resistance follows Delta rho_1 m_x m_y + Delta rho_2 m_z (G_i != 0 gives the
    m_z part, of Chen's sign), and the contacts' currents balance with the spin Hall effect."""
    from fem_spin.analytic.spin_orbit import chen_smr, film_resistivity

    sigma, lam, theta = 1 / PT["resistivity"], PT["spin_diffusion_length"], PT["spin_hall_angle"]
    chen = chen_smr(sigma, lam, theta, THICKNESS, G_R, G_I)
    exact = {tuple(m): film_resistivity(sigma, lam, theta, THICKNESS, G_R, G_I, m) for m in DIRECTIONS}
    amplitude = smr.summary()["smr_amplitude"]
    exact_amplitude = exact[(1, 0, 0)][0] / exact[(0, 1, 0)][0] - 1
    if smr.comm.rank == 0:
        print(f"SMR amplitude: 3-D {amplitude:.6e}, Chen {chen.d1:.6e} ({amplitude / chen.d1 - 1:+.3%}), "
              f"exact film {exact_amplitude:.6e} ({amplitude / exact_amplitude - 1:+.3%})")
    assert amplitude == pytest.approx(chen.d1, rel=0.01)
    assert amplitude == pytest.approx(exact_amplitude, rel=0.005)
    assert amplitude > 1e-4
    # R_trans = rho_trans/d for a longitudinal current I = j_x w d and V_H = E_y w
    trans = {tuple(m): smr.resistance("parallel", 0.0, np.asarray(m) / np.linalg.norm(m), "hall_resistance_ohm")
             * THICKNESS for m in DIRECTIONS}
    rho = PT["resistivity"]
    if smr.comm.rank == 0:
        print(f"rho_trans: m_x m_y = 1/2 {trans[(1, 1, 0)] / exact[(1, 1, 0)][1] - 1:+.3%} from the exact film, "
              f"m = z {trans[(0, 0, 1)] / exact[(0, 0, 1)][1] - 1:+.3%}; current balance "
              f"{max(abs(r['current_balance_A']) for r in smr.results):.1e} A of 1e-4 A")
    assert trans[(1, 1, 0)] == pytest.approx(exact[(1, 1, 0)][1], rel=0.01)
    assert trans[(1, 1, 0)] == pytest.approx(rho * chen.d1 / 2, rel=0.01)
    assert trans[(0, 0, 1)] == pytest.approx(exact[(0, 0, 1)][1], rel=0.01)
    assert trans[(0, 0, 1)] == pytest.approx(rho * chen.d2, rel=0.02)
    assert np.sign(trans[(0, 0, 1)]) == np.sign(chen.d2) != 0
    for m in ((1, 0, 0), (0, 1, 0)):
        assert abs(trans[m]) < 1e-4 * abs(trans[(1, 1, 0)])
    for row in smr.results:
        assert abs(row["current_balance_A"]) < 1e-9 * row["current_A"]


# --------------------------------------------------------------------------- reciprocity
def test_assembled_operator_is_onsager_casimir_reciprocal():
    """A(m, B)^T = T A(-m, -B) T (note section 2; T flips the spin components) for the
    assembled operator of a small F/N pillar with everything at once: a non-collinear
    ferromagnet, theta_SH in N, Larmor precession, a magnetic-insulator surface with G_r and
    G_i, and a metallic F/N layer with a mixing conductance (note 5.2), checked on random
    vectors (any rank count). The operator is not symmetric, and without reversing m and B the
    identity fails."""
    import dolfinx.fem.petsc as fem_petsc

    from fem_spin.models.valet_fert import larmor_vector

    raw = {"name": "recip", "output": {"plot": False, "render": False},
           "geometry": {"type": "multilayer", "layers": [["F", 10e-9], ["I", 1e-9], ["N", 20e-9]], "width": 20e-9,
                        "depth": 20e-9, "cells_per_layer": [3, 1, 5], "lateral_cells": [2, 3]},
           "model": {"type": "valet_fert", "current_contact": "bottom", "ground": "top", "voltage_probes": [],
                     "precession": True, "configurations": ["parallel", "antiparallel"], "switch_regions": ["F", "I"],
                     "regions": {"F": {"resistivity": 2e-7, "spin_diffusion_length": 10e-9,
                                       "bulk_polarization": 0.4, "magnetization": [1, 2, 0.5]},
                                 "I": {"area_resistance": 1e-15, "polarization": 0.5, "spin_memory_loss": 0.2,
                                       "magnetization": [1, 2, 0.5], "mixing_conductance": [4e14, 2e14]},
                                 "N": {"resistivity": 1e-7, "spin_diffusion_length": 15e-9,
                                       "spin_hall_angle": 0.2, "diffusion_constant": 1e-4}},
                     "mixing_interfaces": {"top": {"conductance_real": 5e14, "conductance_imag": 3e14,
                                                   "magnetization": [0.2, -0.5, 1]}}}}
    problem = ValetFertProblem(parse_config(raw)).initialise()
    form = problem.linear_problem._a
    field = larmor_vector(np.array([0.3, 0.2, 1.0]) * 2.0)

    def assemble(sign: float):
        problem.set_configuration("parallel" if sign > 0 else "antiparallel")
        for _, constant in problem.mixing:
            constant.value[:] = sign * np.array([0.2, -0.5, 1]) / np.linalg.norm([0.2, -0.5, 1])
        problem.omega.value[:] = sign * field
        a = fem_petsc.assemble_matrix(form)
        a.assemble()
        return a

    a_plus, a_minus = assemble(1.0), assemble(-1.0)
    x, y1 = a_plus.createVecs()
    y2, y3 = a_plus.createVecs()
    rng = np.random.default_rng(1 + problem.comm.rank)

    def flipped(vec):
        out = vec.copy()
        out.array.reshape(-1, 4)[:, 1:] *= -1.0     # T: spin components reversed
        return out

    for _ in range(3):
        x.array[:] = rng.standard_normal(x.array.size)
        a_plus.multTranspose(x, y1)                 # A(m, B)^T x
        a_minus.mult(flipped(x), y2)
        y2 = flipped(y2)                            # T A(-m, -B) T x
        scale = y1.norm()
        # (norms are collective: computed on every rank, printed on rank 0)
        residual, asymmetric = (y1 - y2).norm() / scale, (a_plus * x - y1).norm() / scale
        if problem.comm.rank == 0:
            print(f"|A^T x - T A(-m,-B) T x| / |A^T x| = {residual:.2e}, |A x - A^T x| / |A^T x| = {asymmetric:.2e}")
        assert residual < 1e-13
        a_plus.mult(x, y3)
        assert (y3 - y1).norm() > 1e-3 * scale      # not symmetric
        a_plus.mult(flipped(x), y2)
        assert (flipped(y2) - y1).norm() > 1e-6 * scale   # m and B must be reversed
    for obj in (a_plus, a_minus, x, y1, y2, y3):
        obj.destroy()
    problem.destroy()


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("change, key", [
    (lambda m: m["regions"]["film"].update(spin_hall_angle=-1.01), "model.regions.film.spin_hall_angle"),
    (lambda m: m["regions"]["film"].update(spin_hall_angle="big"), "model.regions.film.spin_hall_angle"),
    (lambda m: m["regions"]["film"].update(spin_hall_angle=0.1, bulk_polarization=0.3, magnetization=[1, 0, 0]),
     "model.regions.film.spin_hall_angle"),
    (lambda m: m["mixing_interfaces"]["interface"].pop("magnetization"),
     "model.mixing_interfaces.interface.magnetization"),
    (lambda m: m["mixing_interfaces"]["interface"].update(magnetization=[0, 0, 0]),
     "model.mixing_interfaces.interface.magnetization"),
    (lambda m: m["mixing_interfaces"]["interface"].update(conductance_real=-1.0),
     "model.mixing_interfaces.interface.conductance_real"),
    (lambda m: m["mixing_interfaces"]["interface"].update(conductance_imag=float("nan")),
     "model.mixing_interfaces.interface.conductance_imag"),
    (lambda m: m["mixing_interfaces"]["interface"].update(rotation_plane="xy", angles=[0, 90]),
     "model.mixing_interfaces.interface.magnetization"),
    (lambda m: m["mixing_interfaces"]["interface"].update(conductance=1e14),
     "model.mixing_interfaces.interface.conductance"),
    (lambda m: m.update(hall_probes=["hall_ymin"]), "model.hall_probes"),
])
def test_bad_spin_orbit_inputs_are_refused_naming_the_key(change, key):
    raw = smr_bar()
    change(raw["model"])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") + ":"):
        parse_config(raw)


def test_rotation_plane_gives_one_case_per_angle():
    raw = smr_bar(mixing_interfaces={"interface": {"conductance_real": G_R, "rotation_plane": "yz",
                                                   "angles": [0, 90, 135]}})
    model = parse_config(raw).model
    assert model.mixing_cases() == 3 and model.vector_spin() and not model.precession
    assert np.allclose(model.mixing_data[0].directions, [[0, 1, 0], [0, 0, 1], [0, -2**-0.5, 2**-0.5]])
