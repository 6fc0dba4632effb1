"""MRFM sample film under a magnetic tip (physics.md sections 4 and 5).

* ``mrfm_film`` -- the sample: a film of lateral size ``film_size = (lx, ly)`` and thickness
  ``film_thickness`` occupying x in [-lx/2, lx/2], y in [-ly/2, ly/2], z in [-t, 0] (SI
  metres), so its top face is the plane z = 0. The tip apex sits at
  ``(tip_x, tip_y, gap)``, a distance ``gap`` above the film top, and must lie above the
  film (|tip_x| <= lx/2, |tip_y| <= ly/2). Tip shapes (magnetized along any direction; the
  magnetization is model physics, not geometry):

  - ``"sphere"``: radius ``tip_radius``, centre at apex + tip_radius z_hat;
  - ``"cylinder_cone"``: a cone of length ``cone_length`` and half-angle
    ``cone_half_angle`` (degrees) with its apex at the bottom, top radius
    r = cone_length tan(half-angle), and on top of it a cylinder of radius r and length
    ``cylinder_length`` (0: a bare cone).

  :func:`build_mrfm_film` meshes the film only (the mesh of the transport model): cell
  group ``"sample"``, facet groups ``"top"`` (z = 0), ``"bottom"`` (z = -t) and ``"sides"``.
  Unstructured tetrahedra, ``mesh_size_min`` within ``grading_distance/4`` of the apex
  projection (tip_x, tip_y, 0), growing linearly to ``mesh_size_max`` at
  ``grading_distance`` from it (a gmsh distance + Threshold field); when the projection
  lies inside the top face it is a mesh node.

* :func:`build_tip_air_domain` -- the magnetostatics domain for the FEM tip field
  (:mod:`fem_spin.solvers.magnetostatics`): an air box containing the tip and the film
  region, extending ``air_margin`` tip sizes (:meth:`MRFMFilmGeometry.tip_size`) beyond
  both, fragmented with them (OpenCASCADE ``fragment``) so the mesh is conforming. Cell
  groups ``"sample"`` (the film region), ``"tip"`` and ``"air"``; facet group ``"outer"``
  (the six faces of the box). Element sizes: the film grading in and next to the film,
  ``mesh_size_min`` in the gap under the apex, ``tip_mesh_size`` on the tip surface near its
  apex and at most a quarter of the tip's lateral radius elsewhere on it, growing (by half
  the distance) to the far size max(mesh_size_max, tip size) towards the box.

Point distances in the size fields are gmsh ``MathEval`` expressions (exact, and available
whether or not the point is a model vertex) fed to ``Threshold`` fields.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal

import numpy as np

from fem_spin.config import ConfigError, non_negative, param, positive, register_geometry, run_checks
from fem_spin.errors import ModelError
from fem_spin.geometry.base import GmshGeometry

__all__ = ["MRFMFilmGeometry", "build_mrfm_film", "build_tip_air_domain"]

# physical group tags
SAMPLE_TAG, TIP_TAG, AIR_TAG = 1, 2, 3
FACET_TAGS = {"top": 11, "bottom": 12, "sides": 13, "outer": 20}
#: size growth per unit distance of the grading fields in the air (0.5: each element at
#: most ~1.5 times its neighbour closer to the tip)
_AIR_GRADING = 0.5


def _optional_positive(value) -> str | None:
    return None if value is None else positive(value)


def _open_angle(value) -> str | None:
    return None if 0.0 < value < 90.0 else f"must lie in (0, 90) degrees (got {value})"


@register_geometry("mrfm_film")
@dataclasses.dataclass(frozen=True)
class MRFMFilmGeometry(GmshGeometry):
    """[geometry] type = "mrfm_film": a sample film under an MRFM tip (physics.md 4, 5)."""

    has_tip = True

    film_size: tuple[float, float] = param((1e-6, 1e-6), unit="m", doc="lateral film size "
                                           "(lx, ly): x in [-lx/2, lx/2], y in [-ly/2, ly/2]",
                                           check=positive)
    film_thickness: float = param(100e-9, unit="m", doc="film thickness t: z in [-t, 0]",
                                  check=positive)
    gap: float = param(100e-9, unit="m", doc="height of the tip apex above the film top (z = gap)",
                       check=positive)
    tip_x: float = param(0.0, unit="m", doc="x of the tip apex (within the film: |tip_x| <= lx/2)")
    tip_y: float = param(0.0, unit="m", doc="y of the tip apex (within the film: |tip_y| <= ly/2)")
    tip_shape: Literal["sphere", "cylinder_cone"] = param(
        "sphere", doc="'sphere' (tip_radius) or 'cylinder_cone' (cone_length, cone_half_angle, "
                      "cylinder_length)")
    tip_radius: float = param(100e-9, unit="m", doc="radius of the sphere tip (centre at "
                              "apex + tip_radius z_hat)", check=positive)
    cone_length: float = param(300e-9, unit="m", doc="length of the cone (apex at the bottom) of a "
                               "cylinder_cone tip", check=positive)
    cone_half_angle: float = param(20.0, unit="deg", doc="half opening angle of the cone, in "
                                   "(0, 90) degrees", check=_open_angle)
    cylinder_length: float = param(300e-9, unit="m", doc="length of the cylinder on top of the "
                                   "cone (radius: the cone's top radius; 0: a bare cone)",
                                   check=non_negative)
    mesh_size_min: float = param(20e-9, unit="m", doc="element size near the apex projection "
                                 "(tip_x, tip_y, 0) on the film top", check=positive)
    mesh_size_max: float = param(200e-9, unit="m", doc="element size far from the apex projection",
                                 check=positive)
    grading_distance: float | None = param(None, unit="m", doc="distance from the apex projection "
                                           "at which the size reaches mesh_size_max (size "
                                           "mesh_size_min within a quarter of it; default 4 gap)",
                                           check=_optional_positive)
    tip_mesh_size: float | None = param(None, unit="m", doc="element size on the tip near its apex "
                                        "in the magnetostatics mesh (default min(2 mesh_size_min, "
                                        "tip size / 8))", check=_optional_positive)

    def __post_init__(self):
        run_checks(self)
        if self.tip_shape not in ("sphere", "cylinder_cone"):
            raise ConfigError("tip_shape", f"must be 'sphere' or 'cylinder_cone' "
                                           f"(got {self.tip_shape!r})")
        if len(self.film_size) != 2:
            raise ConfigError("film_size", f"must be two lengths (lx, ly) (got {self.film_size})")
        object.__setattr__(self, "film_size", tuple(float(v) for v in self.film_size))
        lx, ly = self.film_size
        for key, value, half in (("tip_x", self.tip_x, 0.5 * lx), ("tip_y", self.tip_y, 0.5 * ly)):
            if not abs(value) <= half:
                raise ConfigError(key, f"the tip must lie above the film: |{key}| <= "
                                       f"{half:g} m (got {value:g} m)")
        if self.mesh_size_min > self.mesh_size_max:
            raise ConfigError("mesh_size_min",
                              f"must not exceed mesh_size_max ({self.mesh_size_min:g} m > "
                              f"{self.mesh_size_max:g} m)")

    # ----------------------------------------------------------------- derived quantities
    def builder(self):
        return build_mrfm_film

    def length_scale(self) -> float:
        """max(lx, ly) (m): gmsh builds in this unit, so coordinates are O(1)."""
        return max(self.film_size)

    #: MRFM samples: nm films to mm (config.py: others warn)
    PLAUSIBLE_EXTENT = (1e-9, 1e-3)

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The film's bounding box (m)."""
        return self.film_box()

    def grading_size(self, r: np.ndarray) -> np.ndarray:
        """Element size (m) of the film at distance ``r`` (m) from the apex projection."""
        g = self.grading()
        h0, h1 = self.mesh_size_min, self.mesh_size_max
        return h0 + (h1 - h0) * np.clip((r - 0.25 * g) / (0.75 * g), 0.0, 1.0)

    def estimate_mesh(self):
        """Tetrahedra of the graded film (fem_spin.limits)."""
        from fem_spin.limits import MeshEstimate, point_graded_count, tet_count, tet_vertices

        lo, hi = (np.asarray(c) for c in self.film_box())
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                            for z in (lo[2], hi[2])])
        centre = np.asarray(self.apex_projection())
        r_max = float(np.max(np.linalg.norm(corners - centre, axis=1)))
        extents = (*self.film_size, self.film_thickness)
        g = self.grading()
        total, _ = point_graded_count(
            self.grading_size, centre, lambda x: np.all((x >= lo) & (x <= hi), axis=1), r_max,
            extents, knots=[0.25 * g, g])
        coarse = tet_count(self.film_volume(), self.mesh_size_max, extents)
        key = "geometry.mesh_size_min" if total > 2 * coarse else "geometry.mesh_size_max"
        return MeshEstimate(total, tet_vertices(total), key)

    def estimate_air_domain(self, air_margin: float = 3.0):
        """Cells of the magnetostatics mesh (:func:`build_tip_air_domain`), roughly and on
        the large side: the film's, plus the air box graded (by half the distance) from the
        finest size near the apex to the far size."""
        from fem_spin.limits import MeshEstimate, point_graded_count, tet_vertices

        lo, hi = (np.asarray(c) for c in self.air_box(air_margin))
        apex = np.asarray(self.apex())
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                            for z in (lo[2], hi[2])])
        r_max = float(np.max(np.linalg.norm(corners - apex, axis=1)))
        h0 = min(self.mesh_size_min, self.tip_size_near_apex())
        far = self.air_far_size()
        r0 = 0.25 * self.grading()

        def size(r):
            return np.clip(h0 + _AIR_GRADING * (r - r0), h0, far)

        air, _ = point_graded_count(size, apex, lambda x: np.all((x >= lo) & (x <= hi), axis=1),
                                    r_max, tuple(hi - lo), knots=[r0, r0 + (far - h0) / _AIR_GRADING])
        total = air + self.estimate_mesh().cells
        return MeshEstimate(total, tet_vertices(total), "geometry.mesh_size_min")

    def film_volume(self) -> float:
        """lx ly t (m^3)."""
        return self.film_size[0] * self.film_size[1] * self.film_thickness

    def film_box(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """(lower corner, upper corner) of the film (m)."""
        lx, ly = self.film_size
        return (-0.5 * lx, -0.5 * ly, -self.film_thickness), (0.5 * lx, 0.5 * ly, 0.0)

    def apex(self) -> tuple[float, float, float]:
        """Position (tip_x, tip_y, gap) of the tip apex (m)."""
        return (self.tip_x, self.tip_y, self.gap)

    def apex_projection(self) -> tuple[float, float, float]:
        """The point (tip_x, tip_y, 0) of the film top right under the apex (m)."""
        return (self.tip_x, self.tip_y, 0.0)

    def cone_top_radius(self) -> float:
        """Top radius cone_length tan(cone_half_angle) of the cone (and cylinder) (m)."""
        return self.cone_length * math.tan(math.radians(self.cone_half_angle))

    def tip_height(self) -> float:
        """Extent of the tip along z (m): 2 R, or cone_length + cylinder_length."""
        if self.tip_shape == "sphere":
            return 2.0 * self.tip_radius
        return self.cone_length + self.cylinder_length

    def tip_lateral_radius(self) -> float:
        """Largest distance of the tip from its axis (m): R or the cone's top radius."""
        return self.tip_radius if self.tip_shape == "sphere" else self.cone_top_radius()

    def tip_size(self) -> float:
        """Largest extent of the tip (m): max(height, diameter)."""
        return max(self.tip_height(), 2.0 * self.tip_lateral_radius())

    def tip_volume(self) -> float:
        """Exact tip volume (m^3): 4/3 pi R^3, or pi r^2 (cone_length/3 + cylinder_length)."""
        if self.tip_shape == "sphere":
            return 4.0 / 3.0 * math.pi * self.tip_radius**3
        r = self.cone_top_radius()
        return math.pi * r**2 * (self.cone_length / 3.0 + self.cylinder_length)

    def tip_center(self) -> tuple[float, float, float]:
        """Centre of volume of the tip (m): the sphere centre, or the cone + cylinder centroid.

        The cone's centroid lies 3/4 of its length above the apex, the cylinder's at half
        its length above the cone top; the tip's is their volume-weighted mean.
        """
        if self.tip_shape == "sphere":
            return (self.tip_x, self.tip_y, self.gap + self.tip_radius)
        r2 = self.cone_top_radius() ** 2
        v_cone = math.pi * r2 * self.cone_length / 3.0
        v_cyl = math.pi * r2 * self.cylinder_length
        z_cone = self.gap + 0.75 * self.cone_length
        z_cyl = self.gap + self.cone_length + 0.5 * self.cylinder_length
        return (self.tip_x, self.tip_y, (v_cone * z_cone + v_cyl * z_cyl) / (v_cone + v_cyl))

    def grading(self) -> float:
        """The grading distance (m): grading_distance, default 4 gap."""
        return self.grading_distance if self.grading_distance is not None else 4.0 * self.gap

    def tip_size_near_apex(self) -> float:
        """Element size on the tip near its apex in the magnetostatics mesh (m)."""
        if self.tip_mesh_size is not None:
            return self.tip_mesh_size
        return min(2.0 * self.mesh_size_min, self.tip_size() / 8.0)

    def air_far_size(self) -> float:
        """Element size far from tip and film in the magnetostatics mesh (m)."""
        return max(self.mesh_size_max, self.tip_size())

    def air_box(self, air_margin: float) -> tuple[tuple[float, float, float],
                                                 tuple[float, float, float]]:
        """(lower, upper) corner of the air box (m): the bounding box of film and tip widened
        by ``air_margin`` tip sizes on every side."""
        if not air_margin > 0:
            raise ModelError(f"must be > 0 tip sizes (got {air_margin})", key="air_margin")
        (fx0, fy0, fz0), (fx1, fy1, _) = self.film_box()
        r = self.tip_lateral_radius()
        lo = (min(fx0, self.tip_x - r), min(fy0, self.tip_y - r), fz0)
        hi = (max(fx1, self.tip_x + r), max(fy1, self.tip_y + r), self.gap + self.tip_height())
        pad = air_margin * self.tip_size()
        return tuple(c - pad for c in lo), tuple(c + pad for c in hi)

    def air_domain_builder(self, air_margin: float = 3.0):
        """``build(model, params, unit)`` of the magnetostatics domain (``mesh_from_builder``)."""
        self.air_box(air_margin)  # validate
        return functools.partial(build_tip_air_domain, air_margin=air_margin)


# --------------------------------------------------------------------------- gmsh helpers
def _mesh_options() -> None:
    """Element sizes only from the background field (explicit: gmsh options are global)."""
    import gmsh

    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)


