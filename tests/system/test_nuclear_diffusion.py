"""System tests of nuclear spin diffusion (physics.md 1.1 and 6): exact solutions,
convergence orders, conservation, bounds, relaxation, the speed-up factor."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem, speedup_factor
from fem_spin.solvers import TimeStepper
from conftest import make_config, make_raw
from fem_spin.config import parse_config

pytestmark = pytest.mark.parallel

L, D0 = 1e-7, 1e-16
RATE = D0 * (np.pi / L) ** 2          # decay rate of the cos(pi x / L) mode (1/s)
A, B = 0.3, 0.5                       # P = A + B cos(pi x/L) exp(-RATE t)


def exact(x, t):
    return A + B * np.cos(np.pi * x[0] / L) * np.exp(-RATE * t)


def solve(n_cells, dt, t_end, speedup="none", initial=None, scheme="bdf2", **model):
    cfg = make_config(geometry={"cells": [n_cells, 1, 1]},
                      model={"speedup": speedup, **model},
                      time={"t_end": t_end, "dt_initial": dt, "adaptive": False, "scheme": scheme})
    problem = NuclearDiffusionProblem(cfg, initial_polarization=initial or (lambda x: exact(x, 0.0)))
    problem.initialise()
    TimeStepper(problem, cfg.time).run()
    return problem


def nodal_error(problem, t):
    x = problem.V.tabulate_dof_coordinates().T
    err = np.abs(np.tanh(problem.owned(problem.u.x.array)) - problem.owned(exact(x, t)))
    return problem.global_max(err)


def test_speedup_factor_check_values():
    # physics.md 1.1, quoted by the paper
    for p, f in [(0.5, 1.1547), (0.7, 1.4003), (0.9, 2.2942), (0.99, 7.0888)]:
        assert speedup_factor(p) == pytest.approx(f, abs=5e-5)
    assert speedup_factor(0.0) == 1.0
    with pytest.raises(ValueError):
        speedup_factor(1.0)


def test_spatial_convergence_order_exact_cosine_mode():
    # short time and many steps: the backward-Euler error stays ~25x below the spatial one
    t_end = 0.25 / RATE
    dt = t_end / 1000
    errors = [nodal_error(solve(n, dt, t_end), t_end) for n in (4, 8, 16)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 1e-3
    assert orders[-1] > 1.8, f"errors {errors}, orders {orders}"


@pytest.mark.parametrize("scheme, low, high", [("backward_euler", 0.85, 1.2), ("bdf2", 1.8, 2.35)])
def test_temporal_convergence_order(scheme, low, high):
    """Fixed steps on the exact cosine mode: first order for backward Euler, second for BDF2
    (its first step is backward Euler, whose O(dt^2) local error keeps the global order)."""
    t_end = 1.0 / RATE
    sols = []
    for steps in (10, 20, 40):
        p = solve(48, t_end / steps, t_end, scheme=scheme)
        sols.append(np.tanh(p.owned(p.u.x.array)).copy())
        comm = p.comm
    diffs = [comm.allreduce(np.max(np.abs(a - b)), op=__import__("mpi4py").MPI.MAX)
             for a, b in zip(sols[:-1], sols[1:])]
    order = np.log2(diffs[0] / diffs[1])
    assert low < order < high, f"successive differences {diffs}, order {order}"


@pytest.mark.parametrize("scheme", ["backward_euler", "bdf2"])
@pytest.mark.parametrize("speedup", ["none", "global", "local"])
def test_total_polarization_conserved_without_relaxation(speedup, scheme):
    """Both schemes conserve the lumped total exactly (BDF2's weights of the old states sum
    to one), to the Newton tolerance: measured drift at most 1.8e-12 relative over the run
    (bound 1e-11), every speed-up mode."""
    step = lambda x: np.where(x[0] < 0.5 * L, 0.95, 0.0)
    cfg = make_config(geometry={"cells": [20, 2, 2]}, model={"speedup": speedup},
                      time={"t_end": 20.0, "dt_initial": 0.01, "adaptive": True, "tolerance": 5e-3,
                            "scheme": scheme})
    problem = NuclearDiffusionProblem(cfg, initial_polarization=step).initialise()
    before = problem.observables()["polarization_volume"]
    totals = []
    TimeStepper(problem, cfg.time,
                on_step=lambda info: totals.append(problem.observables()["polarization_volume"])).run()
    drift = np.max(np.abs(np.array(totals) - before)) / abs(before)
    assert drift < 1e-11, f"relative drift of total P: {drift}"
    obs = problem.observables()
    assert obs["P_max"] - obs["P_min"] < 0.2  # it did spread


def test_speedup_modes_order_the_spreading():
    """The speed-up only accelerates transport: local >= global >= none at equal times."""
    step = lambda x: np.where(x[0] < 0.5 * L, 0.95, 0.0)
    outside = {}
    for mode in ("none", "global", "local"):
        cfg = make_config(geometry={"cells": [40, 1, 1]}, model={"speedup": mode},
                          time={"t_end": 2.0, "dt_initial": 0.01, "adaptive": False})
        problem = NuclearDiffusionProblem(cfg, initial_polarization=step).initialise()
        TimeStepper(problem, cfg.time).run()
        x = problem.V.tabulate_dof_coordinates()[:, 0]
        p = np.tanh(problem.u.x.array)
        outside[mode] = problem.global_sum(float(np.sum(p[: len(problem.owned(p))][
            problem.owned(x) > 0.5 * L])))
    assert outside["none"] < outside["global"] < outside["local"]
    # global: f(Pbar ~ 0.475) ~ 1.136 -> the same profile at t*f; a clearly visible effect
    assert outside["global"] / outside["none"] > 1.02


def test_bounds_at_099_with_large_steps():
    spike = lambda x: np.where(np.abs(x[0] - 0.5 * L) < 0.15 * L, 0.99, -0.5)
    for mode in ("none", "global", "local"):
        cfg = make_config(geometry={"cells": [8, 1, 1]}, model={"speedup": mode},
                          time={"t_end": 50.0, "dt_initial": 10.0, "adaptive": False})
        problem = NuclearDiffusionProblem(cfg, initial_polarization=spike).initialise()
        history = []
        TimeStepper(problem, cfg.time, on_step=lambda i: history.append(problem.observables())).run()
        assert all(-1 < h["P_min"] and h["P_max"] < 1 for h in history)
        # maximum principle: within the initial extremes (lumped capacity keeps it tight)
        assert min(h["P_min"] for h in history) >= -0.5 - 1e-9
        assert max(h["P_max"] for h in history) <= 0.99 + 1e-9


def bdf2_relaxation(y0, rate, y_eq, dt, steps):
    """The BDF2 recurrence for y' = -rate (y - y_eq) at constant steps, started by one
    backward-Euler step (solvers/schemes.py): what the discrete solution must equal."""
    y = [y0, y_eq + (y0 - y_eq) / (1 + rate * dt)]
    for _ in range(steps - 1):
        # (3/2) y+ - 2 y + (1/2) y- = -dt rate (y+ - y_eq)
        y.append((2 * y[-1] - 0.5 * y[-2] + dt * rate * y_eq) / (1.5 + dt * rate))
    return y[-1]


@pytest.mark.parametrize("scheme", ["backward_euler", "bdf2"])
def test_relaxation_to_equilibrium_matches_exponential(scheme):
    """Uniform relaxation: the nodal ODE's own discrete solution (to Newton tolerance) and
    the exponential within the scheme's error (BDF2: 100x closer)."""
    R1, P0, P_eq = 0.5, 0.8, 0.1
    t_end, steps = 4.0, 400
    dt = t_end / steps
    p = solve(4, dt, t_end, initial=lambda x: np.full(x.shape[1], P0), R1=R1, P_eq=P_eq, scheme=scheme)
    mean = p.observables()["P_mean"]
    discrete = (P_eq + (P0 - P_eq) * (1 + R1 * dt) ** (-steps) if scheme == "backward_euler"
                else bdf2_relaxation(P0, R1, P_eq, dt, steps))
    assert mean == pytest.approx(discrete, rel=1e-9)
    exponential = P_eq + (P0 - P_eq) * np.exp(-R1 * t_end)
    assert mean == pytest.approx(exponential, rel=3e-3 if scheme == "backward_euler" else 3e-5)


