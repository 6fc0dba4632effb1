"""Rectangular box (physics.md section 5): the simplest sample, and the test bed.

Groups: volume ``"sample"``; faces ``"xmin"``, ``"xmax"``, ``"ymin"``, ``"ymax"``,
``"zmin"``, ``"zmax"``. With ``cells = [nx, ny, nz]`` the mesh is structured
(transfinite hexahedra, reproducible for convergence studies); with ``mesh_size``
it is an unstructured tetrahedral mesh of that characteristic length.
"""

from __future__ import annotations

import dataclasses

from fem_spin.config import ConfigError, cell_count_problem, param, positive, register_geometry
from fem_spin.geometry.base import GmshGeometry

__all__ = ["BoxGeometry", "build_box"]


@register_geometry("box")
@dataclasses.dataclass(frozen=True)
class BoxGeometry(GmshGeometry):
    """[geometry] type = "box"."""

    size: tuple[float, float, float] = param(unit="m", doc="edge lengths (x, y, z)", check=positive)
    origin: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m", doc="lower corner")
    cells: tuple[int, int, int] | None = param(None, doc="structured hexahedral mesh: cells per edge",
                                               check=None)
    mesh_size: float | None = param(None, unit="m", doc="unstructured tetrahedra of this size")
    periodic: tuple[bool, bool, bool] = param((False, False, False),
                                              doc="periodic boundary conditions along x, y, z")

    def coarsened(self, factor: float) -> dict | None:
        if self.cells is not None:
            # directions of one cell stay so (a 1-D or 2-D problem meshed as a slab)
            return {"cells": [n if n == 1 else max(1, round(n / factor)) for n in self.cells]}
        return {"mesh_size": self.mesh_size * factor}

    def __post_init__(self):
        if self.cells is None and self.mesh_size is None:
            raise ConfigError("cells", "give either cells = [nx, ny, nz] or mesh_size")
        if self.cells is not None and self.mesh_size is not None:
            raise ConfigError("cells", "give cells or mesh_size, not both")
        if self.cells is not None and min(self.cells) < 1:
            raise ConfigError("cells", f"must be >= 1 in every direction (got {list(self.cells)})")
        if self.cells is not None:
            problem = cell_count_problem(self.cells[0] * self.cells[1] * self.cells[2])
            if problem:
                raise ConfigError("cells", problem)
        if self.mesh_size is not None and not self.mesh_size > 0:
            raise ConfigError("mesh_size", f"must be > 0 (got {self.mesh_size})")

    def builder(self):
        return build_box

    def periodic_box(self):
        """(lower corner, upper corner, periodic axes) or None when nothing is periodic."""
        axes = tuple(i for i, p in enumerate(self.periodic) if p)
        if not axes:
            return None
        upper = tuple(o + s for o, s in zip(self.origin, self.size))
        return self.origin, upper, axes

    def length_scale(self) -> float:
        return max(self.size)

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(lower corner, upper corner) of the sample (m)."""
        return tuple(self.origin), tuple(o + s for o, s in zip(self.origin, self.size))

    def estimate_mesh(self):
        """Cells and vertices before meshing (fem_spin.limits): exact for ``cells``, else
        tetrahedra of size mesh_size."""
        from fem_spin.limits import MeshEstimate, tet_count, tet_vertices

        if self.cells is not None:
            nx, ny, nz = (float(c) for c in self.cells)
            return MeshEstimate(nx * ny * nz, (nx + 1) * (ny + 1) * (nz + 1), "geometry.cells", exact=True)
        lx, ly, lz = self.size
        cells = tet_count(lx * ly * lz, self.mesh_size, self.size)
        return MeshEstimate(cells, tet_vertices(cells), "geometry.mesh_size")


def build_box(model, p: BoxGeometry, unit: float = 1.0) -> None:
    """Create the box in the gmsh ``model`` in lengths of ``unit`` metres (rank 0 only)."""
    occ = model.occ
    x0, y0, z0 = (c / unit for c in p.origin)
    lx, ly, lz = (c / unit for c in p.size)
    vol = occ.addBox(x0, y0, z0, lx, ly, lz)
    occ.synchronize()
    model.addPhysicalGroup(3, [vol], tag=1, name="sample")
    names = {}
    for dim, tag in model.getBoundary([(3, vol)], oriented=False):
        c = occ.getCenterOfMass(dim, tag)
        for axis, (lo, length, label) in enumerate(((x0, lx, "x"), (y0, ly, "y"), (z0, lz, "z"))):
            if abs(c[axis] - lo) < 1e-9 * length:
                names[tag] = f"{label}min"
            elif abs(c[axis] - (lo + length)) < 1e-9 * length:
                names[tag] = f"{label}max"
    for i, (tag, name) in enumerate(sorted(names.items(), key=lambda kv: kv[1])):
        model.addPhysicalGroup(2, [tag], tag=10 + i, name=name)
    mesh = model.mesh
    if p.cells is not None:
        for dim, tag in model.getEntities(1):
            xa, ya, za, xb, yb, zb = model.getBoundingBox(dim, tag)
            extent = (xb - xa, yb - ya, zb - za)
            axis = max(range(3), key=lambda i: extent[i])
            mesh.setTransfiniteCurve(tag, p.cells[axis] + 1)
        for dim, tag in model.getEntities(2):
            mesh.setTransfiniteSurface(tag)
            mesh.setRecombine(dim, tag)
        mesh.setTransfiniteVolume(vol)
        mesh.setRecombine(3, vol)
    else:
        model.mesh.setSize(model.getEntities(0), p.mesh_size / unit)
    mesh.generate(3)
