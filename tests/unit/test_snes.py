"""The SNES prototype of benchmarks/bench_snes.py (SNESSolver, behind the decision in the
docstring of fem_spin/solvers/newton.py) against NewtonSolver: the same answer, iterations
and failures on every assembler (nodal flux, dolfinx_mpc, plain dolfinx), and the
benchmark's quick mode."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from mpi4py import MPI

from conftest import REPO, make_config, serial_only
from fem_spin.models.nuclear_diffusion import NuclearDiffusionProblem
from fem_spin.solvers import TimeStepper

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_snes import use_snes  # noqa: E402

pytestmark = pytest.mark.parallel

REGION = {"region_shape": "box", "region_polarization": 0.9, "region_lower": [0.0, 0.0, 0.0],
          "region_upper": [3e-8, 1e-8, 1e-8]}


def build(which, **sections):
    problem = NuclearDiffusionProblem(make_config(**sections)).initialise()
    if which == "snes":
        use_snes(problem)
    return problem


def final_P(problem):
    return np.tanh(problem.owned(problem.u.x.array))


@pytest.mark.parametrize("model, periodic", [
    ({"speedup": "none"}, (False, False, False)),                     # nodal flux: P - A^-1 F
    ({"speedup": "global", "R1": 0.5}, (False, False, False)),        # + lagged f(Pbar)
    ({"speedup": "none"}, (True, False, False)),                      # nodal flux, dolfinx_mpc
    ({"speedup": "global", "flux": "quadrature"}, (True, False, False)),   # MPCAssembler
    ({"speedup": "local"}, (False, False, False)),                    # DolfinxAssembler
])
def test_snes_runs_like_newton(model, periodic):
    """A whole adaptive run: the same steps, Newton and Krylov iterations and final state."""
    runs = []
    for solver in ("newton", "snes"):
        counts = []
        problem = build(solver, geometry={"cells": [12, 2, 1], "periodic": list(periodic)},
                        model={**model, **REGION},
                        time={"t_end": 2.0, "dt_initial": 1e-3, "adaptive": True, "tolerance": 2e-3})
        stepper = TimeStepper(problem, problem.config.time,
                              on_step=lambda i: counts.append((i.newton_iterations, i.linear_iterations,
                                                               i.rejected)))
        stepper.run()
        runs.append((stepper.step, counts, final_P(problem)))
        problem.destroy()
    (steps_n, counts_n, P_n), (steps_s, counts_s, P_s) = runs
    assert steps_s == steps_n and counts_s == counts_n
    assert MPI.COMM_WORLD.allreduce(float(np.max(np.abs(P_s - P_n), initial=0.0)), op=MPI.MAX) < 1e-12


def test_snes_backtracks_like_newton():
    """A large step of the local speed-up: the residual grows and the step is halved; SNES's
    pre-check halves exactly as NewtonSolver does and hands its residual to SNES (the same
    number of residual assemblies)."""
    results = []
    for solver in ("newton", "snes"):
        problem = build(solver, geometry={"cells": [16, 1, 1]},
                        model={"speedup": "local", "flux": "quadrature", **REGION, "region_polarization": 0.999},
                        time={"t_end": 0.5, "dt_initial": 0.5, "adaptive": False})
        assembler, calls = problem.newton.assembler, [0]
        residual = assembler.residual

        def counted(b):
            calls[0] += 1
            residual(b)

        assembler.residual = counted
        problem.set_time_step(0.5, 0.5)
        result = problem.newton.solve()
        results.append((result, calls[0], final_P(problem)))
        problem.destroy()
    (rn, calls_n, P_n), (rs, calls_s, P_s) = results
    assert rn.converged and rs.converged
    assert calls_n > rn.iterations + 1                     # it did backtrack
    assert (rs.iterations, rs.linear_iterations, calls_s) == (rn.iterations, rn.linear_iterations, calls_n)
    assert rs.residual_norm == pytest.approx(rn.residual_norm, rel=1e-6, abs=1e-14)
    assert MPI.COMM_WORLD.allreduce(float(np.max(np.abs(P_s - P_n), initial=0.0)), op=MPI.MAX) < 1e-13


def test_snes_failures_are_reported_and_the_solver_recovers():
    """A linear step that puts |P| >= 1 (the nodal-flux update) fails with NewtonSolver's
    reason; a PETSc error inside the solve fails the step; the next solve works."""
    from petsc4py import PETSc

    problem = build("snes", geometry={"cells": [8, 1, 1]}, model={"speedup": "global", "R1": 1.0, **REGION})
    assembler = problem.newton.assembler
    recover = assembler.recover_update
    assembler.recover_update = lambda dx: "the linear step puts |P| >= 1 (test)"
    problem.set_time_step(0.05, 0.05)
    result = problem.newton.solve()
    assert not result.converged and "|P| >= 1" in result.reason
    problem.reject_step()
    assembler.recover_update = recover
    jacobian, calls = assembler.jacobian, [0]

    def flaky(A):
        calls[0] += 1
        if calls[0] == 2:
            raise PETSc.Error(73)
        jacobian(A)

    assembler.jacobian = flaky
    result = problem.newton.solve()
    assert not result.converged and "error" in result.reason
    problem.reject_step()
    result = problem.newton.solve()
    assert result.converged and result.iterations >= 2 and result.residual_norm < 1e-10
    problem.destroy()


def test_snes_resolves_a_krylov_atol_stop():
    """ksp_atol = 1e3 makes CG return dx = 0: the pre-check solves again without the absolute
    test (NewtonSolver's CONVERGED_ATOL re-solve), so the run equals the default one."""
    final = []
    for options in ({}, {"ksp_atol": 1e3}):
        problem = build("snes", geometry={"cells": [8, 1, 1]}, model={"speedup": "none", **REGION},
                        solver={"petsc_options": options},
                        time={"t_end": 1.0, "dt_initial": 0.1, "adaptive": False})
        TimeStepper(problem, problem.config.time).run()
        final.append(problem.global_max(final_P(problem)))
        problem.destroy()
    assert final[0] < 0.88                     # the region has spread (0.9 without a solve)
    assert final[1] == pytest.approx(final[0], rel=1e-9)


def test_snes_bt_line_search_only_where_the_operator_is_the_jacobian():
    problem = NuclearDiffusionProblem(make_config(model={"speedup": "none"})).initialise()
    with pytest.raises(ValueError, match="Jacobian"):
        use_snes(problem, "bt")
    problem.destroy()
    P = []
    for line_search in ("backtrack", "bt"):
        problem = NuclearDiffusionProblem(make_config(
            geometry={"cells": [12, 1, 1]}, model={"speedup": "local", **REGION},
            time={"t_end": 1.0, "dt_initial": 0.05, "adaptive": False})).initialise()
        use_snes(problem, line_search)
        TimeStepper(problem, problem.config.time).run()
        P.append(final_P(problem))
        problem.destroy()
    assert MPI.COMM_WORLD.allreduce(float(np.max(np.abs(P[0] - P[1]), initial=0.0)), op=MPI.MAX) < 1e-9


@serial_only()
def test_bench_snes_quick_mode(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for extra in (["--quick"], ["--report"]):
        res = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_snes.py"), *extra,
                              "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads((tmp_path / "bench_snes.json").read_text())
    assert {e["case"] for e in data} == {"nd_none_periodic", "nd_global"}
    for entry in data:
        newton, snes = entry["runs"]
        assert newton["steps"] > 0 and snes["newton_iterations"] == newton["newton_iterations"]
        assert snes["max_state_difference"] < 1e-12
    assert "| nd_global (quick) |" in (tmp_path / "bench_snes.md").read_text()
