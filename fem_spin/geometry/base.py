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
        return mesh_from_builder(self.builder(), self, comm, msh_path=msh_path)


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


def mesh_from_builder(build: Callable, params, comm: MPI.Comm = MPI.COMM_WORLD,
                      msh_path: str | Path | None = None, unit: float | None = None) -> MeshData:
    """Run ``build(gmsh.model, params, unit)`` on rank 0, optionally save the .msh, distribute.

    ``unit`` defaults to ``params.length_scale()``; the returned mesh is in metres.
    """
    from dolfinx.io import gmshio

    unit = unit or params.length_scale()
    with gmsh_session() as gmsh:
        groups = (None, None)
        if comm.rank == 0:
            gmsh.model.add("fem_spin")
            build(gmsh.model, params, unit)
            groups = group_names(gmsh.model)
            if msh_path is not None:
                _write_scaled(gmsh, msh_path, unit)
        groups = comm.bcast(groups, root=0)
        mesh, cell_tags, facet_tags = gmshio.model_to_mesh(gmsh.model, comm, 0, gdim=3)
    mesh.geometry.x[:] *= unit
    return MeshData(mesh, cell_tags, facet_tags, *groups)


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