@pytest.mark.parametrize("scheme, low, high", [("backward_euler", 1.6, 2.6), ("bdf2", 3.2, 5.2)])
def test_global_mode_is_consistent_in_time_step(scheme, low, high):
    """With relaxation Pbar changes; the fixed point makes f use Pbar^{n+1}: halving dt divides
    the difference to a fine reference by 2 (backward Euler) or 4 (BDF2), with no lagging
    error on top."""
    step = lambda x: np.where(x[0] < 0.5 * L, 0.9, 0.0)
    means = []
    for steps in (10, 20, 160):
        p = solve(20, 4.0 / steps, 4.0, speedup="global", initial=step, R1=0.3, scheme=scheme)
        means.append(p.observables()["P_mean"])
    e1, e2 = abs(means[0] - means[2]), abs(means[1] - means[2])
    assert low < e1 / e2 < high, (means, e1 / e2)


@pytest.mark.parametrize("axes", [(True, False, False), (True, True, True)])
def test_periodic_box_exact_mode(axes):
    """Periodic in x (or in all three directions, edges and corners included): the shifted
    mode P = A + B cos(2 pi x/L + 0.7) cos(k_y y + 0.3), which is no eigenmode of the
    no-flux problem, decays at D |k|^2 without changing shape."""
    k = 2 * np.pi / L
    if all(axes):
        kk = np.array([k, 2 * np.pi / 1e-8, 0.0])
    else:
        kk = np.array([k, 0.0, 0.0])
    rate = D0 * np.sum(kk ** 2)
    init = lambda x: A + B * np.cos(kk[0] * x[0] + 0.7) * np.cos(kk[1] * x[1] + 0.3)
    t_end = 0.3 / rate
    cfg = make_config(geometry={"cells": [32, 8 if all(axes) else 1, 2], "periodic": list(axes)},
                      time={"t_end": t_end, "dt_initial": t_end / 300, "adaptive": False})
    problem = NuclearDiffusionProblem(cfg, initial_polarization=init).initialise()
    before = problem.observables()["polarization_volume"]
    TimeStepper(problem, cfg.time).run()
    x = problem.V.tabulate_dof_coordinates().T
    P = np.tanh(problem.owned(problem.u.x.array))
    expected = A + B * np.exp(-rate * t_end) * np.cos(kk[0] * x[0] + 0.7) * np.cos(kk[1] * x[1] + 0.3)
    err = problem.global_max(np.abs(P - problem.owned(expected)))
    assert err < 0.02 * B, err
    assert problem.observables()["polarization_volume"] == pytest.approx(before, rel=1e-9)
    amplitude = problem.global_max(np.abs(P - A))
    assert amplitude == pytest.approx(B * np.exp(-rate * t_end), rel=0.05)


