"""Multi-terminal valet_fert (docs/theory/spin_orbit_transport.md section 7.1) and the mixing
conductance of a metallic F/N layer (section 5.2), issue 23.

Multi-terminal: every terminal an ideal reservoir, one solve per terminal gives the conductance
matrix G; charge conservation (columns) and gauge invariance (rows) sum to zero, the
Onsager-Casimir identity G(m, B)^T = G(-m, -B) holds to solver tolerance, and with it the
reciprocity of SHE injection and ISHE detection in Kimura et al.'s device (PRL 98, 156601
(2007)): R_SHE(m) = R_ISHE(-m). With theta_SH = 0 and two terminals the model's two-terminal
resistance comes back.

Mixing layer: an F2/N/I/F1 pillar, F2 (m = x) polarizing the current, F1 (m = z) absorbing
the transverse x and y spin through the layer I; the transverse spin current arriving through N
(no spin flip in N: its profile is linear, the flux read from N alone) against the circuit
theory's G_r S_perp - G_i m x S of N at the contact.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.config import ConfigError, parse_config
from fem_spin.models.terminals import onsager_asymmetry
from fem_spin.models.valet_fert import ValetFertProblem

LU = {"petsc_options": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}}


def solve(raw: dict, comm=MPI.COMM_WORLD) -> ValetFertProblem:
    problem = ValetFertProblem(parse_config(raw), comm).initialise()
    problem.rows = [row for row, _ in problem.solve_cases()]
    return problem


# --------------------------------------------------------------------------- Kimura's device
TERMINALS = ["F_end", "N_left_end", "H_end_ymin", "H_end_ymax"]
#: ISHE: spin injection by F, the ISHE voltage along H; SHE: the reverse (the labels of the
#: reverse measurement are the forward one's swapped, so R_SHE(m) = R_ISHE(-m) exactly)
MEASUREMENTS = [{"name": "ISHE", "current": ["F_end", "N_left_end"], "voltage": ["H_end_ymax", "H_end_ymin"]},
                {"name": "SHE", "current": ["H_end_ymax", "H_end_ymin"], "voltage": ["F_end", "N_left_end"]}]


def kimura(**model) -> dict:
    """Py/Cu/Pt from the library, shortened and coarse (3k DOFs); F's magnetization along the
    N bridge (x), where the ISHE signal along H is largest; LU, so that the nonlocal R (1e-7 of
    the two-terminal one) keeps eight digits."""
    raw = {"name": "kimura", "output": {"plot": False, "render": False},
           "geometry": {"type": "spin_hall_nonlocal", "separation": 400e-9, "h_length": 400e-9,
                        "n_extension": 400e-9, "mesh_size_junction": 25e-9, "mesh_size": 100e-9},
           "model": {"type": "valet_fert", "current": 1e-4, "terminals": TERMINALS,
                     "measurements": copy.deepcopy(MEASUREMENTS),
                     "configurations": ["parallel", "antiparallel"], "switch_regions": ["F"],
                     "regions": {"N": {"material": "Cu@300K"}, "H": {"material": "Pt@300K"},
                                 "F": {"material": "Py@300K", "magnetization": [1, 0, 0]}}},
           "solver": copy.deepcopy(LU)}
    raw["model"].update(model)
    return raw


@pytest.mark.parallel
def test_spin_hall_nonlocal_device_is_reciprocal():
    """G's rows and columns sum to zero, G(m)^T = G(-m) to round-off (and G(m) alone is not
    symmetric), R_SHE(m) = R_ISHE(-m) to 1e-6 (the nonlocal R is 1e-7 of the two-terminal one,
    so round-off in G is amplified 1e7: measured 1e-8 to 4e-8 with LU, 3e-5 with the default
    GMRES at rtol 1e-12), and the ISHE signal is odd in m and nonzero. On two ranks G also
    equals the one-rank G of the same mesh."""
    problem = solve(kimura())
    rows, summary = problem.rows, problem.summary()
    G_p, G_ap = (problem.conductance_matrix(r) for r in rows)
    scale = np.abs(G_p).max()
    asymmetry = onsager_asymmetry(G_p, G_ap)
    r = {(m["name"], row["configuration"]): row[f"R_{m['name']}_ohm"] for row in rows for m in MEASUREMENTS}
    if problem.comm.rank == 0:
        print(f"|G(m)^T - G(-m)|/|G| = {asymmetry:.1e} (|G^T - G| = {onsager_asymmetry(G_p, G_p):.1e}); "
              f"column/row sums {summary['max_G_column_sum_relative']:.1e}/{summary['max_G_row_sum_relative']:.1e}; "
              f"R_ISHE(m) = {r['ISHE', 'parallel']:.6e}, R_SHE(-m) = {r['SHE', 'antiparallel']:.6e}, "
              f"R_ISHE(-m) = {r['ISHE', 'antiparallel']:.6e}, R_SHE(m) = {r['SHE', 'parallel']:.6e} Ohm")
    for G in (G_p, G_ap):
        assert np.abs(G.sum(axis=0)).max() < 1e-12 * scale     # charge conservation
        assert np.abs(G.sum(axis=1)).max() < 1e-12 * scale     # U = const, S = 0 carries nothing
        assert np.all(np.diag(G) > 0)
    assert asymmetry < 1e-12 and summary["onsager_asymmetry"] == asymmetry
    assert onsager_asymmetry(G_p, G_p) > 1e-9                   # the spin Hall terms make G nonsymmetric
    assert r["SHE", "antiparallel"] == pytest.approx(r["ISHE", "parallel"], rel=1e-6)
    assert r["SHE", "parallel"] == pytest.approx(r["ISHE", "antiparallel"], rel=1e-6)
    odd = 0.5 * (r["ISHE", "parallel"] - r["ISHE", "antiparallel"])
    assert abs(odd) > 1e-6 and abs(odd) > 1e3 * abs(r["SHE", "antiparallel"] - r["ISHE", "parallel"])
    assert summary["R_ISHE_parallel_ohm"] == r["ISHE", "parallel"] == summary["R_parallel_ohm"]
    assert len(summary["conductance_matrices_S"]) == 2
    if problem.comm.size > 1:     # the same mesh on one rank
        serial = solve(kimura(), MPI.COMM_SELF)
        G_1 = serial.conductance_matrix(serial.rows[0])
        if problem.comm.rank == 0:
            print(f"1 vs {problem.comm.size} ranks: |G_1 - G_n|/|G| = {np.abs(G_1 - G_p).max() / scale:.1e}")
        assert np.abs(G_1 - G_p).max() < 1e-12 * scale
        assert serial.rows[0]["R_ISHE_ohm"] == pytest.approx(r["ISHE", "parallel"], rel=1e-6)
        serial.destroy()
    problem.destroy()


def test_touching_terminals_are_refused():
    """F_end and F_top share F's top edge: a node cannot be at two voltages."""
    from fem_spin.errors import ModelError

    raw = kimura(terminals=["F_end", "F_top", "N_left_end"],
                 measurements=[{"current": ["F_end", "N_left_end"], "voltage": ["F_top", "N_left_end"]}])
    with pytest.raises(ModelError, match="terminals touch") as error:
        ValetFertProblem(parse_config(raw)).initialise()
    assert error.value.key == "model.terminals"


