"""Benchmark: the hand-written NewtonSolver against SNESSolver, a prototype on PETSc SNES.

    python3 benchmarks/bench_snes.py [--quick] [--cases a,b] [--repeat N] [--out DIR]
    python3 benchmarks/bench_snes.py --report [--out DIR]       # markdown table

Every case builds the same problem once per solver in ONE process, alternating the solvers
(newton, snes, snes, newton, ... for --repeat > 1; the fastest run of each is kept), and
records the wall time of the time loop (TimeStepper.run), time steps, Newton and Krylov
iterations, rejected steps and the final observable, plus the largest difference between
the final states of the two solvers. The SNES solver is swapped in after initialise() on the
assembler the model built (models/base.py create_solver), with the model's settings, linear
solver options and lagged coefficients. The decision drawn from these numbers (NewtonSolver
stays for every model) is in the module docstring of fem_spin/solvers/newton.py; the
prototype lives here, not in the package, and tests/unit/test_snes.py keeps it equal to
NewtonSolver. Cases:

* ``nd_global``: nuclear_diffusion, 24x6x6 box, hyperpolarized ball, speed-up ``global``
  (nodal flux + lagged f(Pbar)), adaptive steps;
* ``nd_none``: the same with speed-up ``none`` (nodal flux, the exact P - A^-1 F move);
* ``nd_none_periodic``: the same periodic in x and y (nodal flux in dolfinx_mpc's space);
* ``nd_quadrature_periodic``: the periodic one with ``flux = "quadrature"`` and ``global``
  (MPCAssembler: dolfinx_mpc assembly of residual and Jacobian every iteration, lagged f);
* ``dnp_cube``: the default run (fem_spin/configs/default.toml, speed-up global) on the
  periodic DNP cube at ~27k DOFs, t_end shortened to a few dozen steps;
* ``onsager``: examples/onsager_fig8.toml (nonlinear formulation, 600 cells, 2 unknowns per
  node, DolfinxAssembler), t_end shortened; also with SNES's own line search (``snes-bt``).

--quick runs nd_none_periodic and nd_global on a coarser box with short t_end (a test).
Results go to DIR/bench_snes.json (rank 0; reruns replace their cases); --report writes
DIR/bench_snes.md. Numbers are measurements of this machine, never asserted by tests.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import time
import tomllib
from pathlib import Path

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from fem_spin.solvers.newton import (_KSP_REASONS, _LIVE_OPTION_KEYS, _PC_REASONS, _SOLVER_COUNTER,
                                     NEWTON_DEFAULTS, Assembler, NewtonResult,
                                     default_linear_solver_options, linear_solver_options,
                                     petsc_options_checked, RankOneCorrection)

# --------------------------------------------------------------------------- the prototype

#: NEWTON_DEFAULTS plus the line search: "backtrack" (NewtonSolver's halving, in the
#: pre-check) or "bt" (PETSc's own; plain Jacobian assemblers without lagged coefficients)
SNES_DEFAULTS = {**NEWTON_DEFAULTS, "line_search": "backtrack"}

_SNES_REASONS = {v: k for k, v in vars(PETSc.SNES.ConvergedReason).items() if isinstance(v, int)}


class SNESSolver:
    """Newton's method on PETSc SNES with NewtonSolver's special cases: a drop-in prototype with
    NewtonSolver's interface (``solve() -> NewtonResult``, ``destroy()``, ``clear_options()``,
    ``settings``, ``lagged``, ``assembler``, ``ksp``, ``A``) that serves the same :class:`~fem_spin.solvers.newton.Assembler` objects: plain dolfinx assembly, dolfinx_mpc
    constrained assembly (periodic cells) and the nodal-flux assembler. The special cases of
    the hand-written loop are carried by SNES's hooks (petsc4py 3.22 wraps the line-search
    pre-check, the convergence test and the function/Jacobian callbacks; it has no post-check
    and no ``setLagPreconditioner``, so the lag is set through the options database):

    - line search ``basic`` (a full step) with a **pre-check** that (1) redoes a Krylov solve
      that stopped on its absolute test with a negligible update (NewtonSolver's CONVERGED_ATOL
      re-solve), (2) turns the Krylov solution into the update of u (``recover_update``: the
      nodal-flux move to exactly P - A^-1 F in tanh variables, with its |P| < 1 check), (3)
      applies it through ``assembler.update`` (which back-substitutes periodic slave dofs),
      refreshes the lagged coefficients (f(Pbar)) and halves the step while the residual grows,
      exactly as NewtonSolver does. It then hands SNES the step actually taken, and the residual
      it has already assembled is handed back to SNES's function evaluation of that state (no
      second assembly). The state of record is the Function u, not SNES's solution vector;
    - a **convergence test** with NewtonSolver's criteria: atol, rtol, the rounding-error stop
      (``assembler.residual_floor``), the negligible update (stol) and the lagged-coefficient
      condition (``lag_tol``);
    - the preconditioner is kept over the iterations of one solve for assemblers with
      ``slowly_varying_jacobian`` by ``-snes_lag_preconditioner`` (> max_iterations, not
      persisting: rebuilt at the first iteration of every solve).

    Differences from NewtonSolver: a kept preconditioner whose Krylov solve fails is not
    rebuilt once within the step (SNES ends the solve with DIVERGED_LINEAR_SOLVE and the time
    stepper retries smaller). With ``settings["line_search"] = "bt"`` the pre-check only
    recovers the update and PETSc's own backtracking (cubic, Armijo) replaces the halving; this
    needs the assembled operator to be the Jacobian (no ``recover_update``) and no lagged
    coefficients, and is offered for measurement.
    """

    lagged = None

    def __init__(self, assembler: Assembler, comm: MPI.Comm, settings: dict | None = None,
                 petsc_options: dict | None = None, prefix: str = "fem_spin_snes_"):
        self.assembler, self.comm = assembler, comm
        self.settings = {**SNES_DEFAULTS, **(settings or {})}
        self.prefix = f"{prefix}{next(_SOLVER_COUNTER)}_"
        self._recovers = type(assembler).recover_update is not Assembler.recover_update
        if self.settings["line_search"] not in ("backtrack", "bt"):
            raise ValueError(f"line_search must be 'backtrack' or 'bt', not {self.settings['line_search']!r}")
        if self.settings["line_search"] == "bt" and self._recovers:
            raise ValueError("line_search 'bt' needs an assembler whose operator is the Jacobian")
        options = linear_solver_options(default_linear_solver_options(assembler, comm, petsc_options),
                                        dict(petsc_options or {}))
        self._reuse = (assembler.slowly_varying_jacobian
                       and options.get("ksp_type") != PETSc.KSP.Type.PREONLY)
        options["snes_linesearch_type"] = "basic" if self.settings["line_search"] == "backtrack" else "bt"
        if self._reuse:
            options["snes_lag_preconditioner"] = self.settings["max_iterations"] + 1
        opts = PETSc.Options()
        self._option_keys = []
        for key, value in options.items():
            opts[f"{self.prefix}{key}"] = value
            self._option_keys.append(f"{self.prefix}{key}")
        _LIVE_OPTION_KEYS.update(self._option_keys)
        self._create()

    # ------------------------------------------------------------------ set-up
    def _create(self) -> None:
        a = self.assembler
        self.rank_one = RankOneCorrection(a)  # as NewtonSolver: the exact rank-one Jacobian term
        self.A = a.create_matrix()
        self.b = a.create_vector()           # F(u) of the state of record
        self.f = self.b.duplicate()          # SNES's residual vector
        self.x = self.b.duplicate()          # SNES's solution vector (a shadow of u)
        self._zero = self.b.duplicate()
        self._zero.zeroEntries()
        snes = self.snes = PETSc.SNES().create(self.comm)
        snes.setOptionsPrefix(self.prefix)
        snes.setType(PETSc.SNES.Type.NEWTONLS)
        snes.setFunction(self._function, self.f)
        snes.setJacobian(self._jacobian, self.A, self.A)
        snes.setConvergenceTest(self._converged)
        snes.setLineSearchPreCheck(self._precheck)
        s = self.settings
        snes.setTolerances(rtol=0.0, atol=0.0, stol=0.0, max_it=s["max_iterations"])
        snes.setMaxFunctionEvaluations(1 << 30)
        self.ksp = snes.getKSP()
        self.ksp.setOptionsPrefix(self.prefix)
        with petsc_options_checked():
            snes.setFromOptions()
            a.configure_preconditioner(self.ksp.getPC())
            self.A.setOptionsPrefix(self.prefix)
            self.A.setFromOptions()

    def _reset(self) -> None:
        self.destroy()
        self._create()

    # ------------------------------------------------------------------ state <-> SNES
    def _load(self, x: PETSc.Vec) -> None:
        """u <- x on the owned dofs, ghosts (and slaves) made consistent: for SNES's own
        line search, which evaluates states the pre-check did not make."""
        n = len(x.array_r)
        self.assembler.u.x.array[:n] = x.array_r
        self.assembler.update(self._zero)

    def _function(self, snes, x, f) -> None:
        if self._failure is not None:
            return                           # diverging: the test below stops the solve
        if self._cached:                     # the pre-check assembled F at this state already
            self._cached = False
        else:
            if self.settings["line_search"] == "bt":
                self._load(x)
            self.assembler.residual(self.b)
        self.b.copy(f)

    def _jacobian(self, snes, x, A, P) -> None:
        if self.settings["line_search"] == "bt":
            self._load(x)
        self.assembler.jacobian(A)
        if not self._reuse or snes.getIterationNumber() == 0:
            self.assembler.update_preconditioner()

    def _negligible(self, dx: PETSc.Vec) -> bool:
        return dx.norm() <= self.settings["stol"] * max(1.0, self.assembler.u.x.petsc_vec.norm())

    def _refresh_lagged(self) -> float:
        return float(self.lagged()) if self.lagged is not None else 0.0

    # ------------------------------------------------------------------ hooks
    def _precheck(self, x, y) -> bool:
        """y (the Krylov solution for F(u)) -> the step taken; see the module docstring."""
        s, a = self.settings, self.assembler
        if (self.ksp.getConvergedReason() == PETSc.KSP.ConvergedReason.CONVERGED_ATOL
                and self._negligible_after_recovery(y)):
            saved = self.ksp.getTolerances()
            self.ksp.setTolerances(atol=0.0)
            self.ksp.getPC().setReusePreconditioner(True)
            try:
                self.ksp.solve(self.b, y)
            finally:
                self.ksp.setTolerances(*saved)
            self._extra_linear += self.ksp.getIterationNumber()
            if self.ksp.getConvergedReason() < 0:
                return self._fail(y, f"linear solver failed: {self._describe_ksp_failure()}")
        failure, its = self.rank_one.apply(self.ksp, y)
        self._extra_linear += its
        if failure is not None:
            return self._fail(y, failure)
        failure = a.recover_update(y)
        if failure is not None:
            return self._fail(y, failure)
        if s["line_search"] == "bt":
            return self._recovers
        r_old = self._r
        self._negligible_step = self._negligible(y)
        a.update(y)
        self._lag_change = self._refresh_lagged()
        if self._negligible_step:
            a.residual(self.b)
            self._cached = True
            return True
        for k in range(s["max_backtracks"] + 1):
            a.residual(self.b)
            r = self.b.norm()
            if (np.isfinite(r) and r < r_old) or k == s["max_backtracks"]:
                break
            y.scale(-0.5)
            a.update(y)                     # u <- u + dy/2: back to half the last step
            y.scale(-1.0)
            self._lag_change = self._refresh_lagged()
        self._cached = True
        return True

    def _negligible_after_recovery(self, y) -> bool:
        """NewtonSolver tests the update after recover_update; recover a copy to do the same."""
        if not self._recovers:
            return self._negligible(y)
        probe = y.copy()
        try:
            return self.assembler.recover_update(probe) is None and self._negligible(probe)
        finally:
            probe.destroy()

    def _fail(self, y, reason: str) -> bool:
        self._failure = reason
        y.zeroEntries()
        return True

    def _converged(self, snes, it, norms):
        _, _, r = norms
        s = self.settings
        R = PETSc.SNES.ConvergedReason
        if self._failure is not None:
            return R.DIVERGED_FUNCTION_DOMAIN
        if not np.isfinite(r):
            return R.DIVERGED_FNORM_NAN
        if it == 0:
            self._r0 = self._r = r
            return R.CONVERGED_FNORM_ABS if r <= s["atol"] else R.ITERATING
        self._r = r
        if self._lag_change <= s["lag_tol"]:
            if self._negligible_step:
                return R.CONVERGED_SNORM_RELATIVE
            if r <= s["atol"]:
                return R.CONVERGED_FNORM_ABS
            if r <= s["rtol"] * self._r0 or (r <= 1e-6 * self._r0 and r <= self.assembler.residual_floor()):
                return R.CONVERGED_FNORM_RELATIVE
        if it >= s["max_iterations"]:
            return R.DIVERGED_MAX_IT
        return R.ITERATING

    # ------------------------------------------------------------------ solve
    def solve(self) -> NewtonResult:
        s = self.settings
        self._failure, self._cached, self._negligible_step = None, False, False
        self._lag_change, self._extra_linear = 0.0, 0
        self.rank_one.start_step()
        self._r = self._r0 = np.nan
        n = len(self.x.array_r)
        self.x.array_w[:] = self.assembler.u.x.array[:n]
        error = None
        try:
            self.snes.solve(None, self.x)
        except PETSc.Error as exc:
            error = exc
        its = self.snes.getIterationNumber()
        linear_its = self.snes.getLinearSolveIterations() + self._extra_linear
        if self.comm.allreduce(error is not None, op=MPI.LOR):
            self._reset()
            detail = ("PETSc error on another rank" if error is None else
                      f"PETSc error code {error.ierr}")
            return NewtonResult(False, its, linear_its, self._r, f"linear solver error: {detail}")
        reason = self.snes.getConvergedReason()
        r = self._r
        if reason > 0:
            return NewtonResult(True, its, linear_its, r)
        if self._failure is not None:
            text = self._failure
        elif reason == PETSc.SNES.ConvergedReason.DIVERGED_FNORM_NAN:
            text = ("non-finite residual at the start of the step" if its == 0
                    else "non-finite residual (NaN/Inf)")
        elif reason == PETSc.SNES.ConvergedReason.DIVERGED_LINEAR_SOLVE:
            text = f"linear solver failed: {self._describe_ksp_failure()}"
            its += 1        # counted as NewtonSolver does: the iteration that failed
            self._reset()   # a failed factorisation must not linger into the retry
        elif reason == PETSc.SNES.ConvergedReason.DIVERGED_MAX_IT:
            text = (f"no convergence in {s['max_iterations']} Newton iterations "
                    f"(residual {r:.3e}, started at {self._r0:.3e})")
        else:
            text = f"SNES: {_SNES_REASONS.get(reason, reason)}"
        return NewtonResult(False, its, linear_its, r, text)

    def _describe_ksp_failure(self) -> str:
        reason = self.ksp.getConvergedReason()
        text = str(_KSP_REASONS.get(reason, reason))
        if reason == PETSc.KSP.ConvergedReason.DIVERGED_PCSETUP_FAILED:
            pc_reason = self.ksp.getPC().getFailedReason()
            text += f" (preconditioner: {_PC_REASONS.get(pc_reason, pc_reason)})"
        return text

    def destroy(self) -> None:
        for obj in (self.snes, self.A, self.b, self.f, self.x, self._zero, self.rank_one):
            obj.destroy()

    def clear_options(self) -> None:
        """Remove this solver's entries from PETSc's global options database."""
        opts = PETSc.Options()
        for key in self._option_keys:
            opts.delValue(key)
        _LIVE_OPTION_KEYS.difference_update(self._option_keys)
        self._option_keys = []


REPO = Path(__file__).resolve().parents[1]
OUTPUT = {"plot": False, "render": False, "field_snapshots": 0, "progress_interval": 1e9}


def _box(speedup: str, periodic=(False, False, False), flux: str = "nodal", quick: bool = False) -> dict:
    cells = [12, 4, 4] if quick else [24, 6, 6]
    return {"name": "bench_snes",
            "geometry": {"type": "box", "size": [1e-7, 2.5e-8, 2.5e-8], "cells": cells,
                         "periodic": list(periodic)},
            "model": {"type": "nuclear_diffusion", "D0": 1e-16, "speedup": speedup, "flux": flux,
                      "initial_polarization": 0.0, "region_polarization": 0.9,
                      "region_shape": "ball", "region_center": [5e-8, 1.25e-8, 1.25e-8],
                      "region_radius": 1.2e-8},
            "time": {"t_end": 2.0 if quick else 20.0, "dt_initial": 1e-3, "tolerance": 2e-3},
            "output": OUTPUT}


def _dnp_cube() -> dict:
    raw = tomllib.loads((REPO / "fem_spin" / "configs" / "default.toml").read_text())
    raw.pop("sweep", None)
    raw["model"]["speedup"] = "global"
    raw["geometry"]["mesh_size_source"] = 0.6e-9 / 12    # 27k DOFs (default r_s/4: 1.5k)
    raw["time"]["t_end"] = 0.05
    raw["output"] = OUTPUT
    return raw


def _onsager() -> dict:
    raw = tomllib.loads((REPO / "examples" / "onsager_fig8.toml").read_text())
    raw.pop("sweep", None)
    raw["time"]["t_end"] = 0.01
    raw["output"] = OUTPUT
    return raw


CASES = {
    "nd_global": (lambda q: _box("global", quick=q), ("newton", "snes")),
    "nd_none": (lambda q: _box("none", quick=q), ("newton", "snes")),
    "nd_none_periodic": (lambda q: _box("none", (True, True, False), quick=q), ("newton", "snes")),
    "nd_quadrature_periodic": (lambda q: _box("global", (True, True, False), "quadrature", quick=q),
                               ("newton", "snes")),
    "dnp_cube": (lambda q: _dnp_cube(), ("newton", "snes")),
    "onsager": (lambda q: _onsager(), ("newton", "snes", "snes-bt")),
}
QUICK_CASES = ("nd_none_periodic", "nd_global")


def use_snes(problem, line_search: str = "backtrack") -> SNESSolver:
    """Replace the problem's NewtonSolver by an SNESSolver on the same assembler."""
    old = problem.newton
    settings = {k: v for k, v in old.settings.items()}
    settings["line_search"] = line_search
    new = SNESSolver(old.assembler, problem.comm, settings=settings,
                     petsc_options=dict(problem.config.solver.petsc_options))
    new.lagged = old.lagged
    old.destroy()
    old.clear_options()
    problem.newton = new
    return new