def _add_film(occ, p: MRFMFilmGeometry, unit: float) -> int:
    (x0, y0, z0), (x1, y1, z1) = p.film_box()
    return occ.addBox(x0 / unit, y0 / unit, z0 / unit, (x1 - x0) / unit, (y1 - y0) / unit,
                      (z1 - z0) / unit)


def _add_tip(occ, p: MRFMFilmGeometry, unit: float) -> int:
    """The tip volume (one OCC volume; the cone and cylinder are fused)."""
    ax, ay, az = (c / unit for c in p.apex())
    if p.tip_shape == "sphere":
        return occ.addSphere(ax, ay, az + p.tip_radius / unit, p.tip_radius / unit)
    r, lc, lcyl = p.cone_top_radius() / unit, p.cone_length / unit, p.cylinder_length / unit
    cone = occ.addCone(ax, ay, az, 0.0, 0.0, lc, 0.0, r)
    if p.cylinder_length <= 0:
        return cone
    cyl = occ.addCylinder(ax, ay, az + lc, 0.0, 0.0, lcyl, r)
    fused, _ = occ.fuse([(3, cone)], [(3, cyl)])
    volumes = [t for d, t in fused if d == 3]
    if len(volumes) != 1:
        raise RuntimeError(f"mrfm: fusing cone and cylinder gave volumes {volumes}")
    return volumes[0]


