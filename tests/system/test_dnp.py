"""DNP unit cells (physics.md 1.2): sources, cells, relaxation, presets, validation.

System tests against exact answers (steady state of a sphere source with relaxation,
conservation, Pbar -> P_e, bounds), cross-model limits (cube vs sphere vs radial,
pulsed vs cycle-averaged) and rank independence; unit tests of units, presets, PRE.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from fem_spin.config import ConfigError, parse_config
from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem
from fem_spin.solvers import TimeStepper
from fem_spin.units import AVOGADRO, number_density, wigner_seitz_radius

from conftest import run_cli, serial_only

R_S = 0.5e-9          # source radius (m); 40 mM gives L = 3.46 nm, R = 2.15 nm
D0 = 1e-18            # m^2/s: R^2/D0 = 4.6 s

DNP = {
    "name": "dnp",
    "geometry": {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": R_S},
    "model": {"type": "nuclear_diffusion", "D0": D0, "speedup": "none", "source": "continuous",
              "source_polarization": 0.9, "exchange_rate": 1e3},
    "time": {"t_end": 60.0, "dt_initial": 1e-4, "tolerance": 1e-3},
    "output": {"plot": False, "render": False, "field_snapshots": 2, "progress_interval": 1e9},
}

COARSE_3D = {"mesh_size_source": R_S / 2, "mesh_size_bulk": 0.8e-9}


def dnp_raw(geometry=None, model=None, time=None) -> dict:
    raw = copy.deepcopy(DNP)
    raw["geometry"].update(geometry or {})
    raw["model"].update(model or {})
    raw["time"].update(time or {})
    return raw


def simulate(raw, times=(), on_step=None):
    """Run a configuration in-process; returns (problem, {t: observables}) at ``times``."""
    cfg = parse_config(raw)
    problem = NuclearDiffusionProblem(cfg).initialise()
    seen = {}
    stepper = TimeStepper(problem, cfg.time, output_times=times,
                          on_output=lambda t: seen.__setitem__(t, problem.observables()),
                          on_step=on_step)
    stepper.run()
    seen[cfg.time.t_end] = problem.observables()
    return problem, seen


# --------------------------------------------------------------------------- unit tests
def test_number_density_units():
    assert number_density("40 mM") == pytest.approx(40e-3 * 1e3 * AVOGADRO, rel=1e-12)
    assert number_density("1e19 cm^-3") == pytest.approx(1e25)
    assert number_density(2.5e25) == 2.5e25
    for bad in ("40 mg", "-1 mM", "abc", True):
        with pytest.raises(ValueError):
            number_density(bad)


def test_cell_sizes_follow_the_electron_concentration():
    cfg = parse_config(dnp_raw(geometry={"type": "dnp_cube"}))
    n_e = number_density("40 mM")
    assert cfg.geometry.side() == pytest.approx(n_e ** (-1 / 3))
    assert wigner_seitz_radius(n_e) ** 3 * 4 * math.pi / 3 == pytest.approx(1 / n_e)


def test_preset_fills_defaults_and_run_file_wins():
    cfg = parse_config({"preset": "glassy_1H_nitroxide", "time": {"t_end": 1.0},
                        "model": {"speedup": "local"}})
    assert cfg.model.D0 == 2e-17 and cfg.model.speedup == "local"
    assert cfg.geometry.electron_density == pytest.approx(number_density("40 mM"))
    cfg = parse_config({"preset": "naphthalene_pentacene", "time": {"t_end": 1.0}})
    assert cfg.model.source == "pulsed" and cfg.model.repetition_rate == 50.0
    with pytest.raises(ConfigError, match="preset.*unknown preset"):
        parse_config({"preset": "nope", "time": {"t_end": 1.0}})


@pytest.mark.parametrize("section, key, value, message", [
    ("geometry", "source_radius", 2.5e-9, "geometry.source_radius: .*does not fit in the cell"),
    ("geometry", "barrier_radius", 0.6e-9, "geometry.barrier_radius: must be smaller"),
    ("geometry", "electron_concentration", "40 parsecs", "geometry.electron_concentration"),
    ("model", "exchange_probability", 1.5, r"model.exchange_probability: must lie in \[0.0, 1.0\]"),
    ("model", "exchange_probability", -0.1, "model.exchange_probability"),
    ("model", "source_polarization", 1.0, r"model.source_polarization: .*\|P\| < 1"),
    ("model", "source_polarization", -1.2, "model.source_polarization"),
    ("model", "exchange_rate", 0.0, "model.exchange_rate: must be > 0"),
    ("model", "D0", [[1e-18, 0, 0], [0, 1e-18, 0], [0, 0, 1e-18]], "model.D0: .*scalar"),
])
def test_bad_dnp_parameters_are_rejected(section, key, value, message):
    raw = dnp_raw()
    raw[section][key] = value
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, source="cell.toml")


def test_cube_rejects_a_source_larger_than_half_the_side():
    raw = dnp_raw(geometry={"type": "dnp_cube", "source_radius": 1.8e-9})  # L/2 = 1.73 nm
    with pytest.raises(ConfigError, match="half the cube side"):
        parse_config(raw)


def test_pulsed_needs_a_repetition_rate():
    with pytest.raises(ConfigError, match="model.repetition_rate: must be > 0"):
        parse_config(dnp_raw(model={"source": "pulsed"}))


@serial_only()
def test_cli_reports_bad_cell_in_one_line(tmp_path):
    (tmp_path / "cell.toml").write_text(
        '[geometry]\ntype = "dnp_cube"\nelectron_concentration = "40 mM"\nsource_radius = 3e-9\n'
        '[model]\ntype = "nuclear_diffusion"\nD0 = 1e-18\n[time]\nt_end = 1.0\n')
    proc = run_cli("run", "cell.toml", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cell.toml: geometry.source_radius" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "results").exists()


def test_pre_relaxation_rate_at_the_nodes():
    raw = dnp_raw(model={"R1": 0.5, "pre_coefficient": 1e-54, "source": "none"})
    problem = NuclearDiffusionProblem(parse_config(raw)).initialise()
    r = problem.V.tabulate_dof_coordinates()[:, 0]
    expected = 0.5 + 1e-54 / np.maximum(r, R_S) ** 6     # cutoff = source radius (no barrier)
    assert np.allclose(problem.relaxation_rate.x.array, expected, rtol=1e-12)


@pytest.mark.parametrize("cell,tolerance", [("dnp_cube", 0.01), ("dnp_sphere", 0.01), ("dnp_radial", 1e-12)])
@pytest.mark.parametrize("barrier", [0.0, 0.2e-9])
def test_source_volume_is_the_true_shell_volume_on_coarse_meshes(cell, tolerance, barrier):
    """sum_i theta_i m_i integrates the exact shell b < r < r_s: the polyhedron gmsh
    inscribes at h = r_s/2 misses about 6 % of it (checked with the tagged cells)."""
    raw = dnp_raw(geometry={"type": cell, "mesh_size_source": R_S / 2, "barrier_radius": barrier,
                            **({"mesh_size_bulk": 0.8e-9} if cell != "dnp_radial" else {})})
    problem = NuclearDiffusionProblem(parse_config(raw)).initialise()
    exact = 4 / 3 * math.pi * (R_S ** 3 - barrier ** 3)
    assert abs(problem.source_volume / exact - 1) < tolerance
    if cell != "dnp_radial":   # the tagged polyhedral cells alone are clearly short
        import dolfinx.fem as fem
        import ufl
        from mpi4py import MPI

        data = problem.mesh_data
        dx = ufl.Measure("dx", domain=problem.mesh, subdomain_data=data.cell_tags)
        tagged = problem.mesh.comm.allreduce(fem.assemble_scalar(fem.form(
            fem.Constant(problem.mesh, 1.0) * dx(data.cell_groups["source"]))), op=MPI.SUM)
        assert tagged / exact < 0.98
    problem.destroy()


# --------------------------------------------------------------------------- system tests
@pytest.mark.parametrize("speedup", ["none", "global", "local"])
def test_buildup_reaches_source_polarization_without_relaxation(speedup):
    steps = []
    _, seen = simulate(dnp_raw(model={"speedup": speedup}), on_step=lambda info: steps.append(info))
    final = seen[60.0]
    assert final["P_mean"] == pytest.approx(0.9, abs=2e-4)
    # BDF2 keeps no maximum principle: P may pass P_e by a time-discretisation error, which
    # time.tolerance bounds (measured: 1.2e-5 with tolerance 1e-3)
    tolerance = DNP["time"]["tolerance"]
    assert final["P_max"] <= 0.9 + tolerance and final["P_min"] >= -tolerance


@pytest.mark.parametrize("factor", [0.0, 1.0])
def test_diffusion_barrier_blocks_transport(factor):
    """Source in the shell b < r < r_s only: with D = 0 in the barrier (factor 0) the
    polarization never reaches the electron's position; with factor 1 it does."""
    raw = dnp_raw(geometry={"barrier_radius": 0.2e-9},
                  model={"barrier_diffusion_factor": factor}, time={"t_end": 5.0})
    problem, _ = simulate(raw)
    r = problem.V.tabulate_dof_coordinates()[:, 0]
    P = np.tanh(problem.u.x.array)
    inside = r < 0.2e-9 * (1 - 1e-9)
    if factor == 0.0:
        assert np.all(P[inside] == 0.0)
    else:
        assert np.all(P[inside] > 0.5)


