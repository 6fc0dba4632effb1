"""Spin Hall magnetoresistance bar (docs/theory/spin_orbit_transport.md sections 6 and 7): a
heavy-metal film on a magnetic insulator. The insulator is not meshed; its contact with the
film is the facet group ``"interface"`` (z = 0), on which the model's mixing boundary
condition acts.

Layout (SI metres): the film spans x in [-length/2, length/2], y in [-width/2, width/2],
z in [0, thickness]. Groups: cell group ``"film"``; facet groups ``"interface"`` (z = 0),
``"top"`` (z = thickness, vacuum), ``"left_end"`` and ``"right_end"`` (x faces: current
contact and ground), ``"probe_left"`` and ``"probe_right"`` (patches of the y = +width/2 side
face of x-extent ``probe_width`` centred at x = -/+ probe_separation/2: the longitudinal
voltage), ``"hall_ymin"`` and ``"hall_ymax"`` (patches of both side faces at x = 0: the
transverse voltage). Probes are surface averages of the charge potential (no current drawn).

Mesh: structured hexahedra. Along x and y cells of ``mesh_size``, the x slabs cut at the probe
patches' edges; through the thickness two halves, each graded geometrically by
``thickness_grading`` from ``surface_cell`` at its face (z = 0 and z = thickness) towards the
middle: the spin accumulation varies on lambda (3.4 nm in Pt) from both faces, and only in z
far from the ends and edges (the 1-D film of note section 6). ``surface_cell`` defaults to a
tenth of the film's spin-flip length from the model (``with_length_scales``), else
thickness/20.
"""

from __future__ import annotations

import dataclasses
import math

from fem_spin.config import ConfigError, derived, param, positive, register_geometry, run_checks
from fem_spin.geometry.base import GmshGeometry

__all__ = ["SMRBarGeometry", "build_smr_bar"]

FILM_TAG = 1
FACET_TAGS = {"interface": 11, "top": 12, "left_end": 13, "right_end": 14, "probe_left": 15,
              "probe_right": 16, "hall_ymin": 17, "hall_ymax": 18}


def _optional_positive(value) -> str | None:
    return None if value is None else positive(value)


@register_geometry("smr_bar")
@dataclasses.dataclass(frozen=True)
class SMRBarGeometry(GmshGeometry):
    """[geometry] type = "smr_bar": a heavy-metal film on a (not meshed) magnetic insulator."""

    length: float = param(200e-9, unit="m", doc="film length along x (current direction)", check=positive)
    width: float = param(50e-9, unit="m", doc="film width along y", check=positive)
    thickness: float = param(5e-9, unit="m", doc="film thickness d (z); the insulator is at z = 0",
                             check=positive)
    probe_separation: float | None = param(None, unit="m", doc="centre distance of the longitudinal "
                                           "probe patches (default length/2)", check=_optional_positive)
    probe_width: float | None = param(None, unit="m", doc="x-extent of every probe patch (default "
                                      "min(width, length/10))", check=_optional_positive)
    mesh_size: float | None = param(None, unit="m", doc="cell size along x and y (default width/4)",
                                    check=_optional_positive)
    surface_cell: float | None = param(None, unit="m", doc="cell size normal to the interface and "
                                       "the top face (default: a tenth of the film's spin-flip "
                                       "length from the model, else thickness/20)",
                                       check=_optional_positive)
    thickness_grading: float = param(1.25, doc="growth ratio of successive cells from each face "
                                     "towards the middle of the film (1: uniform, at most 2)",
                                     check=lambda v: None if 1.0 <= v <= 2.0 else "must be in [1, 2]")
    #: {cell group: spin-flip length (m)} from the model (ModelConfig.length_scales)
    spin_flip_lengths: dict | None = derived(doc="spin-flip length per cell group (m)")

    #: cells per spin-flip length at the faces by default (P1: a 1-D layer of cells h has the
    #: exact spin conductance times sqrt(1 + (h/lambda)^2/4), 0.1 % here)
    CELLS_PER_SPIN_FLIP_LENGTH = 10.0
    PLAUSIBLE_EXTENT = (1e-9, 1e-3)

    def __post_init__(self):
        run_checks(self)
        if not self.probe_offset() + 0.5 * self.patch_width() < 0.5 * self.length:
            raise ConfigError("probe_separation", f"the longitudinal probes must lie on the film: "
                                                  f"probe_separation + probe_width < length "
                                                  f"({self.probe_separation_value():g} + "
                                                  f"{self.patch_width():g} m >= {self.length:g} m)")
        if not self.patch_width() < self.probe_separation_value() / 2:
            raise ConfigError("probe_width", "the probe patches overlap the Hall probes at x = 0: "
                                             "probe_width must be below probe_separation/2")

    def builder(self):
        return build_smr_bar

    def with_length_scales(self, lengths: dict[str, float]) -> "SMRBarGeometry":
        known = {k: float(v) for k, v in lengths.items() if k == "film" and v > 0 and math.isfinite(v)}
        return dataclasses.replace(self, spin_flip_lengths=known) if known else self

    # ----------------------------------------------------------------- derived quantities
    def probe_separation_value(self) -> float:
        return self.probe_separation if self.probe_separation is not None else 0.5 * self.length

    def probe_offset(self) -> float:
        """x of the right longitudinal probe's centre (m); the left one is at -probe_offset."""
        return 0.5 * self.probe_separation_value()

    def patch_width(self) -> float:
        return self.probe_width if self.probe_width is not None else min(self.width, self.length / 10)

    def lateral_size(self) -> float:
        return self.mesh_size if self.mesh_size is not None else self.width / 4

    def face_cell(self) -> float:
        if self.surface_cell is not None:
            return min(self.surface_cell, 0.5 * self.thickness)
        lam = (self.spin_flip_lengths or {}).get("film")
        if lam:
            return min(lam / self.CELLS_PER_SPIN_FLIP_LENGTH, self.thickness / 4)
        return self.thickness / 20

    def half_cells(self) -> int:
        """Cells through each half of the thickness (graded from its face)."""
        half, h0, r = 0.5 * self.thickness, self.face_cell(), self.thickness_grading
        if r == 1.0:
            return max(1, math.ceil(half / h0 - 1e-9))
        return max(1, math.ceil(math.log(1.0 + half * (r - 1.0) / h0) / math.log(r) - 1e-9))

    def x_breaks(self) -> list[float]:
        """Slab boundaries along x (m): the ends and the edges of the probe patches."""
        a, p = self.probe_offset(), 0.5 * self.patch_width()
        return [-0.5 * self.length, -a - p, -a + p, -p, p, a - p, a + p, 0.5 * self.length]

    def slab_cells(self) -> list[int]:
        h = self.lateral_size()
        xs = self.x_breaks()
        return [max(1, round((b - a) / h)) for a, b in zip(xs[:-1], xs[1:])]

    def y_cells(self) -> int:
        return max(1, round(self.width / self.lateral_size()))

    def cross_section(self) -> float:
        return self.width * self.thickness

    def coarsened(self, factor: float) -> dict | None:
        return {"mesh_size": self.lateral_size() * factor, "surface_cell": self.face_cell() * factor}

    def length_scale(self) -> float:
        return max(self.length, self.width, self.thickness)

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return ((-0.5 * self.length, -0.5 * self.width, 0.0), (0.5 * self.length, 0.5 * self.width, self.thickness))

    def estimate_mesh(self):
        """Hexahedra and vertices of the structured mesh, exactly (fem_spin.limits)."""
        from fem_spin.limits import MeshEstimate

        nx, ny, nz = float(sum(self.slab_cells())), float(self.y_cells()), 2.0 * self.half_cells()
        return MeshEstimate(nx * ny * nz, (nx + 1) * (ny + 1) * (nz + 1), "geometry.mesh_size", exact=True)