def _film_faces(model, p: MRFMFilmGeometry, unit: float) -> dict[str, list[int]]:
    """The surfaces of the film box by name: top (z = 0), bottom (z = -t), sides."""
    (x0, y0, z0), (x1, y1, z1) = ((c / unit for c in corner) for corner in p.film_box())
    tol = 1e-3 * min(p.film_thickness, *p.film_size) / unit

    def inside(xa, ya, za, xb, yb, zb):
        return [t for _, t in model.getEntitiesInBoundingBox(xa - tol, ya - tol, za - tol,
                                                              xb + tol, yb + tol, zb + tol, 2)]

    top, bottom = inside(x0, y0, z1, x1, y1, z1), inside(x0, y0, z0, x1, y1, z0)
    sides = sorted(set(inside(x0, y0, z0, x1, y1, z1)) - set(top) - set(bottom))
    faces = {"top": sorted(top), "bottom": sorted(bottom), "sides": sides}
    for name, want in (("top", 1), ("bottom", 1), ("sides", 4)):
        if len(faces[name]) != want:
            raise RuntimeError(f"mrfm: film face {name}: found surfaces {faces[name]}")
    return faces


def _embed_apex_projection(model, p: MRFMFilmGeometry, unit: float, top: int) -> None:
    """Make (tip_x, tip_y, 0) a mesh node when it lies strictly inside the top face."""
    lx, ly = p.film_size
    margin = 0.5 * p.mesh_size_min
    if abs(p.tip_x) < 0.5 * lx - margin and abs(p.tip_y) < 0.5 * ly - margin:
        pt = model.occ.addPoint(p.tip_x / unit, p.tip_y / unit, 0.0)
        model.occ.synchronize()
        model.mesh.embed(0, [pt], 2, top)


