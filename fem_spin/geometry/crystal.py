r"""A laser-illuminated single crystal (physics.md 1.3 and 5).

``[geometry] type = "crystal"``: a crystal of ``size = [lx, ly, lz]`` (SI metres), centred
on the origin, pierced by the laser beam, a cylinder of diameter ``beam_diameter`` whose
axis passes through ``beam_point`` along ``beam_direction`` (default: down the z axis,
entering through the top face; any oblique direction is allowed).

* ``shape = "slab"``: the box [-lx/2, lx/2] x [-ly/2, ly/2] x [-lz/2, lz/2]. Faces
  ``"top"`` (z = lz/2), ``"bottom"``, ``"xmin"``, ``"xmax"``, ``"ymin"``, ``"ymax"``.
* ``shape = "prism"``: a monoclinic-looking crystal: a parallelogram in the x-z plane
  extruded along y over [-ly/2, ly/2]. The cleavage faces z = +-lz/2 have width lx; the
  side faces make the angle beta = ``prism_angle`` with the cleavage plane, so the top
  face is shifted by c = lz/tan(beta) along x relative to the bottom one:

  .. math::  x \in [-l_x/2 + (z/l_z)\,c,\ l_x/2 + (z/l_z)\,c], \qquad V = l_x l_y l_z .

  beta = 90 degrees gives the slab. Faces ``"cleavage_top"``, ``"cleavage_bottom"``,
  ``"side_xmin"``, ``"side_xmax"``, ``"ymin"``, ``"ymax"``.

Both shapes are convex polyhedra {x : n_i . x <= o_i} (:meth:`CrystalGeometry.halfspaces`),
which is all :mod:`fem_spin.optics` needs for the depth of a point along the beam.

The builder fragments the crystal with the beam cylinder (OpenCASCADE ``fragment``, the
cylinder long enough to pierce the crystal in any direction; its parts outside the crystal
are removed), so the mesh is conforming across the beam edge. Cell groups
``"illuminated"`` (crystal inside the cylinder) and ``"dark"`` (the rest; absent when the
beam covers the whole crystal): the crystal is their union, i.e. the whole mesh (dolfinx
holds one tag per cell, so the "crystal" of physics.md 5 is ``dx`` without a subdomain, not a
third group). A beam whose edge only grazes a face or runs along an edge of the crystal
gives OpenCASCADE slivers: keep the edge a few h_e away from them. Facet groups: the six outer
faces by name (each may be split by the beam into pieces; the group holds them all) and
``"beam_edge"``, the cylinder's lateral surface inside the crystal (interior facets between
the two cell groups; absent when the beam covers the crystal).

Element sizes (unstructured tetrahedra, deterministic): ``mesh_size_beam_edge`` h_e within
``beam_edge_width``/2 of the beam edge, growing linearly with the distance (by half of it)
to ``mesh_size`` h in the bulk; with ``band_refinement = [d_min, d_max]`` the whole annulus
between those diameters gets h_e (so that averages for every diameter of an error band
are integrated as well as at the nominal one). The distance to the edge is the exact distance
\lvert r(x) - d/2 \rvert from the cylinder's lateral surface, r the distance from the
axis (a gmsh ``MathEval`` field fed to a ``Threshold``, as in :mod:`~fem_spin.geometry.mrfm`):
unlike a sampled ``Distance`` field on the OCC surfaces it needs no sampling density and
does not depend on how OpenCASCADE splits the lateral surface. The polygonal beam edge then
misses a fraction of about (2/3)(h_e/d)^2 of the illuminated volume (a polygon of chords h_e
inscribed in the circle): at most 0.26 % for the default 4 x 4 x 1 mm slab and 2 mm beam
(measured 0.19 %, 14.9k tetrahedra).

The builder works in units of the crystal size (``length_scale``), so mm crystals,
micro-crystals and thin films mesh alike; the mesh is scaled back to metres.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np

from fem_spin.config import ConfigError, param, positive, register_geometry, run_checks
from fem_spin.geometry.base import GmshGeometry
from fem_spin.optics import Beam, beam_covers_crystal, check_beam_hits, polyhedron_vertices

__all__ = ["CrystalGeometry", "build_crystal", "SLAB_FACES", "PRISM_FACES"]

SHAPES = ("slab", "prism")
#: facet group names, in the order of :meth:`CrystalGeometry.faces`
SLAB_FACES = ("top", "bottom", "xmin", "xmax", "ymin", "ymax")
PRISM_FACES = ("cleavage_top", "cleavage_bottom", "side_xmin", "side_xmax", "ymin", "ymax")

# physical group tags
ILLUMINATED_TAG, DARK_TAG = 1, 2
FACE_TAG0, BEAM_EDGE_TAG = 11, 20
#: growth of the element size per unit distance away from the beam edge band
_GRADING = 0.5


def _optional_positive(value) -> str | None:
    return None if value is None else positive(value)


def _prism_angle_check(value) -> str | None:
    # outside (10, 170) degrees the prism degenerates into a sliver
    return None if 10.0 < value < 170.0 else f"must lie in (10, 170) degrees (got {value})"


@register_geometry("crystal")
@dataclasses.dataclass(frozen=True)
class CrystalGeometry(GmshGeometry):
    """[geometry] type = "crystal": a single crystal pierced by a laser beam (physics.md 1.3, 5)."""

    has_beam = True

    shape: Literal["slab", "prism"] = param("slab", doc="'slab' (rectangular box) or 'prism' "
                                            "(parallelogram x-z cross-section extruded along y)")
    size: tuple[float, float, float] = param((4e-3, 4e-3, 1e-3), unit="m",
                                             doc="(lx, ly, lz): cleavage-face width lx, depth ly "
                                             "along y, thickness lz; centred on the origin",
                                             check=positive)
    prism_angle: float = param(60.0, unit="deg", doc="prism: angle between the cleavage plane "
                               "(z = const) and the side faces, in (10, 170); 90 gives the slab",
                               check=_prism_angle_check)
    beam_diameter: float = param(2e-3, unit="m", doc="diameter d of the laser beam (top hat: its "
                                 "edge; Gaussian: the 1/e^2 intensity diameter)", check=positive)
    beam_point: tuple[float, float, float] = param((0.0, 0.0, 0.0), unit="m",
                                                   doc="a point of the beam axis (default: the "
                                                   "crystal centre)")
    beam_direction: tuple[float, float, float] = param((0.0, 0.0, -1.0),
                                                       doc="direction of the light in the crystal "
                                                       "(any length; default: in through the top face)")
    mesh_size: float | None = param(None, unit="m", doc="element size in the bulk (default "
                                    "max(min(size)/4, max(size)/20))", check=_optional_positive)
    mesh_size_beam_edge: float | None = param(None, unit="m", doc="element size at the beam edge "
                                              "(default min(beam_diameter/10, mesh_size/2))",
                                              check=_optional_positive)
    beam_edge_width: float | None = param(None, unit="m", doc="width of the band around the beam "
                                          "edge meshed with mesh_size_beam_edge (default 4 "
                                          "mesh_size_beam_edge)", check=_optional_positive)
    band_refinement: list[float] = param(default_factory=list, unit="m",
                                         doc="[d_min, d_max]: also mesh the annulus between these "
                                             "beam diameters with mesh_size_beam_edge (error bands "
                                             "over the diameter)")

    def __post_init__(self):
        run_checks(self)
        if self.shape not in SHAPES:
            raise ConfigError("shape", f"must be one of {', '.join(map(repr, SHAPES))} "
                                       f"(got {self.shape!r})")
        for key in ("size", "beam_point", "beam_direction"):
            value = getattr(self, key)
            if len(value) != 3:
                raise ConfigError(key, f"must be three numbers (got {list(value)})")
            object.__setattr__(self, key, tuple(float(v) for v in value))
        if self.band_refinement and not (len(self.band_refinement) == 2
                                         and 0 < self.band_refinement[0] < self.band_refinement[1]):
            raise ConfigError("band_refinement", f"must be [d_min, d_max] with 0 < d_min < d_max "
                                                 f"(got {list(self.band_refinement)})")
        norm = math.sqrt(sum(c * c for c in self.beam_direction))
        if not norm > 0 or not math.isfinite(norm):
            raise ConfigError("beam_direction",
                              f"must be a non-zero vector (got {list(self.beam_direction)})")
        if self.bulk_mesh_size() < self.beam_edge_mesh_size():
            raise ConfigError("mesh_size_beam_edge", f"must not exceed mesh_size "
                                                     f"({self.beam_edge_mesh_size():g} m > "
                                                     f"{self.bulk_mesh_size():g} m)")
        try:
            with np.errstate(all="ignore"):  # far-off or huge values: a message, not warnings
                check_beam_hits(self.beam(), *self.halfspaces(), key="beam_point")
        except ConfigError:
            raise
        except (ValueError, RuntimeError) as exc:  # e.g. sizes so disparate that no solid is found
            raise ConfigError("size", f"does not give a solid crystal ({exc}); check size and "
                                      f"prism_angle (lengths in m)") from None

    # ----------------------------------------------------------------- gmsh
    def builder(self):
        return build_crystal

    def length_scale(self) -> float:
        """max(size) (m): gmsh builds in this unit, so coordinates are O(1)."""
        return max(self.size)

    #: micro-crystals and nano-particles to cm-size crystals (config.py: others warn)
    PLAUSIBLE_EXTENT = (1e-9, 0.1)

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The crystal's bounding box (m)."""
        v = self.vertices()
        return tuple(v.min(axis=0).tolist()), tuple(v.max(axis=0).tolist())

    def edge_size(self, rho: np.ndarray) -> np.ndarray:
        """Element size (m) at distance ``rho`` (m) from the beam axis: the Threshold field of
        the builder (mesh_size_beam_edge within half the band of the edge or of the band
        annulus, growing by _GRADING per unit distance to mesh_size)."""
        R = 0.5 * self.beam_diameter
        if self.band_refinement:
            lo = min(self.band_refinement[0], self.beam_diameter) / 2
            hi = max(self.band_refinement[1], self.beam_diameter) / 2
            dist = np.abs(rho - 0.5 * (lo + hi)) - 0.5 * (hi - lo)
        else:
            dist = np.abs(rho - R)
        he, hb = self.beam_edge_mesh_size(), self.bulk_mesh_size()
        inner = 0.5 * self.beam_edge_band()
        ramp = max((hb - he) / _GRADING, 1e-6 * inner)
        return he + (hb - he) * np.clip((dist - inner) / ramp, 0.0, 1.0)

    def estimate_mesh(self):
        """Tetrahedra of the beam-edge size field, integrated over cylinders coaxial with the
        beam (fem_spin.limits)."""
        from fem_spin.limits import MeshEstimate, axis_graded_count, tet_count, tet_vertices

        beam = self.beam()
        normals, offsets = self.halfspaces()
        v = self.vertices() - beam.point_array
        u = beam.direction_array
        rho_max = float(np.max(np.linalg.norm(v - np.outer(v @ u, u), axis=1)))
        R, inner = 0.5 * self.beam_diameter, 0.5 * self.beam_edge_band()
        knots = sorted(k for k in (R - inner, R, R + inner) if k > 0)
        if self.band_refinement:
            knots += [d / 2 for d in self.band_refinement]
        total = axis_graded_count(self.edge_size, beam.point_array, u, normals, offsets,
                                  rho_max, self.size, knots=sorted(knots))
        bulk = tet_count(self.volume(), self.bulk_mesh_size(), self.size)
        total = max(total, bulk)
        key = ("geometry.mesh_size_beam_edge" if total > 2 * bulk or self.mesh_size is None
               else "geometry.mesh_size")
        return MeshEstimate(total, tet_vertices(total), key)

    # ----------------------------------------------------------------- element sizes
    def bulk_mesh_size(self) -> float:
        """Element size in the bulk (m): mesh_size, default max(min(size)/4, max(size)/20)
        (a few elements through the thickness of a slab, at most 20 across a thin film)."""
        if self.mesh_size is not None:
            return self.mesh_size
        default = max(min(self.size) / 4.0, max(self.size) / 20.0)
        return max(default, self.mesh_size_beam_edge or 0.0)

    def beam_edge_mesh_size(self) -> float:
        """Element size at the beam edge (m): mesh_size_beam_edge, default
        min(d/10, mesh_size/2) (31 chords around the edge: 0.7 % of the disc missed at most)."""
        if self.mesh_size_beam_edge is not None:
            return self.mesh_size_beam_edge
        return min(self.beam_diameter / 10.0, 0.5 * self.bulk_mesh_size())

    def beam_edge_band(self) -> float:
        """Width (m) of the band centred on the beam edge meshed at the edge size."""
        if self.beam_edge_width is not None:
            return self.beam_edge_width
        return 4.0 * self.beam_edge_mesh_size()

    # ----------------------------------------------------------------- shape
    def prism_shift(self) -> float:
        """x-offset c = lz/tan(prism_angle) (m) of the top face relative to the bottom one
        (0 for the slab)."""
        if self.shape == "slab":
            return 0.0
        return self.size[2] / math.tan(math.radians(self.prism_angle))

    def face_names(self) -> tuple[str, ...]:
        """Names of the six faces (facet groups), in the order of :meth:`faces`."""
        return SLAB_FACES if self.shape == "slab" else PRISM_FACES

    def faces(self) -> list[tuple[str, np.ndarray, float]]:
        """The faces as (name, outward unit normal, offset o (m)): the face lies in the plane
        n . x = o and the crystal in n . x <= o."""
        lx, ly, lz = self.size
        names = self.face_names()
        normals = [(0.0, 0.0, 1.0), (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0), (1.0, 0.0, 0.0),
                   (0.0, -1.0, 0.0), (0.0, 1.0, 0.0)]
        offsets = [lz / 2, lz / 2, lx / 2, lx / 2, ly / 2, ly / 2]
        if self.shape == "prism":
            # the side x = lx/2 + (z/lz) c has normal (lz, 0, -c)/|.| and offset lx lz/(2 |.|)
            c = self.prism_shift()
            length = math.hypot(lz, c)
            normals[2] = (-lz / length, 0.0, c / length)
            normals[3] = (lz / length, 0.0, -c / length)
            offsets[2] = offsets[3] = lx * lz / (2.0 * length)
        return [(name, np.array(n), float(o)) for name, n, o in zip(names, normals, offsets)]

    def halfspaces(self) -> tuple[np.ndarray, np.ndarray]:
        """(normals (6, 3), offsets (6,)) in metres: the crystal is {x : normals @ x <= offsets}
        (the input of :func:`fem_spin.optics.depth_along_beam`)."""
        faces = self.faces()
        return np.array([n for _, n, _ in faces]), np.array([o for _, _, o in faces])

    def vertices(self) -> np.ndarray:
        """The eight corners (8, 3) (m)."""
        return polyhedron_vertices(*self.halfspaces())

    def volume(self) -> float:
        """lx ly lz (m^3), for the prism too (a parallelogram of base lx and height lz)."""
        lx, ly, lz = self.size
        return lx * ly * lz

    # ----------------------------------------------------------------- beam
    def beam(self, diameter: float | None = None) -> Beam:
        """The laser beam (unit direction), optionally with another ``diameter`` (m)."""
        return Beam(self.beam_point, self.beam_direction,
                    self.beam_diameter if diameter is None else diameter)

    def illuminated_volume(self, diameter: float | None = None) -> float | None:
        """Exact volume (m^3) of crystal ∩ beam cylinder when it has a closed form, else None.

        Write a point of the cylinder as x = a + t u + w (w normal to u, |w| <= R = d/2).
        Face i bounds t by (o_i - n_i . a - n_i . w)/(n_i . u): from above when n_i . u > 0
        (the light leaves through it), from below when n_i . u < 0; a face parallel to the
        beam bounds w only. When one exit face and one entry face are the binding ones over
        the whole disc |w| <= R, no parallel face cuts the disc and the chord stays
        positive, the chord length is affine in w and its disc average is the chord on the
        axis: V = pi R^2 chord(0) (a cylinder cut by two planes; pi d^2/4 lz for a beam
        perpendicular through a slab when the disc fits). When the beam covers the crystal,
        V = volume(). Otherwise (the beam edge crosses a side or an edge of the crystal)
        None.
        """
        beam = self.beam(diameter)
        normals, offsets = self.halfspaces()
        if beam_covers_crystal(beam, normals, offsets):
            return self.volume()
        a, u, R = beam.point_array, beam.direction_array, beam.radius
        tol = 1e-12 * self.length_scale()
        along = normals @ u
        alpha, beta, parallel = [], [], []
        for n, o, nu in zip(normals, offsets, along):
            if abs(nu) <= 1e-12:
                parallel.append(o - n @ a >= R * np.linalg.norm(n - nu * u) - tol)
                continue
            alpha.append((o - n @ a) / nu)
            beta.append((n - nu * u) / nu)
        if not all(parallel):
            return None
        alpha, beta = np.array(alpha), np.array(beta)
        upper = along[np.abs(along) > 1e-12] > 0

        def binding(mask: np.ndarray, sign: float) -> int | None:
            """Index of the face that bounds t (sign +1: from above) over the whole disc."""
            idx = np.flatnonzero(mask)
            best = idx[np.argmin(sign * alpha[idx])]
            for j in idx:
                if sign * (alpha[j] - alpha[best]) < R * np.linalg.norm(beta[j] - beta[best]) - tol:
                    return None
            return best

        top, bottom = binding(upper, 1.0), binding(~upper, -1.0)
        if top is None or bottom is None:
            return None
        chord = alpha[top] - alpha[bottom]
        if chord < R * np.linalg.norm(beta[top] - beta[bottom]) - tol:
            return None
        return math.pi * R**2 * chord