def test_pulsed_buildup_reaches_source_polarization():
    raw = dnp_raw(model={"source": "pulsed", "exchange_probability": 1.0, "repetition_rate": 10.0,
                         "D0": 5 * D0},
                  time={"t_end": 60.0, "dt_initial": 1e-4})
    problem, seen = simulate(raw)
    assert problem.source.pulses == 601                      # t = 0, 0.1, ..., 60 s
    assert seen[60.0]["P_mean"] == pytest.approx(0.9, abs=1e-3)
    assert seen[60.0]["P_max"] <= 0.9 + 1e-9


@pytest.mark.parametrize("offset", [-1e-10, 0.0, 2e-10])
def test_an_output_time_next_to_a_pulse_does_not_apply_it_twice(offset):
    """Output times within the pulse-time tolerance (1e-9 of a period) before, at or after
    the pulse at t = 1/3 s: the pulse is applied once, and the run equals the one without
    that output time."""
    model = {"source": "pulsed", "exchange_probability": 0.5, "repetition_rate": 3.0}
    base, _ = simulate(dnp_raw(model=model, time={"t_end": 0.5, "dt_initial": 1e-3}))
    near, _ = simulate(dnp_raw(model=model, time={"t_end": 0.5, "dt_initial": 1e-3}),
                       times=(1.0 / 3.0 + offset,))
    assert base.source.pulses == near.source.pulses == 2     # t = 0 and 1/3 s
    assert near.mean_polarization() == pytest.approx(base.mean_polarization(), rel=1e-6)


