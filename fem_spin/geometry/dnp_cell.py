"""The DNP unit cell (physics.md 1.2 and 5): one electron, the nuclei around it.

Three equivalent forms, all with the electron at the origin:

* ``dnp_cube``   - the paper's cell: a cube of side L = n_e^(-1/3), faces periodic
  (dolfinx_mpc), spanning [-L/2, L/2]^3; gmsh makes the opposite face meshes match.
* ``dnp_sphere`` - the Wigner-Seitz sphere of the same volume, R = (3/(4 pi n_e))^(1/3),
  no-flux outer surface ("outer").
* ``dnp_radial`` - its 1-D radial reduction on [0, R]: the model integrates with the
  weight 4 pi r^2 (``MeshData.coordinate_system = "spherical_radial"``).

Cell groups: ``"source"`` (b < r < r_s, the nuclei the electron polarizes directly),
``"barrier"`` (r < b, only when a diffusion barrier radius b > 0 is given) and
``"bulk"`` (the rest). The mesh is graded towards the electron: size
``mesh_size_source`` inside r_s, growing in proportion to r outside (the polarization
around a source falls off like r_s/r) up to ``mesh_size_bulk``. Without a given
``mesh_size_source`` the default is finer on the source surface: it resolves the source's
boundary layer sqrt(D0/k_x) (a length of the [model], handed over by config resolution:
``ModelConfig.length_scales`` -> ``Geometry.with_length_scales``) and the barrier shell, and
grows with the distance from that surface (``_DNPCell.surface_size``, ``mesh_size``).
``mesh_scale`` multiplies the whole size field, given sizes or defaults (``coarsened``: the
error estimate's coarser meshes).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from fem_spin.config import ConfigError, derived, non_negative, param, positive, register_geometry
from fem_spin.contracts import Geometry
from fem_spin.geometry.base import GmshGeometry
from fem_spin.units import cell_side, number_density, wigner_seitz_radius

__all__ = ["DNPCubeGeometry", "DNPSphereGeometry", "DNPRadialGeometry", "build_dnp_cube",
           "build_dnp_sphere", "radial_nodes"]

SOURCE, BARRIER, BULK = 1, 2, 3

#: Default mesh (no mesh_size_source given; ``_DNPCell.mesh_size``): the element size on the
#: source surface is h_0 = min(envelope at r_s, lambda/SURFACE_LAYER_CELLS,
#: (r_s - b)/SURFACE_SHELL_CELLS), lambda = sqrt(D_min/k) the source's boundary layer, and
#: grows by SURFACE_GROWTH per unit distance from that surface (and the barrier's); measured
#: (benchmarks/bench_default_mesh_accuracy.py and README there): the spatial error of t63
#: falls like the envelope ratio and h_0/lambda, and these constants keep it near 1.5 %
SURFACE_LAYER_CELLS = 2.0
SURFACE_SHELL_CELLS = 3.0
SURFACE_GROWTH = 0.3


def _optional_positive(value) -> str | None:
    return None if value is None else positive(value)


@dataclasses.dataclass(frozen=True)
class _DNPCell(Geometry):
    electron_concentration: float | str = param(
        unit="1/m^3 or '<n> mM'", doc="paramagnetic electron concentration n_e (number, 1/m^3, "
        "or a string with a unit such as \"40 mM\" or \"1e19 cm^-3\")")
    source_radius: float = param(unit="m", doc="radius r_s of the source sphere around the electron "
                                 "(of the order of the nearest-nucleus distance n_n^(-1/3))",
                                 check=positive)
    barrier_radius: float = param(0.0, unit="m", doc="diffusion-barrier radius b < r_s (0: none)",
                                  check=non_negative)
    mesh_size_source: float | None = param(None, unit="m", doc="element size inside r_s "
                                           "(given: uniform inside r_s, growing like r outside; default "
                                           "r_s/6 inside, r/12 outside (radial r_s/10, r/10), and finer "
                                           "at the source surface to resolve the source's boundary layer "
                                           "sqrt(D0/k_x) and the barrier shell)", check=_optional_positive)
    mesh_size_bulk: float | None = param(None, unit="m", doc="element size far from the electron "
                                         "(default: cube L/8, sphere R/5, radial R/100)", check=_optional_positive)
    mesh_scale: float = param(1.0, doc="factor on every element size of the mesh rule above, given "
                              "or default (2: elements twice as large everywhere, about 8x fewer "
                              "in 3-D; the error estimate coarsens the mesh with it)", check=positive)
    #: the thickness sqrt(D_min/k) of the source's boundary layer: the model's length scale of
    #: the "source" cell group (ModelConfig.length_scales -> with_length_scales, in config
    #: resolution); None when no model sets one
    source_layer: float | None = derived(doc="boundary-layer thickness of the DNP source (m)",
                                         compare=True)

    def electron_exclusion_radius(self) -> float:
        """The barrier radius, or the source radius without a barrier."""
        return self.barrier_radius or self.source_radius

    def exact_shells(self) -> dict[str, tuple[float, float]]:
        """The true shapes of the source shell and barrier ball (MeshData.shells)."""
        shells = {"source": (self.barrier_radius, self.source_radius)}
        if self.barrier_radius > 0:
            shells["barrier"] = (0.0, self.barrier_radius)
        return shells

    def __post_init__(self):
        try:
            object.__setattr__(self, "electron_density", number_density(self.electron_concentration))
        except ValueError as exc:
            raise ConfigError("electron_concentration", str(exc)) from None
        if self.barrier_radius >= self.source_radius:
            raise ConfigError("barrier_radius", f"must be smaller than source_radius "
                                                f"({self.source_radius:g} m)")
        limit = self.outer_radius()
        if self.source_radius >= limit:
            raise ConfigError("source_radius", f"{self.source_radius:g} m does not fit in the cell: it "
                                               f"must be smaller than {limit:g} m ({self._limit_name}) "
                                               f"for electron_concentration = "
                                               f"{self.electron_concentration}")

    _limit_name = "the cell radius"
    #: a DNP cell much larger than a micrometre means n_e below ~1e18 m^-3 (~1e-9 M): a unit
    #: slip in electron_concentration (config.py, implausible sizes warn)
    PLAUSIBLE_EXTENT = (1e-10, 1e-6)
    EXTENT_KEY = "electron_concentration"

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(lower corner, upper corner) of the cell's bounding box (m), electron at 0."""
        R = self.outer_radius()
        return (-R, -R, -R), (R, R, R)

    def _size_key(self, near: float, total: float) -> str:
        """The size key that sets most of the cells: mesh_size_source if the source region's
        share dominates, else mesh_size_bulk (whether given or defaulted)."""
        if self.mesh_size_source is not None and (near >= 0.5 * total or self.mesh_size_bulk is None):
            return "geometry.mesh_size_source"
        return "geometry.mesh_size_bulk"

    def _graded_estimate(self, inside, r_inside: float, r_max: float, extents):
        from fem_spin.limits import K_TET, MeshEstimate, point_graded_count, tet_vertices

        hs = self.source_size()
        total, _ = point_graded_count(self.mesh_size, (0.0, 0.0, 0.0), inside, r_max, extents,
                                      r_inside=r_inside, knots=self._size_knots())
        # the source ball's share: hs everywhere inside r_s
        near = K_TET * (4.0 / 3.0) * math.pi * self.source_radius**3 / hs**3
        return MeshEstimate(total, tet_vertices(total), self._size_key(near, total))

    def _size_knots(self) -> list[float]:
        """Radii where :meth:`mesh_size` has a kink (for the estimate's quadrature)."""
        rs, b, g = self.source_radius, self.barrier_radius, self.growth()
        hs, ratio, h0 = self.source_size(), self.envelope_ratio(), self.surface_size()
        knots = [rs, max(self.bulk_size(), hs, ratio * rs) / ratio]
        for surface in ([rs, b] if b > 0 else [rs]):
            for side in (-1.0, 1.0):
                knots.append(surface + side * (max(hs, ratio * rs) - h0) / g)
        return sorted(k for k in knots if k > 0)

    def outer_radius(self) -> float:
        return wigner_seitz_radius(self.electron_density)

    def cell_volume(self) -> float:
        """Volume per electron, 1/n_e (m^3)."""
        return 1.0 / self.electron_density

    #: default element size inside r_s is r_s / this, and outside r_s / envelope_cells
    default_source_cells: ClassVar[float] = 6.0
    #: default size outside the source: r / this (the polarization falls off like r_s/r,
    #: so h proportional to r keeps its relative resolution), up to the bulk size
    default_envelope_cells: ClassVar[float] = 12.0

    def source_size(self) -> float:
        """Element size inside r_s away from its surface (h_s)."""
        return self.mesh_scale * (self.mesh_size_source or self.source_radius / self.default_source_cells)

    def envelope_ratio(self) -> float:
        """h/r outside the source: mesh_size_source/r_s when given, else 1/default_envelope_cells."""
        if self.mesh_size_source is not None:
            return self.source_size() / self.source_radius
        return self.mesh_scale / self.default_envelope_cells

    def growth(self) -> float:
        """Growth of the default size per unit distance from the source (and barrier) surface:
        SURFACE_GROWTH, times mesh_scale (the whole field scales)."""
        return SURFACE_GROWTH * self.mesh_scale

    def coarsened(self, factor: float) -> dict | None:
        """The same size rule scaled by ``factor`` everywhere (source, surface layer, envelope,
        bulk): mesh_scale times factor."""
        return {"mesh_scale": self.mesh_scale * factor}

    def bulk_size(self) -> float:
        return self.mesh_scale * (self.mesh_size_bulk or self.outer_radius() / 5)

    def surface_size(self) -> float:
        """Element size h_0 on the source surface r = r_s (and the barrier surface r = b).

        A given ``mesh_size_source`` is authoritative: h_0 = h_s, a uniform source ball. By
        default h_0 resolves the smallest length the source sets
        (benchmarks/bench_default_mesh_accuracy.py measures the result):

        * the envelope at the surface, r_s/default_envelope_cells;
        * the boundary layer of the source, lambda = sqrt(D_min/k) (``source_layer``, from the
          model): where k r_s^2 >> D the source pins P near P_e inside r_s and P falls to
          the outer solution over lambda; h_0 <= lambda / SURFACE_LAYER_CELLS;
        * the source shell b < r < r_s of a barrier: h_0 <= (r_s - b) / SURFACE_SHELL_CELLS."""
        if self.mesh_size_source is not None:
            return self.source_size()
        h0 = min(self.source_size(), self.envelope_ratio() * self.source_radius)
        if self.source_layer is not None:
            h0 = min(h0, self.mesh_scale * self.source_layer / SURFACE_LAYER_CELLS)
        if self.barrier_radius > 0:
            h0 = min(h0, self.mesh_scale * (self.source_radius - self.barrier_radius) / SURFACE_SHELL_CELLS)
        return h0

    def with_length_scales(self, lengths: dict[str, float]) -> "_DNPCell":
        """This cell with the model's boundary-layer thickness (``lengths["source"]``, the
        length scale of the source cell group from ``ModelConfig.length_scales``) that the
        default size at the source surface resolves."""
        layer = lengths.get("source")
        if layer is None or not (layer > 0 and math.isfinite(layer)) or layer == self.source_layer:
            return self
        return dataclasses.replace(self, source_layer=float(layer))

    def length_scale(self) -> float:
        return self.outer_radius()

    def _surface_distance(self, r):
        d = np.abs(r - self.source_radius)
        if self.barrier_radius > 0:
            d = np.minimum(d, np.abs(r - self.barrier_radius))
        return d

    def mesh_size(self, r: np.ndarray | float) -> np.ndarray | float:
        """Element size at distance r from the electron (m): the smallest of

        * the envelope: h_s inside r_s, h/r = :meth:`envelope_ratio` outside it (the
          polarization falls off like r_s/r), capped at the bulk size;
        * the surface grading: h_0 on the source surface (and the barrier surface), growing
          by SURFACE_GROWTH per unit distance from it (:meth:`surface_size`).

        With mesh_size_source given this is the former rule, min(h_b, h_s max(r, r_s)/r_s)."""
        rs, hs, ratio, h0 = self.source_radius, self.source_size(), self.envelope_ratio(), self.surface_size()
        hb = max(self.bulk_size(), hs, ratio * rs)
        envelope = np.minimum(hb, np.where(r < rs, hs, ratio * np.maximum(r, rs)))
        if self.mesh_size_source is not None:
            return envelope
        return np.minimum(envelope, h0 + self.growth() * self._surface_distance(r))

    def size_expression(self, unit: float) -> str:
        """:meth:`mesh_size` as a gmsh MathEval expression in lengths of ``unit``: a field of
        the distance to the electron and to the source (and barrier) sphere surfaces."""
        rs, b = self.source_radius / unit, self.barrier_radius / unit
        hs, ratio, h0 = self.source_size() / unit, self.envelope_ratio(), self.surface_size() / unit
        hb = max(self.bulk_size() / unit, hs, ratio * rs)
        r = "sqrt(x*x+y*y+z*z)"
        if self.mesh_size_source is not None:
            return f"min({hb}, {hs}*max({r}, {rs})/{rs})"
        # h_s inside r_s, ratio*r outside: a step at r_s (MathEval has no conditional)
        step = f"min(1, max(0, ({r}-{rs})/{1e-9 * rs}))"
        envelope = f"min({hb}, {hs}+({ratio}*{r}-{hs})*{step})"
        distance = f"abs({r}-{rs})"
        if b > 0:
            distance = f"min({distance}, abs({r}-{b}))"
        return f"min({envelope}, {h0}+{self.growth()}*{distance})"