def _distance_from(field, point, unit: float) -> int:
    """A MathEval field: the distance (model units) from ``point`` (m)."""
    x0, y0, z0 = (c / unit for c in point)
    f = field.add("MathEval")
    field.setString(f, "F", f"Sqrt((x-({x0!r}))^2+(y-({y0!r}))^2+(z-({z0!r}))^2)")
    return f


def _box_distance(field, box, unit: float) -> int:
    """A MathEval field: the distance (model units) from the box (lower, upper corner, m);
    0 inside. Uses max(a, 0) = (a + |a|)/2, as MathEval has no max function."""
    terms = []
    for axis, name in enumerate("xyz"):
        centre = 0.5 * (box[0][axis] + box[1][axis]) / unit
        half = 0.5 * (box[1][axis] - box[0][axis]) / unit
        a = f"(Fabs({name}-({centre!r}))-({half!r}))"
        terms.append(f"(({a}+Fabs({a}))/2)^2")
    f = field.add("MathEval")
    field.setString(f, "F", "Sqrt(" + "+".join(terms) + ")")
    return f


def _threshold(field, in_field: int, size_min: float, size_max: float, dist_min: float,
               dist_max: float) -> int:
    f = field.add("Threshold")
    field.setNumber(f, "InField", in_field)
    field.setNumber(f, "SizeMin", size_min)
    field.setNumber(f, "SizeMax", size_max)
    field.setNumber(f, "DistMin", dist_min)
    # DistMax must exceed DistMin (equal sizes give an empty growth interval)
    field.setNumber(f, "DistMax", max(dist_max, dist_min * (1 + 1e-6) + 1e-9))
    return f


