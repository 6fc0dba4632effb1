r"""Geometric multigrid on gmsh meshes: coarse levels meshed again, not refined.

The preconditioners PETSc offers out of the box do not give a linear cost per step on the
graded tetrahedral DNP cell: ILU(0)'s Krylov iterations grow as h^-1, and algebraic
multigrid keeps the iterations flat but its coarse levels, ordered by the coarsening,
lose the cache locality of the mesh (benchmarks/README.md section 2). This module builds
the hierarchy from the geometry itself: gmsh meshes the same model again with every
element size multiplied by 2, 4, ... (``Mesh.MeshSizeFactor``), which keeps the grading,
the curved interfaces and the periodic face matching of the fine mesh. The levels are
not nested; the prolongation from level l-1 to level l is P1 interpolation,

.. math::  (P_l)_{ij} = \phi^{(l-1)}_j(x^{(l)}_i),

evaluated at the nodes x_i of the finer mesh (every node of a polyhedral domain lies in
a coarser tetrahedron). Periodic slave nodes carry no unknown of their own: a coarse
slave column is added to its master's column, and a fine slave row is empty, so the
coarse spaces are the periodic spaces themselves and no constraint is needed there.

Coarse operators are Galerkin products. The nodal-flux operator (solvers/nodal_flux.py)
is a fixed linear combination

.. math::  A = s\,[\mathrm{diag}(m) + \Delta t\,\mathrm{diag}(r + q) + \Delta t f K]

of matrices assembled once, so their Galerkin products are formed once and every new A
(each Newton iteration) costs one weighted sum per coarse level, not a triple product.

The coarse meshes are made and the transfer weights computed on rank 0 (like the fine
mesh, which gmsh also makes on rank 0); each rank receives the rows it owns. Coarse
unknowns follow the fine partition (each goes to a rank that interpolates from it).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from fem_spin.errors import ModelError

__all__ = ["AUTO_DOFS", "COARSEST_NODES", "use_multigrid", "coarse_tetrahedra", "coarse_hierarchy",
           "periodic_masters", "p1_interpolation", "GeometricMultigrid", "multigrid_for_space"]

#: fewest DOFs at which preconditioner = "auto" takes geometric multigrid (on the DNP cube
#: it is 1.2x slower than ILU(0) at 27k DOFs, as fast at 119k and faster above:
#: benchmarks/README.md section 2)
AUTO_DOFS = 100_000
#: automatic multigrid depth: coarsen until the coarsest mesh has at most this many nodes
#: (its direct solve then costs little next to a fine-level sweep)
COARSEST_NODES = 200


def use_multigrid(solver, geometry, mesh, dofs: int, model_reason: str | None = None) -> bool:
    """The multigrid policy, in one place: whether the nodal-flux solve of a problem on ``mesh``
    (``dofs`` global DOFs) of ``geometry`` is preconditioned by geometric multigrid, as
    [solver] ``preconditioner`` asks. ``model_reason`` says why the model's discretisation
    cannot use it (None: it can).

    Multigrid needs the nodal flux on a tetrahedral mesh of a geometry fem_spin meshes with
    gmsh (coarse levels are meshed again). ``ilu``: never. ``auto``: on geometries measured
    to gain (``multigrid_auto``: the periodic DNP cube) from :data:`AUTO_DOFS` DOFs, unless
    petsc_options tune the linear solver. ``multigrid``: always, or a ModelError naming
    ``solver.preconditioner`` and what prevents it (petsc_options that choose the linear
    solver contradict it already in the configuration: SolverConfig refuses them)."""
    import dolfinx.mesh

    if solver.preconditioner == "ilu":
        return False
    chosen = [k for k in solver.petsc_options if k == "ksp_type" or k.startswith(("pc_", "sub_pc_"))]
    if model_reason is not None:
        why = model_reason
    elif mesh.topology.cell_type != dolfinx.mesh.CellType.tetrahedron:
        why = f"the mesh has {mesh.topology.cell_type.name} cells, not tetrahedra"
    elif not geometry.gmsh_built:
        why = (f"geometry type '{type(geometry).__name__}' has no gmsh builder to mesh coarser "
               "levels (a mesh read from a file cannot be meshed again)")
    else:
        why = None
    if solver.preconditioner == "auto":
        return why is None and not chosen and geometry.multigrid_auto and dofs >= AUTO_DOFS
    if why is not None:
        raise ModelError("'multigrid' needs the nodal flux (speedup none/global) on tetrahedra of "
                         f"a gmsh geometry: {why}", key="solver.preconditioner")
    return True


def coarse_tetrahedra(build, params, size_factor: float, unit: float | None = None,
                      cache: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mesh the geometry ``build(model, params, unit)`` with every element size times
    ``size_factor``; returns (node coordinates (n, 3) in metres, tetrahedra (m, 4) as
    0-based node indices). Serial: call on one rank. With ``cache`` (``build`` is the
    geometry's own builder) the mesh cache (geometry/mesh_cache.py) is read and written."""
    from fem_spin.geometry import mesh_cache

    unit = unit or params.length_scale()
    key = mesh_cache.entry_key(params, build, unit, f"coarse:{float(size_factor)!r}") \
        if cache and mesh_cache.enabled() else None
    found = mesh_cache.load(key) if key is not None else None
    if found is not None and {"x", "tets"} <= set(found[0]):
        return found[0]["x"], found[0]["tets"]
    x, tets = _mesh_coarse(build, params, size_factor, unit)
    if key is not None:
        mesh_cache.store(key, {"x": x, "tets": tets}, {"geometry": type(params).__name__,
                                                       "size_factor": float(size_factor)})
    return x, tets