@register_geometry("dnp_cube")
@dataclasses.dataclass(frozen=True)
class DNPCubeGeometry(_DNPCell, GmshGeometry):
    """[geometry] type = "dnp_cube": periodic cube of side L = n_e^(-1/3) (physics.md 1.2)."""

    _limit_name = "half the cube side L/2"
    #: [solver] preconditioner = "auto" takes geometric multigrid here from 100k DOFs (measured:
    #: benchmarks/README.md section 2)
    multigrid_auto = True

    def outer_radius(self) -> float:
        return 0.5 * self.side()

    def side(self) -> float:
        return cell_side(self.electron_density)

    def bulk_size(self) -> float:
        return self.mesh_scale * (self.mesh_size_bulk or self.side() / 8)

    def builder(self):
        return build_dnp_cube

    def periodic_box(self):
        h = 0.5 * self.side()
        return (-h, -h, -h), (h, h, h), (0, 1, 2)

    def estimate_mesh(self):
        """Tetrahedra of the graded size field in the cube (fem_spin.limits)."""
        h = 0.5 * self.side()
        return self._graded_estimate(lambda x: np.all(np.abs(x) <= h, axis=1), h, h * math.sqrt(3.0),
                                     (2 * h,) * 3)

    def electron_images(self) -> np.ndarray:
        """Electron positions of this cell and its 26 periodic neighbours (m), shape (27, 3)."""
        L = self.side()
        shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
        return shifts * L