def run_once(raw: dict, solver: str, comm) -> tuple[dict, np.ndarray]:
    from fem_spin.config import parse_config
    from fem_spin.solvers import TimeStepper

    config = parse_config(copy.deepcopy(raw))
    problem = type(config.model).problem_class(config, comm).initialise()
    if solver.startswith("snes"):
        use_snes(problem, "bt" if solver == "snes-bt" else "backtrack")
    totals = {"newton": 0, "krylov": 0, "rejected": 0}

    def count(info):
        totals["newton"] += info.newton_iterations
        totals["krylov"] += info.linear_iterations
        totals["rejected"] += info.rejected

    stepper = TimeStepper(problem, config.time, on_step=count)
    comm.barrier()
    t0 = time.perf_counter()
    stepper.run()
    comm.barrier()
    wall = time.perf_counter() - t0
    obs = problem.observables()
    final = np.tanh(problem.owned(problem.u.x.array)) if hasattr(problem, "f_global") \
        else problem.owned(problem.u.x.array).copy()
    out = {"solver": solver, "dofs": problem.num_dofs, "steps": stepper.step,
           "newton_iterations": totals["newton"], "krylov_iterations": totals["krylov"],
           "rejected_steps": totals["rejected"], "loop_s": wall,
           "P_mean_final": float(obs.get("P_mean", np.nan))}
    problem.destroy()
    del problem
    gc.collect()
    return out, final