def _steady_state_profile(r, D, R1, k, P_e, r_s, R):
    """Exact steady state of the radial cell: P_in + C sinh(kappa r)/r inside r_s,
    (A e^{-r/l} + B e^{r/l})/r outside, l = sqrt(D/R1), dP/dr(R) = 0, C^1 at r_s."""
    kappa, ell = math.sqrt((R1 + k) / D), math.sqrt(D / R1)
    P_in = k * P_e / (R1 + k)

    def inner(x):   # value and derivative of sinh(kappa x)/x
        return math.sinh(kappa * x) / x, kappa * math.cosh(kappa * x) / x - math.sinh(kappa * x) / x ** 2

    def outer(x, s):  # value and derivative of exp(s x / ell)/x
        e = math.exp(s * x / ell)
        return e / x, e * (s / ell) / x - e / x ** 2

    si, dsi = inner(r_s)
    (em, dem), (ep, dep) = outer(r_s, -1), outer(r_s, 1)
    (_, dRm), (_, dRp) = outer(R, -1), outer(R, 1)
    M = np.array([[si, -em, -ep], [dsi, -dem, -dep], [0.0, dRm, dRp]])
    C, A, B = np.linalg.solve(M, [-P_in, 0.0, 0.0])
    r = np.asarray(r)
    out = np.empty_like(r)
    ins = r < r_s
    rr = np.maximum(r, 1e-30)
    out[ins] = P_in + C * np.sinh(kappa * rr[ins]) / rr[ins]
    out[ins & (r == 0)] = P_in + C * kappa
    out[~ins] = (A * np.exp(-r[~ins] / ell) + B * np.exp(r[~ins] / ell)) / r[~ins]
    return out, ell


@pytest.mark.parametrize("R1", [1.0, 4.0])
def test_steady_state_of_a_sphere_source_with_relaxation(R1):
    """Diffusion length sqrt(D0/R1) = 1 nm and 0.5 nm against the exact radial solution."""
    k, P_e = 200.0, 0.1   # small P_e: the linear problem of the analytic solution
    raw = dnp_raw(model={"R1": R1, "exchange_rate": k, "source_polarization": P_e},
                  geometry={"mesh_size_source": R_S / 20, "mesh_size_bulk": 0.01e-9},
                  time={"t_end": 60.0 / R1})
    problem, _ = simulate(raw)
    r = problem.V.tabulate_dof_coordinates()[:, 0]
    P = np.tanh(problem.u.x.array)
    exact, ell = _steady_state_profile(r, D0, R1, k, P_e, R_S, problem.config.geometry.outer_radius())
    assert ell == pytest.approx(math.sqrt(D0 / R1))
    assert np.max(np.abs(P - exact)) < 5e-3 * P_e, np.max(np.abs(P - exact)) / P_e
    # the profile is not flat: relaxation over a diffusion length matters
    assert exact.max() / exact.min() > 2.0