@register_geometry("dnp_sphere")
@dataclasses.dataclass(frozen=True)
class DNPSphereGeometry(_DNPCell, GmshGeometry):
    """[geometry] type = "dnp_sphere": Wigner-Seitz sphere, no-flux surface (physics.md 1.2)."""

    def builder(self):
        return build_dnp_sphere

    def estimate_mesh(self):
        """Tetrahedra of the graded size field in the sphere (fem_spin.limits)."""
        R = self.outer_radius()
        return self._graded_estimate(lambda x: np.ones(len(x), dtype=bool), R, R, (2 * R,) * 3)


@register_geometry("dnp_radial")
@dataclasses.dataclass(frozen=True)
class DNPRadialGeometry(_DNPCell):
    """[geometry] type = "dnp_radial": the sphere cell reduced to r in [0, R], weight 4 pi r^2."""

    radial = True
    mesh_dimension = 1
    default_source_cells = 10.0
    default_envelope_cells = 10.0

    def bulk_size(self) -> float:
        return self.mesh_scale * (self.mesh_size_bulk or self.outer_radius() / 100)

    def create_mesh(self, comm, msh_path=None):
        return radial_mesh(self, comm)

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The mesh is the segment r in [0, R] on the x axis."""
        return (0.0, 0.0, 0.0), (self.outer_radius(), 0.0, 0.0)

    def estimate_mesh(self):
        """Intervals of :func:`radial_nodes`, counted without building them: uniform ones of
        h_s inside r_s (b/h_s and (r_s - b)/h_s) when h_0 = h_s, else and outside the cells of
        a march by the size field, int dr phi(h')/h with phi(s) = s/log(1 + s) (exact for a
        size growing linearly by a factor 1 + h' per cell), plus one per segment."""
        from fem_spin.limits import MeshEstimate

        hs, rs, b, R = self.source_size(), self.source_radius, self.barrier_radius, self.outer_radius()
        if self.surface_size() >= hs:
            n = (math.ceil(b / hs) if b > 0 else 0) + max(2, math.ceil((rs - b) / hs))
            n += _march_count(self.mesh_size, rs, R)
        else:
            n = _march_count(self.mesh_size, 0.0, R) + (3 if b > 0 else 1)
        key = "geometry.mesh_size_source" if self.mesh_size_source is not None else "geometry.mesh_size_bulk"
        return MeshEstimate(float(n), float(n) + 1, key)


def _march_count(size, start: float, stop: float) -> float:
    """Cells of :func:`_march` over [start, stop] estimated from the size field alone."""
    r = np.unique(np.concatenate([np.linspace(start, stop, 4001),
                                  start + (stop - start) * np.geomspace(1e-6, 1.0, 2001)]))
    h = np.asarray(size(r), float)
    slope = np.abs(np.gradient(h, r))
    phi = np.where(slope > 1e-9, slope / np.log1p(np.maximum(slope, 1e-9)), 1.0)
    return float(np.trapezoid(phi / h, r)) + 1.0


def _spheres(occ, p: _DNPCell, unit: float) -> list[tuple[int, int]]:
    spheres = [(3, occ.addSphere(0, 0, 0, p.source_radius / unit))]
    if p.barrier_radius > 0:
        spheres.append((3, occ.addSphere(0, 0, 0, p.barrier_radius / unit)))
    return spheres


def _tag_volumes(model, p: _DNPCell, unit: float, volumes: list[tuple[int, int]]) -> None:
    """Name the fragments by their extent: barrier ball, source shell, bulk."""
    groups: dict[int, list[int]] = {SOURCE: [], BARRIER: [], BULK: []}
    rs, b = p.source_radius / unit, p.barrier_radius / unit
    for dim, tag in volumes:
        xa, _, _, xb, _, _ = model.getBoundingBox(dim, tag)
        half = 0.5 * (xb - xa)
        if b > 0 and abs(half - b) < 1e-6 * rs:
            groups[BARRIER].append(tag)
        elif abs(half - rs) < 1e-6 * rs:
            groups[SOURCE].append(tag)
        else:
            groups[BULK].append(tag)
    for tag, name in ((SOURCE, "source"), (BARRIER, "barrier"), (BULK, "bulk")):
        if groups[tag]:
            model.addPhysicalGroup(3, groups[tag], tag=tag, name=name)


def _size_field(model, p: _DNPCell, unit: float) -> None:
    import gmsh

    field = model.mesh.field.add("MathEval")
    model.mesh.field.setString(field, "F", p.size_expression(unit))
    model.mesh.field.setAsBackgroundMesh(field)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)


