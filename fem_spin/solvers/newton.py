"""Newton's method on PETSc, shared by every model.

One loop serves plain dolfinx assembly and dolfinx_mpc constrained assembly
(periodic cells): the assembly is delegated to an :class:`Assembler`. Failures are
never silent: a diverged linear solve, a non-finite residual or too many
iterations give a :class:`NewtonResult` with ``converged=False`` and a reason
(the PETSc converged reason where there is one), and the time stepper retries
with a smaller step.

Why not PETSc SNES (issue 19, item 6; measured by benchmarks/bench_snes.py, section
"NewtonSolver against PETSc SNES" of benchmarks/README.md). This loop serves every model
and every assembler, because SNES does none of its special cases itself; they can only be
handed to it as callbacks that run the same code as here:

- the nodal-flux update (solvers/nodal_flux.py) is not u - J^-1 F: Krylov solves with
  A = J diag(1 - P^2)^-1 and ``recover_update`` moves w to exactly artanh(P - A^-1 F), or
  fails the step where that leaves |P| < 1. In SNES this is a line-search pre-check that
  rewrites the step; PETSc's line searches other than ``basic`` then measure slopes with A
  where J is meant, so the step must be taken as a full step;
- the halving of a step whose residual grows, with the lagged coefficients (f(Pbar),
  ``lagged``/``lag_tol``) refreshed after every move, and dolfinx_mpc's back-substitution of
  slave dofs after every move (``assembler.update``): petsc4py 3.22 has no line-search
  post-check, so this too has to live in the pre-check, which then does the line search
  itself and hands SNES the residual it assembled (SNES's own basic step W = X - Y would leave
  the slaves unsubstituted and assemble the residual a second time);
- the convergence test (atol, rtol, the rounding-error stop ``_at_roundoff``, the negligible
  update, the lagged-coefficient condition) and the CONVERGED_ATOL re-solve are a custom
  convergence test and more pre-check code; keeping the preconditioner over a step
  (``slowly_varying_jacobian``) needs ``-snes_lag_preconditioner`` through the options
  database (petsc4py 3.22 has no setter), and a kept preconditioner that fails can no longer
  be rebuilt once within the step (SNES ends the solve).

A prototype that does all of this (SNESSolver in benchmarks/bench_snes.py, tested equal to
this loop by tests/unit/test_snes.py on 1 and 2 ranks) gives the same time steps, Newton and
Krylov iterations and final states (equal to 1e-17) on every case measured: nuclear_diffusion
with speed-up global (nodal flux + lagged f), none, none periodic (nodal flux + dolfinx_mpc)
and quadrature flux periodic (MPCAssembler), the default periodic DNP cube at 27k DOFs and
onsager_fig8. It is never measurably faster: wall time of the time loop SNES/Newton (best of 2-3
alternating runs in one process) in the quietest run 1.07-1.08 on the 1.2k-DOF boxes (a
fixed ~30 us per Newton iteration for SNES's callbacks, copies and norms), 0.99 with the
dolfinx_mpc quadrature assembly, 1.00 on the 27k-DOF DNP cube (2.18 s both) and 1.04 on
onsager to t = 2 ms (PETSc's own ``bt`` line search: 1.06, the same full steps); in runs sharing the
machine with other jobs the ratios scatter between 0.74 and 1.35 without a sign. So moving to
SNES would gain no speed and no capability, and would split one loop into callbacks around
PETSc's: NewtonSolver stays for every model, and the prototype stays in the benchmark.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable

import dataclasses

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from fem_spin.errors import ModelError
from fem_spin.physics.observables import global_any

__all__ = ["petsc_options_checked", "NEWTON_DEFAULTS", "LINEAR_SOLVER_DEFAULTS", "DIRECT_SOLVE_MAX_DOFS",
           "NewtonResult", "Assembler", "DolfinxAssembler", "NewtonSolver", "linear_solver_options",
           "default_linear_solver_options", "RankOneCorrection"]

#: Newton settings; a run's [solver] table overrides them.
NEWTON_DEFAULTS = {
    "rtol": 1e-10,   # on the residual norm, relative to the first residual
    "atol": 1e-12,   # on the residual norm (models scale residuals to O(change of state))
    "max_iterations": 25,
    "max_backtracks": 6,  # halvings of a Newton update whose residual grows
    # update norm below stol * max(1, |u|): the residual is at round-off level (e.g. at a
    # steady state with a huge step) and cannot be reduced further
    "stol": 1e-13,
    # largest change of lagged coefficients (NewtonSolver.lagged) in the last iteration
    # for which the iteration counts as converged
    "lag_tol": 1e-12,
}

#: PETSc options of the linear solve; [solver].petsc_options adds to / overrides them.
#: GMRES (the Jacobian of the artanh formulation is not symmetric; CG instead when the
#: assembler hands Krylov a symmetric positive-definite operator) with block Jacobi /
#: ILU(0) (plain ILU(0) on one rank) is the default, chosen by measurement on the graded
#: DNP cube: 0.8 ms per solve at 1.5k DOFs and 8 ms at 9.3k DOFs, against 11 and 120 ms
#: for hypre BoomerAMG (its setup dominates at these sizes), 3 and 23 ms for GAMG and
#: 38 ms and 4.3 s for LU. ILU's iteration count grows with the mesh (10 -> 16 its here);
#: ILU is faster than algebraic multigrid up to the 392k DOFs measured (AMG 2.1-2.4x slower;
#: benchmarks/README.md section 2). The nodal-flux DNP solve on gmsh geometries also has a
#: geometric multigrid ([solver] preconditioner, solvers/multigrid.py) whose work per step
#: is linear in DOFs; on many ranks measure {pc_type = "hypre"} (3-D settings) or
#: {pc_type = "gamg"} for the other models.
#: Newton converges on the residual, so the Krylov tolerance only needs to be tight enough
#: not to slow it down. For a direct solve set
#: petsc_options = {ksp_type = "preonly", pc_type = "lu", pc_factor_mat_solver_type = "mumps"}.
LINEAR_SOLVER_DEFAULTS = {
    "ksp_type": "gmres",
    "ksp_rtol": 1e-10,
    "ksp_atol": 1e-14,
    "ksp_max_it": 500,
    "pc_type": "bjacobi",
}

#: Systems on 1-D meshes of at most this many unknowns are solved directly on one rank
#: unless [solver] petsc_options names the solver: a banded factorisation costs less than a
#: preconditioned Krylov solve, and an exact linear solve lets Newton finish a step that is
#: linear in its update (the nodal flux) in one iteration instead of two (radial DNP cell,
#: 50 unknowns: ~20 % less wall time per run). Not in 2-D/3-D, where the factors fill in:
#: a 717-unknown DNP cube stepped 20x slower with LU than with CG and ILU(0); and not on
#: several ranks, where MUMPS on a 1-D system is mostly communication (Onsager Fig. 8, 1200
#: unknowns on 2 ranks: 3x the wall time of GMRES with block Jacobi).
DIRECT_SOLVE_MAX_DOFS = 20000
DIRECT_SOLVER_OPTIONS = {"ksp_type": "preonly", "pc_type": "lu"}


def default_linear_solver_options(assembler: Assembler, comm: MPI.Comm, user: dict | None = None) -> dict:
    """The defaults under [solver] petsc_options (``user``) of a model's linear solve: the
    assembler's choice over LINEAR_SOLVER_DEFAULTS, or on one rank a direct solve for a 1-D
    system of at most DIRECT_SOLVE_MAX_DOFS unknowns, unless there is a multigrid hierarchy
    or the user names any ksp_*/pc_* option (a pc_type alone keeps the model's Krylov
    method, which "preonly" is not)."""
    defaults = {**LINEAR_SOLVER_DEFAULTS, **assembler.linear_solver_defaults}
    if defaults.get("pc_type") == "mg" or any(k.startswith(("ksp_", "pc_")) for k in (user or {})):
        return defaults
    u = getattr(assembler, "u", None)
    if comm.size > 1 or u is None or u.function_space.mesh.topology.dim != 1:
        return defaults
    probe = assembler.create_vector()
    size = probe.getSize()
    probe.destroy()
    return dict(DIRECT_SOLVER_OPTIONS) if size <= DIRECT_SOLVE_MAX_DOFS else defaults


class RankOneCorrection:
    """dx <- (A + a b^T)^{-1} F from dx = A^{-1} F by Sherman-Morrison, for an assembler that
    states a rank-one term (Assembler.rank_one_term; nothing otherwise), with one more solve
    A z = a using the operator and preconditioner of the Krylov solver at hand.

    ``refresh``: when z is solved for: every Newton iteration (exact Newton), once per step
    and reused by the step's later iterations (an inexact update that saves a Krylov solve
    per iteration), or never ("off": the coupling stays lagged, NewtonSolver.lagged).
    "auto" takes "iteration" for a direct solve (z is then a back-substitution) and "off"
    for a Krylov solve. Measured on the global speed-up (bdf, tolerance 1e-4): radial cell
    (direct) 3.3 -> 2.0 Newton iterations per step and ~25 % less wall time; DNP cube at
    9.4k DOFs (CG): 3.0 -> 2.4 iterations with "step" but 3-6 % more wall time (the extra
    Krylov solve costs what the saved iterations save), 20 % more with "iteration"."""

    def __init__(self, assembler: Assembler, refresh: str = "auto"):
        if refresh not in ("auto", "iteration", "step", "off"):
            raise ValueError(f"refresh must be 'auto', 'iteration', 'step' or 'off', not {refresh!r}")
        self.assembler, self.refresh = assembler, refresh
        self._z: PETSc.Vec | None = None
        self._solved = False

    def _policy(self, ksp: PETSc.KSP) -> str:
        if self.refresh != "auto":
            return self.refresh
        return "iteration" if ksp.getType() == PETSc.KSP.Type.PREONLY else "off"

    def exact(self, ksp: PETSc.KSP) -> bool:
        """Whether the update is the exact Newton update of the rank-one term (z solved
        every iteration) with this Krylov solver."""
        return self._policy(ksp) == "iteration"

    def start_step(self) -> None:
        """A new Newton solve: z must be solved for again."""
        self._solved = False

    def apply(self, ksp: PETSc.KSP, dx: PETSc.Vec) -> tuple[str | None, int]:
        """Correct dx in place; returns (failure reason or None, Krylov iterations)."""
        refresh = self._policy(ksp)
        term = self.assembler.rank_one_term() if refresh != "off" else None
        if term is None:
            return None, 0
        a, dot = term
        if self._z is None:
            self._z = dx.duplicate()
        its = 0
        if refresh == "iteration" or not self._solved:
            ksp.getPC().setReusePreconditioner(True)
            ksp.solve(a, self._z)
            its = ksp.getIterationNumber()
            reason = ksp.getConvergedReason()
            if reason < 0:
                return (f"linear solver failed on the rank-one term (KSP reason "
                        f"{_KSP_REASONS.get(reason, reason)})", its)
            self._solved = True
        denominator = 1.0 + dot(self._z)
        if not np.isfinite(denominator) or denominator == 0.0:
            return "singular rank-one update of the Jacobian", its
        dx.axpy(-dot(dx) / denominator, self._z)
        return None, its

    def destroy(self) -> None:
        if self._z is not None:
            self._z.destroy()
            self._z = None


def linear_solver_options(defaults: dict, user: dict) -> dict:
    """PETSc options of a model's linear solve: ``user`` ([solver].petsc_options) over the
    model's ``defaults``. Naming ``ksp_type`` hands over the whole linear solver (e.g.
    preonly + LU); a ``pc_type`` alone swaps the preconditioner and keeps the model's Krylov
    method and tolerances (its ``ksp_*`` defaults: PETSc's own GMRES at rtol 1e-5 would be
    a silent change of method and accuracy)."""
    if "ksp_type" in user:
        return dict(user)
    if "pc_type" in user:
        return {**{k: v for k, v in defaults.items() if k.startswith("ksp_")}, **user}
    return {**defaults, **user}


@contextlib.contextmanager
def petsc_options_checked():
    """A PETSc error while a solver reads its options (an unknown ``pc_type``, a bad value)
    becomes one :class:`~fem_spin.errors.ModelError` naming ``solver.petsc_options`` with
    PETSc's own reason; raised during setup, so before the run directory is created."""
    try:
        yield
    except PETSc.Error as exc:
        lines = [ln.split("] ", 1)[-1].strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = next((ln for ln in reversed(lines) if not ln.endswith(")") or " at " not in ln),
                      lines[-1] if lines else "error")
        raise ModelError(f"rejected by PETSc: {reason}", key="solver.petsc_options") from None


_SOLVER_COUNTER = itertools.count()
#: option keys of live solvers; removed at exit, so that PETSc's unused-options warning does
#: not fire for a solver that was built but never solved (its sub-preconditioner options are
#: read only at the first solve). Registered after petsc4py's own exit hook, so it runs first.
_LIVE_OPTION_KEYS: set[str] = set()


@atexit.register
def _clear_live_options() -> None:
    opts = PETSc.Options()
    for key in list(_LIVE_OPTION_KEYS):
        opts.delValue(key)
    _LIVE_OPTION_KEYS.clear()

_KSP_REASONS = {v: k for k, v in vars(PETSc.KSP.ConvergedReason).items() if isinstance(v, int)}
_PC_REASONS = {v: k for k, v in vars(PETSc.PC.FailedReason).items() if isinstance(v, int)}


@dataclasses.dataclass
class NewtonResult:
    converged: bool
    iterations: int
    linear_iterations: int
    residual_norm: float
    reason: str = ""


class Assembler(ABC):
    """Interface between Newton and a (constrained or plain) finite-element system.

    An assembler may hand Krylov a better-conditioned operator than the Jacobian itself
    (e.g. a symmetric positive-definite one, with ``linear_solver_defaults`` choosing CG);
    :meth:`recover_update` then turns the Krylov solution into the Newton update. With
    ``slowly_varying_jacobian`` the operator changes little between the Newton iterations of
    one solve, so the preconditioner built in the first iteration is kept for the others."""

    #: overrides of LINEAR_SOLVER_DEFAULTS suited to the operator this assembler builds
    linear_solver_defaults: dict = {}
    slowly_varying_jacobian = False

    @abstractmethod
    def residual(self, b: PETSc.Vec) -> None:
        ...

    @abstractmethod
    def jacobian(self, A: PETSc.Mat) -> None:
        ...

    @abstractmethod
    def create_matrix(self) -> PETSc.Mat:
        ...

    @abstractmethod
    def create_vector(self) -> PETSc.Vec:
        ...

    @abstractmethod
    def update(self, dx: PETSc.Vec) -> None:
        """u <- u - dx, then make ghosts (and constrained dofs) consistent."""
        ...

    def recover_update(self, dx: PETSc.Vec) -> str | None:
        """Turn the solution of the assembled linear system into the Newton update, in place
        (nothing to do when the assembled operator is the Jacobian); a returned reason (the
        same on every rank) fails the Newton solve."""
        return None

    def residual_floor(self) -> float:
        """An estimate of the rounding error in the residual norm at the current state: a
        residual below it counts as converged (Newton cannot reduce rounding error, and on
        fine meshes it can lie above an absolute tolerance). 0 by default."""
        return 0.0

    def rank_one_term(self) -> tuple[PETSc.Vec, Callable[[PETSc.Vec], float]] | None:
        """(a, dot) when the true Jacobian is the assembled operator plus the rank-one a b^T
        (b.x = dot(x)), e.g. a coefficient that depends on a global average of the unknown:
        Newton then takes the exact update by Sherman-Morrison, with one more solve with the
        same operator, instead of treating the coefficient as lagged. None by default."""
        return None

    def configure_preconditioner(self, pc: PETSc.PC) -> None:
        """Called after the Krylov solver reads its options: set up a preconditioner that
        needs more than options (e.g. a multigrid hierarchy). Nothing by default."""

    def update_preconditioner(self) -> None:
        """Called before each linear solve that rebuilds the preconditioner (not when it is
        kept over the Newton iterations of a step): refresh the data it is built from, e.g.
        coarse-level operators. Nothing by default."""

    def destroy(self) -> None:
        """Free PETSc objects the assembler owns (none by default)."""


class DolfinxAssembler(Assembler):
    """Plain dolfinx assembly of residual ``F(u; v)`` and Jacobian ``dF/du``."""

    def __init__(self, F, u, bcs=(), form_options: dict | None = None):
        import dolfinx.fem as fem
        import ufl

        self.u, self.bcs = u, list(bcs)
        opts = form_options or {}
        self.F = fem.form(F, form_compiler_options=opts.get("form_compiler_options"),
                          jit_options=opts.get("jit_options"))
        self.J = fem.form(ufl.derivative(F, u, ufl.TrialFunction(u.function_space)),
                          form_compiler_options=opts.get("form_compiler_options"),
                          jit_options=opts.get("jit_options"))

    def create_matrix(self):
        from dolfinx.fem.petsc import create_matrix

        return create_matrix(self.J)

    def create_vector(self):
        from dolfinx.fem.petsc import create_vector

        return create_vector(self.F)

    def residual(self, b):
        from dolfinx.fem.petsc import apply_lifting, assemble_vector, set_bc

        with b.localForm() as local:
            local.set(0.0)
        assemble_vector(b, self.F)
        apply_lifting(b, [self.J], [self.bcs], x0=[self.u.x.petsc_vec], alpha=-1.0)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        set_bc(b, self.bcs, self.u.x.petsc_vec, -1.0)

    def jacobian(self, A):
        from dolfinx.fem.petsc import assemble_matrix

        A.zeroEntries()
        assemble_matrix(A, self.J, bcs=self.bcs)
        A.assemble()

    def update(self, dx):
        self.u.x.petsc_vec.axpy(-1.0, dx)
        self.u.x.scatter_forward()


class NewtonSolver:
    """Newton iteration with backtracking and a residual-norm convergence test.

    ``lagged``, if set, is called after every update of u and refreshes coefficients the
    assembled operator leaves out (e.g. the global speed-up f(Pbar), which couples every
    dof to every other); it returns their change, and the iteration converges only once
    that change is below ``lag_tol``. This folds a fixed point on such coefficients into the
    Newton loop instead of repeating whole Newton solves around it; where the assembler
    states the coupling as a rank-one term (Assembler.rank_one_term) the update is the exact
    Newton update and the fixed point converges quadratically."""

    lagged = None
    _floor = None   # the residual's rounding floor in this solve (_at_roundoff)

    def __init__(self, assembler: Assembler, comm: MPI.Comm, settings: dict | None = None,
                 petsc_options: dict | None = None, prefix: str = "fem_spin_"):
        self.assembler, self.comm = assembler, comm
        self.settings = {**NEWTON_DEFAULTS, **(settings or {})}
        # A unique prefix per solver: PETSc's options database is global, and a prefix made
        # from id() could be reused by a later solver and hand it options it never set.
        self.prefix = f"{prefix}{next(_SOLVER_COUNTER)}_"
        opts = PETSc.Options()
        user = dict(petsc_options or {})
        options = linear_solver_options(default_linear_solver_options(assembler, comm, user), user)
        self._option_keys = []
        for key, value in options.items():
            opts[f"{self.prefix}{key}"] = value
            self._option_keys.append(f"{self.prefix}{key}")
        _LIVE_OPTION_KEYS.update(self._option_keys)
        self._create()

    def _create(self) -> None:
        self.rank_one = RankOneCorrection(self.assembler)
        self.A = self.assembler.create_matrix()
        self.b = self.assembler.create_vector()
        self.dx = self.b.duplicate()
        self.ksp = PETSc.KSP().create(self.comm)
        self.ksp.setOperators(self.A)
        self.ksp.setOptionsPrefix(self.prefix)
        with petsc_options_checked():
            self.ksp.setFromOptions()
            self.assembler.configure_preconditioner(self.ksp.getPC())
            self.A.setOptionsPrefix(self.prefix)
            self.A.setFromOptions()

    def _reset(self) -> None:
        self.destroy()
        self._create()

    def solve(self) -> NewtonResult:
        s = self.settings
        self._floor = None
        self.rank_one.start_step()
        linear_its = 0
        self.assembler.residual(self.b)
        r0 = self.b.norm()
        r = r0
        if not np.isfinite(r0):
            return NewtonResult(False, 0, 0, r0, "non-finite residual at the start of the step")
        lag_change = 0.0
        for it in range(1, s["max_iterations"] + 1):
            if lag_change <= s["lag_tol"] and (r <= s["atol"] or (it > 1 and self._at_roundoff(r, r0))):
                return NewtonResult(True, it - 1, linear_its, r)
            # (not for a direct solve: "preonly" would apply the old factors as if exact)
            reuse = (it > 1 and self.assembler.slowly_varying_jacobian
                     and self.ksp.getType() != PETSc.KSP.Type.PREONLY)
            failure, reason, its = self._newton_update(reuse)
            linear_its += its
            if failure:
                return NewtonResult(False, it, linear_its, r, failure)
            if reason == PETSc.KSP.ConvergedReason.CONVERGED_ATOL and self._negligible(self.dx):
                # The Krylov solver stopped on its absolute test, in its own (preconditioned)
                # norm, while Newton's residual is not converged: its dx may be truncated to
                # nothing, and a negligible update would pass as convergence at an unchanged
                # state. Solve again without the absolute test.
                failure, reason, its = self._newton_update(True, absolute_tolerance=0.0)
                linear_its += its
                if failure:
                    return NewtonResult(False, it, linear_its, r, failure)
            if self._negligible(self.dx):
                self.assembler.update(self.dx)
                lag_change = self._refresh_lagged()
                if lag_change <= s["lag_tol"]:
                    return NewtonResult(True, it, linear_its, r)
                self.assembler.residual(self.b)
                r = self.b.norm()
                continue
            # Backtracking: halve the update while the residual grows (or is NaN).
            r_old = r
            self.assembler.update(self.dx)
            lag_change = self._refresh_lagged()
            for k in range(s["max_backtracks"] + 1):
                self.assembler.residual(self.b)
                r = self.b.norm()
                if (np.isfinite(r) and r < r_old) or k == s["max_backtracks"]:
                    break
                self.dx.scale(-0.5)
                self.assembler.update(self.dx)   # u <- u + dx/2: back to half the last step
                self.dx.scale(-1.0)
                lag_change = self._refresh_lagged()
            if not np.isfinite(r):
                return NewtonResult(False, it, linear_its, r, "non-finite residual (NaN/Inf)")
            if (r <= s["atol"] or r <= s["rtol"] * r0 or self._at_roundoff(r, r0)) \
                    and lag_change <= s["lag_tol"]:
                return NewtonResult(True, it, linear_its, r)
        return NewtonResult(False, s["max_iterations"], linear_its, r,
                            f"no convergence in {s['max_iterations']} Newton iterations "
                            f"(residual {r:.3e}, started at {r0:.3e})")

    def _at_roundoff(self, r: float, r0: float) -> bool:
        """The residual is down to its rounding error (the assembler's estimate), which on
        fine meshes can exceed atol and rtol * r0 (DNP cube, 392k DOFs: stagnation at
        ~1e-12 with atol 1e-12, 25 wasted iterations and a halved step each time). Whatever
        the first residual was: near a steady state r0 itself is tiny, and a test relative to
        it (this once also asked r <= 1e-6 r0) made Newton iterate below the floor, fail and
        halve the step over and over (issue 20: 1,087 rejected steps on a radial cell).
        ``r0`` is kept for assemblers whose floor estimate is costly to skip it early. The
        floor is estimated once per solve: it scales with the size of the residual's terms,
        which one step changes little."""
        if self._floor is None:
            self._floor = self.assembler.residual_floor()
        return r <= self._floor

    def _negligible(self, dx: PETSc.Vec) -> bool:
        """The update is below stol * max(1, |u|): the residual is at round-off level."""
        return dx.norm() <= self.settings["stol"] * max(1.0, self.assembler.u.x.petsc_vec.norm())

    def _newton_update(self, reuse_preconditioner: bool, absolute_tolerance: float | None = None
                       ) -> tuple[str | None, int | None, int]:
        """Solve J dx = F (A dx = F for assemblers with ``recover_update``) and turn dx into
        the update of u; returns (failure reason or None, KSP converged reason, Krylov
        iterations). A kept preconditioner that fails is rebuilt once."""
        reason, its = self._attempt_linear_solve(reuse_preconditioner, absolute_tolerance)
        if reuse_preconditioner and not (isinstance(reason, int) and reason > 0):
            reason, more = self._attempt_linear_solve(False, absolute_tolerance)
            its += more
        if isinstance(reason, str):
            return f"linear solver error: {reason}", None, its
        if reason < 0:
            failure = f"linear solver failed: {self._describe_failure(reason)}"
            self._reset()  # a failed factorisation must not linger into the retry
            return failure, reason, its
        failure, more = self._rank_one_correction()
        its += more
        if failure is not None:
            return failure, reason, its
        return self.assembler.recover_update(self.dx), reason, its

    def _rank_one_correction(self) -> tuple[str | None, int]:
        return self.rank_one.apply(self.ksp, self.dx)

    def _describe_failure(self, reason: int) -> str:
        text = str(_KSP_REASONS.get(reason, reason))
        if reason == PETSc.KSP.ConvergedReason.DIVERGED_PCSETUP_FAILED:
            try:
                pc_reason = self.ksp.getPC().getFailedReason()
                text += f" (preconditioner: {_PC_REASONS.get(pc_reason, pc_reason)})"
            except (AttributeError, PETSc.Error):
                pass
        return text

    def _attempt_linear_solve(self, reuse_preconditioner: bool,
                              absolute_tolerance: float | None = None) -> tuple[int | str, int]:
        """:meth:`_linear_solve`, with a PETSc error (e.g. the factorisation of a singular
        matrix) on any rank returned on every rank as its message in place of the converged
        reason; ``absolute_tolerance`` replaces the Krylov atol for this solve only."""
        saved = self.ksp.getTolerances()
        if absolute_tolerance is not None:
            self.ksp.setTolerances(atol=absolute_tolerance)
        error = None
        try:
            reason, its = self._linear_solve(reuse_preconditioner)
        except PETSc.Error as exc:
            error, reason, its = exc, 0, 0
        finally:
            if absolute_tolerance is not None:
                self.ksp.setTolerances(*saved)
        if global_any(self.comm, error is not None):
            # PETSc leaves vectors locked after an error: new objects, on every rank together,
            # and the residual again (the new right-hand side is zero)
            self._reset()
            self.assembler.residual(self.b)
            if error is None:
                return "PETSc error on another rank", 0
            detail = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), "")
            return f"PETSc error code {error.ierr}" + (f": {detail}" if detail else ""), 0
        return reason, its

    def _linear_solve(self, reuse_preconditioner: bool) -> tuple[int, int]:
        """Assemble the operator and solve with it (dx: before recover_update); returns the
        KSP converged reason and the Krylov iterations."""
        self.assembler.jacobian(self.A)
        if not reuse_preconditioner:
            self.assembler.update_preconditioner()
        self.ksp.getPC().setReusePreconditioner(reuse_preconditioner)
        self.ksp.solve(self.b, self.dx)
        return self.ksp.getConvergedReason(), self.ksp.getIterationNumber()

    def _refresh_lagged(self) -> float:
        return float(self.lagged()) if self.lagged is not None else 0.0

    def destroy(self) -> None:
        for obj in (self.ksp, self.A, self.b, self.dx, self.rank_one):
            obj.destroy()

    def clear_options(self) -> None:
        """Remove this solver's entries from PETSc's global options database."""
        opts = PETSc.Options()
        for key in self._option_keys:
            opts.delValue(key)
        _LIVE_OPTION_KEYS.difference_update(self._option_keys)
        self._option_keys = []