@pytest.mark.parallel
def test_total_polarization_is_conserved_in_closed_cells():
    """Source and relaxation off: periodic cube and radial cell keep sum m_i P_i."""
    for geometry in ({"type": "dnp_cube", **COARSE_3D}, {"type": "dnp_radial"}):
        raw = dnp_raw(geometry=geometry, model={"source": "none", "speedup": "global",
                                                "region_shape": "ball", "region_radius": 1.0e-9,
                                                "region_polarization": 0.8},
                      time={"t_end": 5.0, "dt_initial": 1e-3})
        problem = NuclearDiffusionProblem(parse_config(raw)).initialise()
        before = problem.observables()["polarization_volume"]
        TimeStepper(problem, problem.config.time).run()
        after = problem.observables()
        assert after["polarization_volume"] == pytest.approx(before, rel=1e-9)
        assert after["P_max"] < 0.8 and after["P_min"] > 0.0   # it did spread


@pytest.mark.parallel
@pytest.mark.parametrize("scheme", ["backward_euler", "bdf2"])
def test_bounds_hold_at_source_polarization_099_with_large_steps(scheme):
    """Fixed 2 s steps (k_x dt = 2e5): |P| < 1 by construction in both schemes; backward Euler
    also keeps the maximum principle 0 <= P <= P_e, BDF2 passes P_e by its time error
    (measured 4.0e-3 on the cube at these steps; bound 1e-2)."""
    overshoot = 1e-9 if scheme == "backward_euler" else 1e-2
    for geometry in ({"type": "dnp_cube", **COARSE_3D}, {"type": "dnp_radial"}):
        for speedup in ("global", "local"):
            extremes = []
            raw = dnp_raw(geometry=geometry, model={"speedup": speedup, "source_polarization": 0.99,
                                                    "exchange_rate": 1e5},
                          time={"t_end": 20.0, "dt_initial": 2.0, "adaptive": False, "scheme": scheme})
            problem = NuclearDiffusionProblem(parse_config(raw)).initialise()

            def check(info):
                obs = problem.observables()
                extremes.append((obs["P_min"], obs["P_max"]))

            TimeStepper(problem, problem.config.time, on_step=check).run()
            P_min = min(e[0] for e in extremes)
            P_max = max(e[1] for e in extremes)
            assert -1 < P_min and P_max < 1
            assert P_min >= -overshoot and P_max <= 0.99 + overshoot, (geometry["type"], speedup, P_min, P_max)


def test_pulsed_converges_to_cycle_averaged():
    """Fixed f_rep p_x = 5/s: the Pbar difference shrinks like 1/f_rep."""
    t_end, rate = 1.0, 5.0
    base = {"time": {"t_end": t_end, "dt_initial": 1e-5}}
    _, ref = simulate(dnp_raw(model={"source": "cycle_averaged", "repetition_rate": 100.0,
                                     "exchange_probability": rate / 100.0}, **base))
    errors = []
    for f in (10.0, 40.0, 160.0):
        _, seen = simulate(dnp_raw(model={"source": "pulsed", "repetition_rate": f,
                                          "exchange_probability": rate / f}, **base))
        errors.append(abs(seen[t_end]["P_mean"] - ref[t_end]["P_mean"]))
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] / errors[2] > 6.0, errors            # ~16 for first order
    assert errors[2] < 0.03 * ref[t_end]["P_mean"]


def _half_rise_time(raw) -> float:
    from fem_spin.analysis import time_to_fraction

    times = list(np.geomspace(1e-2, raw["time"]["t_end"], 60))
    _, seen = simulate(raw, times)
    t = np.array(sorted(seen))
    return time_to_fraction(t, np.array([seen[x]["P_mean"] for x in t]), 0.9, 0.5)


@pytest.mark.parallel
def test_cube_sphere_and_radial_cells_agree():
    """t50 of the CW buildup. Stated tolerances: cube vs sphere 5 % (shape: the cube's
    corners vs the sphere's equal volume; measured 2.7 %), sphere vs converged radial 10 %
    (measured 8.8 %, 2.3 % at r_s/8; the radial cell at r_s/4 is 2.9 % off, 0.8 % at r_s/8).
    Both 3-D cells on the coarse mesh mesh_size_source = r_s/4 given explicitly (the default
    mesh before the source-surface refinement: 1.5k DOFs instead of ~40k, this test checks
    the cells' agreement, not the default mesh; test_dnp_default_mesh.py checks that)."""
    model = {"exchange_rate": 50.0}
    coarse = {"mesh_size_source": R_S / 4}
    radial = _half_rise_time(dnp_raw(geometry={"mesh_size_source": R_S / 40}, model=model))
    sphere = _half_rise_time(dnp_raw(geometry={"type": "dnp_sphere", **coarse}, model=model))
    cube = _half_rise_time(dnp_raw(geometry={"type": "dnp_cube", **coarse}, model=model))
    assert abs(cube / sphere - 1) < 0.05, (cube, sphere)
    assert abs(sphere / radial - 1) < 0.10, (sphere, radial)