def _mesh_coarse(build, params, size_factor: float, unit: float) -> tuple[np.ndarray, np.ndarray]:
    from fem_spin.geometry.base import gmsh_session

    with gmsh_session() as gmsh:
        gmsh.model.add("fem_spin_coarse")
        gmsh.option.setNumber("Mesh.MeshSizeFactor", float(size_factor))
        try:
            build(gmsh.model, params, unit)
            tags, coords, _ = gmsh.model.mesh.getNodes()
            _, tet_nodes = gmsh.model.mesh.getElementsByType(4)
        finally:
            gmsh.option.setNumber("Mesh.MeshSizeFactor", 1.0)
    coords = np.asarray(coords, dtype=float).reshape(-1, 3) * unit
    tets = np.asarray(tet_nodes, dtype=np.int64).reshape(-1, 4)
    used = np.unique(tets)                  # drop nodes no tetrahedron uses
    index = np.full(int(tags.max()) + 1, -1, dtype=np.int64)
    index[np.asarray(tags, dtype=np.int64)] = np.arange(tags.size)
    x = coords[index[used]]
    renumber = np.full(int(tags.max()) + 1, -1, dtype=np.int64)
    renumber[used] = np.arange(used.size)
    return x, renumber[tets]


def coarse_hierarchy(build, params, levels: int = 0, coarsest_nodes: int | None = None,
                     max_levels: int = 10, cache: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Coarse meshes of a gmsh geometry for a ``levels``-level hierarchy (the fine mesh is
    the last level and not included), coarsest first. ``levels`` = 0: coarsen by 2 until
    the mesh has at most ``coarsest_nodes`` nodes or stops shrinking (a size limit of the
    geometry itself, e.g. its smallest feature; default :data:`COARSEST_NODES`). Serial:
    call on one rank."""
    coarsest_nodes = COARSEST_NODES if coarsest_nodes is None else coarsest_nodes
    meshes: list[tuple[np.ndarray, np.ndarray]] = []
    wanted = (levels - 1) if levels else max_levels - 1
    for k in range(1, wanted + 1):
        try:
            x, tets = coarse_tetrahedra(build, params, 2.0 ** k, cache=cache)
        except Exception:
            if levels or not meshes:   # an automatic depth stops where gmsh gives up
                raise
            break
        if not levels and meshes and x.shape[0] > 0.7 * meshes[-1][0].shape[0]:
            break
        meshes.append((x, tets))
        if not levels and x.shape[0] <= coarsest_nodes:
            break
    return meshes[::-1]


def periodic_masters(x: np.ndarray, lower, upper, axes) -> np.ndarray:
    """For every node, the index of the node it is tied to by periodicity (itself if it
    is on no upper face). A node on an upper face in several directions maps to the
    corner/edge node on none of them, as in solvers/periodic.py."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    scale = float(np.max(upper - lower))
    y = (x - lower) / scale
    hi = (upper - lower) / scale
    image = y.copy()
    for a in axes:
        image[:, a] = np.where(np.isclose(y[:, a], hi[a], atol=1e-8, rtol=0), 0.0, y[:, a])
    key = np.round(y / 1e-7).astype(np.int64)
    lookup = {tuple(k): i for i, k in enumerate(key)}
    image_key = np.round(image / 1e-7).astype(np.int64)
    masters = np.arange(x.shape[0])
    moved = np.flatnonzero(np.any(image_key != key, axis=1))
    for i in moved:
        j = lookup.get(tuple(image_key[i]))
        if j is None:
            raise RuntimeError(f"periodic coarse mesh: no node at the image of node {i} ({x[i]}): "
                               "the face meshes do not match")
        masters[i] = j
    return masters


def p1_interpolation(points: np.ndarray, x: np.ndarray, tets: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P1 interpolation from the tetrahedral mesh (x, tets) to ``points``: (point index,
    node index, weight) triples, four per point (the barycentric coordinates of the
    point in a tetrahedron containing it). Serial."""
    import basix.ufl
    import dolfinx.geometry
    import dolfinx.mesh
    import ufl

    # dolfinx's collision tests use absolute tolerances: locate in the mesh scaled to unit
    # size (barycentric coordinates are scale-free), not in nanometres
    origin = x.min(axis=0)
    extent = float(np.max(x.max(axis=0) - origin)) or 1.0
    x = (x - origin) / extent
    points = (np.asarray(points, dtype=float) - origin) / extent
    domain = ufl.Mesh(basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,)))
    mesh = dolfinx.mesh.create_mesh(MPI.COMM_SELF, tets, x, domain)
    original = np.asarray(mesh.geometry.input_global_indices, dtype=np.int64)
    cell_nodes = mesh.geometry.dofmap                 # (cells, 4) geometry node indices
    X = mesh.geometry.x
    tree = dolfinx.geometry.bb_tree(mesh, mesh.topology.dim)
    candidates = dolfinx.geometry.compute_collisions_points(tree, points)
    colliding = dolfinx.geometry.compute_colliding_cells(mesh, candidates, points)
    offsets = colliding.offsets
    found = np.diff(offsets) > 0
    cell = np.zeros(points.shape[0], dtype=np.int64)
    cell[found] = colliding.array[offsets[:-1][found]]
    if not np.all(found):
        # outside the mesh (a curved boundary's nodes lie outside the coarser chords): the
        # closest cell, with clipped barycentric coordinates below
        missing = np.flatnonzero(~found)
        cells = np.arange(cell_nodes.shape[0], dtype=np.int32)
        midpoints = dolfinx.geometry.create_midpoint_tree(mesh, mesh.topology.dim, cells)
        cell[missing] = dolfinx.geometry.compute_closest_entity(
            tree, midpoints, mesh, np.ascontiguousarray(points[missing]))
    vertices = X[cell_nodes[cell]]                    # (n, 4, 3)
    T = np.transpose(vertices[:, 1:, :] - vertices[:, :1, :], (0, 2, 1))
    lam = np.linalg.solve(T, (points - vertices[:, 0, :])[:, :, None])[:, :, 0]
    weights = np.concatenate([1.0 - lam.sum(axis=1, keepdims=True), lam], axis=1)
    weights = np.clip(weights, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    nodes = original[cell_nodes[cell]]
    rows = np.repeat(np.arange(points.shape[0]), 4)
    return rows, nodes.ravel(), weights.ravel()


def _distributed_matrix(comm, rows_per_rank, shape_local, shape_global, triples) -> PETSc.Mat:
    """An AIJ matrix from (row, col, value) triples that rank 0 computed for all rows."""
    if comm.rank == 0:
        rows, cols, vals = triples
        starts = np.concatenate([[0], np.cumsum(rows_per_rank)])
        owner = np.searchsorted(starts, rows, side="right") - 1
        order = np.argsort(owner, kind="stable")
        bounds = np.searchsorted(owner[order], np.arange(comm.size + 1))
        parts = [(rows[order[a:b]], cols[order[a:b]], vals[order[a:b]])
                 for a, b in zip(bounds[:-1], bounds[1:])]
    else:
        parts = None
    rows, cols, vals = comm.scatter(parts, root=0)
    keep = vals != 0.0
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    # sum duplicates (a coarse slave folded onto a master that the same point also uses)
    start = int(np.sum(rows_per_rank[:comm.rank]))
    key = (rows - start) * int(shape_global[1]) + cols
    key, inverse = np.unique(key, return_inverse=True)
    vals = np.bincount(inverse, weights=vals, minlength=key.size)
    local_rows, cols = np.divmod(key, int(shape_global[1]))
    indptr = np.searchsorted(local_rows, np.arange(shape_local[0] + 1)).astype(PETSc.IntType)
    P = PETSc.Mat().createAIJ(((shape_local[0], shape_global[0]), (shape_local[1], shape_global[1])),
                              csr=(indptr, cols.astype(PETSc.IntType), vals.astype(PETSc.ScalarType)),
                              comm=comm)
    P.assemble()
    return P


def _galerkin(P: PETSc.Mat, component) -> PETSc.Mat:
    """P^T C P for a matrix C, or P^T diag(c) P for a vector c."""
    if isinstance(component, PETSc.Vec):
        scaled = P.copy()
        scaled.diagonalScale(L=component)
        product = P.transposeMatMult(scaled)
        scaled.destroy()
        return product
    return component.PtAP(P)


def _on_root(task):
    """Run ``task`` on rank 0 and return its result, or its error as a one-line string
    (the caller broadcasts it, so that every rank raises instead of waiting forever)."""
    try:
        return task()
    except Exception as exc:  # noqa: BLE001 - any failure must reach the other ranks
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _transfer_plan(coarse, periodic, gathered, fine_rows):
    """Rank 0: the transfer triples of every level and the number of unknowns each rank
    owns on every coarse level. Coarse unknowns follow the fine partition: each goes to
    the rank owning a finer row that interpolates from it (level by level from the fine
    mesh down), and is numbered contiguously per rank, so that the transfers and coarse
    operators couple mostly unknowns on the same rank."""
    if not coarse:
        raise ValueError("no coarse level (multigrid_levels must be 0 or at least 2)")
    size = fine_rows.size
    reduced, free = [], []          # per coarse level: node -> unknown; master nodes
    for x, tets in coarse:
        if tets.size == 0:
            raise ValueError("a coarse mesh has no tetrahedra (multigrid needs a tetrahedral mesh)")
        masters = (periodic_masters(x, *periodic) if periodic is not None
                   else np.arange(x.shape[0]))
        is_master = masters == np.arange(x.shape[0])
        reduced.append((np.cumsum(is_master) - 1)[masters])
        free.append(np.flatnonzero(is_master))
    # level l-1 -> l: rows are level l's unknowns (master nodes, numbered in node order;
    # slave rows stay empty), the last transfer's rows the fine mesh's global dofs
    triples = []
    for level in range(1, len(coarse)):
        x_coarse, t_coarse = coarse[level - 1]
        r, c, w = p1_interpolation(coarse[level][0][free[level]], x_coarse, t_coarse)
        triples.append([r, reduced[level - 1][c], w])
    points = np.concatenate([g[0] for g in gathered])
    global_rows = np.concatenate([g[1] for g in gathered]).astype(np.int64)
    r, c, w = p1_interpolation(points, *coarse[-1])
    triples.append([global_rows[r], reduced[-1][c], w])

    starts = np.concatenate([[0], np.cumsum(fine_rows)])
    row_owner = np.searchsorted(starts, triples[-1][0], side="right") - 1
    counts = [None] * len(coarse)
    for level in range(len(coarse) - 1, -1, -1):
        rows, cols, _ = triples[level]
        owner = np.zeros(free[level].size, dtype=np.int64)
        owner[cols] = row_owner
        order = np.argsort(owner, kind="stable")
        renumber = np.empty_like(order)
        renumber[order] = np.arange(order.size)
        triples[level][1] = renumber[cols]
        counts[level] = np.bincount(owner, minlength=size).astype(np.int64)
        if level > 0:
            rows_below = triples[level - 1][0]
            row_owner = owner[rows_below]
            triples[level - 1][0] = renumber[rows_below]
    return [tuple(t) for t in triples], counts


def _cached_transfer_plan(coarse, periodic, gathered, fine_rows):
    """:func:`_transfer_plan` through the mesh cache (geometry/mesh_cache.py): the entry's
    key is the SHA-256 of everything the plan is computed from -- the coarse meshes, the
    periodic box, every rank's owned fine points and their global rows (so the rank count
    and the partition are part of it) -- and of this module's source, so a stale plan is
    never found. Rank 0 only."""
    from fem_spin.geometry import mesh_cache

    if not mesh_cache.enabled():
        return _transfer_plan(coarse, periodic, gathered, fine_rows)
    digests = [mesh_cache.array_digest(x, tets) for x, tets in coarse]
    digests += [mesh_cache.array_digest(np.asarray(points, dtype=float), np.asarray(rows, dtype=np.int64))
                for points, rows in gathered]
    digests.append(mesh_cache.array_digest(np.asarray(fine_rows, dtype=np.int64)))
    periodic_text = None if periodic is None else [np.asarray(periodic[0], float).tolist(),
                                                   np.asarray(periodic[1], float).tolist(),
                                                   [int(a) for a in periodic[2]]]
    key = mesh_cache.content_key("multigrid-transfers", {"periodic": periodic_text,
                                                         "levels": len(coarse)},
                                 digests, modules=(__name__,))
    found = mesh_cache.load(key)
    if found is not None:
        arrays, meta = found
        levels = int(meta.get("levels", -1))
        names = {f"{n}{k}" for k in range(levels) for n in ("rows", "cols", "weights", "counts")}
        if levels == len(coarse) and names == set(arrays):
            triples = [(arrays[f"rows{k}"], arrays[f"cols{k}"], arrays[f"weights{k}"])
                       for k in range(levels)]
            return triples, [arrays[f"counts{k}"] for k in range(levels)]
    triples, counts = _transfer_plan(coarse, periodic, gathered, fine_rows)
    arrays = {}
    for k, ((rows, cols, weights), count) in enumerate(zip(triples, counts)):
        arrays.update({f"rows{k}": rows, f"cols{k}": cols, f"weights{k}": weights, f"counts{k}": count})
    mesh_cache.store(key, arrays, {"kind": "multigrid-transfers", "levels": len(coarse),
                                   "ranks": len(gathered)})
    return triples, counts


class GeometricMultigrid:
    """A hierarchy of non-nested gmsh meshes for PETSc's PCMG (see module docstring).

    ``fine_points``: coordinates (m) of this rank's owned fine dofs, in order;
    ``fine_slaves``: their local indices that are periodic slaves; ``fine_layout``:
    (local, global) size of the fine operator's rows; ``coarse``: on rank 0 the coarse
    meshes (x, tets) from the coarsest up, elsewhere ignored; ``periodic``: (lower, upper,
    axes) of a periodic box, or None; ``cache``: read and store the transfer plan in the
    mesh cache (:func:`_cached_transfer_plan`)."""

    def __init__(self, comm: MPI.Comm, fine_points: np.ndarray, fine_slaves: np.ndarray,
                 fine_layout: tuple[int, int], coarse: list | None, periodic=None,
                 cache: bool = False):
        self.comm = comm
        n_fine, N_fine = fine_layout
        offset = comm.exscan(n_fine) or 0
        keep = np.ones(fine_points.shape[0], dtype=bool)
        keep[np.asarray(fine_slaves, dtype=np.int64)] = False
        gathered = comm.gather((fine_points[keep], offset + np.flatnonzero(keep)), root=0)
        fine_rows = np.asarray(comm.allgather(n_fine), dtype=np.int64)

        plan = None
        if comm.rank == 0:
            planner = _cached_transfer_plan if cache else _transfer_plan
            plan = _on_root(lambda: planner(coarse, periodic, gathered, fine_rows))
        error = comm.bcast(plan if isinstance(plan, str) else None, root=0)
        if error is not None:
            raise RuntimeError(f"multigrid hierarchy: {error}")
        counts = comm.bcast(plan[1] if comm.rank == 0 else None, root=0)
        triples = plan[0] if comm.rank == 0 else [None] * len(counts)
        self.level_sizes = [int(c.sum()) for c in counts] + [N_fine]
        counts = [*counts, fine_rows]
        self.transfers: list[PETSc.Mat] = []
        for level in range(1, len(self.level_sizes)):
            rows_per_rank, cols_per_rank = counts[level], counts[level - 1]
            self.transfers.append(_distributed_matrix(
                comm, rows_per_rank, (int(rows_per_rank[comm.rank]), int(cols_per_rank[comm.rank])),
                (self.level_sizes[level], self.level_sizes[level - 1]), triples[level - 1]))
        self.components: list[dict[str, PETSc.Mat]] = []
        self.operators: list[PETSc.Mat] = []

    @property
    def num_levels(self) -> int:
        return len(self.level_sizes)

    def set_components(self, components: dict) -> None:
        """Form the Galerkin products of the fine operator's components (name -> Mat, or
        Vec for a diagonal) on every coarse level, padded to one nonzero pattern."""
        current = dict(components)
        per_level = []
        for P in reversed(self.transfers):
            current = {name: _galerkin(P, c) for name, c in current.items()}
            per_level.append(current)
        per_level.reverse()                 # coarsest first
        self.components, self.operators = [], []
        for level in per_level:
            union = None
            for C in level.values():
                if union is None:
                    union = C.copy()
                else:
                    union.axpy(1.0, C, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
            padded = {}
            for name, C in level.items():
                M = union.duplicate(copy=False)
                M.zeroEntries()
                M.axpy(1.0, C, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
                padded[name] = M
                C.destroy()
            self.components.append(padded)
            self.operators.append(union)

    def update(self, weights: dict[str, float]) -> None:
        """Coarse operators <- sum of weight * component (the fine one is the caller's)."""
        same = PETSc.Mat.Structure.SAME_NONZERO_PATTERN
        for A, parts in zip(self.operators, self.components):
            A.zeroEntries()
            for name, w in weights.items():
                A.axpy(float(w), parts[name], structure=same)

    def configure(self, pc: PETSc.PC) -> None:
        """Make ``pc`` a multiplicative V-cycle PCMG on this hierarchy (level options are
        read afterwards from the PC's options prefix)."""
        pc.setType(PETSc.PC.Type.MG)
        pc.setMGLevels(self.num_levels)
        pc.setMGType(PETSc.PC.MGType.MULTIPLICATIVE)
        pc.setMGCycleType(PETSc.PC.MGCycleType.V)
        for level, P in enumerate(self.transfers, start=1):
            pc.setMGInterpolation(level, P)
        for level, A in enumerate(self.operators):
            pc.getMGSmoother(level).setOperators(A, A)
        pc.setFromOptions()
        if pc.getMGLevels() != self.num_levels:   # e.g. a pc_mg_levels option reset them
            raise RuntimeError(f"multigrid: PETSc options changed the {self.num_levels} levels of the "
                               f"hierarchy to {pc.getMGLevels()} (do not set pc_mg_levels)")

    def destroy(self) -> None:
        for obj in [*self.transfers, *self.operators,
                    *(M for level in self.components for M in level.values())]:
            obj.destroy()


def multigrid_for_space(V, geometry, slaves=(), levels: int = 0,
                        coarsest_nodes: int | None = None) -> GeometricMultigrid:
    """The hierarchy for P1 space V on the mesh of ``geometry`` (which must have a gmsh
    ``builder()``), with ``slaves`` the owned periodic slave dofs (local indices)."""
    comm = V.mesh.comm
    index_map = V.dofmap.index_map
    n_owned = index_map.size_local
    coarse = None
    if comm.rank == 0:
        coarse = _on_root(lambda: coarse_hierarchy(geometry.builder(), geometry, levels,
                                                            coarsest_nodes, cache=True))
    error = comm.bcast(coarse if isinstance(coarse, str) else None, root=0)
    if error is not None:
        raise RuntimeError(f"multigrid: the coarse meshes failed: {error}")
    periodic = geometry.periodic_box()
    points = V.tabulate_dof_coordinates()[:n_owned]
    return GeometricMultigrid(comm, points, np.asarray(slaves, dtype=np.int64),
                              (n_owned, index_map.size_global), coarse, periodic, cache=True)