def _film_grading(field, p: MRFMFilmGeometry, unit: float) -> int:
    """Threshold of the distance from the apex projection: mesh_size_min within grading/4,
    linear growth to mesh_size_max at the grading distance."""
    g = p.grading() / unit
    dist = _distance_from(field, p.apex_projection(), unit)
    return _threshold(field, dist, p.mesh_size_min / unit, p.mesh_size_max / unit, 0.25 * g, g)


# --------------------------------------------------------------------------- builders
def build_mrfm_film(model, p: MRFMFilmGeometry, unit: float = 1.0) -> None:
    """Create and mesh the film (rank 0), lengths in ``unit`` metres (see module docstring)."""
    occ = model.occ
    vol = _add_film(occ, p, unit)
    occ.synchronize()
    faces = _film_faces(model, p, unit)
    model.addPhysicalGroup(3, [vol], tag=SAMPLE_TAG, name="sample")
    for name in ("top", "bottom", "sides"):
        model.addPhysicalGroup(2, faces[name], tag=FACET_TAGS[name], name=name)
    _embed_apex_projection(model, p, unit, faces["top"][0])
    field = model.mesh.field
    field.setAsBackgroundMesh(_film_grading(field, p, unit))
    _mesh_options()
    model.mesh.generate(3)


def build_tip_air_domain(model, p: MRFMFilmGeometry, unit: float = 1.0,
                         air_margin: float = 3.0) -> None:
    """Create and mesh the magnetostatics domain air box + tip + film region (rank 0).

    The box extends ``air_margin`` tip sizes beyond the bounding box of film and tip; all
    three volumes are fragmented together (conforming mesh). Groups: cells ``"sample"``,
    ``"tip"``, ``"air"``; facets ``"outer"``. Element sizes: the minimum of (i) the film
    grading of :func:`build_mrfm_film` in the film and the air touching it, (ii)
    ``mesh_size_min`` within a quarter grading distance of the apex projection (the gap),
    (iii) ``tip_mesh_size`` at the tip surface within one tip length of the apex (the whole
    sphere; the cone), (iv) a quarter of the tip's lateral radius on the rest of the tip;
    each grows by half the distance up to the far size ``max(mesh_size_max, tip size)``.
    """
    occ = model.occ
    film = _add_film(occ, p, unit)
    tip = _add_tip(occ, p, unit)
    lo, hi = (tuple(c / unit for c in corner) for corner in p.air_box(air_margin))
    box = occ.addBox(*lo, *(h - l for h, l in zip(hi, lo)))
    _, out_map = occ.fragment([(3, box)], [(3, tip), (3, film)])
    occ.synchronize()
    tip_vols = sorted(t for d, t in out_map[1] if d == 3)
    film_vols = sorted(t for d, t in out_map[2] if d == 3)
    air_vols = sorted(t for d, t in out_map[0] if d == 3 and t not in tip_vols + film_vols)
    for name, found in (("tip", tip_vols), ("sample", film_vols), ("air", air_vols)):
        if len(found) != 1:
            raise RuntimeError(f"mrfm air domain: volume {name} fragmented into {found}")
    model.addPhysicalGroup(3, film_vols, tag=SAMPLE_TAG, name="sample")
    model.addPhysicalGroup(3, tip_vols, tag=TIP_TAG, name="tip")
    model.addPhysicalGroup(3, air_vols, tag=AIR_TAG, name="air")
    every = [(3, v) for v in tip_vols + film_vols + air_vols]
    outer = sorted(t for _, t in model.getBoundary(every, combined=True, oriented=False))
    if len(outer) != 6:
        raise RuntimeError(f"mrfm air domain: outer boundary has surfaces {outer}, expected 6")
    model.addPhysicalGroup(2, outer, tag=FACET_TAGS["outer"], name="outer")
    _embed_apex_projection(model, p, unit, _film_faces(model, p, unit)["top"][0])

    tip_surfaces = sorted(t for _, t in model.getBoundary([(3, v) for v in tip_vols],
                                                           oriented=False))
    if p.tip_shape == "cylinder_cone":
        # The default frontal-Delaunay surface mesher produces overlapping triangles at the
        # degenerate apex of the cone surface; plain Delaunay handles it.
        for s in tip_surfaces:
            model.mesh.setAlgorithm(2, s, 5)

    field = model.mesh.field
    far = p.air_far_size() / unit
    h_min, h_tip = p.mesh_size_min / unit, p.tip_size_near_apex() / unit
    # (i) the film region and the air around it (the gap above it, the layer under it) graded
    # as in the film mesh: the Max of the film grading and a size growing with the distance
    # from the film box, which takes over away from the film
    film_near = field.add("Max")
    field.setNumbers(film_near, "FieldsList", [
        _film_grading(field, p, unit),
        _threshold(field, _box_distance(field, p.film_box(), unit), h_min, far, 0.0,
                   (far - h_min) / _AIR_GRADING)])
    # (ii) the air around the apex projection (the gap): mesh_size_min within a quarter of the
    # grading distance, then growing to the far size
    g = 0.25 * p.grading() / unit
    gap = _threshold(field, _distance_from(field, p.apex_projection(), unit), h_min, far, g,
                     g + (far - h_min) / _AIR_GRADING)
    # (iii) the tip surface near the apex: the Max of "near the surface" and "near the apex"
    surf = field.add("Distance")
    field.setNumbers(surf, "SurfacesList", tip_surfaces)
    field.setNumber(surf, "Sampling", 40)
    near_surface = _threshold(field, surf, h_tip, far, 0.0, (far - h_tip) / _AIR_GRADING)
    fine_length = (2.0 * p.tip_radius if p.tip_shape == "sphere" else p.cone_length) / unit
    near_apex = _threshold(field, _distance_from(field, p.apex(), unit), h_tip, far, fine_length,
                           fine_length + (far - h_tip) / _AIR_GRADING)
    near_tip_apex = field.add("Max")
    field.setNumbers(near_tip_apex, "FieldsList", [near_surface, near_apex])
    # (iv) everywhere on the tip at most a quarter of its lateral radius (resolves its
    # curvature: the polygonal cross-section misses ~1 % of the area)
    h_cap = min(0.25 * p.tip_lateral_radius() / unit, far)
    curvature = _threshold(field, surf, h_cap, far, 0.0, (far - h_cap) / _AIR_GRADING)
    total = field.add("Min")
    field.setNumbers(total, "FieldsList", [film_near, gap, near_tip_apex, curvature])
    field.setAsBackgroundMesh(total)
    _mesh_options()
    model.mesh.generate(3)