@pytest.mark.serial  # spawns mpirun: run alone (Makefile test-serial)
@serial_only()
def test_periodic_cube_buildup_is_rank_independent(tmp_path):
    cfg = (
        'name = "cube"\n[geometry]\ntype = "dnp_cube"\nelectron_concentration = "40 mM"\n'
        f'source_radius = {R_S}\nmesh_size_source = {R_S / 2}\nmesh_size_bulk = 0.8e-9\n'
        '[model]\ntype = "nuclear_diffusion"\nD0 = 1e-18\nspeedup = "global"\nsource = "continuous"\n'
        'source_polarization = 0.9\nexchange_rate = 1e3\n'
        '[time]\nt_end = 10.0\ndt_initial = 0.05\nadaptive = false\n'
        '[output]\nplot = false\nrender = false\nfield_snapshots = 1\n')
    (tmp_path / "cube.toml").write_text(cfg)
    series = {}
    for n in (1, 2):
        proc = run_cli("run", "cube.toml", "-q", "--output-dir", f"out{n}", cwd=tmp_path, mpi=n)
        assert proc.returncode == 0, proc.stderr
        data = np.genfromtxt(tmp_path / f"out{n}" / "cube" / "timeseries.csv", delimiter=",", names=True)
        series[n] = data["P_mean"]
    assert len(series[1]) == len(series[2]) > 5
    assert np.allclose(series[1], series[2], rtol=1e-8, atol=0)


@pytest.mark.parallel
def test_newton_stops_at_the_rounding_error_of_the_residual():
    """Tolerances below rounding error (atol = rtol = 1e-30, and no stop on a negligible
    update) cannot be met; Newton stops where the residual reaches the assembler's
    rounding-error estimate instead of failing every step (on the 392k-DOF cube this
    happened with the default tolerances: 8-15 halved steps). Same answer, few
    iterations per step."""
    geometry = {"type": "dnp_cube", **COARSE_3D}
    model = {"speedup": "global"}
    time = {"t_end": 1.0, "dt_initial": 0.05, "adaptive": False}
    _, reference = simulate(dnp_raw(geometry=geometry, model=model, time=time))

    raw = dnp_raw(geometry=geometry, model=model, time=time)
    raw["solver"] = {"atol": 1e-30, "rtol": 1e-30}
    cfg = parse_config(raw)
    problem = NuclearDiffusionProblem(cfg).initialise()
    problem.newton.settings["stol"] = 0.0
    counts = {"newton": 0, "steps": 0, "rejected": 0}

    def count(info):
        counts["newton"] += info.newton_iterations
        counts["steps"] += 1
        counts["rejected"] += info.rejected

    TimeStepper(problem, cfg.time, on_step=count).run()
    assert counts["steps"] == 20 and counts["rejected"] == 0, counts
    assert counts["newton"] <= 6 * counts["steps"], counts
    assert abs(problem.observables()["P_mean"] - reference[1.0]["P_mean"]) < 1e-12


@pytest.mark.parallel
def test_rounding_error_floor_ignores_periodic_slave_rows():
    """The residual's rounding-error floor (NodalFluxAssembler.residual_floor) is a few
    machine epsilons of its terms. Counting the periodic slave rows (a unit diagonal in K,
    zero in the residual) put it ~1e13 above the residual of a step, so Newton stopped at
    1e-6 of the initial residual on every periodic cell and kept the Krylov error: results
    then depended on the partition (1 vs 2 ranks: 1e-6 in P_mean)."""
    raw = dnp_raw(geometry={"type": "dnp_cube", **COARSE_3D}, model={"speedup": "none"},
                  time={"t_end": 1.0, "dt_initial": 0.05, "adaptive": False})
    problem = NuclearDiffusionProblem(parse_config(raw)).initialise()
    problem.set_time_step(0.05, 0.05)
    assembler = problem.newton.assembler
    assert assembler.slaves.size > 0 or problem.comm.size > 1
    b = assembler.create_vector()
    assembler.residual(b)
    floor, r0 = assembler.residual_floor(), b.norm()
    assert 0 < floor < 1e-10 * r0, (floor, r0)
    problem.destroy()