def build_dnp_cube(model, p: DNPCubeGeometry, unit: float = 1.0) -> None:
    """Cube [-L/2, L/2]^3 with the source (and barrier) spheres, periodic face meshes."""
    occ = model.occ
    h = 0.5 * p.side() / unit
    box = occ.addBox(-h, -h, -h, 2 * h, 2 * h, 2 * h)
    volumes, _ = occ.fragment([(3, box)], _spheres(occ, p, unit))
    occ.synchronize()
    _tag_volumes(model, p, unit, volumes)
    eps = 1e-6 * h
    faces = {}
    for axis, label in enumerate("xyz"):
        for side, sign in (("min", -1), ("max", 1)):
            lo = [-h - eps] * 3
            hi = [h + eps] * 3
            lo[axis] = sign * h - eps
            hi[axis] = sign * h + eps
            found = model.getEntitiesInBoundingBox(*lo, *hi, 2)
            faces[f"{label}{side}"] = [t for _, t in found]
    for i, name in enumerate(sorted(faces)):
        model.addPhysicalGroup(2, faces[name], tag=10 + i, name=name)
    for axis, label in enumerate("xyz"):
        shift = [0.0, 0.0, 0.0]
        shift[axis] = 2 * h
        affine = [1, 0, 0, shift[0], 0, 1, 0, shift[1], 0, 0, 1, shift[2], 0, 0, 0, 1]
        model.mesh.setPeriodic(2, faces[f"{label}max"], faces[f"{label}min"], affine)
    _size_field(model, p, unit)
    model.mesh.generate(3)