# --------------------------------------------------------------------------- builder
def _add_crystal(occ, p: CrystalGeometry, unit: float) -> int:
    lx, ly, lz = (c / unit for c in p.size)
    if p.shape == "slab":
        return occ.addBox(-lx / 2, -ly / 2, -lz / 2, lx, ly, lz)
    # the parallelogram cross-section at y = -ly/2, extruded along y
    c = p.prism_shift() / unit
    corners = [(-lx / 2 - c / 2, -lz / 2), (lx / 2 - c / 2, -lz / 2),
               (lx / 2 + c / 2, lz / 2), (-lx / 2 + c / 2, lz / 2)]
    points = [occ.addPoint(x, -ly / 2, z) for x, z in corners]
    lines = [occ.addLine(points[i], points[(i + 1) % 4]) for i in range(4)]
    surface = occ.addPlaneSurface([occ.addCurveLoop(lines)])
    volumes = [t for d, t in occ.extrude([(2, surface)], 0.0, ly, 0.0) if d == 3]
    if len(volumes) != 1:
        raise RuntimeError(f"crystal: extruding the prism gave volumes {volumes}")
    return volumes[0]


def _add_beam_cylinder(occ, p: CrystalGeometry, unit: float) -> int:
    """The beam cylinder, reaching beyond the crystal at both ends whatever its direction:
    every crystal point lies within max |vertex| of the origin, so the axis points in the
    crystal have |t| <= |a| + max |vertex| and the caps lie outside it."""
    beam = p.beam()
    a, u = beam.point_array / unit, beam.direction_array
    half = np.linalg.norm(a) + np.linalg.norm(p.vertices(), axis=1).max() / unit + p.beam_diameter / unit
    start = a - half * u
    return occ.addCylinder(*start, *(2.0 * half * u), beam.radius / unit)


