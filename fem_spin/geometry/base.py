"""Shared gmsh plumbing: build on rank 0, distribute with dolfinx, name the groups.

Every geometry builder is a function ``build(model: gmsh.model, params, unit) -> None``
that creates entities and physical groups in an initialised gmsh model on rank 0,
in lengths of ``unit`` metres: OpenCASCADE's tolerances (1e-7) make sub-micron
samples in SI metres fail, so builders work in units of the sample size and the
mesh is scaled back to metres afterwards (``Mesh.ScalingFactor`` for .msh files).
:func:`mesh_from_builder` runs it there and hands the model to dolfinx, which
partitions the mesh so that no rank keeps the global mesh (physics.md section 5).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
from mpi4py import MPI

from fem_spin.contracts import Geometry
from fem_spin.errors import ModelError

__all__ = ["MeshData", "MissingGroup", "GmshGeometry", "gmsh_session", "mesh_from_builder", "read_msh", "write_msh", "write_xdmf",
           "read_xdmf", "group_names", "bounding_box", "unit_scaled_coordinates"]


class MissingGroup(ModelError, KeyError):
    """A physical group the configuration names is not in the mesh (a user's mesh file): a
    ModelError (the command line reports it in one line, like a configuration error) and a
    KeyError (a lookup by name that failed)."""


@dataclasses.dataclass
class MeshData:
    """A distributed dolfinx mesh with its tags and the names of its physical groups."""

    mesh: object
    cell_tags: object
    facet_tags: object
    cell_groups: dict[str, int]
    facet_groups: dict[str, int]
    #: "cartesian", or "spherical_radial" for a 1-D mesh of r whose integrals carry 4 pi r^2
    coordinate_system: str = "cartesian"
    #: exact shapes of cell groups the mesh only approximates, as spherical shells
    #: {name: (inner radius, outer radius)} around the origin (m); integrals that must see
    #: the true volume (the DNP source fraction) use them instead of the polyhedral cells
    shells: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    #: what the mesh cache did (mesh_from_builder): "hit", "stored", "unstored", "off", or ""
    #: for meshes not built by gmsh here (files, checkpoints, interval/rectangle meshes)
    cache: str = ""

    def cell_group(self, name: str) -> int:
        if name not in self.cell_groups:
            raise MissingGroup(f"the mesh has no cell group {name!r} (it has "
                               f"{', '.join(sorted(self.cell_groups)) or 'none'})")
        return self.cell_groups[name]

    def facet_group(self, name: str) -> int:
        if name not in self.facet_groups:
            raise MissingGroup(f"the mesh has no facet group {name!r} (it has "
                               f"{', '.join(sorted(self.facet_groups)) or 'none'})")
        return self.facet_groups[name]

    def volume(self) -> float:
        import dolfinx.fem as fem
        import ufl

        one = fem.form(fem.Constant(self.mesh, 1.0) * ufl.dx(domain=self.mesh))
        return self.mesh.comm.allreduce(fem.assemble_scalar(one), op=MPI.SUM)


class GmshGeometry(Geometry):
    """A geometry meshed by a gmsh builder ``builder() -> build(model, params, unit)``: it can
    be meshed again at any resolution (``fem-spin mesh``, geometric multigrid)."""

    gmsh_built = True

    def builder(self) -> Callable:
        """The gmsh builder ``build(model, params, unit)``: every gmsh geometry provides it."""
        raise NotImplementedError(f"{type(self).__name__} does not provide its gmsh builder()")

    def create_mesh(self, comm, msh_path=None) -> "MeshData":
        return mesh_from_builder(self.builder(), self, comm, msh_path=msh_path, cache=True)


@contextlib.contextmanager
def gmsh_session(verbose: bool = False):
    """Initialise gmsh (if needed) for the duration of a block and finalise it afterwards."""
    import gmsh

    started = not gmsh.isInitialized()
    if started:
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
    gmsh.option.setNumber("General.Verbosity", 2)
    # Deterministic meshes: one meshing thread, fixed random seed.
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.option.setNumber("Mesh.RandomSeed", 1)
    try:
        gmsh.clear()
        yield gmsh
    finally:
        if started:
            gmsh.finalize()


def group_names(gmsh_model) -> tuple[dict[str, int], dict[str, int]]:
    """(cell groups, facet groups) name -> tag of the current gmsh model."""
    dim = gmsh_model.getDimension()
    cells, facets = {}, {}
    for d, tag in gmsh_model.getPhysicalGroups():
        name = gmsh_model.getPhysicalName(d, tag)
        if d == dim:
            cells[name] = tag
        elif d == dim - 1:
            facets[name] = tag
    return cells, facets


def _write_scaled(gmsh, path: str | Path, unit: float) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    gmsh.option.setNumber("Mesh.ScalingFactor", unit)  # .msh files are in metres
    gmsh.write(str(path))
    gmsh.option.setNumber("Mesh.ScalingFactor", 1.0)


def _gmsh_arrays(model, gdim: int = 3) -> tuple[dict[str, np.ndarray], dict]:
    """Rank 0: what ``gmshio.model_to_mesh`` takes from the gmsh ``model`` -- node
    coordinates, cells and marked facets in dolfinx's node order, their physical tags --
    as arrays, and (gmsh cell type id, nodes per cell, nodes per facet or 0)."""
    from dolfinx.cpp.mesh import cell_entity_type, to_type
    from dolfinx.io.gmshio import cell_perm_array, extract_geometry, extract_topology_and_markers, ufl_mesh

    x = extract_geometry(model)
    topologies = extract_topology_and_markers(model)
    info = []
    for element in topologies:
        _, dim, _, num_nodes, _, _ = model.mesh.getElementProperties(element)
        info.append((dim, element, num_nodes))
    info.sort()
    tdim, cell_id, num_nodes = info[-1]
    cell_name = str(ufl_mesh(cell_id, gdim, dtype=np.float64).ufl_cell())
    cells = np.asarray(topologies[cell_id]["topology"], dtype=np.int64)
    cells = cells[:, cell_perm_array(to_type(cell_name), num_nodes)].copy()
    arrays = {"x": np.asarray(x[:, :gdim], dtype=np.float64), "cells": cells,
              "cell_values": np.asarray(topologies[cell_id]["cell_data"], dtype=np.int32)}
    facet_nodes = 0
    if len(info) > 1 and info[-2][0] == tdim - 1:
        _, facet_id, facet_nodes = info[-2]
        facet_type = cell_entity_type(to_type(cell_name), tdim - 1, 0)
        facets = np.asarray(topologies[facet_id]["topology"], dtype=np.int64)
        arrays["facets"] = facets[:, cell_perm_array(facet_type, facet_nodes)].copy()
        arrays["facet_values"] = np.asarray(topologies[facet_id]["cell_data"], dtype=np.int32)
    return arrays, {"cell_id": int(cell_id), "num_nodes": int(num_nodes), "gdim": gdim,
                    "facet_nodes": int(facet_nodes)}


def _match_node_sets(listed: np.ndarray, values: np.ndarray, local: np.ndarray) -> np.ndarray:
    """For every row of ``local`` (sorted node indices of an entity), the value of the row of
    ``listed`` (sorted too) with the same nodes, or int32 min where none has them; a node
    set listed twice takes its last value. One integer per node set (the nodes in base
    ``n``, the number of nodes) when that fits in int64, else rows compared as a whole."""
    missing = np.iinfo(np.int32).min
    found = np.full(local.shape[0], missing, dtype=np.int64)
    if listed.shape[0] == 0 or local.shape[0] == 0:
        return found
    n = int(max(listed.max(), local.max())) + 1
    if local.shape[1] * np.log2(max(n, 2)) < 62:
        base = n ** np.arange(local.shape[1] - 1, -1, -1, dtype=np.int64)
        listed_key, local_key = listed @ base, local @ base
        # the last occurrence of each listed key wins (as a fancy assignment would do)
        reversed_keys = listed_key[::-1]
        keys, first = np.unique(reversed_keys, return_index=True)
        key_values = np.asarray(values)[::-1][first]
        pos = np.minimum(np.searchsorted(keys, local_key), keys.size - 1)
        hit = keys[pos] == local_key
        found[hit] = key_values[pos[hit]]
        return found
    rows = np.concatenate([listed, local])
    _, ids = np.unique(rows, axis=0, return_inverse=True)
    ids = ids.ravel()
    value_of = np.full(ids.max(initial=-1) + 1, missing, dtype=np.int64)
    value_of[ids[:listed.shape[0]]] = values
    return value_of[ids[listed.shape[0]:]]


def _tags_from_input(mesh, dim: int, entities: np.ndarray, values: np.ndarray):
    """MeshTags of the entities of dimension ``dim`` < tdim given by their input node indices
    (as ``create_mesh`` received them; every rank the full list): what
    ``distribute_entity_data`` + ``meshtags_from_entities`` compute in ``model_to_mesh``,
    without their all-to-all exchanges. Every local entity (owned and ghost) whose nodes
    are those of a listed one gets its value."""
    import dolfinx.mesh

    topology = mesh.topology
    tdim = topology.dim
    topology.create_entities(dim)
    topology.create_connectivity(dim, 0)
    topology.create_connectivity(tdim, 0)
    # topology vertex -> input node index (first-order geometry: a cell's vertices are its
    # first geometry nodes, in the same order)
    c2v = topology.connectivity(tdim, 0)
    vmap = topology.index_map(0)
    vertex_input = np.full(vmap.size_local + vmap.num_ghosts, -1, dtype=np.int64)
    dofmap = mesh.geometry.dofmap
    per_cell = c2v.array.reshape(dofmap.shape[0], -1)
    vertex_input[per_cell] = np.asarray(mesh.geometry.input_global_indices,
                                        dtype=np.int64)[dofmap[:, :per_cell.shape[1]]]
    emap = topology.index_map(dim)
    count = emap.size_local + emap.num_ghosts
    local = vertex_input[topology.connectivity(dim, 0).array.reshape(count, -1)]
    listed = np.sort(np.asarray(entities, dtype=np.int64).reshape(-1, local.shape[1]), axis=1)
    found = _match_node_sets(listed, np.asarray(values), np.sort(local, axis=1))
    index = np.flatnonzero(found != np.iinfo(np.int32).min).astype(np.int32)
    return dolfinx.mesh.meshtags(mesh, dim, index, found[index].astype(np.int32))


def _cell_tags(mesh, original: np.ndarray, values: np.ndarray):
    import dolfinx.mesh

    tdim = mesh.topology.dim
    index = np.arange(original.size, dtype=np.int32)
    return dolfinx.mesh.meshtags(mesh, tdim, index, values[original].astype(np.int32))


def _cached_partitioner(comm, mesh_key: str | None):
    """(partitioner for ``create_mesh``, store) on more than one rank with a cacheable mesh
    (``mesh_key``: its mesh-cache key, on rank 0), else (None, no-op). The partition of a
    mesh (the rank of every input cell; rank 0 holds all input cells) is kept in the mesh
    cache under the mesh's key and the rank count: a cached run distributes the cells as
    the run that stored it did, so its partition-dependent entries (periodic constraint,
    multigrid transfers) are found again and 2-rank runs repeat each other bit for bit (the
    graph partitioner alone does not). ``store()`` (collective) writes a new partition."""
    from fem_spin.geometry import mesh_cache

    key = None
    if comm.size > 1 and comm.rank == 0 and mesh_key is not None and mesh_cache.enabled():
        key = mesh_cache.content_key("partition", {"ranks": comm.size}, [mesh_key])
    key = comm.bcast(key, root=0)
    if key is None:
        return None, lambda: None
    import dolfinx.cpp.graph
    import dolfinx.mesh

    found = None
    if comm.rank == 0:
        entry = mesh_cache.load(key)
        if entry is not None and {"array", "offsets"} == set(entry[0]) \
                and int(entry[1].get("ranks", -1)) == comm.size:
            found = entry[0]
    hit = comm.bcast(found is not None, root=0)
    default = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.none)
    made = []

    def partition(mpi_comm, nparts, cell_types, cells):
        if hit:
            if comm.rank == 0:
                return dolfinx.cpp.graph.AdjacencyList_int32(
                    found["array"].astype(np.int32), found["offsets"].astype(np.int32))
            return dolfinx.cpp.graph.AdjacencyList_int32(np.zeros(0, dtype=np.int32),
                                                         np.zeros(1, dtype=np.int32))
        dest = default(mpi_comm, nparts, cell_types, cells)
        made.append((np.array(dest.array, dtype=np.int32), np.array(dest.offsets, dtype=np.int32)))
        return dest

    def store():
        parts = comm.gather(made[0] if made else None, root=0)
        if comm.rank == 0 and not hit and parts[0] is not None:
            array, offsets = parts[0]
            if all(p is not None and p[0].size == 0 for p in parts[1:]):   # rank 0 had every cell
                mesh_cache.store(key, {"array": array, "offsets": offsets},
                                 {"kind": "partition", "ranks": comm.size})

    return (partition if hit or comm.size > 1 else None), store


def _mesh_from_arrays(comm, arrays: dict | None, info: dict | None, unit: float,
                      partitioner=None, mesh_key: str | None = None) -> tuple:
    """(mesh, cell tags, facet tags) from :func:`_gmsh_arrays`' output on rank 0 (None on
    the others), distributed as ``gmshio.model_to_mesh`` does it; coordinates times
    ``unit``. Every rank gets the tagged entities' lists (they are small next to the mesh).
    ``mesh_key`` (rank 0): the mesh's cache key, under which its partition is cached
    (:func:`_cached_partitioner`) when no ``partitioner`` is given."""
    import dolfinx.mesh
    from dolfinx.io.gmshio import ufl_mesh

    info = comm.bcast(info, root=0)
    gdim, nodes = info["gdim"], info["num_nodes"]
    if comm.rank == 0:
        cells, x = arrays["cells"], arrays["x"]
        tagged = (arrays["cell_values"], arrays.get("facets"), arrays.get("facet_values"))
    else:
        cells, x = np.empty((0, nodes), dtype=np.int64), np.empty((0, gdim), dtype=np.float64)
        tagged = None
    cell_values, facets, facet_values = comm.bcast(tagged, root=0)
    domain = ufl_mesh(info["cell_id"], gdim, dtype=np.float64)
    store_partition = lambda: None  # noqa: E731
    if partitioner is None:
        partitioner, store_partition = _cached_partitioner(comm, mesh_key)
    if partitioner is None:
        mesh = dolfinx.mesh.create_mesh(comm, cells, x, domain)
    else:
        mesh = dolfinx.mesh.create_mesh(comm, cells, x, domain, partitioner)
    store_partition()
    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim, 0)
    original = np.asarray(mesh.topology.original_cell_index, dtype=np.int64)
    cell_tags = _cell_tags(mesh, original, cell_values)
    cell_tags.name = "Cell tags"
    if facets is not None:
        facet_tags = _tags_from_input(mesh, tdim - 1, facets, facet_values)
        mesh.topology.create_connectivity(tdim - 1, tdim)
    else:
        facet_tags = dolfinx.mesh.meshtags(mesh, tdim - 1, np.empty(0, dtype=np.int32),
                                           np.empty(0, dtype=np.int32))
    facet_tags.name = "Facet tags"
    mesh.geometry.x[:] *= unit
    return mesh, cell_tags, facet_tags


def mesh_from_builder(build: Callable, params, comm: MPI.Comm = MPI.COMM_WORLD,
                      msh_path: str | Path | None = None, unit: float | None = None,
                      cache: bool = False) -> MeshData:
    """Run ``build(gmsh.model, params, unit)`` on rank 0, optionally save the .msh, distribute.

    ``unit`` defaults to ``params.length_scale()``; the returned mesh is in metres. With
    ``cache`` (the geometry's own builder: its key names the builder, not a closure's
    arguments) and the mesh cache enabled, geometry/mesh_cache.py) a mesh built before with
    the same parameters and code is read from disk instead of meshed by gmsh (not when a
    .msh is asked for, which needs gmsh's model); what gmsh made is stored for next time.
    ``MeshData.cache`` says which: "hit", "stored", "off" (disabled or not cacheable) or
    "unstored" (could not be written).
    """
    from fem_spin.geometry import mesh_cache

    unit = unit or params.length_scale()
    arrays = info = groups = None
    status = "off"
    if comm.rank == 0:
        key = None
        if cache and mesh_cache.enabled():
            try:
                key = mesh_cache.entry_key(params, build, unit, "mesh")
            except Exception as exc:  # noqa: BLE001 - an unhashable parameter: just no cache
                mesh_cache._warn(f"no key for {type(params).__name__} ({exc}); not cached")
        found = mesh_cache.load(key) if key is not None and msh_path is None else None
        if found is not None:
            arrays, meta = found
            info, groups = meta["info"], (meta["cell_groups"], meta["facet_groups"])
            status = "hit"
        else:
            with gmsh_session() as gmsh:
                gmsh.model.add("fem_spin")
                build(gmsh.model, params, unit)
                groups = group_names(gmsh.model)
                if msh_path is not None:
                    _write_scaled(gmsh, msh_path, unit)
                arrays, info = _gmsh_arrays(gmsh.model)
            if key is not None:
                stored = mesh_cache.store(key, arrays, {"info": info, "cell_groups": groups[0],
                                                        "facet_groups": groups[1],
                                                        "geometry": type(params).__name__})
                status = "stored" if stored is not None else "unstored"
    groups, status = comm.bcast((groups, status), root=0)
    mesh_key = key if comm.rank == 0 and status in ("hit", "stored") else None
    mesh, cell_tags, facet_tags = _mesh_from_arrays(comm, arrays, info, unit, mesh_key=mesh_key)
    return MeshData(mesh, cell_tags, facet_tags, *groups, cache=status)


def write_msh(build: Callable, params, path: str | Path, unit: float | None = None) -> Path:
    """Build a geometry with gmsh (serially) and write it to ``path`` (.msh, metres)."""
    path = Path(path)
    unit = unit or params.length_scale()
    with gmsh_session() as gmsh:
        gmsh.model.add("fem_spin")
        build(gmsh.model, params, unit)
        _write_scaled(gmsh, path, unit)
    return path


def read_msh(path: str | Path, comm: MPI.Comm = MPI.COMM_WORLD, gdim: int = 3) -> MeshData:
    """Read a gmsh .msh file on rank 0 and distribute it."""
    from dolfinx.io import gmshio

    with gmsh_session() as gmsh:
        groups, problem = (None, None), None
        if comm.rank == 0:
            # checked on rank 0 before any rank goes on: a corrupt or empty file is one
            # error naming it on every rank, not a gmsh exception on one and a hang on the others
            try:
                gmsh.open(str(path))
                groups = group_names(gmsh.model)
                dim = gmsh.model.getDimension()
                cells = sum(len(t) for t in gmsh.model.mesh.getElements(dim)[1]) if dim > 0 else 0
                if cells == 0:
                    problem = f"no mesh cells in {path}"
                elif not groups[0]:
                    problem = f"no physical group of {dim}-D cells in {path} (name the sample volume)"
            except Exception as exc:  # gmsh raises a bare Exception for unreadable files
                problem = f"cannot read the mesh file {path}: {str(exc).strip() or 'unreadable'}"
        groups, problem = comm.bcast((groups, problem), root=0)
        if problem:
            raise ModelError(problem, key="geometry.path")
        mesh, cell_tags, facet_tags = gmshio.model_to_mesh(gmsh.model, comm, 0, gdim=gdim)
    return MeshData(mesh, cell_tags, facet_tags, *groups)


def _groups_file(path: Path) -> Path:
    return path.with_suffix(".groups.json")


def write_xdmf(data: MeshData, path: str | Path) -> Path:
    """Write a distributed mesh with its cell and facet tags to XDMF/HDF5 in parallel (every
    rank its part, nothing gathered) and the group names to ``<name>.groups.json`` (rank 0):
    a mesh built once and read by any number of ranks (:func:`read_xdmf`)."""
    import json

    from dolfinx.io import XDMFFile

    path = Path(path)
    comm = data.mesh.comm
    if comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    data.mesh.name = "mesh"
    data.cell_tags.name = "cell_tags"
    with XDMFFile(comm, path, "w") as xdmf:
        xdmf.write_mesh(data.mesh)
        data.mesh.topology.create_connectivity(data.mesh.topology.dim - 1, data.mesh.topology.dim)
        xdmf.write_meshtags(data.cell_tags, data.mesh.geometry)
        if data.facet_tags is not None:
            data.facet_tags.name = "facet_tags"
            xdmf.write_meshtags(data.facet_tags, data.mesh.geometry)
    if comm.rank == 0:
        _groups_file(path).write_text(json.dumps({"cell_groups": data.cell_groups,
                                                  "facet_groups": data.facet_groups}, indent=1) + "\n")
    comm.barrier()
    return path


def read_xdmf(path: str | Path, comm: MPI.Comm = MPI.COMM_WORLD) -> MeshData:
    """Read a mesh written by :func:`write_xdmf` in parallel (each rank reads its part)."""
    import json

    from dolfinx.io import XDMFFile

    path = Path(path)
    groups = json.loads(_groups_file(path).read_text()) if _groups_file(path).exists() else \
        {"cell_groups": {}, "facet_groups": {}}
    with XDMFFile(comm, path, "r") as xdmf:
        mesh = xdmf.read_mesh(name="mesh")
        cell_tags = xdmf.read_meshtags(mesh, name="cell_tags")
        mesh.topology.create_connectivity(mesh.topology.dim - 1, mesh.topology.dim)
        try:
            facet_tags = xdmf.read_meshtags(mesh, name="facet_tags")
        except RuntimeError:  # written without facet tags
            facet_tags = None
    return MeshData(mesh, cell_tags, facet_tags, groups["cell_groups"], groups["facet_groups"])


@contextlib.contextmanager
def unit_scaled_coordinates(meshes, scale: float):
    """Within the block, the coordinates of ``meshes`` are divided by ``scale`` (and restored
    exactly afterwards).

    dolfinx 0.9 locates points in cells with *absolute* tolerances: ``compute_colliding_cells``
    accepts every candidate cell within a distance of 1e-6 and ``determine_point_ownership``
    (behind ``create_interpolation_data``) the first one within ~5e-8 -- in a sub-micron mesh
    in metres that is a cell several elements away, and the value is extrapolated from it.
    Point location therefore runs with coordinates of order one. Function values do not
    depend on the scaling (the coefficients are unchanged), so a point ``x / scale``
    evaluates to the value at ``x``.
    """
    saved = [m.geometry.x.copy() for m in meshes]
    try:
        for m in meshes:
            m.geometry.x[:] /= scale
        yield
    finally:
        for m, x in zip(meshes, saved):
            m.geometry.x[:] = x


def bounding_box(mesh) -> tuple[np.ndarray, np.ndarray]:
    """Global (min corner, max corner) of a distributed mesh."""
    x = mesh.geometry.x
    lo_local = x.min(axis=0) if len(x) else np.full(3, np.inf)
    hi_local = x.max(axis=0) if len(x) else np.full(3, -np.inf)
    lo, hi = np.empty(3), np.empty(3)
    mesh.comm.Allreduce(lo_local, lo, op=MPI.MIN)
    mesh.comm.Allreduce(hi_local, hi, op=MPI.MAX)
    return lo, hi
