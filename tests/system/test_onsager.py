"""System tests of the two-quantity Onsager model (physics.md 2 and 6).

Scales: B_d = 1e-4 T and |grad B| = 1e4 T/m give the separation length
l = B_d/|grad B| = 10 nm; Gamma = 1e-15 m^2/s gives the time unit l^2/Gamma = 0.1 s.
Cheap tests are marked ``parallel``: they also run, and must pass, on 2 ranks.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.analytic import onsager
from fem_spin.config import ConfigError, parse_config
from fem_spin.models.onsager import OnsagerTransportProblem, dougherty_parameters
from fem_spin.solvers import TimeStepper

from conftest import run_cli

ELL, GAMMA, B_D, GRAD = 1e-8, 1e-15, 1e-4, 1e4
T_UNIT = ELL ** 2 / GAMMA

BASE = {
    "name": "onsager",
    "geometry": {"type": "interval", "x_min": -20 * ELL, "x_max": 20 * ELL, "cells": 160},
    "model": {"type": "onsager_transport", "spin_density": 5e28, "dipolar_field": B_D,
              "transport_coefficient": GAMMA, "B0": 1.0, "field_gradient": [GRAD, 0.0, 0.0],
              "initial_dipolar_order": 0.2, "initial_polarization": -0.8, "region_polarization": 0.6,
              "initial_profile": "step", "step_position": 3 * ELL, "step_width": 2 * ELL},
    "time": {"t_end": 20 * T_UNIT, "dt_initial": 0.01 * T_UNIT, "tolerance": 1e-3},
    "output": {"plot": False, "render": False},
}


def raw_config(**sections) -> dict:
    raw = copy.deepcopy(BASE)
    for name, table in sections.items():
        raw.setdefault(name, {}).update(table)
    return raw


def run(raw, comm=MPI.COMM_WORLD, record=False, **problem_args):
    cfg = parse_config(raw)
    problem = OnsagerTransportProblem(cfg, comm, **problem_args).initialise()
    rows = [problem.observables()] if record else []
    TimeStepper(problem, cfg.time, on_step=(lambda info: rows.append(problem.observables()))
                if record else None).run()
    return problem, rows


def nodal_coordinates(problem) -> np.ndarray:
    return problem.V0.tabulate_dof_coordinates()[: len(problem.weights)].T


@pytest.mark.parallel
@pytest.mark.parametrize("formulation", ["nonlinear", "semilinear", "linear"])
def test_moment_and_energy_conserved(formulation):
    problem, rows = run(raw_config(model={"formulation": formulation}), record=True)
    moment = np.array([r["moment"] for r in rows])
    energy = np.array([r["energy"] for r in rows])
    # The run really moves things: the dipolar order changes by exchange with Zeeman energy.
    assert abs(rows[-1]["dipolar_mean"] - rows[0]["dipolar_mean"]) > 0.05
    assert np.max(np.abs(moment - moment[0])) < 1e-10 * abs(moment[0])
    # Relative to mu W (B_d + max|B - B0|): B0 times the (conserved) moment is left out.
    assert np.max(np.abs(energy - energy[0])) < 1e-10 * problem.total_scales["energy"]


@pytest.mark.parallel
@pytest.mark.parametrize("scheme", ["backward_euler", "bdf2"])
def test_entropy_never_decreases(scheme):
    """Backward Euler in the entropy variables has a discrete entropy inequality (the
    entropy is concave and the flux term dissipates: S(rho^{n+1}) - S(rho^n) >= the step's
    production >= 0). BDF2 has no such proof (its step combines two old states); it is
    measured here: no decrease beyond round-off on this case either."""
    _, rows = run(raw_config(time={"scheme": scheme}), record=True)
    entropy = np.array([r["entropy"] for r in rows])
    steps = np.diff(entropy)
    assert steps.min() >= -1e-12 * abs(entropy[0])
    assert entropy[-1] - entropy[0] > 0.05 * abs(entropy[0])   # it grows, it is not constant


@pytest.mark.parallel
def test_bounded_near_the_unit_circle_with_huge_steps():
    """|rho| = 0.99 initially, sharp step, coarse mesh, steps of 50 time units: |rho| < 1."""
    raw = raw_config(model={"initial_dipolar_order": 0.1, "initial_polarization": -0.98,
                            "region_polarization": 0.98, "step_width": 0.0},
                     geometry={"cells": 20},
                     time={"t_end": 500 * T_UNIT, "dt_initial": 50 * T_UNIT, "adaptive": False})
    problem, rows = run(raw, record=True)
    assert max(r["rho_max"] for r in rows) < 1
    assert rows[0]["rho_max"] > 0.98


@pytest.mark.parallel
def test_reaches_the_equilibrium_of_its_conserved_totals():
    """Arbitrary initial data relaxes to Omega1 = theta, Omega2 = omega0 - theta (B - B0)/B_d
    with theta and omega0 fixed by the conserved moment and energy (physics.md 2.4). The
    distance left at t_end is the time error of the tail (measured 2e-7 at tolerance 1e-3 with
    the variable-order BDF, 1.2e-6 at 1e-2; BDF2 3e-10 and 2e-8)."""
    raw = raw_config(geometry={"x_min": -5 * ELL, "x_max": 5 * ELL, "cells": 60},
                     model={"initial_profile": "ball", "region_center": [2 * ELL, 0, 0],
                            "region_radius": 2 * ELL, "initial_polarization": 0.3,
                            "region_polarization": -0.7, "initial_dipolar_order": 0.4},
                     time={"t_end": 2000 * T_UNIT, "dt_initial": 0.01 * T_UNIT, "tolerance": 1e-3})
    problem, _ = run(raw)
    theta, omega0, rho_eq = problem.equilibrium()
    assert abs(theta) > 0.1                       # a genuinely separative equilibrium
    assert problem.distance_to_equilibrium() < 1e-6
    # The equilibrium polarization profile is not uniform: the field gradient separates it.
    assert problem.global_max(rho_eq[1]) - problem.global_min(rho_eq[1]) > 0.1


@pytest.mark.parallel
def test_linear_model_equals_nonlinear_at_small_amplitude():
    def final(formulation, amplitude):
        raw = raw_config(model={"formulation": formulation, "initial_dipolar_order": 0.5 * amplitude,
                                "initial_polarization": -amplitude, "region_polarization": amplitude},
                         time={"t_end": 5 * T_UNIT})
        problem, _ = run(raw)
        return problem.nodal_state()

    differences = []
    for amplitude in (1e-2, 1e-3):
        diff = np.abs(final("linear", amplitude) - final("nonlinear", amplitude)).max()
        differences.append(MPI.COMM_WORLD.allreduce(diff, op=MPI.MAX) / amplitude)
    assert differences[1] < 1e-5
    # The relative difference is second order in the amplitude (odd nonlinearity of tanh).
    assert 50 < differences[0] / differences[1] < 200


@pytest.mark.parallel
@pytest.mark.parametrize("channel", ["zeeman", "dipolar"])
def test_uniform_field_decouples_into_plain_diffusion(channel):
    """B uniform, one quantity zero: the other obeys the heat equation exactly, even at
    amplitude 0.9 (physics.md 6); the dipolar channel diffuses at dipolar_rate_ratio*Gamma."""
    length, ratio, amplitude = 20 * ELL, 4.0, 0.9
    k = np.pi / length
    rate = GAMMA * k * k * (ratio if channel == "dipolar" else 1.0)
    t_end = 0.5 / rate
    component = 1 if channel == "zeeman" else 0

    def initial(x):
        out = np.zeros((2, x.shape[1]))
        out[component] = amplitude * np.cos(k * x[0])
        return out

    errors = []
    for cells in (20, 40):
        raw = raw_config(geometry={"x_min": 0.0, "x_max": length, "cells": cells},
                         model={"field": "uniform", "dipolar_rate_ratio": ratio},
                         time={"t_end": t_end, "dt_initial": t_end / 2000, "adaptive": False})
        problem, _ = run(raw, initial_state=initial)
        rho = problem.nodal_state()
        x = nodal_coordinates(problem)
        exact = amplitude * np.cos(k * x[0]) * np.exp(-rate * t_end)
        assert problem.global_max(np.abs(rho[1 - component])) < 1e-12     # stays exactly zero
        errors.append(problem.global_max(np.abs(rho[component] - exact)))
    assert errors[1] < 1e-3 * amplitude
    assert errors[0] / errors[1] > 2.5        # converges (second order in h, plus O(dt))


@pytest.mark.parallel
def test_global_speedup_scales_the_rate():
    """speedup = 'global': Gamma -> Gamma/sqrt(1 - Pbar^2) with the conserved Pbar."""
    length, mean, amplitude = 20 * ELL, 0.6, 0.2
    k = np.pi / length
    rate = GAMMA * k * k / np.sqrt(1 - mean ** 2)
    t_end = 0.5 / rate

    def initial(x):
        return np.vstack([np.zeros(x.shape[1]), mean + amplitude * np.cos(k * x[0])])

    raw = raw_config(geometry={"x_min": 0.0, "x_max": length, "cells": 80},
                     model={"field": "uniform", "speedup": "global"},
                     time={"t_end": t_end, "dt_initial": t_end / 400, "adaptive": False})
    problem, _ = run(raw, initial_state=initial)
    x = nodal_coordinates(problem)
    exact = mean + amplitude * np.cos(k * x[0]) * np.exp(-rate * t_end)
    assert problem.global_max(np.abs(problem.nodal_state()[1] - exact)) < 2e-3 * amplitude


def test_one_two_and_three_dimensional_meshes_agree():
    """A 1-D-symmetric problem on an interval, a rectangle and a box of tensor-product cells."""
    n, lo, hi = 40, -10 * ELL, 10 * ELL
    geometries = {
        "interval": {"type": "interval", "x_min": lo, "x_max": hi, "cells": n},
        "rectangle": {"type": "rectangle", "size": [hi - lo, 2 * ELL], "origin": [lo, 0.0],
                      "cells": [n, 2]},
        "box": {"type": "box", "size": [hi - lo, 2 * ELL, 2 * ELL], "origin": [lo, 0.0, 0.0],
                "cells": [n, 1, 1]},
    }
    profiles = {}
    for name, geometry in geometries.items():
        raw = raw_config(time={"t_end": 5 * T_UNIT})
        raw["geometry"] = geometry
        problem, _ = run(raw, comm=MPI.COMM_SELF)
        rho = problem.nodal_state()
        x = nodal_coordinates(problem)[0]
        order = np.lexsort((rho[1], x))
        xs, keep = np.unique(np.round(x[order] / ELL, 9), return_index=True)
        profiles[name] = rho[:, order][:, keep]
        assert len(xs) == n + 1
    assert np.abs(profiles["rectangle"] - profiles["interval"]).max() < 1e-8
    assert np.abs(profiles["box"] - profiles["interval"]).max() < 1e-8
    assert np.abs(profiles["interval"][1, -1] - 0.6) > 1e-3   # the profile did evolve


@pytest.mark.parallel
def test_one_and_two_ranks_agree():
    raw = raw_config(time={"t_end": 5 * T_UNIT})
    world, _ = run(raw)
    serial, _ = run(raw, comm=MPI.COMM_SELF)
    a, b = world.observables(), serial.observables()
    for key in ("P_min", "P_max", "dipolar_mean", "rho_max", "energy", "entropy"):
        assert a[key] == pytest.approx(b[key], rel=1e-8, abs=0)


def test_dougherty_parameters():
    """B_d = (mu0/4pi) hbar gamma n, Gamma = (mu0/4pi) hbar gamma^2 n^(1/3) for 1H at 5e28/m^3."""
    B_d, Gamma = dougherty_parameters(5e28)
    assert B_d == pytest.approx(1e-7 * 1.054571817e-34 * 2.6752218744e8 * 5e28, rel=1e-12)
    assert 1e-4 < B_d < 2e-4                    # a few gauss
    assert Gamma == pytest.approx(B_d * 2.6752218744e8 * 5e28 ** (-2 / 3), rel=1e-12)
    cfg = parse_config(raw_config(model={"dipolar_field": None, "transport_coefficient": None}))
    assert cfg.model.dipolar_field == pytest.approx(B_d, rel=1e-12)


@pytest.mark.parametrize("key, value, message", [
    ("initial_polarization", 0.99, "|rho|"),
    ("dipolar_field", -1e-4, "must be > 0"),
    ("dipolar_field", 3.0, "give it in tesla"),
    ("transport_coefficient", 1e-3, "not a spin-diffusion rate"),
    ("spin_density", "5e22 furlongs", "unit"),
    ("speedup", "local", "nonlinear"),
])
def test_bad_input_names_the_key(key, value, message):
    model = {key: value}
    if key == "speedup":
        model["formulation"] = "linear"
    with pytest.raises(ConfigError) as info:
        parse_config(raw_config(model=model))
    assert key in str(info.value) and message in str(info.value)


def test_radial_and_periodic_geometries_rejected():
    raw = raw_config()
    raw["geometry"] = {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": 0.6e-9}
    with pytest.raises(ConfigError, match="Cartesian"):
        parse_config(raw)
    raw["geometry"] = {"type": "box", "size": [1e-7, 1e-8, 1e-8], "cells": [4, 1, 1],
                       "periodic": [True, False, False]}
    with pytest.raises(ConfigError, match="periodic"):
        parse_config(raw)


def test_tip_field_needs_the_mrfm_geometry():
    with pytest.raises(ConfigError, match="mrfm_film"):
        parse_config(raw_config(model={"field": "sphere_tip"}))


def test_cli_bad_input_is_one_line(tmp_path):
    (tmp_path / "bad.toml").write_text(
        '[geometry]\ntype = "interval"\nx_min = 0.0\nx_max = 1e-7\ncells = 10\n'
        '[model]\ntype = "onsager_transport"\nspin_density = 5e28\nB0 = 1.0\n'
        'initial_dipolar_order = 0.8\ninitial_polarization = 0.8\n[time]\nt_end = 1.0\n')
    proc = run_cli("run", "bad.toml", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.initial_polarization" in lines[0] and "Traceback" not in proc.stderr


def test_formulation_sweep_writes_the_comparison(tmp_path):
    """[sweep] over model.formulation: comparison.csv ranks the reduced models (linear worst)."""
    from fem_spin.simulation import run as run_config

    raw = raw_config(model={"initial_polarization": -0.9, "region_polarization": 0.9},
                     geometry={"cells": 80}, time={"t_end": 5 * T_UNIT},
                     output={"field_snapshots": 2, "directory": str(tmp_path)})
    raw["sweep"] = {"model.formulation": ["nonlinear", "semilinear", "linear"]}
    path = run_config(parse_config(raw), quiet=True)
    lines = [line.split(",") for line in (path / "comparison.csv").read_text().splitlines()[2:]]
    final = {row[1]: float(row[3]) for row in lines if float(row[0]) == pytest.approx(5 * T_UNIT)}
    assert final["nonlinear"] == 0
    assert final["linear"] > final["semilinear"] > 0.1          # percent of max |rho2|
    assert (path / "comparison.png").exists()


def test_tip_fields_feed_the_model():
    """field = 'sphere_tip' (analytic dipole) and 'fem_tip' (magnetostatics) give the same
    |B| on the film within the FEM error, and the run conserves moment and energy in it."""
    geometry = {"type": "mrfm_film", "film_size": [400e-9, 400e-9], "film_thickness": 60e-9,
                "gap": 50e-9, "tip_shape": "sphere", "tip_radius": 100e-9,
                "mesh_size_min": 25e-9, "mesh_size_max": 80e-9}
    fields = {}
    for field in ("sphere_tip", "fem_tip"):
        raw = raw_config(model={"field": field, "B0": 3.0, "tip_magnetization": 1.0,
                                "initial_profile": "resonant_slice", "resonant_field": 3.12,
                                "slice_half_width": 0.02, "initial_polarization": 0.5,
                                "region_polarization": -0.5, "initial_dipolar_order": 0.0},
                         time={"t_end": 1e-3, "dt_initial": 1e-5})
        raw["geometry"] = geometry
        problem, rows = run(raw, comm=MPI.COMM_SELF, record=True)
        fields[field] = problem.field_magnitude.x.array.copy()
        assert abs(rows[-1]["moment"] - rows[0]["moment"]) < 1e-10 * abs(rows[0]["moment"])
        assert abs(rows[-1]["energy"] - rows[0]["energy"]) < 1e-10 * problem.total_scales["energy"]
        assert rows[0]["P_min"] == pytest.approx(-0.5)          # the slice was inverted
    tip_part = fields["sphere_tip"] - 3.0
    assert tip_part.max() > 0.1                                 # the tip field is really there
    difference = np.abs(fields["fem_tip"] - fields["sphere_tip"])
    # coarse meshes (25 nm at the apex): ~11 % at the apex node, a few % elsewhere
    assert difference.max() < 0.15 * tip_part.max()
    assert np.sqrt(np.mean(difference ** 2)) < 0.03 * tip_part.max()


@pytest.mark.parametrize("formulation", ["nonlinear", "linear"])
def test_agrees_with_the_independent_finite_volume_solver(formulation):
    """The 1-D FEM solution against fem_spin.analytic.onsager.solve_1d (cell-centred finite
    volumes, BDF in time, no dolfinx) on the step problem of these tests."""
    raw = raw_config(model={"formulation": formulation}, geometry={"cells": 320},
                     time={"t_end": 5 * T_UNIT, "dt_initial": 1e-3 * T_UNIT, "tolerance": 1e-5})
    problem, _ = run(raw, comm=MPI.COMM_SELF)
    cfg = problem.params
    x_faces = np.linspace(-20 * ELL, 20 * ELL, 641)
    reference = onsager.solve_1d(
        formulation, x_faces, lambda x: cfg.initial_state()(np.vstack([x, 0 * x, 0 * x])),
        lambda x: cfg.B0 + GRAD * x, B_D, GAMMA, [5 * T_UNIT])
    x = nodal_coordinates(problem)[0]
    centres = 0.5 * (x_faces[1:] + x_faces[:-1])
    fem = problem.nodal_state()
    for component in (0, 1):
        fv = np.interp(x, centres, reference.rho[-1, component])
        inside = (x > centres[0]) & (x < centres[-1])
        # measured 1.4e-4 to 3.2e-4 (the two discretisation errors at h = l/8)
        assert np.max(np.abs(fem[component] - fv)[inside]) < 1e-3


@pytest.mark.parallel
def test_anisotropic_transport_tensor():
    """A 2-D cosine mode along y decays with Gamma_yy of a tensor transport coefficient."""
    length = 20 * ELL
    tensor = [[GAMMA, 0, 0], [0, 3 * GAMMA, 0], [0, 0, GAMMA]]
    k = np.pi / length
    rate = 3 * GAMMA * k * k
    t_end = 0.5 / rate

    def initial(x):
        return np.vstack([np.zeros(x.shape[1]), 0.5 * np.cos(k * x[1])])

    raw = raw_config(model={"field": "uniform", "transport_coefficient": tensor},
                     time={"t_end": t_end, "dt_initial": t_end / 1000, "adaptive": False})
    raw["geometry"] = {"type": "rectangle", "size": [4 * ELL, length], "cells": [2, 40]}
    problem, _ = run(raw, initial_state=initial)
    x = nodal_coordinates(problem)
    exact = 0.5 * np.cos(k * x[1]) * np.exp(-rate * t_end)
    assert problem.global_max(np.abs(problem.nodal_state()[1] - exact)) < 2e-3 * 0.5


def test_presets():
    raw = raw_config()
    del raw["model"]
    raw["model"] = {"initial_polarization": 0.1}
    raw["preset"] = "polystyrene_1H_mrfm"
    cfg = parse_config(raw).model
    assert cfg.dipolar_field == pytest.approx(1.37e-4, rel=5e-3)
    assert cfg.transport_coefficient == pytest.approx(2.75e-15, rel=5e-3)
    assert cfg.fenske_length() == pytest.approx(3.11e-9, rel=5e-3)
    raw["preset"] = "CaF2_19F"
    cfg = parse_config(raw).model
    assert cfg.dipolar_rate_ratio == pytest.approx(4.1) and cfg.field == "uniform"
    assert cfg.dipolar_field == pytest.approx(1.30e-4, rel=5e-3)


@pytest.mark.parallel
def test_equilibrium_in_a_linear_field_is_the_fenske_profile():
    """Small dipolar inverse temperature theta: the reached equilibrium polarization is the
    Langevin law, i.e. the Fenske profile tanh(a (rbar - rbar0)) with a = theta and
    rbar = x |B'|/B_d (physics.md 2.4), up to O(theta^2); the profile is separated (not
    uniform) although the moment is zero on average."""
    raw = raw_config(geometry={"x_min": -5 * ELL, "x_max": 5 * ELL, "cells": 80},
                     model={"initial_dipolar_order": 0.0, "initial_polarization": -0.1,
                            "region_polarization": 0.1, "step_position": 0.0, "step_width": ELL},
                     time={"t_end": 2000 * T_UNIT, "dt_initial": 0.01 * T_UNIT, "tolerance": 1e-3})
    problem, _ = run(raw)
    assert problem.distance_to_equilibrium() < 1e-6
    theta, omega0, _ = problem.equilibrium()
    assert 0.01 < abs(theta) < 0.2
    mapping = onsager.langevin_fenske_mapping(theta, omega0, GRAD, B_D)
    x = nodal_coordinates(problem)[0]
    fenske = onsager.fenske_profile(x * GRAD / B_D, mapping.a, mapping.rbar0)
    rho2 = problem.nodal_state()[1]
    assert problem.global_max(np.abs(rho2 - fenske)) < 2 * theta ** 2
    assert problem.global_max(rho2) - problem.global_min(rho2) > 0.5 * abs(theta) * 10


@pytest.mark.parallel
def test_spin_density_varying_by_region():
    """Delta four times larger for x > 0: moment and energy conserved; in a uniform field the
    equilibrium is uniform polarization (extensive entropy, physics.md 2.2), not uniform
    magnetization density."""
    from fem_spin.geometry.simple import IntervalGeometry
    import dolfinx.mesh

    geometry = IntervalGeometry(x_min=-5 * ELL, x_max=5 * ELL, cells=40)
    data = geometry.create_mesh(MPI.COMM_WORLD)
    mesh, tdim = data.mesh, data.mesh.topology.dim
    imap = mesh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, cells)[:, 0]
    data.cell_tags = dolfinx.mesh.meshtags(mesh, tdim, cells, np.where(mid < 0, 1, 2).astype(np.int32))
    data.cell_groups = {"left": 1, "right": 2}
    raw = raw_config(geometry={"x_min": -5 * ELL, "x_max": 5 * ELL, "cells": 40},
                     model={"field": "uniform", "spin_density_regions": {"right": 2e29},
                            "initial_dipolar_order": 0.0, "step_position": 0.0, "step_width": 0.0},
                     time={"t_end": 500 * T_UNIT, "dt_initial": 0.01 * T_UNIT, "tolerance": 1e-3})
    cfg = parse_config(raw)
    problem = OnsagerTransportProblem(cfg, mesh_data=data).initialise()
    first = problem.observables()
    TimeStepper(problem, cfg.time).run()
    last = problem.observables()
    assert abs(last["moment"] - first["moment"]) < 1e-10 * problem.total_scales["moment"]
    rho2 = problem.nodal_state()[1]
    # Delta-weighted mean of -0.8 (weight 1) and 0.6 (weight 4), up to the shared node at 0
    assert problem.global_max(np.abs(rho2 - last["P_mean"])) < 1e-6
    assert last["P_mean"] == pytest.approx(first["P_mean"], rel=1e-10, abs=0)
    assert last["P_mean"] == pytest.approx((-0.8 + 4 * 0.6) / 5, abs=0.02)   # not (-0.8 + 0.6)/2


@pytest.mark.parallel
def test_local_speedup_equals_the_nuclear_diffusion_model():
    """Uniform field, no dipolar order, speedup = 'local': rho2 obeys
    dP/dt = div(Gamma/sqrt(1 - P^2) grad P), the nuclear_diffusion model's local mode
    (physics.md 1.1): the two models must agree on the same mesh."""
    from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem

    box = {"type": "box", "size": [2e-8, 2e-9, 2e-9], "origin": [-1e-8, 0.0, 0.0], "cells": [30, 1, 1]}
    time = {"t_end": 0.05, "dt_initial": 1e-4, "adaptive": False}
    raw = raw_config(model={"field": "uniform", "speedup": "local", "initial_dipolar_order": 0.0,
                            "initial_polarization": -0.9, "region_polarization": 0.9,
                            "step_position": 0.0, "step_width": 2e-9}, time=time)
    raw["geometry"] = box
    onsager_problem, _ = run(raw)
    nd_raw = {"name": "nd", "geometry": box, "time": time,
              "model": {"type": "nuclear_diffusion", "D0": GAMMA, "speedup": "local"},
              "output": {"plot": False, "render": False}}
    cfg = parse_config(nd_raw)
    step = onsager_problem.params.initial_state()
    nd = NuclearDiffusionProblem(cfg, initial_polarization=lambda x: step(x)[1]).initialise()
    TimeStepper(nd, cfg.time).run()
    p_nd = np.tanh(nd.owned(nd.u.x.array))
    p_onsager = onsager_problem.nodal_state()[1]
    assert nd.global_max(np.abs(p_onsager - p_nd)) < 1e-8
    assert nd.global_max(np.abs(p_nd - step(nd.V.tabulate_dof_coordinates().T)[1][: len(p_nd)])) > 0.05