def _edge_distance_expression(p: CrystalGeometry, unit: float) -> str:
    """gmsh MathEval expression of |r - d/2| (model units), r the distance from the beam axis."""
    beam = p.beam()
    # plain floats: numpy 2 scalars print as "np.float64(...)", which MathEval cannot parse
    ax, ay, az = (float(c) / unit for c in beam.point)
    ux, uy, uz = beam.direction
    dx, dy, dz = f"(x-({ax!r}))", f"(y-({ay!r}))", f"(z-({az!r}))"
    along = f"({dx}*({ux!r})+{dy}*({uy!r})+{dz}*({uz!r}))"
    # Fabs: |v|^2 - (v.u)^2 rounds to a tiny negative number on the axis
    r = f"Sqrt(Fabs({dx}^2+{dy}^2+{dz}^2-{along}^2))"
    if not p.band_refinement:
        return f"Fabs({r}-({float(beam.radius / unit)!r}))"
    # distance from the annulus R_lo <= r <= R_hi (negative inside: the finest size there)
    lo = min(p.band_refinement[0], p.beam_diameter) / 2 / unit
    hi = max(p.band_refinement[1], p.beam_diameter) / 2 / unit
    return f"Fabs({r}-({float(0.5 * (lo + hi))!r}))-({float(0.5 * (hi - lo))!r})"


