"""The time discretisation of every transient model (issue 20): time.tolerance is the target
accuracy of the result, BDF2 is second order, the variable-order BDF takes far fewer steps
for the same accuracy, Newton stops at its rounding floor near steady
states, and a restart across a DNP pulse equals the uninterrupted run.

The global time error is measured against a run of the same model on the same mesh at a
tolerance 100 times tighter than the tightest one checked (so the reference's own error is
at most ~1 % of the measured one)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.config import parse_config
from fem_spin.models.longitudinal_relaxation import LongitudinalRelaxationProblem
from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem
from fem_spin.models.onsager import OnsagerTransportProblem
from fem_spin.solvers import TimeStepper

import test_onsager

R_S = 0.5e-9
#: the issue's DNP cell (40 mM, r_s 0.5 nm, D0 5e-16, k_x 1e6, P_e 0.9): a microsecond source
#: transient in a buildup of milliseconds
DNP_RADIAL = {
    "name": "time_accuracy",
    "geometry": {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": R_S},
    "model": {"type": "nuclear_diffusion", "D0": 5e-16, "speedup": "global", "source": "continuous",
              "source_polarization": 0.9, "exchange_rate": 1e6},
    "time": {"t_end": 0.03, "dt_initial": 1e-8},
    "output": {"plot": False, "render": False},
}
DNP_TIMES = np.geomspace(1e-4, 0.03, 10)


def dnp_series(tolerance: float, scheme: str = "bdf2", steps: list | None = None, **time) -> np.ndarray:
    """Pbar at DNP_TIMES (``steps`` collects the StepInfo of every step)."""
    raw = copy.deepcopy(DNP_RADIAL)
    raw["time"].update(tolerance=tolerance, scheme=scheme, **time)
    cfg = parse_config(raw)
    problem = NuclearDiffusionProblem(cfg).initialise()
    seen = {}
    TimeStepper(problem, cfg.time, output_times=DNP_TIMES, on_step=None if steps is None else steps.append,
                on_output=lambda t: seen.__setitem__(t, problem.observables()["P_mean"])).run()
    problem.destroy()
    return np.array([seen[t] for t in DNP_TIMES])


def onsager_state(tolerance: float, scheme: str = "bdf2", steps: list | None = None) -> np.ndarray:
    """rho at every node at t_end (the Fig. 8-like step of test_onsager, to 2 time units)."""
    raw = test_onsager.raw_config(time={"tolerance": tolerance, "scheme": scheme,
                                        "t_end": 2 * test_onsager.T_UNIT}, geometry={"cells": 80})
    cfg = parse_config(raw)
    problem = OnsagerTransportProblem(cfg).initialise()
    TimeStepper(problem, cfg.time, on_step=None if steps is None else steps.append).run()
    state = problem.nodal_state().ravel()
    problem.destroy()
    return state


def relaxation_state(tolerance: float, scheme: str = "bdf2") -> np.ndarray:
    """M / M0 at every node at t_end: a relaxing, diffusing, pumped magnetization."""
    raw = {"name": "lr", "geometry": {"type": "interval", "x_min": 0.0, "x_max": 1e-6, "cells": 50},
           "model": {"type": "longitudinal_relaxation", "D": 1e-14, "T1": 10.0, "M0": 1.0,
                     "initial_magnetization": -1.0, "region_shape": "box", "region_lower": [0.0, -1.0, -1.0],
                     "region_upper": [2e-7, 1.0, 1.0], "region_magnetization": 1.0},
           "time": {"t_end": 20.0, "dt_initial": 1e-3, "tolerance": tolerance, "scheme": scheme},
           "output": {"plot": False, "render": False}}
    cfg = parse_config(raw)
    problem = LongitudinalRelaxationProblem(cfg).initialise()
    TimeStepper(problem, cfg.time).run()
    state = problem.owned(problem.u.x.array).copy()
    problem.destroy()
    return state


def global_error(a: np.ndarray, b: np.ndarray) -> float:
    return MPI.COMM_WORLD.allreduce(float(np.max(np.abs(a - b), initial=0.0)), op=MPI.MAX)


MODELS = {"nuclear_diffusion": dnp_series, "onsager_transport": onsager_state,
          "longitudinal_relaxation": relaxation_state}


#: the smallest error / tolerance each scheme is required to reach (the largest is 1)
LOWEST_RATIO = {"bdf2": 0.05, "bdf": 0.01}


@pytest.mark.parallel
@pytest.mark.parametrize("scheme", sorted(LOWEST_RATIO))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_global_time_error_follows_the_tolerance_over_three_decades(model, scheme):
    """Measured (serial, tolerances 1e-3, 1e-4, 1e-5): error / tolerance for BDF2 0.30-0.38
    (DNP cell, Pbar at 10 log-spaced times), 0.34-0.48 (Onsager, rho at every node),
    0.47-0.53 (relaxation); for the variable-order BDF 0.08-0.14, 0.05-0.13, 0.03-0.09 (more
    accurate than asked: the step-ratio caps of orders 3-5 hold its steps back). Required:
    below 1 and above LOWEST_RATIO at every tolerance. The reference (variable-order BDF at
    1e-7) is within ~2e-8 of one at 1e-8."""
    solve = MODELS[model]
    reference = solve(1e-7, "bdf")
    for tolerance in (1e-3, 1e-4, 1e-5):
        ratio = global_error(solve(tolerance, scheme), reference) / tolerance
        assert LOWEST_RATIO[scheme] < ratio < 1.0, (model, scheme, tolerance, ratio)


@pytest.mark.parametrize("model", ["nuclear_diffusion", "onsager_transport"])
def test_variable_order_bdf_is_as_accurate_as_bdf2_in_far_fewer_steps(model):
    """Same tolerance, counted steps and global error (measured: DNP cell with its 10 output
    times 114 against 273 steps at 1e-3, Onsager 31 against 47; errors 2.4x and 7x smaller)."""
    counts, errors = {}, {}
    solve = MODELS[model]
    reference = solve(1e-7, "bdf")
    for scheme in ("bdf", "bdf2"):
        steps = []
        errors[scheme] = global_error(solve(1e-3, scheme, steps=steps), reference)
        counts[scheme] = len(steps)
    assert counts["bdf"] * 1.3 < counts["bdf2"], counts
    assert errors["bdf"] < errors["bdf2"], errors


def test_bdf2_needs_ten_times_fewer_steps_than_backward_euler_at_equal_accuracy():
    """The DNP cell at tolerance 1e-4 for BDF2 against backward Euler at the tolerance that
    gives the same error (backward Euler at 1e-4 is as accurate: ratio 0.27 against BDF2's
    0.35), counted in steps: measured 801 against 69,235."""
    counts = {}
    for scheme, tolerance in (("bdf2", 1e-4), ("backward_euler", 3e-4)):
        raw = copy.deepcopy(DNP_RADIAL)
        raw["time"].update(tolerance=tolerance, scheme=scheme, t_end=0.003)
        cfg = parse_config(raw)
        problem = NuclearDiffusionProblem(cfg).initialise()
        stepper = TimeStepper(problem, cfg.time)
        stepper.run()
        counts[scheme] = (stepper.step, problem.observables()["P_mean"])
        problem.destroy()
    assert counts["bdf2"][0] * 10 < counts["backward_euler"][0], counts
    # and it is the more accurate of the two (the same Pbar to the backward-Euler error)
    assert counts["bdf2"][1] == pytest.approx(counts["backward_euler"][1], abs=3e-4)


@pytest.mark.parallel
def test_onsager_bdf2_is_second_order_in_time_on_an_exact_mode():
    """Uniform field, the Zeeman channel a cosine (test_onsager's exact heat-equation mode):
    fixed steps halved twice; successive differences fall by ~4."""
    length = 20 * test_onsager.ELL
    k = np.pi / length
    rate = test_onsager.GAMMA * k * k
    t_end = 0.5 / rate

    def initial(x):
        out = np.zeros((2, x.shape[1]))
        out[1] = 0.9 * np.cos(k * x[0])
        return out

    states = []
    for steps in (8, 16, 32):
        raw = test_onsager.raw_config(geometry={"x_min": 0.0, "x_max": length, "cells": 40},
                                      model={"field": "uniform"},
                                      time={"t_end": t_end, "dt_initial": t_end / steps, "adaptive": False,
                                            "scheme": "bdf2"})
        cfg = parse_config(raw)
        problem = OnsagerTransportProblem(cfg, initial_state=initial).initialise()
        TimeStepper(problem, cfg.time).run()
        states.append(problem.nodal_state()[1].copy())
        problem.destroy()
    d1, d2 = global_error(states[0], states[1]), global_error(states[1], states[2])
    assert 3.4 < d1 / d2 < 4.6, (d1, d2)


def test_newton_stops_at_the_rounding_floor_near_a_steady_state():
    """The issue's case (radial cell, P_e 0.99, global, R1 30/s, r_s/160) run into its steady
    state: the first residual of a step is already tiny there, and a convergence test relative
    to it made Newton fail (6 failed solves and halved steps before the fix; 0 now)."""
    raw = copy.deepcopy(DNP_RADIAL)
    raw["geometry"]["mesh_size_source"] = R_S / 160
    raw["model"].update(source_polarization=0.99, R1=30.0)
    raw["time"].update(t_end=20.0, dt_initial=1e-7, tolerance=1e-3)
    cfg = parse_config(raw)
    problem = NuclearDiffusionProblem(cfg).initialise()
    failures = []
    solve = problem.solve_step

    def counted():
        result = solve()
        if not result.converged:
            failures.append(result.reason)
        return result

    problem.solve_step = counted
    TimeStepper(problem, cfg.time).run()
    assert failures == []
    problem.destroy()


@pytest.mark.parallel
def test_restart_across_dnp_pulses_equals_the_uninterrupted_run(tmp_path):
    """A pulsed buildup (a pulse every 0.1 s restarts the default variable-order BDF from
    backward Euler) paused every 20 steps and resumed until done: the history (up to six
    states) and the order with its step count are checkpointed, so every resumed row equals
    the uninterrupted run to solver tolerance."""
    from conftest import resume_until_done
    from fem_spin.io import read_timeseries
    from fem_spin.simulation import Paused, run

    directory = MPI.COMM_WORLD.bcast(str(tmp_path), root=0)
    raw = copy.deepcopy(DNP_RADIAL)
    raw["model"].update(source="pulsed", exchange_probability=0.5, repetition_rate=10.0, D0=5e-18)
    raw["time"].update(t_end=0.45, dt_initial=1e-5, tolerance=1e-4)
    raw["output"].update(field_snapshots=0, progress_interval=1e9)
    reference = run(parse_config({**raw, "name": "uninterrupted"}), output_dir=directory, quiet=True)
    raw["time"]["max_steps"] = 20
    with pytest.raises(Paused):
        run(parse_config({**raw, "name": "resumed"}), output_dir=directory, quiet=True)
    path = reference.parent / "resumed"
    assert resume_until_done(path) >= 4
    a = read_timeseries(reference / "timeseries.csv")
    b = read_timeseries(path / "timeseries.csv")
    assert len(a["t"]) == len(b["t"]) and a["pulses"][-1] == b["pulses"][-1] == 5
    for column in ("t", "P_mean", "P_max", "P_source"):
        np.testing.assert_allclose(b[column], a[column], rtol=1e-8, atol=1e-14, err_msg=column)
    # The steps follow the error estimates, whose divided differences of up to sixth order see
    # the Newton solves' own differences (a resumed run starts Newton from the state, not from
    # an extrapolation of states it no longer has): equal to 3e-8 measured.
    np.testing.assert_allclose(b["dt"], a["dt"], rtol=1e-6, atol=1e-14, err_msg="dt")


@pytest.mark.parametrize("cell", ["dnp_cube", "dnp_sphere"])
def test_source_polarization_bound_at_default_settings(cell):
    """The default run's cell (fem_spin/configs/default.toml, global speed-up) and the sphere of
    the same volume, default tolerance, the default mesh rule at mesh_scale 2 (the coarsest
    mesh of the run's own error estimate, 3.5k DOFs; the default's 24k cost ~30 s a cell
    here): BDF2 keeps no maximum principle, but P stays within time.tolerance of [0, P_e] at
    every step (measured with BDF2 at tolerance 2e-3 on the former r_s/4 meshes: P_max below
    P_e, P_min -1.6e-3 on the cube and -0.7e-3 on the sphere in the first steps, where
    backward Euler would keep P >= 0; with the variable-order BDF at mesh_scale 2: P_min
    -0.72e-3 (cube), -0.89e-3 (sphere), P_max below P_e; the default 24k-DOF cube of
    `make run` to 3 s: P_min -0.32e-3, P_max P_e + 2.7e-5)."""
    import tomllib
    from pathlib import Path

    from fem_spin import simulate

    raw = tomllib.loads((Path(__file__).resolve().parents[2] / "fem_spin" / "configs" /
                         "default.toml").read_text())
    raw.pop("sweep")
    raw["geometry"].update(type=cell, mesh_scale=2.0)
    raw["model"]["speedup"] = "global"
    raw["time"]["t_end"] = 1.0
    result = simulate(raw)
    tolerance = raw["time"]["tolerance"]
    P_e = raw["model"]["source_polarization"]
    assert max(result.series["P_max"]) <= P_e + tolerance
    assert min(result.series["P_min"]) >= -tolerance
    assert max(result.series["P_max"]) > 0.8 * P_e        # it did build up