@pytest.mark.parallel
def test_nodal_newton_update_lands_on_P_and_refuses_to_leave_the_unit_interval():
    """The nodal-flux Newton solves A dP = F and moves w to exactly artanh(P - dP); a linear
    step that would put |P| >= 1 fails the Newton solve (retried smaller by the stepper)
    instead of dividing by 1 - P^2 -> 0."""
    cfg = make_config(geometry={"cells": [6, 1, 1]}, model={"speedup": "global"})
    problem = NuclearDiffusionProblem(cfg).initialise()
    assembler = problem.newton.assembler
    n = assembler.n_owned
    problem.u.x.array[:] = np.arctanh(0.9)
    dx = assembler.create_vector()
    dx.set(0.1)
    assert assembler.recover_update(dx) is None
    np.testing.assert_allclose(np.tanh(problem.u.x.array[:n] - dx.array_r[:n]), 0.8, rtol=1e-14)
    dx.set(0.1)
    if problem.comm.rank == 0 and n:
        dx.array_w[0] = -0.2                 # P = 1.1 at one node of one rank
    reason = assembler.recover_update(dx)
    assert reason is not None and "|P| >= 1" in reason and "1.1" in reason
    dx.destroy()
    problem.destroy()


@pytest.mark.parametrize("user, max_dofs, ksp_type, pc_type, rtol", [
    ({}, 20000, "preonly", "lu", None),                                  # a small 1-D system: direct
    ({}, 0, "cg", "bjacobi", 1e-6),                                      # the model's Krylov defaults
    ({"pc_type": "jacobi"}, 20000, "cg", "jacobi", 1e-6),                # keeps CG and its forcing term
    ({"pc_type": "jacobi", "ksp_rtol": 1e-9}, 20000, "cg", "jacobi", 1e-9),
    ({"ksp_type": "gmres", "pc_type": "jacobi"}, 20000, "gmres", "jacobi", 1e-5),  # the user's whole solver
])
def test_user_preconditioner_keeps_the_models_krylov_method_and_tolerance(monkeypatch, user, max_dofs,
                                                                          ksp_type, pc_type, rtol):
    """On one rank a 1-D system of at most DIRECT_SOLVE_MAX_DOFS unknowns is solved directly
    (LU); above it, on several ranks and in 2-D/3-D the nodal-flux Newton uses CG with a
    1e-6 forcing term.
    [solver].petsc_options = {pc_type = ...} swaps the preconditioner only: the nodal-flux
    Newton keeps CG and its forcing term (not PETSc's GMRES and rtol 1e-5, and not the
    direct solve's "preonly"); naming ksp_type hands over the whole linear solver."""
    from fem_spin.solvers import newton

    monkeypatch.setattr(newton, "DIRECT_SOLVE_MAX_DOFS", max_dofs)
    raw = make_raw(model={"speedup": "none"}, solver={"petsc_options": user})
    raw["geometry"] = {"type": "interval", "x_min": 0.0, "x_max": 1e-7, "cells": 8}
    cfg = parse_config(raw)
    problem = NuclearDiffusionProblem(cfg).initialise()
    ksp = problem.newton.ksp
    if rtol is None and problem.comm.size > 1:          # several ranks: the Krylov default
        ksp_type, pc_type, rtol = "cg", "bjacobi", 1e-6
    assert (ksp.getType(), ksp.getPC().getType()) == (ksp_type, pc_type)
    if rtol is not None:
        assert ksp.getTolerances()[0] == pytest.approx(rtol, rel=1e-12)
    problem.destroy()