def build_smr_bar(model, p: SMRBarGeometry, unit: float = 1.0) -> None:
    """The film as x slabs times two z halves, fragmented, meshed with graded transfinite
    hexahedra (rank 0), lengths in ``unit``."""
    from fem_spin.geometry.spin_valve import _transfinite_box

    occ = model.occ
    xs = [x / unit for x in p.x_breaks()]
    w, d = p.width / unit, p.thickness / unit
    halves = ((0.0, 0.5 * d), (0.5 * d, d))
    tags, layout = [], []
    for i, (x0, x1) in enumerate(zip(xs[:-1], xs[1:])):
        for k, (z0, z1) in enumerate(halves):
            tags.append(occ.addBox(x0, -0.5 * w, z0, x1 - x0, w, z1 - z0))
            layout.append((i, k))
    _, out_map = occ.fragment([(3, tags[0])], [(3, t) for t in tags[1:]])
    occ.synchronize()
    volumes = []
    for pieces in out_map:
        found = [t for dim, t in pieces if dim == 3]
        if len(found) != 1:
            raise RuntimeError(f"smr_bar: a block fragmented into {found}")
        volumes.append(found[0])
    model.addPhysicalGroup(3, volumes, tag=FILM_TAG, name="film")

    tol = 1e-3 * min(p.thickness, p.patch_width(), p.width) / unit
    a, half = p.probe_offset() / unit, 0.5 * p.patch_width() / unit

    def faces(x0, x1, y0, y1, z0, z1):
        return sorted(t for _, t in model.getEntitiesInBoundingBox(x0 - tol, y0 - tol, z0 - tol,
                                                                     x1 + tol, y1 + tol, z1 + tol, 2))

    x_lo, x_hi, y_lo, y_hi = xs[0], xs[-1], -0.5 * w, 0.5 * w
    groups = {"interface": faces(x_lo, x_hi, y_lo, y_hi, 0.0, 0.0),
              "top": faces(x_lo, x_hi, y_lo, y_hi, d, d),
              "left_end": faces(x_lo, x_lo, y_lo, y_hi, 0.0, d),
              "right_end": faces(x_hi, x_hi, y_lo, y_hi, 0.0, d),
              "probe_left": faces(-a - half, -a + half, y_hi, y_hi, 0.0, d),
              "probe_right": faces(a - half, a + half, y_hi, y_hi, 0.0, d),
              "hall_ymin": faces(-half, half, y_lo, y_lo, 0.0, d),
              "hall_ymax": faces(-half, half, y_hi, y_hi, 0.0, d)}
    expected = {"interface": 7, "top": 7}
    for name, found in groups.items():
        if len(found) != expected.get(name, 2):
            raise RuntimeError(f"smr_bar: face {name}: found surfaces {found}")
        model.addPhysicalGroup(2, found, tag=FACET_TAGS[name], name=name)

    slab_cells, ny, nz = p.slab_cells(), p.y_cells(), p.half_cells()
    grading = p.thickness_grading
    for volume, (i, k) in zip(volumes, layout):
        fine = 0.0 if k == 0 else d      # each half graded from its own face
        _transfinite_box(model, volume, (slab_cells[i], ny, nz), recombine=True,
                         grading=[None, None, (grading, fine) if grading > 1.0 else None])
    model.mesh.generate(3)