def build_dnp_sphere(model, p: DNPSphereGeometry, unit: float = 1.0) -> None:
    """Wigner-Seitz sphere with the source (and barrier) spheres; surface group "outer"."""
    occ = model.occ
    R = p.outer_radius() / unit
    outer = occ.addSphere(0, 0, 0, R)
    volumes, _ = occ.fragment([(3, outer)], _spheres(occ, p, unit))
    occ.synchronize()
    _tag_volumes(model, p, unit, volumes)
    surface = [t for _, t in model.getEntitiesInBoundingBox(-R * 1.01, -R * 1.01, -R * 1.01,
                                                            R * 1.01, R * 1.01, R * 1.01, 2)
               if abs(model.getBoundingBox(2, t)[3] - R) < 1e-6 * R]
    model.addPhysicalGroup(2, surface, tag=10, name="outer")
    _size_field(model, p, unit)
    model.mesh.generate(3)


def _march(start: float, stop: float, size) -> np.ndarray:
    """Nodes from ``start`` to ``stop`` (either direction), each cell the size field at its
    node nearer ``start``; the last node put on ``stop``, a sliver merged into its neighbour."""
    sign = 1.0 if stop > start else -1.0
    nodes, r = [start], start
    while sign * (stop - r) > 0:
        r += sign * float(size(r))
        nodes.append(r)
    nodes = np.asarray(nodes)
    nodes[-1] = stop
    if len(nodes) > 2 and abs(nodes[-1] - nodes[-2]) < 0.5 * abs(nodes[-2] - nodes[-3]):
        nodes = np.delete(nodes, -2)
    return nodes