def test_reciprocity_with_precession():
    """G(m, B)^T = G(-m, -B) with a field (Larmor precession in N and H): the pairs (m, B) and
    (-m, -B) agree to round-off, while reversing m alone does not."""
    raw = kimura(precession=True, hanle_fields=[0.5, -0.5], field_direction=[0, 0, 1])
    raw["model"]["regions"]["F"]["magnetization"] = [1, 1, 0]   # precession about z moves its spin
    problem = solve(raw)
    rows = {(r["configuration"], r["field_T"]): problem.conductance_matrix(r) for r in problem.rows}
    summary = problem.summary()
    exact = onsager_asymmetry(rows["parallel", 0.5], rows["antiparallel", -0.5])
    m_only = onsager_asymmetry(rows["parallel", 0.5], rows["antiparallel", 0.5])
    if problem.comm.rank == 0:
        print(f"|G(m,B)^T - G(-m,-B)|/|G| = {exact:.1e}, |G(m,B)^T - G(-m,B)|/|G| = {m_only:.1e}")
    assert exact < 1e-12 and summary["onsager_asymmetry"] < 1e-12
    assert m_only > 1e3 * exact
    problem.destroy()


def test_two_terminals_without_spin_hall_give_the_two_terminal_resistance():
    """theta_SH = 0, terminals = the contact and the ground: R_{12,12} = 1/G_11 equals the
    contact/probe mode's two-terminal R (a CPP pillar, both configurations)."""
    raw = {"name": "pillar", "output": {"plot": False, "render": False},
           "geometry": {"type": "multilayer", "layers": [["F1", 10e-9], ["N", 20e-9], ["F2", 10e-9]],
                        "width": 20e-9, "depth": 20e-9, "cells_per_layer": [4, 8, 4], "lateral_cells": [1, 1]},
           "model": {"type": "valet_fert", "current_contact": "bottom", "ground": "top", "voltage_probes": [],
                     "switch_regions": ["F2"],
                     "regions": {"F1": {"material": "Py@300K", "magnetization": [0, 0, 1]},
                                 "F2": {"material": "Py@300K", "magnetization": [0, 0, 1]},
                                 "N": {"material": "Cu@300K", "spin_hall_angle": 0.0}}}}
    two = solve(raw)
    multi = copy.deepcopy(raw)
    for key in ("current_contact", "ground", "voltage_probes"):
        multi["model"].pop(key)
    multi["model"].update(terminals=["bottom", "top"],
                          measurements=[{"current": ["bottom", "top"], "voltage": ["bottom", "top"]}])
    terminals = solve(multi)
    for a, b in zip(two.rows, terminals.rows):
        assert a["configuration"] == b["configuration"]
        assert b["R_m1_ohm"] == b["resistance_ohm"] == pytest.approx(a["resistance_ohm"], rel=1e-12)
    assert terminals.rows[0]["resistance_ohm"] != pytest.approx(terminals.rows[1]["resistance_ohm"], rel=1e-3)
    two.destroy()
    terminals.destroy()


