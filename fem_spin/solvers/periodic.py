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
from mpi4py import MPI
from petsc4py import PETSc

from fem_spin.solvers.newton import Assembler

__all__ = ["periodic_constraint", "MPCAssembler", "constrained_update"]


def periodic_constraint(V, lower, upper, axes=(0, 1, 2), cache: bool = True):
    """A finalised MultiPointConstraint making V periodic along ``axes`` of the box.

    With ``cache`` and the mesh cache enabled (geometry/mesh_cache.py) the constraint's
    arrays (slaves, masters, coefficients, owners, offsets of every rank) are read from /
    stored in the cache under the SHA-256 of every rank's mesh and dof layout (coordinates,
    cell-node and cell-dof maps, global numbering, ghost owners), the box and the
    dolfinx_mpc version: a run of the same mesh on the same partition skips dolfinx_mpc's
    geometric search, and any other mesh or partition is a different key."""
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

    key = _constraint_key(V, lower, upper, axes, tol) if cache else None
    cached = _load_constraint(V.mesh.comm, key) if key is not None else None
    geometry = V.mesh.geometry.x
    # scaled and scaled back also when cached: the round trip can change the last bit of a
    # coordinate, and a cached run must see the same mesh as an uncached one
    geometry /= scale
    try:
        mpc = dolfinx_mpc.MultiPointConstraint(V)
        if cached is None:
            mpc.create_periodic_constraint_geometrical(V, on_upper, to_lower, [])
            # what finalize() consumes (it deletes these attributes)
            computed = tuple(np.array(getattr(mpc, f"_{name}"), dtype=dtype)
                             for name, dtype in _CONSTRAINT_FIELDS)
        else:
            mpc.add_constraint(V, *cached)
        mpc.finalize()
    finally:
        geometry *= scale
    if key is not None and cached is None:
        _store_constraint(V.mesh.comm, key, computed)
    return mpc


_CONSTRAINT_FIELDS = (("slaves", np.int32), ("masters", np.int64), ("coeffs", np.float64),
                      ("owners", np.int32), ("offsets", np.int32))


def _constraint_key(V, lower, upper, axes, tol) -> str | None:
    """The cache key of V's periodic constraint (None: the cache is off). Collective."""
    from fem_spin.geometry import mesh_cache

    comm = V.mesh.comm
    if not comm.allreduce(mesh_cache.enabled(), op=MPI.LAND):
        return None
    import importlib.metadata

    try:
        mpc_version = importlib.metadata.version("dolfinx_mpc")
    except importlib.metadata.PackageNotFoundError:
        mpc_version = "unknown"
    mesh = V.mesh
    imap = V.dofmap.index_map
    cmap = mesh.topology.index_map(mesh.topology.dim)
    local = mesh_cache.array_digest(
        mesh.geometry.x, mesh.geometry.dofmap, V.dofmap.list,
        np.asarray(imap.local_range, dtype=np.int64), imap.ghosts, imap.owners,
        np.asarray([imap.size_global, V.dofmap.index_map_bs], dtype=np.int64),
        cmap.ghosts, cmap.owners, np.asarray(mesh.topology.original_cell_index, dtype=np.int64))
    digests = comm.allgather(local)
    description = {"lower": np.asarray(lower, float).tolist(), "upper": np.asarray(upper, float).tolist(),
                   "axes": [int(a) for a in axes], "tol": tol, "element": repr(V.ufl_element()),
                   "dolfinx_mpc": mpc_version}
    return mesh_cache.content_key("periodic-constraint", description, digests, modules=(__name__,))


def _load_constraint(comm, key):
    """This rank's (slaves, masters, coeffs, owners, offsets) from the cache, or None on every
    rank when any rank's part is missing. Rank 0 reads, every rank gets its own part."""
    from fem_spin.geometry import mesh_cache

    parts = None
    if comm.rank == 0:
        found = mesh_cache.load(key)
        if found is not None:
            arrays, meta = found
            names = {f"{name}{r}" for r in range(comm.size) for name, _ in _CONSTRAINT_FIELDS}
            if int(meta.get("ranks", -1)) == comm.size and set(arrays) == names:
                parts = [tuple(arrays[f"{name}{r}"].astype(dtype, copy=False)
                               for name, dtype in _CONSTRAINT_FIELDS) for r in range(comm.size)]
    ok = comm.bcast(parts is not None, root=0)
    if not ok:
        return None
    return comm.scatter(parts, root=0)


def _store_constraint(comm, key, mine) -> None:
    from fem_spin.geometry import mesh_cache

    parts = comm.gather(mine, root=0)
    if comm.rank == 0:
        arrays = {f"{name}{r}": part[i] for r, part in enumerate(parts)
                  for i, (name, _) in enumerate(_CONSTRAINT_FIELDS)}
        mesh_cache.store(key, arrays, {"kind": "periodic-constraint", "ranks": comm.size})


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
