"""Structured 1-D and 2-D samples (physics.md section 5): an interval and a rectangle.

Models whose physics is effectively one- or two-dimensional (a film under a tip seen
along its normal, a slab with a step of polarization) run on these meshes with the
same weak forms as in 3-D; the 1-D/2-D/3-D versions of a 1-D-symmetric problem must
agree (physics.md 6). They are built with dolfinx's own mesh generators: no gmsh model
is needed for a uniform grid.

Groups: cells ``"sample"``; facets ``"xmin"``, ``"xmax"`` (and ``"ymin"``, ``"ymax"``
for the rectangle).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fem_spin.config import ConfigError, cell_count_problem, param, positive, register_geometry
from fem_spin.contracts import Geometry

__all__ = ["IntervalGeometry", "RectangleGeometry"]

_SAMPLE = 1


def _tag_boundaries(mesh, lower, upper, axes: str):
    """Facet tags xmin/xmax(/ymin/ymax) from the coordinates of the box faces."""
    import dolfinx.mesh

    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim - 1, tdim)
    entities, values, groups = [], [], {}
    for axis, label in enumerate(axes):
        for side, bound in (("min", lower[axis]), ("max", upper[axis])):
            tag = 10 + 2 * axis + (side == "max")
            tol = 1e-9 * (upper[axis] - lower[axis])
            found = dolfinx.mesh.locate_entities_boundary(
                mesh, tdim - 1, lambda x, a=axis, b=bound, t=tol: np.abs(x[a] - b) <= t)
            entities.append(found)
            values.append(np.full(len(found), tag, dtype=np.int32))
            groups[f"{label}{side}"] = tag
    entities = np.concatenate(entities).astype(np.int32)
    values = np.concatenate(values)
    order = np.argsort(entities, kind="stable")
    return dolfinx.mesh.meshtags(mesh, tdim - 1, entities[order], values[order]), groups


def _tag_cells(mesh):
    import dolfinx.mesh

    tdim = mesh.topology.dim
    imap = mesh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    return dolfinx.mesh.meshtags(mesh, tdim, cells, np.full(len(cells), _SAMPLE, dtype=np.int32))


@register_geometry("interval")
@dataclasses.dataclass(frozen=True)
class IntervalGeometry(Geometry):
    """[geometry] type = "interval": the segment [x_min, x_max] with ``cells`` equal elements."""

    x_min: float = param(unit="m", doc="left end")
    x_max: float = param(unit="m", doc="right end")
    cells: int = param(doc="number of elements", check=positive)

    def __post_init__(self):
        if not self.x_max > self.x_min:
            raise ConfigError("x_max", f"must exceed x_min ({self.x_min}) (got {self.x_max})")
        problem = cell_count_problem(self.cells)
        if problem:
            raise ConfigError("cells", problem)

    mesh_dimension = 1

    def length_scale(self) -> float:
        return self.x_max - self.x_min

    def coarsened(self, factor: float) -> dict | None:
        return {"cells": max(1, round(self.cells / factor))}

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(lower corner, upper corner) of the segment on the x axis (m)."""
        return (self.x_min, 0.0, 0.0), (self.x_max, 0.0, 0.0)

    def estimate_mesh(self):
        from fem_spin.limits import MeshEstimate

        return MeshEstimate(float(self.cells), float(self.cells) + 1, "geometry.cells", exact=True)

    def create_mesh(self, comm, msh_path=None):
        import dolfinx.mesh

        from fem_spin.geometry.base import MeshData

        mesh = dolfinx.mesh.create_interval(comm, self.cells, [self.x_min, self.x_max])
        facets, groups = _tag_boundaries(mesh, [self.x_min], [self.x_max], "x")
        return MeshData(mesh, _tag_cells(mesh), facets, {"sample": _SAMPLE}, groups)


@register_geometry("rectangle")
@dataclasses.dataclass(frozen=True)
class RectangleGeometry(Geometry):
    """[geometry] type = "rectangle": [x0, x0+lx] x [y0, y0+ly], ``cells = [nx, ny]``,
    quadrilaterals (``cell_type = "quadrilateral"``) or triangles."""

    size: tuple[float, float] = param(unit="m", doc="edge lengths (x, y)", check=positive)
    cells: tuple[int, int] = param(doc="elements per edge (nx, ny)", check=positive)
    origin: tuple[float, float] = param((0.0, 0.0), unit="m", doc="lower-left corner")
    cell_type: str = param("quadrilateral", doc="quadrilateral or triangle")

    mesh_dimension = 2

    def coarsened(self, factor: float) -> dict | None:
        return {"cells": [max(1, round(n / factor)) for n in self.cells]}

    def __post_init__(self):
        if self.cell_type not in ("quadrilateral", "triangle"):
            raise ConfigError("cell_type", f"must be 'quadrilateral' or 'triangle' (got {self.cell_type!r})")
        problem = cell_count_problem(self._cell_count())
        if problem:
            raise ConfigError("cells", problem)

    def _cell_count(self) -> int:
        return (2 if self.cell_type == "triangle" else 1) * self.cells[0] * self.cells[1]

    def length_scale(self) -> float:
        return max(self.size)

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(lower corner, upper corner) of the rectangle in the z = 0 plane (m)."""
        (x0, y0), (lx, ly) = self.origin, self.size
        return (x0, y0, 0.0), (x0 + lx, y0 + ly, 0.0)

    def estimate_mesh(self):
        from fem_spin.limits import MeshEstimate

        nx, ny = (float(c) for c in self.cells)
        return MeshEstimate(float(self._cell_count()), (nx + 1) * (ny + 1), "geometry.cells", exact=True)

    def create_mesh(self, comm, msh_path=None):
        import dolfinx.mesh

        from fem_spin.geometry.base import MeshData

        lower = np.asarray(self.origin, dtype=float)
        upper = lower + np.asarray(self.size, dtype=float)
        kind = (dolfinx.mesh.CellType.quadrilateral if self.cell_type == "quadrilateral"
                else dolfinx.mesh.CellType.triangle)
        mesh = dolfinx.mesh.create_rectangle(comm, [lower, upper], list(self.cells), cell_type=kind)
        facets, groups = _tag_boundaries(mesh, lower, upper, "xy")
        return MeshData(mesh, _tag_cells(mesh), facets, {"sample": _SAMPLE}, groups)