# --------------------------------------------------------------------------- mixing layer
T_N, RA = 20e-9, 2e-16
SIGMA_N = 1 / 2e-8


def pillar(thickness=1e-9, mixing=(5e14, 1e14), dephasing=1e-11, **model) -> dict:
    """F2 (10 nm, m = x) / N (20 nm, no spin flip) / I (the layer, m = z) / F1 (10 nm, m = z);
    current bottom to top; F's transverse dephasing length short against its 2.5 nm cells, so
    that F1 takes up all transverse spin at its surface (the circuit theory's F node)."""
    layer = {"area_resistance": RA, "polarization": 0.5, "magnetization": [0, 0, 1]}
    if mixing is not None:
        layer["mixing_conductance"] = list(mixing)
    ferro = {"resistivity": 2e-7, "spin_diffusion_length": 5e-9, "bulk_polarization": 0.4}
    raw = {"name": "mixing", "output": {"plot": False, "render": False},
           "geometry": {"type": "multilayer", "layers": [["F2", 10e-9], ["N", T_N], ["I", thickness], ["F1", 10e-9]],
                        "width": 10e-9, "depth": 10e-9, "cells_per_layer": [4, 8, 1, 4], "lateral_cells": [1, 1]},
           "model": {"type": "valet_fert", "current_contact": "bottom", "ground": "top", "voltage_probes": [],
                     "configurations": ["parallel"], "switch_regions": [], "current": 1e-6,
                     "transverse_dephasing_length": dephasing,
                     "regions": {"F2": {**ferro, "magnetization": [1, 0, 0]}, "F1": {**ferro, "magnetization": [0, 0, 1]},
                                 "N": {"resistivity": 1 / SIGMA_N, "spin_diffusion_length": float("inf"),
                                       "diffusion_constant": 1e-2},
                                 "I": layer}},
           "solver": copy.deepcopy(LU)}
    raw["model"].update(model)
    return raw