def run_case(name: str, quick: bool, repeat: int, comm) -> dict:
    make, solvers = CASES[name]
    raw = make(quick)
    order = list(solvers) + list(reversed(solvers))
    order = (order * repeat)[: len(solvers) * repeat] if repeat > 1 else list(solvers)
    best: dict[str, dict] = {}
    finals: dict[str, np.ndarray] = {}
    for solver in order:
        out, final = run_once(raw, solver, comm)
        if solver not in best or out["loop_s"] < best[solver]["loop_s"]:
            best[solver] = out
        finals[solver] = final
        print(f"{name:>24} {solver:>8} dofs={out['dofs']} steps={out['steps']} "
              f"newton={out['newton_iterations']} krylov={out['krylov_iterations']} "
              f"rejected={out['rejected_steps']} loop={out['loop_s']:.3f}s", flush=True)
    ref = finals["newton"]
    for solver, final in finals.items():
        diff = float(np.max(np.abs(final - ref))) if final.size else 0.0
        best[solver]["max_state_difference"] = comm.allreduce(diff, op=MPI.MAX)
    return {"case": name, "quick": quick, "ranks": comm.size, "runs": [best[s] for s in solvers]}


def report(out_dir: Path) -> Path:
    data = json.loads((out_dir / "bench_snes.json").read_text())
    lines = ["| case | DOFs | solver | steps | Newton | Krylov | rejected | loop (s) | SNES/Newton | "
             "max state diff |", "|---|---|---|---|---|---|---|---|---|---|"]
    for entry in data:
        base = entry["runs"][0]["loop_s"]
        for r in entry["runs"]:
            lines.append(f"| {entry['case']}{' (quick)' if entry['quick'] else ''} | {r['dofs']} | "
                         f"{r['solver']} | {r['steps']} | {r['newton_iterations']} | "
                         f"{r['krylov_iterations']} | {r['rejected_steps']} | {r['loop_s']:.3f} | "
                         f"{r['loop_s'] / base:.2f} | {r['max_state_difference']:.1e} |")
    md = out_dir / "bench_snes.md"
    md.write_text("# NewtonSolver vs SNESSolver\n\n" + "\n".join(lines) + "\n")
    return md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="two small cases, short runs (a test)")
    ap.add_argument("--cases", default=None, help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--repeat", type=int, default=1, help="runs per solver (fastest kept)")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--out", default="results/bench")
    args = ap.parse_args()
    out_dir = Path(args.out)
    comm = MPI.COMM_WORLD
    if args.report:
        if comm.rank == 0:
            print(report(out_dir).read_text())
        return
    names = args.cases.split(",") if args.cases else (QUICK_CASES if args.quick else tuple(CASES))
    results = [run_case(name, args.quick, args.repeat, comm) for name in names]
    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "bench_snes.json"
        old = json.loads(path.read_text()) if path.exists() else []
        done = {(r["case"], r["quick"], r["ranks"]) for r in results}
        old = [r for r in old if (r["case"], r["quick"], r["ranks"]) not in done]
        path.write_text(json.dumps(old + results, indent=2) + "\n")


if __name__ == "__main__":
    main()