def radial_nodes(p: _DNPCell) -> np.ndarray:
    """Node radii on [0, R] (m): b and r_s are nodes; inside r_s uniform h_s, or graded from
    the surface size h_0 at r_s (and b) when it is finer; outside graded (:meth:`mesh_size`)."""
    hs, rs, b, R = p.source_size(), p.source_radius, p.barrier_radius, p.outer_radius()
    parts = []
    if p.surface_size() >= hs:
        if b > 0:
            parts.append(np.linspace(0, b, max(2, math.ceil(b / hs)) + 1)[:-1])
        parts.append(np.linspace(b, rs, max(2, math.ceil((rs - b) / hs)) + 1)[:-1])
    else:
        if b > 0:
            parts.append(_march(b, 0.0, p.mesh_size)[::-1][:-1])
            # the shell b < r < r_s graded from both surfaces: march from each to the middle
            mid = 0.5 * (b + rs)
            parts.append(_march(b, mid, p.mesh_size)[:-1])
            parts.append(_march(rs, mid, p.mesh_size)[::-1][:-1])
        else:
            parts.append(_march(rs, 0.0, p.mesh_size)[::-1][:-1])
    parts.append(_march(rs, R, p.mesh_size))
    return np.concatenate(parts)


def radial_mesh(p: DNPRadialGeometry, comm):
    """The 1-D interval mesh of :func:`radial_nodes`, built on rank 0 and distributed."""
    import basix.ufl
    import dolfinx.mesh
    import ufl

    from fem_spin.geometry.base import MeshData

    if comm.rank == 0:
        r = radial_nodes(p)
        x = r.reshape(-1, 1)
        cells = np.column_stack([np.arange(len(r) - 1), np.arange(1, len(r))]).astype(np.int64)
    else:
        x, cells = np.zeros((0, 1)), np.zeros((0, 2), dtype=np.int64)
    domain = ufl.Mesh(basix.ufl.element("Lagrange", "interval", 1, shape=(1,)))
    mesh = dolfinx.mesh.create_mesh(comm, cells, x, domain)
    tdim = mesh.topology.dim
    num_cells = mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, np.arange(num_cells, dtype=np.int32))[:, 0]
    values = np.where(mid < p.barrier_radius, BARRIER, np.where(mid < p.source_radius, SOURCE, BULK))
    cell_tags = dolfinx.mesh.meshtags(mesh, tdim, np.arange(num_cells, dtype=np.int32),
                                      values.astype(np.int32))
    mesh.topology.create_connectivity(0, tdim)
    R = p.outer_radius()
    centre = dolfinx.mesh.locate_entities_boundary(mesh, 0, lambda x: np.isclose(x[0], 0.0, atol=1e-9 * R))
    outer = dolfinx.mesh.locate_entities_boundary(mesh, 0, lambda x: np.isclose(x[0], R, atol=1e-9 * R))
    entities = np.concatenate([centre, outer]).astype(np.int32)
    order = np.argsort(entities)
    values = np.concatenate([np.full(len(centre), 10), np.full(len(outer), 11)]).astype(np.int32)
    facet_tags = dolfinx.mesh.meshtags(mesh, 0, entities[order], values[order])
    cell_groups = {"source": SOURCE, "bulk": BULK}
    if p.barrier_radius > 0:
        cell_groups["barrier"] = BARRIER
    return MeshData(mesh, cell_tags, facet_tags, cell_groups, {"centre": 10, "outer": 11},
                    coordinate_system="spherical_radial")


