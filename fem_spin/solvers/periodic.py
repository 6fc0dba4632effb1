"""Periodic boundary conditions with dolfinx_mpc, inside the shared Newton loop.

dolfinx_mpc 0.9 has a LinearProblem only, so the constrained Newton step is assembled
here: residual and Jacobian by dolfinx_mpc's constrained assembly, the update followed
by back-substitution of the slave dofs. The unknown stays a Function on the ordinary
space V (so forms and outputs need no special handling); its owned values are copied
through a Function on ``mpc.function_space`` whose ghost layout contains the masters.

All periodic directions are imposed by one geometric constraint whose relation maps
every coordinate on an upper face to the lower face at once. A dof on an edge or corner
(upper face in two or three directions) is then tied directly to the one corner/edge
dof that is on no upper face, so no slave has a slave as master (the corner problem of
applying one direction after the other).
"""

from __future__ import annotations

import numpy as np
from petsc4py import PETSc

from fem_spin.solvers.newton import Assembler

__all__ = ["periodic_constraint", "MPCAssembler", "constrained_update"]


def periodic_constraint(V, lower, upper, axes=(0, 1, 2)):
    """A finalised MultiPointConstraint making V periodic along ``axes`` of the box."""
    import dolfinx_mpc

    # dolfinx_mpc locates the images of slave points with absolute geometric tolerances,
    # which on nanometre cells (coordinates ~1e-9 m) pick neighbouring cells and produce
    # interpolated (4-master) constraints that differ between rank counts. The constraint
    # is therefore built on the mesh scaled to the unit box and the mesh is scaled back;
    # coefficients are scale-free.
    scale = float(np.max(np.asarray(upper, float) - np.asarray(lower, float)))
    lower, upper = np.asarray(lower, float) / scale, np.asarray(upper, float) / scale
    tol = 1e-8

    def on_upper(x):
        hit = np.zeros(x.shape[1], dtype=bool)
        for a in axes:
            hit |= np.isclose(x[a], upper[a], atol=tol, rtol=0)
        return hit

    def to_lower(x):
        out = x.copy()
        for a in axes:
            at = np.isclose(x[a], upper[a], atol=tol, rtol=0)
            out[a] = np.where(at, lower[a], x[a])
        return out

    geometry = V.mesh.geometry.x
    geometry /= scale
    try:
        mpc = dolfinx_mpc.MultiPointConstraint(V)
        mpc.create_periodic_constraint_geometrical(V, on_upper, to_lower, [])
        mpc.finalize()
    finally:
        geometry *= scale
    return mpc


class MPCAssembler(Assembler):
    """Constrained residual/Jacobian assembly for Newton (see module docstring).

    Periodic cells have no Dirichlet conditions; ``bcs`` are applied to the Jacobian only,
    so a model that adds Dirichlet data must also lift the residual (not needed yet)."""

    def __init__(self, F, u, mpc, bcs=()):
        import dolfinx.fem as fem
        import ufl

        self.u, self.mpc, self.bcs = u, mpc, list(bcs)
        self.F = fem.form(F)
        self.J = fem.form(ufl.derivative(F, u, ufl.TrialFunction(u.function_space)))
        self.u_mpc = fem.Function(mpc.function_space)

    def create_matrix(self):
        import dolfinx_mpc

        return dolfinx_mpc.cpp.mpc.create_matrix(self.J._cpp_object, self.mpc._cpp_object)

    def create_vector(self):
        import dolfinx.la

        space = self.mpc.function_space
        return dolfinx.la.create_petsc_vector(space.dofmap.index_map, space.dofmap.index_map_bs)

    def residual(self, b):
        import dolfinx_mpc

        with b.localForm() as local:
            local.set(0.0)
        dolfinx_mpc.assemble_vector(self.F, self.mpc, b=b)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)

    def jacobian(self, A):
        import dolfinx_mpc

        A.zeroEntries()
        dolfinx_mpc.assemble_matrix(self.J, self.mpc, bcs=self.bcs, A=A)
        A.assemble()

    def update(self, dx):
        constrained_update(self.u, self.u_mpc, self.mpc, dx)


def constrained_update(u, u_mpc, mpc, dx) -> None:
    """u <- u - dx in the constrained space, slaves recovered from their masters (the owned
    dofs of V and of the constraint's space coincide; only the ghosts differ)."""
    n = len(u.x.petsc_vec.array_r)
    u_mpc.x.array[:n] = u.x.array[:n]
    u_mpc.x.petsc_vec.axpy(-1.0, dx)
    u_mpc.x.scatter_forward()
    mpc.homogenize(u_mpc)
    mpc.backsubstitution(u_mpc)
    u.x.array[:n] = u_mpc.x.array[:n]
    u.x.scatter_forward()
