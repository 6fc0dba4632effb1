r"""Newton assembly for transport written on nodal values of a bounded variable.

For the speed-up modes ``none`` and ``global`` the nuclear-diffusion residual
(physics.md 1.1) of one implicit step in w = artanh(P) (backward Euler, or BDF2 with its
P_old and implicit step, solvers/schemes.py) is, with every term but the flux
lumped on the nodes,

.. math::

    F_i(w) = s\,\big[m_i (P_i - P^n_i) + \Delta t\,(f\,K P + r \circ (P - P_\mathrm{eq})
             - q \circ (P_e - P))_i\big], \qquad P_i = \tanh w_i,

where :math:`K_{ij} = \int \omega\, D_0 \nabla\phi_j\cdot\nabla\phi_i` is the stiffness of
the interpolated polarization :math:`\sum_j P_j \phi_j` (the "group" finite-element
flux), m, r and q the lumped capacity, relaxation and source vectors and f the speed-up
factor. K, m, r and q are assembled once; a Newton iteration only forms

.. math::  J = A\,\mathrm{diag}(1 - P^2), \qquad
           A = s\,[\mathrm{diag}(m + \Delta t\,r + \Delta t\,q) + \Delta t f K]

from them, with no finite-element assembly, which makes a step several times cheaper
than assembling the Jacobian of the quadrature form. Krylov solves with A, which is
symmetric positive definite (conjugate gradients) and within one time step changes only
through f (so its preconditioner is kept over the Newton iterations of a step).
:math:`\delta P = A^{-1} F` is the Newton update of P itself, and as F is linear in P for
fixed f, w moves to exactly :math:`\operatorname{artanh}(P - \delta P)`: one iteration
solves the step (the global speed-up adds the iterations of its fixed point on f), where
Newton on w took three or four. On the 40 mM DNP cube this more than halves the cost of a
step against GMRES on J. K has zero column sums, so the
total polarization is conserved exactly as before, and the discretisation stays second
order. With a dolfinx_mpc constraint (periodic cells) everything is assembled in the
constrained space; slave rows carry the constraint's unit diagonal and a zero residual.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from fem_spin.physics.observables import global_any, global_sum
from fem_spin.solvers.newton import Assembler

__all__ = ["NodalFluxAssembler", "P_LIMIT"]

#: largest |P| a Newton update may reach (artanh(P_LIMIT) = 14.2 stays well resolved)
P_LIMIT = 1.0 - 1e-12


class NodalFluxAssembler(Assembler):
    """Residual and Jacobian of the module docstring for ``u`` = w on a P1 space.

    ``stiffness``: bilinear UFL form of K; ``capacity``, ``relaxation``, ``source``: linear
    UFL forms of m, r (times R1) and q (times the source rate and share), the last two
    optional; ``capacity_old``: the time scheme's nodal P_old (a Function of u's space:
    P^n for backward Euler, a combination of P^n and P^{n-1} for BDF2); ``coefficients``: callable returning
    (s, dt, f, P_eq, P_e) at call time."""

    #: A is symmetric positive definite: CG. The Krylov tolerance is a forcing term, not the
    #: accuracy (Newton's residual test is): 1e-6 keeps the iteration count of a step (the
    #: global speed-up's fixed point needs 2-3 iterations anyway) at a third fewer Krylov
    #: iterations than 1e-10 (DNP cube, 119k DOFs: 38 s instead of 51 s, same result)
    #: A positive-definite shift guards the incomplete factorisation, whose pivots can turn
    #: negative where K is not an M-matrix (obtuse tetrahedra) and CG needs an SPD
    #: preconditioner; it acts only on such pivots.
    linear_solver_defaults = {"ksp_type": "cg", "ksp_rtol": 1e-6,
                              "sub_pc_factor_shift_type": "positive_definite"}
    slowly_varying_jacobian = True  # A changes only through f within a step
    #: with a geometric multigrid hierarchy (solvers/multigrid.py): CG preconditioned by a
    #: V-cycle with one forward SOR sweep before and one backward sweep after the coarse
    #: correction (a symmetric cycle, as CG needs), the cheapest smoothing that keeps the
    #: Krylov iterations nearly independent of the mesh (DNP cube, 27k / 119k / 392k DOFs:
    #: 4.1 / 4.4 / 4.7 per Newton iteration, against ILU(0)'s 7.8 / 12.2 / 16.6 at the same
    #: tolerance; benchmarks/README.md section 2)
    multigrid_solver_defaults = {"ksp_type": "cg", "ksp_rtol": 1e-4, "pc_type": "mg",
                                 "pc_mg_distinct_smoothup": "",
                                 "mg_levels_ksp_type": "richardson", "mg_levels_ksp_max_it": 1,
                                 "mg_levels_pc_type": "sor", "mg_levels_pc_sor_local_forward": "",
                                 "mg_levels_up_ksp_type": "richardson", "mg_levels_up_ksp_max_it": 1,
                                 "mg_levels_up_pc_type": "sor", "mg_levels_up_pc_sor_local_backward": ""}
    multigrid = None
    _abs_row_sums = None
    _speedup_slope = None

    def __init__(self, u, capacity_old, stiffness, capacity, relaxation, source, coefficients, mpc=None):
        import dolfinx.fem as fem

        self.u, self.capacity_old, self.mpc, self.coefficients = u, capacity_old, mpc, coefficients
        self.n_owned = u.function_space.dofmap.index_map.size_local
        self.K = self._matrix(fem.form(stiffness))
        self.m = self._vector(fem.form(capacity))
        self.r = self._vector(fem.form(relaxation)) if relaxation is not None else None
        self.q = self._vector(fem.form(source)) if source is not None else None
        self.P, self.P_n, self.work = self.m.duplicate(), self.m.duplicate(), self.m.duplicate()
        self.slaves = np.zeros(0, dtype=np.int32)
        if mpc is not None:
            self.u_mpc = fem.Function(mpc.function_space)
            slaves = np.asarray(mpc.slaves, dtype=np.int32)
            self.slaves = slaves[slaves < self.n_owned]

    def set_global_speedup(self, slope: Callable[[], float], mean: Callable[[np.ndarray], float]) -> None:
        """f = f(Pbar) of the new state (the global speed-up): the Jacobian in P is then
        A + s dt f'(Pbar) (K P) (dPbar/dP)^T, whose rank-one part Newton takes exactly
        (:meth:`rank_one_term`) instead of iterating on a lagged f (3.5 Newton iterations per
        step on the radial cell at tolerance 1e-4, against ~2). ``slope()``: f'(Pbar) at the
        current state; ``mean(values)``: Pbar of owned nodal values (with periodic slaves)."""
        self._speedup_slope, self._mean = slope, mean
        self._rank_one = self.m.duplicate()

    def owned_values(self, x: PETSc.Vec) -> np.ndarray:
        """Owned values of x, with periodic slaves recovered from their masters."""
        if self.mpc is None:
            return x.array_r[: self.n_owned].copy()
        self.u_mpc.x.array[: self.n_owned] = x.array_r[: self.n_owned]
        self.u_mpc.x.scatter_forward()
        self.mpc.backsubstitution(self.u_mpc)
        return self.u_mpc.x.array[: self.n_owned].copy()

    def attach_multigrid(self, multigrid) -> None:
        """Precondition with ``multigrid`` (a solvers.multigrid.GeometricMultigrid on this
        space): its coarse operators are the Galerkin products of the three parts of A."""
        diagonal = self.m.duplicate()
        diagonal.zeroEntries()
        for part in (self.r, self.q):
            if part is not None:
                diagonal.axpy(1.0, part)
        multigrid.set_components({"stiffness": self.K, "capacity": self.m, "rates": diagonal})
        diagonal.destroy()
        self.multigrid = multigrid
        self.linear_solver_defaults = self.multigrid_solver_defaults

    # ------------------------------------------------------------------ assembly (once)
    def _matrix(self, form):
        if self.mpc is not None:
            import dolfinx_mpc

            A = dolfinx_mpc.assemble_matrix(form, self.mpc, bcs=[], diagval=1.0)
        else:
            from dolfinx.fem.petsc import assemble_matrix

            A = assemble_matrix(form)
        A.assemble()
        return A

    def _vector(self, form):
        if self.mpc is not None:
            import dolfinx_mpc

            b = dolfinx_mpc.assemble_vector(form, self.mpc)
        else:
            from dolfinx.fem.petsc import assemble_vector

            b = assemble_vector(form)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        return b

    def _load(self, target: PETSc.Vec, w: np.ndarray) -> np.ndarray:
        """target <- tanh(w) on the owned dofs; returns the owned P."""
        P = np.tanh(w[: self.n_owned])
        target.array_w[: self.n_owned] = P
        return P

    # ------------------------------------------------------------------ Assembler
    def create_matrix(self):
        return self.K.duplicate(copy=False)

    def create_vector(self):
        return self.m.duplicate()

    def residual(self, b):
        scale, dt, f, P_eq, P_e = self.coefficients()
        self._load(self.P, self.u.x.array)
        self.P_n.array_w[: self.n_owned] = self.capacity_old.x.array[: self.n_owned]
        self.K.mult(self.P, b)                       # K P
        b.scale(dt * f)
        self.work.waxpy(-1.0, self.P_n, self.P)      # P - P_n
        bw, m, P, work = b.array_w, self.m.array_r, self.P.array_r, self.work.array_r
        bw += m * work
        if self.r is not None:
            bw += dt * self.r.array_r * (P - P_eq)
        if self.q is not None:
            bw -= dt * self.q.array_r * (P_e - P)
        bw *= scale
        if self.slaves.size:
            bw[self.slaves] = 0.0

    #: round-off floor of the residual norm, in machine epsilons times the norm of the sum of
    #: the magnitudes of its terms (a row of K sums ~15 products; measured stagnation on the
    #: DNP cube at 392k DOFs: 1-4 of these units)
    ROUNDOFF_UNITS = 16.0

    def residual_floor(self) -> float:
        """The norm below which the residual is rounding error: the Newton iteration
        stagnates there (its backtracking cannot reduce it). With K's absolute row sums k
        the floor is ROUNDOFF_UNITS eps |s (m(|P| + |P_n|) + dt f k + dt r(|P| + |P_eq|)
        + dt q(|P_e| + |P|))|_2 (|P| < 1 bounds the K P products)."""
        scale, dt, f, P_eq, P_e = self.coefficients()
        if self._abs_row_sums is None:
            indptr, _, values = self.K.getValuesCSR()
            sums = np.add.reduceat(np.abs(values), indptr[:-1]) if values.size else np.zeros(0)
            sums[np.diff(indptr) == 0] = 0.0
            self._abs_row_sums = sums[: self.n_owned]
        n = self.n_owned
        P = np.abs(np.tanh(self.u.x.array[:n]))
        P_n = np.abs(self.capacity_old.x.array[:n])
        terms = self.m.array_r[:n] * (P + P_n) + dt * f * self._abs_row_sums
        if self.r is not None:
            terms = terms + dt * self.r.array_r[:n] * (P + abs(P_eq))
        if self.q is not None:
            terms = terms + dt * self.q.array_r[:n] * (P + abs(P_e))
        # periodic slave rows are zero in the residual (their unit diagonal in K is no term of
        # it): counted, they put the floor ~1e13 above the residual on periodic cells, and
        # Newton then always stopped at 1e-6 of the initial residual
        terms[self.slaves] = 0.0
        local = float(np.dot(terms, terms)) * scale * scale
        comm = self.u.function_space.mesh.comm
        return self.ROUNDOFF_UNITS * np.finfo(float).eps * float(np.sqrt(global_sum(comm, local)))

    def jacobian(self, A):
        scale, dt, f, _, _ = self.coefficients()
        self.K.copy(A, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        A.scale(dt * f)
        diag = self.work
        d = diag.array_w
        d[:] = self.m.array_r
        if self.r is not None:
            d += dt * self.r.array_r
        if self.q is not None:
            d += dt * self.q.array_r
        A.setDiagonal(diag, addv=PETSc.InsertMode.ADD_VALUES)
        A.scale(scale)
        A.assemble()

    def rank_one_term(self):
        if self._speedup_slope is None:
            return None
        slope = self._speedup_slope()
        if slope == 0.0:
            return None
        scale, dt, _, _, _ = self.coefficients()
        self._load(self.P, self.u.x.array)
        self.K.mult(self.P, self._rank_one)
        self._rank_one.scale(scale * dt * slope)
        if self.slaves.size:
            self._rank_one.array_w[self.slaves] = 0.0
        return self._rank_one, lambda x: self._mean(self.owned_values(x))

    def configure_preconditioner(self, pc) -> None:
        if self.multigrid is not None and pc.getType() == PETSc.PC.Type.MG:
            self.multigrid.configure(pc)

    def update_preconditioner(self) -> None:
        if self.multigrid is not None:
            scale, dt, f, _, _ = self.coefficients()
            self.multigrid.update({"stiffness": scale * dt * f, "capacity": scale, "rates": scale * dt})

    def recover_update(self, dx) -> str | None:
        """dx = A^{-1} F on entry: the Newton update of P itself, since J = A dP/dw and the
        residual is linear in P (for fixed f). On exit the w update that lands exactly on
        P - dx. Where P - dx leaves (-1, 1) the linear system has no |P| < 1 solution at
        this step: the Newton solve fails (and the step is retried smaller) instead of
        dividing by a vanishing 1 - P^2."""
        n = self.n_owned
        w = self.u.x.array[:n]
        target = np.tanh(w) - dx.array_r[:n]
        outside = bool(np.any(np.abs(target) > P_LIMIT)) if n else False
        comm = self.u.function_space.mesh.comm
        if global_any(comm, outside):
            return (f"the linear step puts |P| >= 1 (max |P| = "
                    f"{comm.allreduce(float(np.max(np.abs(target), initial=0.0)), op=MPI.MAX):.6g}): "
                    f"no bounded solution at this step size")
        dx.array_w[:n] = w - np.arctanh(target)
        return None

    def update(self, dx):
        if self.mpc is None:
            self.u.x.petsc_vec.axpy(-1.0, dx)
            self.u.x.scatter_forward()
            return
        from fem_spin.solvers.periodic import constrained_update

        constrained_update(self.u, self.u_mpc, self.mpc, dx)

    def destroy(self) -> None:
        for obj in (self.K, self.m, self.P, self.P_n, self.work, self.r, self.q,
                    getattr(self, "_rank_one", None)):
            if obj is not None:
                obj.destroy()
        if self.multigrid is not None:
            self.multigrid.destroy()


class NodalFluxTangent:
    """Forward sensitivities of the nodal-flux residual (module docstring; the general
    method: :mod:`fem_spin.solvers.sensitivity`) with respect to parameters entering it through
    the assembled pieces. Each parameter is given as ``(kind, c)``:

    ========================  ====================================  ==================
    kind                      dF/dp (times s; P at the new state)   e.g.
    ========================  ====================================  ==================
    ``stiffness``             c dt f K P                            D0 (c = 1/D0)
    ``relaxation``            c dt m (P - P_eq)                     R1 (c = 1)
    ``equilibrium``           -c dt r                               P_eq (c = 1)
    ``source_rate``           c dt q (P - P_e)                      k_x (c = 1/k_x)
    ``source_polarization``   -c dt q                               P_e (c = 1)
    ``none``                  0                                     a pulse's p_x
    ========================  ====================================  ==================

    (``none``: a parameter acting only through events, whose derivative the model's
    :meth:`~fem_spin.solvers.sensitivity.TangentLinear.jump` carries.)

    The step's Jacobian with respect to P is the assembler's A (the residual is linear in P
    for fixed f). With the global speed-up f = f(Pbar^{n+1}) depends on the new state too:
    the full Jacobian is A + s dt f'(Pbar) (K P) (m/V)^T, a rank-one update of A, solved by
    Sherman-Morrison with one more solve with A per step (shared by all parameters).
    ``speedup_slope``: callable giving f'(Pbar) at the current state (global mode), or None.
    The linear solves are direct (LU) on one rank, CG to 1e-13 otherwise."""

    def __init__(self, assembler: NodalFluxAssembler, kinds: list[tuple[str, float]], statistics,
                 speedup_slope=None):
        self.a, self.kinds, self.statistics = assembler, list(kinds), statistics
        self.speedup_slope = speedup_slope
        self.n = assembler.n_owned
        comm = assembler.u.function_space.mesh.comm
        self.A = assembler.create_matrix()
        self.rhs, self.x, self.KP = assembler.create_vector(), assembler.create_vector(), assembler.create_vector()
        self.Pvec, self.z = assembler.create_vector(), assembler.create_vector()
        self.ksp = PETSc.KSP().create(comm)
        self.ksp.setOperators(self.A)
        pc = self.ksp.getPC()
        if comm.size == 1:
            self.ksp.setType("preonly")
            pc.setType("lu")
        else:
            self.ksp.setType("cg")
            pc.setType("bjacobi")
            self.ksp.setTolerances(rtol=1e-13, atol=0.0, max_it=10000)

    def full(self, x: PETSc.Vec) -> np.ndarray:
        """Owned values with periodic slaves recovered from their masters."""
        return self.a.owned_values(x)

    def mean(self, values: np.ndarray) -> float:
        return self.statistics.total(values) / self.statistics.volume

    def _solve(self, b: PETSc.Vec, x: PETSc.Vec) -> None:
        if self.a.slaves.size:
            b.array_w[self.a.slaves] = 0.0
        self.ksp.solve(b, x)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            from fem_spin.solvers.timestepping import SimulationFailed

            raise SimulationFailed(f"the tangent linear solve failed (KSP reason {reason})")

    def solve(self, dt: float, combined: list[np.ndarray]) -> list[np.ndarray]:
        a = self.a
        scale, _, f, P_eq, P_e = a.coefficients()
        n = self.n
        P = a._load(self.Pvec, a.u.x.array)
        a.K.mult(self.Pvec, self.KP)
        KP = self.KP.array_r[:n]
        m = a.m.array_r[:n]
        r = a.r.array_r[:n] if a.r is not None else np.zeros(n)
        q = a.q.array_r[:n] if a.q is not None else np.zeros(n)
        a.jacobian(self.A)
        self.ksp.setOperators(self.A)     # a new operator: factorised again
        slope = self.speedup_slope() if self.speedup_slope is not None else 0.0
        z_phi = None
        if slope:
            self.rhs.array_w[:n] = scale * dt * slope * KP
            self._solve(self.rhs, self.z)
            z_phi = self.mean(self.full(self.z))
        out = []
        for (kind, c), hist in zip(self.kinds, combined):
            if kind == "stiffness":
                dF = c * dt * f * KP
            elif kind == "relaxation":
                dF = c * dt * m * (P - P_eq)
            elif kind == "equilibrium":
                dF = -c * dt * r
            elif kind == "source_rate":
                dF = c * dt * q * (P - P_e)
            elif kind == "source_polarization":
                dF = -c * dt * q
            elif kind == "none":
                dF = np.zeros(n)
            else:
                raise ValueError(f"unknown parameter kind {kind!r}")
            self.rhs.array_w[:n] = scale * (m * hist - dF)
            self._solve(self.rhs, self.x)
            if z_phi is not None:
                y_phi = self.mean(self.full(self.x))
                self.x.axpy(-y_phi / (1.0 + z_phi), self.z)
            out.append(self.full(self.x))
        return out

    def destroy(self) -> None:
        for obj in (self.ksp, self.A, self.rhs, self.x, self.KP, self.Pvec, self.z):
            obj.destroy()