def test_a_krylov_solver_that_declares_the_residual_negligible_does_not_stop_newton():
    """A loose Krylov atol (here 1e3) makes CG return dx = 0 at iteration 0: Newton must not
    take that zero update for convergence at an unchanged state (it solves again without
    the absolute test), so the run equals the default one."""
    final = []
    for options in ({}, {"ksp_atol": 1e3}):
        cfg = make_config(geometry={"cells": [8, 1, 1]}, model={"speedup": "none"},
                          solver={"petsc_options": options},
                          time={"t_end": 0.5 / RATE, "dt_initial": 0.05 / RATE, "adaptive": False})
        problem = NuclearDiffusionProblem(cfg, initial_polarization=lambda x: exact(x, 0.0))
        problem.initialise()
        TimeStepper(problem, cfg.time).run()
        final.append(problem.global_max(np.tanh(problem.owned(problem.u.x.array))))
        problem.destroy()
    assert final[0] < A + B - 0.1                    # the mode has decayed
    assert final[1] == pytest.approx(final[0], rel=1e-9)


def test_a_petsc_error_in_a_reused_preconditioner_solve_is_retried_with_the_real_residual():
    """A PETSc error in the solve of Newton iteration 2 (kept preconditioner) resets the
    solver; the rebuilt solve must use the residual again (the reset zeroes the right-hand
    side: a zero update would then pass as convergence), so the step ends where an
    undisturbed one does."""
    from petsc4py import PETSc

    def one_step(fail_on_call):
        # relaxation moves Pbar, so the global speed-up's fixed point takes several iterations;
        # the Krylov solver (not the small system's direct solve), which keeps its preconditioner
        cfg = make_config(geometry={"cells": [8, 1, 1]}, model={"speedup": "global", "R1": RATE},
                          solver={"petsc_options": {"pc_type": "bjacobi"}})
        problem = NuclearDiffusionProblem(cfg, initial_polarization=lambda x: exact(x, 0.0))
        problem.initialise()
        newton, calls = problem.newton, [0]
        original = newton._linear_solve

        def flaky(reuse):
            calls[0] += 1
            if calls[0] == fail_on_call:
                raise PETSc.Error(73)
            return original(reuse)

        newton._linear_solve = flaky
        problem.set_time_step(2.0 / RATE, 2.0 / RATE)
        result = problem.solve_step()
        P = np.tanh(problem.owned(problem.u.x.array)).copy()
        problem.destroy()
        return result, P, calls[0]

    reference, P_ref, _ = one_step(fail_on_call=0)
    result, P, calls = one_step(fail_on_call=2)
    assert reference.converged and reference.iterations >= 2
    assert result.converged and calls >= 3        # the failed solve was retried
    np.testing.assert_allclose(P, P_ref, rtol=0, atol=1e-9)