def contact(raw: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(J, S_N, S_F): the spin current along +z through N (from N's linear profile), and S on
    N's and F1's side of the layer (1-D: every node of a z-plane has the same values)."""
    problem = solve(raw)
    z = problem.V.tabulate_dof_coordinates()[:, 2]
    S = problem.u.x.array.reshape(-1, 4)[:, 1:] * problem.scale
    t = raw["geometry"]["layers"][2][1]

    def at(height):
        on = np.isclose(z, height, atol=1e-3 * t)
        count = problem.comm.allreduce(int(on.sum()))
        return problem.comm.allreduce(S[on].sum(axis=0)) / count

    bottom, top, beyond = at(10e-9), at(10e-9 + T_N), at(10e-9 + T_N + t)
    problem.destroy()
    return -(SIGMA_N / 2) * (top - bottom) / T_N, top, beyond


def circuit(mixing, s):
    """Brataas-Nazarov-Bauer: the spin current into F through the contact, G_r S_perp - G_i m x S
    (note 5.1's sign), m = z."""
    m = np.array([0.0, 0.0, 1.0])
    return mixing[0] * (s - (m @ s) * m) - mixing[1] * np.cross(m, s)


def test_mixing_layer_passes_the_circuit_theory_spin_current():
    """The transverse (x, y) spin current into F1 equals G_r S_perp - G_i m x S of N at the
    contact: within 1e-4 (measured 1.6e-5 for a 0.01 nm dephasing length; 1.6e-3 at 0.1 nm, 11 %
    at 1 nm, where F1's own transverse accumulation is 11 % of N's: the layer passes exactly
    X (S_N - S_F), X = G_r (1 - m m^T) - G_i [m x], to 4e-14); independent of the layer's
    thickness (sigma_perp = 2 t G_r); the G_i rotation gives y spin of the sign of -G_i S_x and
    reverses with G_i."""
    g = (5e14, 1e14)
    J, s_n, s_f = contact(pillar(mixing=g))
    expected = circuit(g, s_n)
    rel = np.abs(J[:2] - expected[:2]).max() / np.abs(expected[:2]).max()
    exact = np.abs(J[:2] - circuit(g, s_n - s_f)[:2]).max() / np.abs(expected[:2]).max()
    print(f"J_perp = {J[:2]}, G_r S_perp - G_i m x S = {expected[:2]} (rel {rel:.1e}); X (S_N - S_F): {exact:.1e}")
    assert s_n[0] > 0 and abs(s_n[0]) > 3 * abs(s_n[1])      # injected x spin, some y from the rotation
    assert rel < 1e-4
    assert exact < 1e-10
    assert np.sign(J[1] - g[0] * s_n[1]) == np.sign(-g[1] * s_n[0]) != 0
    # thickness: a 4x thinner layer passes the same current
    J_thin, _, _ = contact(pillar(thickness=0.25e-9, mixing=g))
    assert np.abs(J_thin - J).max() < 1e-9 * np.abs(J).max()
    # G_i reversed: the rotated (y) current reverses
    J_rev, s_rev, _ = contact(pillar(mixing=(g[0], -g[1])))
    assert np.sign(J_rev[1]) == -np.sign(J[1]) != 0
    assert np.abs(J_rev[:2] - circuit((g[0], -g[1]), s_rev)[:2]).max() < 1e-4 * np.abs(J_rev[:2]).max()


def test_mixing_layer_limits():
    """G_r = 1/(2 RA), G_i = 0 is the layer without the key (the collinear conductance's
    transverse channel) to round-off; G_r -> infinity makes the layer transparent to transverse
    spin (S_perp continuous: absorbed in F1, as without a layer)."""
    today = contact(pillar(mixing=None, dephasing=1e-9, precession=True))
    same = contact(pillar(mixing=(1 / (2 * RA), 0.0), dephasing=1e-9, precession=True))
    for a, b in zip(today, same):
        assert np.abs(a - b).max() <= 1e-12 * np.abs(a).max()
    _, s_n, s_f = contact(pillar(mixing=(1e22, 0.0), dephasing=1e-9))
    assert np.abs(s_n[:2] - s_f[:2]).max() < 1e-5 * np.abs(s_n[:2]).max()
    assert abs(s_n[2] - s_f[2]) > 0.1 * abs(s_n[2])     # the collinear channel keeps its resistance


def _terminals(m: dict, **keys) -> None:
    """The pillar in the multi-terminal mode (the contact/probe keys removed), then ``keys``."""
    for key in ("current_contact", "ground", "voltage_probes"):
        m.pop(key)
    m.update(keys)


@pytest.mark.parametrize("change, key", [
    (lambda m: m["regions"]["I"].update(mixing_conductance=[-1e14, 0.0]), "model.regions.I.mixing_conductance"),
    (lambda m: m["regions"]["I"].update(mixing_conductance=[1e14]), "model.regions.I.mixing_conductance"),
    (lambda m: m["regions"]["I"].update(mixing_conductance=[1e14, float("nan")]), "model.regions.I.mixing_conductance"),
    (lambda m: m["regions"]["N"].update(mixing_conductance=[1e14, 0.0]), "model.regions.N.mixing_conductance"),
    (lambda m: (m["regions"]["I"].pop("magnetization"), m["regions"]["I"].update(polarization=0.0)),
     "model.regions.I.magnetization"),
    (lambda m: m.update(measurements=MEASUREMENTS), "model.terminals"),
    (lambda m: _terminals(m, terminals=["bottom"], measurements=[]), "model.terminals"),
    (lambda m: _terminals(m, terminals=["bottom", "top"], measurements=[]), "model.measurements"),
    (lambda m: _terminals(m, terminals=["bottom", "top"], measurements=[{"current": ["bottom", "side"],
                                                                    "voltage": ["bottom", "top"]}]),
     r"model.measurements[0].current"),
    (lambda m: _terminals(m, terminals=["bottom", "top"], measurements=[{"current": ["bottom", "top"],
                                                                    "voltage": ["top", "top"]}]),
     r"model.measurements[0].voltage"),
    (lambda m: _terminals(m, terminals=["bottom", "top"], measurements=[{"current": ["bottom", "top"],
                                                                    "voltage": ["top", "bottom"],
                                                                    "gain": 2}]),
     r"model.measurements[0].gain"),
    (lambda m: _terminals(m, terminals=["bottom", "top"], voltage_probes=["bottom", "top"],
                        measurements=[{"current": ["bottom", "top"], "voltage": ["top", "bottom"]}]),
     "model.voltage_probes"),
])
def test_bad_terminal_and_mixing_inputs_are_refused_naming_the_key(change, key):
    raw = pillar()
    change(raw["model"])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]") + ":"):
        parse_config(raw)