def _beam_edge_field(model, p: CrystalGeometry, unit: float) -> int:
    """Threshold of the distance from the beam edge: mesh_size_beam_edge within half the band
    width, growing by half the distance to mesh_size."""
    field = model.mesh.field
    distance = field.add("MathEval")
    field.setString(distance, "F", _edge_distance_expression(p, unit))
    h_edge, h_bulk = p.beam_edge_mesh_size() / unit, p.bulk_mesh_size() / unit
    inner = 0.5 * p.beam_edge_band() / unit
    threshold = field.add("Threshold")
    field.setNumber(threshold, "InField", distance)
    field.setNumber(threshold, "SizeMin", h_edge)
    field.setNumber(threshold, "SizeMax", h_bulk)
    field.setNumber(threshold, "DistMin", inner)
    # DistMax must exceed DistMin (equal sizes give an empty growth interval)
    field.setNumber(threshold, "DistMax", inner + max((h_bulk - h_edge) / _GRADING, 1e-6 * inner))
    return threshold


def _name_outer_faces(model, p: CrystalGeometry, unit: float, surfaces: list[int]) -> dict[str, list[int]]:
    """Sort the outer surfaces into the crystal's faces by the plane their centre lies in."""
    groups: dict[str, list[int]] = {name: [] for name in p.face_names()}
    tol = 1e-6 * p.length_scale() / unit
    for s in surfaces:
        centre = np.array(model.occ.getCenterOfMass(2, s))
        on = [name for name, n, o in p.faces() if abs(n @ centre - o / unit) < tol]
        if len(on) != 1:
            raise RuntimeError(f"crystal: outer surface {s} (centre {centre}) lies on faces {on}")
        groups[on[0]].append(s)
    for name, found in groups.items():
        if not found:
            raise RuntimeError(f"crystal: no surface found for face {name!r}")
    return groups