def test_newton_starts_from_the_extrapolated_state_but_not_across_an_event():
    """After an accepted step the next solve starts from u_n + (dt/dt_prev)(u_n - u_prev);
    not across a step more than twice as long, and not after an event (forget_history)."""
    cfg = make_config(geometry={"cells": [6, 1, 1]}, model={"speedup": "none"})
    problem = NuclearDiffusionProblem(cfg).initialise()
    u, u_n = problem.u.x.array, problem.u_n.x.array
    u[:] = u_n[:] = 0.1                             # (after accept/reject u == u_n)
    problem.set_time_step(1.0, 1.0)
    assert np.allclose(u, 0.1)                      # no history yet: starts from u_n
    u[:] = 0.3
    problem.accept_step()                            # u_prev = 0.1 (dt 1), u_n = 0.3
    problem.set_time_step(2.5, 1.5)
    np.testing.assert_allclose(u, 0.3 + 1.5 * 0.2, rtol=1e-14)
    problem.reject_step()
    problem.set_time_step(4.0, 3.0)                  # 3x the last step: no extrapolation
    np.testing.assert_allclose(u, 0.3, rtol=1e-14)
    problem.forget_history()
    problem.set_time_step(1.5, 0.5)
    np.testing.assert_allclose(u, 0.3, rtol=1e-14)
    problem.destroy()


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="a dense Jacobian of one rank's unknowns")
def test_global_speedup_newton_takes_the_exact_update_of_the_coupled_system():
    """With f = f(Pbar^{n+1}) the Jacobian in P is A + s dt f'(Pbar) (K P)(m/V)^T; Newton
    solves with it by Sherman-Morrison (NodalFluxAssembler.rank_one_term), so its update is
    the Newton update of the coupled system: here against a dense central-difference
    Jacobian of the residual with f refreshed at every perturbed state."""
    cfg = make_config(geometry={"cells": [6, 1, 1]}, model={"speedup": "global", "R1": RATE},
                      solver={"petsc_options": {"ksp_type": "preonly", "pc_type": "lu"}})   # exact solves
    problem = NuclearDiffusionProblem(cfg, initial_polarization=lambda x: exact(x, 0.0))
    problem.initialise()
    newton, assembler = problem.newton, problem.newton.assembler
    n = assembler.n_owned
    problem.set_time_step(2.0 / RATE, 2.0 / RATE)
    problem.set_scheme_terms(2.0 / RATE, np.tanh(problem.u_n.x.array[:n]))
    w0 = problem.u.x.array[:n].copy() + 0.05 * np.linspace(-1.0, 1.0, n)   # not the solution
    b = assembler.create_vector()

    def residual(P):
        problem.u.x.array[:n] = np.arctanh(P)
        problem.u.x.scatter_forward()
        problem._refresh_speedup()
        assembler.residual(b)
        return b.array_r[:n].copy()

    P0 = np.tanh(w0)
    F0, h = residual(P0), 1e-6
    J = np.column_stack([(residual(P0 + h * e) - residual(P0 - h * e)) / (2 * h) for e in np.eye(n)])
    expected = np.linalg.solve(J, F0)

    def newton_update():
        residual(P0)                                   # at P0 with its f
        assembler.residual(newton.b)
        assert newton._newton_update(False)[0] is None
        return P0 - np.tanh(w0 - newton.dx.array_r[:n])

    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(newton_update(), expected, rtol=0, atol=1e-6 * scale)
    # with f lagged (no rank-one term) the update is measurably another one
    assembler.rank_one_term = lambda: None
    assert np.max(np.abs(newton_update() - expected)) > 1e-3 * scale
    b.destroy()
    problem.destroy()


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="the direct solve, with which the rank-one "
                    "term is taken, is the default on one rank only")
def test_global_speedup_steps_take_about_two_newton_iterations():
    """The exact rank-one Jacobian (above; with a direct solve, as on this radial DNP cell,
    benchmarks/bench_time_integration.py) makes the fixed point on f(Pbar) converge with
    Newton: ~2.1 iterations per step, against ~2.8 with f lagged (refresh "off", the
    Krylov default)."""
    means = {}
    for refresh in ("auto", "off"):
        raw = make_raw(model={"speedup": "global", "D0": 5e-16, "source": "continuous",
                              "source_polarization": 0.9, "exchange_rate": 1e6},
                       time={"t_end": 0.03, "dt_initial": 1e-8, "tolerance": 1e-4, "adaptive": True})
        raw["geometry"] = {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": 0.5e-9}
        cfg = parse_config(raw)
        problem = NuclearDiffusionProblem(cfg).initialise()
        problem.newton.rank_one.refresh = refresh
        iterations = []
        TimeStepper(problem, cfg.time, on_step=lambda info: iterations.append(info.newton_iterations)).run()
        problem.destroy()
        assert len(iterations) > 100
        means[refresh] = np.mean(iterations)
    assert means["auto"] <= 2.3 and means["off"] >= means["auto"] + 0.4, means
