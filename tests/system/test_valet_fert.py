"""System tests of the Valet–Fert model (physics.md 3.1 and 6) against exact 1-D solutions,
the Takahashi–Maekawa formula, the 1-D Hanle line shape, conservation and reciprocity."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from conftest import REPO, run_cli
from fem_spin.analytic import (Layer, cpp_gmr, hanle_nonlocal_resistance, solve_multilayer,
                               spin_memory_loss_layer, spin_resistance, takahashi_maekawa)
from fem_spin.config import ConfigError, parse_config
from fem_spin.errors import ModelError
from fem_spin.models.valet_fert import ValetFertProblem

F = {"resistivity": 2e-7, "spin_diffusion_length": 10e-9, "bulk_polarization": 0.5, "magnetization": [0, 0, 1]}
N = {"resistivity": 1e-8, "spin_diffusion_length": 100e-9}
AREA = 20e-9 * 20e-9


def pillar(layers, regions, cells, **model) -> dict:
    raw = {"name": "vf", "output": {"plot": False, "render": False},
           "geometry": {"type": "multilayer", "layers": layers, "width": 20e-9, "depth": 20e-9,
                        "cells_per_layer": cells},
           "model": {"type": "valet_fert", "current_contact": "bottom", "ground": "top",
                     "voltage_probes": [], "configurations": ["parallel"], "switch_regions": [],
                     "regions": regions}}
    raw["model"].update(model)
    return raw


def solve(raw: dict) -> ValetFertProblem:
    problem = ValetFertProblem(parse_config(raw)).initialise()
    problem.rows = [row for row, _ in problem.solve_cases()]
    return problem


def line_values(problem: ValetFertProblem):
    """(z, mu_c, mu_s) at the nodes of one edge of the pillar, for 1 V applied (sorted by z)."""
    x = problem.V.tabulate_dof_coordinates()
    u = problem.u.x.array.reshape(-1, 2)
    on_edge = (np.isclose(x[:, 0], x[:, 0].min(), atol=1e-15) & np.isclose(x[:, 1], x[:, 1].min(), atol=1e-15))
    order = np.argsort(x[on_edge, 2])
    return x[on_edge, 2][order], u[on_edge, 0][order], u[on_edge, 1][order]


@pytest.mark.parametrize("n_thickness", [1000e-9, 5e-9])
def test_spin_accumulation_in_a_wire_matches_the_exact_solution(n_thickness):
    """F|N pillar between reservoirs: a long N wire (10 lambda_N) shows exp(-x/lambda_N), a short
    one (lambda_N/20) a linear profile; both match the exact 1-D Valet–Fert solution."""
    cells = [40, 200] if n_thickness > 100e-9 else [40, 20]
    problem = solve(pillar([["F", 100e-9], ["N", n_thickness]], {"F": F, "N": N}, cells))
    exact = solve_multilayer([Layer(100e-9, 2e-7, 10e-9, 0.5), Layer(n_thickness, 1e-8, 100e-9)])
    resistance_area = problem.rows[0]["resistance_ohm"] * AREA
    assert resistance_area == pytest.approx(exact.resistance_area, rel=2e-4)
    z, _, mu_s = line_values(problem)
    reference = exact.spin_accumulation(z)
    assert np.abs(mu_s - reference).max() < 3e-3 * np.abs(reference).max()
    in_n = z > 100e-9
    if n_thickness > 100e-9:
        # independent of the exact solution: one decade of decay per lambda ln(10)
        near, far = np.argmin(np.abs(z - 200e-9)), np.argmin(np.abs(z - 400e-9))
        assert mu_s[near] / mu_s[far] == pytest.approx(math.exp((z[far] - z[near]) / 100e-9), rel=5e-3)
    else:
        slope = np.polyfit(z[in_n], mu_s[in_n], 1)
        assert np.abs(np.polyval(slope, z[in_n]) - mu_s[in_n]).max() < 1e-3 * np.abs(mu_s[in_n]).max()


def test_cpp_gmr_of_a_pillar_matches_the_valet_fert_multilayer_result():
    """F1/N/F2 with an interface layer (RA, P_J, spin memory loss): R_P A, R_AP A and the GMR
    equal the exact multilayer solution; the AP state reverses F2 only."""
    interface = {"area_resistance": 5e-16, "polarization": 0.6, "spin_memory_loss": 0.3,
                 "magnetization": [0, 0, 1]}
    regions = {"F1": F, "I1": interface, "N": N, "F2": dict(F)}
    raw = pillar([["F1", 40e-9], ["I1", 1e-9], ["N", 20e-9], ["F2", 40e-9]], regions, [32, 2, 16, 32],
                 configurations=["parallel", "antiparallel"], switch_regions=["F2"])
    problem = solve(raw)
    summary = problem.summary()
    f = Layer(40e-9, 2e-7, 10e-9, 0.5)
    i = spin_memory_loss_layer(5e-16, 0.6, 0.3, 1e-9)
    n = Layer(20e-9, 1e-8, 100e-9)
    ra_p, ra_ap, gmr = cpp_gmr([f, i, n, f], [f, i, n, Layer(40e-9, 2e-7, 10e-9, -0.5)])
    assert summary["R_parallel_ohm"] * AREA == pytest.approx(ra_p, rel=1e-3)
    assert summary["R_antiparallel_ohm"] * AREA == pytest.approx(ra_ap, rel=1e-3)
    assert summary["gmr"] == pytest.approx(gmr, rel=1e-2)
    assert summary["gmr"] > 0.01


@pytest.mark.parametrize("delta", [0.2, 0.6])
def test_spin_memory_loss_attenuates_the_accumulation_by_the_expected_factor(delta):
    """F | interface (delta) | N: the accumulation injected into N shrinks by the factor the exact
    interfacial-layer solution predicts, and by more for larger delta."""
    layers = [["F", 50e-9], ["I", 1e-9], ["N", 500e-9]]
    cells = [40, 2, 100]

    def injected(d):
        interface = {"area_resistance": 1e-15, "polarization": 0.5, "spin_memory_loss": d,
                     "magnetization": [0, 0, 1]}
        problem = solve(pillar(layers, {"F": F, "I": interface, "N": N}, cells))
        z, _, mu_s = line_values(problem)
        return mu_s[np.argmin(np.abs(z - 101e-9))]

    def exact(d):
        s = solve_multilayer([Layer(50e-9, 2e-7, 10e-9, 0.5), spin_memory_loss_layer(1e-15, 0.5, d, 1e-9),
                              Layer(500e-9, 1e-8, 100e-9)])
        return s.spin_accumulation(101e-9)

    factor, expected = injected(delta) / injected(0.0), exact(delta) / exact(0.0)
    assert factor == pytest.approx(expected, rel=5e-3)
    assert factor < 1 - 0.05 * delta  # it does attenuate, and more for larger delta


# --------------------------------------------------------------------------- lateral spin valve
N_CU = {"resistivity": 2e-8, "spin_diffusion_length": 500e-9, "diffusion_constant": 5e-3}
F_PY = {"resistivity": 1.5e-7, "spin_diffusion_length": 20e-9, "bulk_polarization": 0.4,
        "magnetization": [0, 1, 0]}


def lateral(barrier_ra: float | None = 1e-12, **model) -> dict:
    geometry = {"type": "lateral_spin_valve", "separation": 600e-9, "n_width": 100e-9,
                "n_thickness": 40e-9, "n_extension": 1.5e-6, "f_width": 100e-9, "f_thickness": 40e-9,
                "mesh_size": 80e-9, "mesh_size_junction": 20e-9}
    regions = {"N": N_CU, "F1": F_PY, "F2": F_PY}
    if barrier_ra is not None:
        geometry["barrier_thickness"] = 2e-9
        barrier = {"area_resistance": barrier_ra, "polarization": 0.3, "magnetization": [0, 1, 0]}
        regions.update(barrier1=barrier, barrier2=barrier)
    raw = {"name": "nlsv", "geometry": geometry, "output": {"plot": False, "render": False},
           "model": {"type": "valet_fert", "current": 1e-4, "regions": regions}}
    raw["model"].update(model)
    return raw


@pytest.fixture(scope="module")
def tunnel_valve():
    return solve(lateral(1e-12))


def test_nonlocal_signal_conserves_charge_and_follows_takahashi_maekawa(tunnel_valve):
    """Tunnel contacts (R_i = 40 R_N): the 3-D Delta R_NL equals the thin-wire
    Takahashi–Maekawa value (w = lambda_N/5: a few % from the 1-D idealisation), the net current
    through the contacts vanishes and R_P = -R_AP up to the small 3-D baseline."""
    s = tunnel_valve.summary()
    assert s["max_abs_current_balance_A"] < 1e-9 * 1e-4
    tm = takahashi_maekawa(600e-9, 500e-9, spin_resistance(2e-8, 500e-9, 100e-9 * 40e-9),
                           spin_resistance(1.5e-7, 20e-9, 1e-14), 100.0, 100.0, 0.3, 0.3, 0.4)
    assert s["delta_R_takahashi_maekawa_ohm"] == pytest.approx(tm, rel=1e-12)
    assert s["delta_R_ohm"] == pytest.approx(tm, rel=0.05)
    assert s["R_parallel_ohm"] > 0 > s["R_antiparallel_ohm"]
    assert abs(s["R_parallel_ohm"] + s["R_antiparallel_ohm"]) < 0.1 * s["delta_R_ohm"]


def test_transparent_contacts_follow_takahashi_maekawa():
    """Transparent contacts, F electrodes as pillars on their junctions contacted from the top
    (TM's one-dimensional F, thickness 5 lambda_F), w = lambda_N/10: Delta R_NL converges to
    the thin-wire formula as the junction mesh resolves lambda_F (4 % off at h = lambda_F/2,
    1 % at lambda_F/4)."""
    ratios = []
    for h in (20e-9, 10e-9):
        raw = lateral(None, current_contact="F1_top", voltage_probes=["F2_top", "N_right_end"])
        raw["geometry"].update(f_arm=0.0, f_thickness=200e-9, separation=1e-6, n_extension=3e-6,
                               mesh_size=200e-9, mesh_size_junction=h)
        raw["model"]["regions"]["N"] = {"resistivity": 2e-8, "spin_diffusion_length": 1e-6}
        raw["model"]["regions"]["F1"] = raw["model"]["regions"]["F2"] = dict(F_PY, spin_diffusion_length=40e-9)
        s = solve(raw).summary()
        ratios.append(s["delta_R_ohm"] / s["delta_R_takahashi_maekawa_ohm"])
    assert abs(ratios[1] - 1) < 0.02
    assert abs(ratios[1] - 1) < 0.5 * abs(ratios[0] - 1)


def test_reciprocity_swapping_injector_and_detector(tunnel_valve):
    """Onsager: current F2 -> N right end, voltage F1 - N left end gives the same R_NL."""
    swapped = solve(lateral(1e-12, current_contact="F2_end", ground="N_right_end",
                            voltage_probes=["F1_end", "N_left_end"], switch_regions=["F1", "barrier1"]))
    for conf in ("parallel", "antiparallel"):
        assert swapped.resistance(conf) == pytest.approx(tunnel_valve.resistance(conf), rel=2e-3)


def test_hanle_curve_matches_the_one_dimensional_line_shape():
    """Vector spin accumulation with Larmor precession (B along z, magnetizations along y): R_NL(B)
    of the 3-D device follows the 1-D tunnel-contact Hanle curve, including the sign change."""
    fields = [0.0, 0.05, 0.1, 0.2, 0.4]
    problem = solve(lateral(1e-12, precession=True, hanle_fields=fields, configurations=["parallel"]))
    fem = np.array([problem.resistance("parallel", b) for b in fields])
    tau = (500e-9) ** 2 / 5e-3
    r_n = spin_resistance(2e-8, 500e-9, 100e-9 * 40e-9)
    line = hanle_nonlocal_resistance(np.array(fields), 600e-9, 500e-9, tau, r_n, 0.3)
    assert fem[0] == pytest.approx(line[0], rel=0.05)
    assert np.abs(fem - line).max() < 0.05 * abs(line[0])
    assert np.sign(fem[-1]) != np.sign(fem[0]) or abs(fem[-1]) < 0.2 * fem[0]


def test_collinear_and_vector_models_agree_without_field(tunnel_valve):
    problem = solve(lateral(1e-12, precession=True, hanle_fields=[0.0]))
    for conf in ("parallel", "antiparallel"):
        assert problem.resistance(conf) == pytest.approx(tunnel_valve.resistance(conf), rel=1e-8)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("region, key, value, message", [
    ("N", "resistivity", -1e-8, "model.regions.N.resistivity"),
    ("N", "spin_diffusion_length", 0.0, "model.regions.N.spin_diffusion_length"),
    ("F1", "bulk_polarization", 1.0, "model.regions.F1.bulk_polarization"),
])
def test_bad_material_values_are_rejected_naming_the_key(region, key, value, message):
    raw = lateral(None)
    raw["model"]["regions"][region] = dict(raw["model"]["regions"][region], **{key: value})
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_config(raw)


def test_missing_magnetization_and_unknown_contact_are_rejected():
    raw = lateral(None)
    raw["model"]["regions"]["F1"] = {k: v for k, v in F_PY.items() if k != "magnetization"}
    with pytest.raises(ConfigError, match="F1.magnetization"):
        parse_config(raw)
    raw = lateral(None, current_contact="F3_end")
    config = parse_config(raw)           # the facet groups are the mesh's: known once it is built
    with pytest.raises(ModelError, match="model.current_contact: no surface 'F3_end'") as err:
        ValetFertProblem(config).initialise()
    assert err.value.key == "model.current_contact"


def test_cli_bad_input_is_one_line_without_traceback(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text("""
[geometry]
type = "multilayer"
layers = [["F", 1e-8], ["N", 1e-8]]
[model]
type = "valet_fert"
current_contact = "bottom"
ground = "sideways"
voltage_probes = []
[model.regions.F]
material = "Py@4.2K"
magnetization = [0, 0, 1]
[model.regions.N]
material = "Cu@4.2K"
""")
    res = run_cli("run", str(toml), "--output-dir", str(tmp_path / "out"))
    assert res.returncode == 2, res.stderr
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    assert any("model.ground" in line and "sideways" in line for line in lines), lines
    assert "Traceback" not in res.stderr


@pytest.mark.serial  # spawns mpirun: run alone (Makefile test-serial)
def test_run_on_one_and_two_ranks_gives_the_same_resistances(tmp_path):
    raw = copy.deepcopy(lateral(1e-12))
    raw["geometry"].update(mesh_size=150e-9, mesh_size_junction=40e-9)
    from fem_spin.config import dump_toml

    toml = tmp_path / "nlsv.toml"
    toml.write_text(dump_toml(raw))
    results = []
    for ranks in (0, 2):
        out = tmp_path / f"out{ranks}"
        res = run_cli("run", str(toml), "--output-dir", str(out), mpi=ranks)
        assert res.returncode == 0, res.stdout + res.stderr
        import json

        results.append(json.loads((out / "nlsv" / "summary.json").read_text()))
    for key in ("R_parallel_ohm", "R_antiparallel_ohm"):
        assert results[1][key] == pytest.approx(results[0][key], rel=1e-8)


def test_a_preconditioner_alone_keeps_the_tight_krylov_tolerance():
    """[solver] petsc_options = {pc_type = "gamg"}: the linear model's accuracy is the Krylov
    tolerance, so CG keeps rtol 1e-12 (PETSc's own 1e-5 gave Delta R wrong by 60 %)."""
    import copy

    from fem_spin.config import load_config, parse_config
    from fem_spin.models.valet_fert import ValetFertProblem

    base = load_config(REPO / "examples" / "nonlocal_spin_valve.toml")
    results = {}
    for name, options in (("gamg", {"pc_type": "gamg"}),
                          ("lu", {"ksp_type": "preonly", "pc_type": "lu",
                                  "pc_factor_mat_solver_type": "mumps"})):
        raw = copy.deepcopy(base.raw)
        raw.setdefault("solver", {})["petsc_options"] = options
        problem = ValetFertProblem(parse_config(raw)).initialise()
        for _ in problem.solve_cases():
            pass
        results[name] = problem.summary()["delta_R_ohm"]
    assert results["gamg"] == pytest.approx(results["lu"], rel=1e-7)