def build_crystal(model, p: CrystalGeometry, unit: float = 1.0) -> None:
    """Create and mesh the crystal with the beam (rank 0), lengths in ``unit`` metres
    (see the module docstring for the groups and element sizes)."""
    import gmsh

    occ = model.occ
    crystal = _add_crystal(occ, p, unit)
    cylinder = _add_beam_cylinder(occ, p, unit)
    _, out_map = occ.fragment([(3, crystal)], [(3, cylinder)])
    in_crystal = {t for d, t in out_map[0] if d == 3}
    in_beam = {t for d, t in out_map[1] if d == 3}
    illuminated, dark = sorted(in_crystal & in_beam), sorted(in_crystal - in_beam)
    # the parts of the cylinder outside the crystal are not part of the sample
    occ.remove([(3, t) for t in sorted(in_beam - in_crystal)], recursive=True)
    occ.synchronize()
    if not illuminated:
        raise RuntimeError("crystal: the beam cylinder does not intersect the crystal")

    kept = [(3, t) for t in illuminated + dark]
    outer = sorted(t for _, t in model.getBoundary(kept, combined=True, oriented=False))
    every = sorted({t for _, t in model.getBoundary(kept, combined=False, oriented=False)})
    beam_edge = sorted(set(every) - set(outer))

    model.addPhysicalGroup(3, illuminated, tag=ILLUMINATED_TAG, name="illuminated")
    if dark:
        model.addPhysicalGroup(3, dark, tag=DARK_TAG, name="dark")
    for i, (name, surfaces) in enumerate(_name_outer_faces(model, p, unit, outer).items()):
        model.addPhysicalGroup(2, surfaces, tag=FACE_TAG0 + i, name=name)
    if beam_edge:
        model.addPhysicalGroup(2, beam_edge, tag=BEAM_EDGE_TAG, name="beam_edge")

    model.mesh.field.setAsBackgroundMesh(_beam_edge_field(model, p, unit))
    # element sizes only from the background field (explicit: gmsh options are global)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    model.mesh.generate(3)
