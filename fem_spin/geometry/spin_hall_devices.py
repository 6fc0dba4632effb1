"""Spin–orbit transport devices (docs/theory/spin_orbit_transport.md section 7): gmsh builders.

* ``spin_absorption_valve`` - the lateral spin valve of ``lateral_spin_valve`` (N strip along
  x, injector F1 at x = -L/2 and detector F2 at x = +L/2 on top, optional tunnel barriers) with
  a middle wire M (a heavy metal) under N, crossing it along y at ``m_position`` (default the
  midpoint): the spin absorption device (Niimi et al., Phys. Rev. Lett. 109, 156602 (2012) and
  the Py/Cu/Pt absorption experiments before it). Cell groups those of the spin valve plus
  ``"M"``; facet groups those of the spin valve plus ``"M_end_ymin"``, ``"M_end_ymax"`` (the
  wire's ends, where an ISHE voltage across M is read). M spans x in [x_M - m_width/2,
  x_M + m_width/2], y in [-m_length/2, m_length/2], z in [-m_thickness, 0]; its contact with N
  is the m_width x n_width rectangle at z = 0. ``m_length = n_width`` makes M a block exactly
  under N, the lumped absorber of the 1-D network (fem_spin/analytic/spin_absorption.py).

* ``spin_hall_nonlocal`` - the spin Hall nonlocal device of Kimura et al., Phys. Rev. Lett.
  98, 156601 (2007): a ferromagnetic injector F on top of an N bridge along x (F at x = 0),
  the bridge ending on a heavy-metal wire H that runs along y under it (H centred at x = L).
  Cell groups ``"N"``, ``"F"``, ``"H"``; facet groups ``"F_end"`` (far y-end of F's arm),
  ``"F_top"``, ``"N_left_end"`` (x-min face of N), ``"N_right_end"`` (x-max face of N, over H),
  ``"H_end_ymin"``, ``"H_end_ymax"`` (the ends of H). The two measurements: spin injection
  (current F_end -> N_left_end) with the ISHE voltage H_end_ymax - H_end_ymin, and the reverse
  (current along H, H_end_ymin -> H_end_ymax) with the voltage F_end - N_left_end.
  Layout (m): N spans x in [-n_extension, L + h_width/2 + n_overhang], y in [-n_width/2,
  n_width/2], z in [0, n_thickness]; F spans x in [-f_width/2, f_width/2], y in
  [-n_width/2 - f_overhang, n_width/2 + f_arm], z in [n_thickness, n_thickness + f_thickness];
  H spans x in [L - h_width/2, L + h_width/2], y in [-h_length/2, h_length/2], z in
  [-h_thickness, 0].

Meshes: every volume is fragmented with the others (conforming across all contacts);
unstructured tetrahedra of ``mesh_size_junction`` in boxes around the junctions and
``mesh_size`` elsewhere; by default (no ``mesh_size_junction`` given, the model's spin-flip
lengths known) a structured boundary layer on each side of a junction that needs it, growing
by ``mesh_grading`` from a twentieth of the shorter spin-flip length of the two materials --
the grading of ``lateral_spin_valve`` (geometry/spin_valve.py), applied to the F/N junctions
and to the N/M (N/H) contact, including the parts of M (H) beyond the N strip, graded away
from the contact's edge.
"""

from __future__ import annotations

import dataclasses
import math

from fem_spin.config import ConfigError, derived, non_negative, param, positive, register_geometry, run_checks
from fem_spin.geometry.base import GmshGeometry
from fem_spin.geometry.spin_valve import (FACET_TAGS, Box, LateralSpinValveGeometry, _box_tag, _box_volume,
                                          _faces_in, _graded_layer, _intersect, _mesh_options,
                                          _optional_positive, mesh_structured_layers)

__all__ = ["SpinAbsorptionValveGeometry", "SpinHallNonlocalGeometry", "build_box_device"]

#: cell group tags (the spin valve's 1-5, then the spin-orbit devices')
GROUP_TAGS = {"N": 1, "F1": 2, "F2": 3, "barrier1": 4, "barrier2": 5, "M": 6, "F": 7, "H": 8}
#: facet group tags (the spin valve's 11-16, then the spin-orbit devices')
DEVICE_FACET_TAGS = {**FACET_TAGS, "M_end_ymin": 21, "M_end_ymax": 22, "F_end": 23, "F_top": 24,
                     "H_end_ymin": 25, "H_end_ymax": 26}

#: {block name: (cell group, box (m), (nx, ny, nz) cells, per axis None or (ratio, fine end (m)))}
Blocks = dict[str, tuple[str, Box, tuple[int, int, int], tuple]]


def contact_layer_blocks(prefix: str, group: str, box: Box, contact_y: tuple[float, float],
                         interface_z: float, first: float, ratio: float, largest: float) -> Blocks:
    """Structured boundary-layer blocks of the volume ``box`` (cell group ``group``) at a
    contact in the plane z = ``interface_z`` (its bottom or top face) over the y-range
    ``contact_y`` (the N strip's width) and the volume's whole x-range: over the contact,
    cells growing along z by ``ratio`` from ``first`` up to ``largest`` (or through the whole
    volume if it is thinner); where the volume goes on beyond the contact along y, a block on
    either side graded along y away from the contact's edge as well (the accumulation decays
    on the spin-flip length from the edge too). Along x and y over the contact, cells of
    ``largest``. The construction of lateral_spin_valve's electrode layers, for any side."""
    (x0, y0, z0), (x1, y1, z1) = box
    cy0, cy1 = contact_y
    nx, ny = max(1, round((x1 - x0) / largest)), max(1, round((cy1 - cy0) / largest))
    thickness, nz = _graded_layer(first, ratio, largest, z1 - z0)
    if math.isclose(interface_z, z0, abs_tol=1e-3 * (z1 - z0)):
        zlo, zhi = z0, z0 + thickness
    else:
        zlo, zhi = z1 - thickness, z1
    up = (ratio, interface_z)
    out: Blocks = {f"{prefix}_layer": (group, ((x0, cy0, zlo), (x1, cy1, zhi)), (nx, ny, nz), (None, None, up))}
    for side, (edge, available, sign) in {"arm": (cy1, y1 - cy1, 1.0), "overhang": (cy0, cy0 - y0, -1.0)}.items():
        if available <= 0:
            continue
        width, n_side = _graded_layer(first, ratio, largest, available)
        far = edge + sign * width
        out[f"{prefix}_{side}_layer"] = (group, ((x0, min(edge, far), zlo), (x1, max(edge, far), zhi)),
                                         (nx, n_side, nz), (None, (ratio, edge), up))
    return out


def build_box_device(model, p, unit: float = 1.0) -> None:
    """Fragment the boxes ``p.boxes()`` (cell groups) and ``p.graded_blocks()``, name the faces
    ``p.faces()`` ({name: (lo, hi) box (m) the face lies in}), refine ``p.refinement_boxes()``
    to ``p.junction_size()``, mesh (rank 0, lengths in ``unit``). The lateral spin valve's
    builder generalised to any set of box-shaped volumes."""
    occ = model.occ
    boxes, blocks = p.boxes(), p.graded_blocks()
    names = list(boxes)
    tags = [_box_tag(occ, boxes[n], unit) for n in names] + [_box_tag(occ, b[1], unit) for b in blocks.values()]
    _, out_map = occ.fragment([(3, tags[0])], [(3, t) for t in tags[1:]])
    occ.synchronize()
    kind = p.geometry_type
    block_volume = {}
    for name, pieces in zip(blocks, out_map[len(names):]):
        volumes = sorted(t for d, t in pieces if d == 3)
        if len(volumes) != 1:
            raise RuntimeError(f"{kind}: boundary layer {name} fragmented into {volumes}")
        block_volume[name] = volumes[0]
    for name, pieces in zip(names, out_map):
        volumes = sorted(t for d, t in pieces if d == 3)
        inside = {block_volume[b] for b, block in blocks.items() if block[0] == name}
        # boxes only touch: a volume splits only into its own boundary layers and the rest
        if not volumes or not inside <= set(volumes):
            raise RuntimeError(f"{kind}: volume {name} fragmented into {volumes}")
        model.addPhysicalGroup(3, volumes, tag=GROUP_TAGS[name], name=name)

    tol = 0.01 * p.smallest_feature() / unit
    for name, (lo, hi) in p.faces().items():
        found = _faces_in(model, lo, hi, unit, tol)
        if not found:
            raise RuntimeError(f"{kind}: face {name}: no surface found")
        model.addPhysicalGroup(2, found, tag=DEVICE_FACET_TAGS[name], name=name)

    hj, hf = p.junction_size() / unit, p.far_size() / unit
    field = model.mesh.field
    box_fields = []
    for (x0, y0, z0), (x1, y1, z1) in p.refinement_boxes():
        f = field.add("Box")
        field.setNumber(f, "VIn", hj)
        field.setNumber(f, "VOut", hf)
        for key, value in (("XMin", x0), ("XMax", x1), ("YMin", y0), ("YMax", y1), ("ZMin", z0), ("ZMax", z1)):
            field.setNumber(f, key, value / unit)
        field.setNumber(f, "Thickness", 2.0 * hf)
        box_fields.append(f)
    fmin = field.add("Min")
    field.setNumbers(fmin, "FieldsList", box_fields)
    field.setAsBackgroundMesh(fmin)
    _mesh_options()
    mesh_structured_layers(model, p, boxes, GROUP_TAGS, blocks, block_volume, unit, kind)


def _estimate(p, fine_boxes: list[Box]):
    """Tetrahedra per volume (fem_spin.limits): junction size inside ``fine_boxes`` (widened
    by the far size), far size elsewhere, structured blocks exactly (6 per hexahedron)."""
    from fem_spin.limits import MeshEstimate, tet_count, tet_vertices

    hj, hf = p.junction_size(), p.far_size()
    refine = [tuple(tuple(c + s * hf for c in corner) for corner, s in zip(box, (-1, 1))) for box in fine_boxes]
    blocks = p.graded_blocks()
    structured = sum(6.0 * c[0] * c[1] * c[2] for _, _, c, _ in blocks.values())
    structured_vertices = sum((c[0] + 1.0) * (c[1] + 1) * (c[2] + 1) for _, _, c, _ in blocks.values())
    fine = structured
    coarse = 0.0
    for name, box in p.boxes().items():
        extents = [b - a for a, b in zip(*box)]
        layers = sum(_box_volume(b[1]) for b in blocks.values() if b[0] == name)
        inside = min(sum(_box_volume(_intersect(box, r)) for r in refine), _box_volume(box)) - layers
        fine += tet_count(max(inside, 0.0), hj, extents)
        coarse += tet_count(max(_box_volume(box) - layers - max(inside, 0.0), 0.0), hf, extents)
    key = "geometry.mesh_size_junction" if fine >= coarse else "geometry.mesh_size"
    return MeshEstimate(fine + coarse, tet_vertices(fine + coarse - structured) + structured_vertices, key)


# --------------------------------------------------------------------------- spin absorption valve
@register_geometry("spin_absorption_valve")
@dataclasses.dataclass(frozen=True)
class SpinAbsorptionValveGeometry(LateralSpinValveGeometry):
    """[geometry] type = "spin_absorption_valve": lateral spin valve + middle absorber wire M
    under N (the keys of lateral_spin_valve, and the M wire's)."""

    m_width: float = param(100e-9, unit="m", doc="width (x) of the absorber wire M", check=positive)
    m_thickness: float = param(20e-9, unit="m", doc="thickness (z) of M, z in [-m_thickness, 0] "
                               "under the N strip", check=positive)
    m_length: float | None = param(None, unit="m", doc="length (y) of M, centred on the N strip "
                                   "(default n_width + 2 * 3 m_width; n_width: a block exactly under "
                                   "N, the lumped absorber of the 1-D network)",
                                   check=lambda v: None if v is None else positive(v))
    m_position: float = param(0.0, unit="m", doc="x of the centre of M (0: halfway between F1 at "
                              "-L/2 and F2 at +L/2)")

    def __post_init__(self):
        super().__post_init__()
        half_gap = 0.5 * (self.separation - self.f_width)
        if not abs(self.m_position) + 0.5 * self.m_width < half_gap:
            raise ConfigError("m_position", f"the absorber must lie between the electrodes without "
                                            f"touching them: |m_position| + m_width/2 < (separation - "
                                            f"f_width)/2 = {half_gap:g} m")
        if self.m_length is not None and not self.m_length >= self.n_width:
            raise ConfigError("m_length", f"M must cross the N strip: m_length >= n_width "
                                          f"({self.m_length:g} m < {self.n_width:g} m)")

    def builder(self):
        return build_box_device

    def m_length_value(self) -> float:
        return self.m_length if self.m_length is not None else self.n_width + 6.0 * self.m_width

    def absorber_contact_area(self) -> float:
        """N/M contact area A_M = n_width m_width (m^2)."""
        return self.n_width * self.m_width

    def boxes(self) -> dict[str, Box]:
        out = super().boxes()
        half = 0.5 * self.m_length_value()
        x = self.m_position
        out["M"] = ((x - 0.5 * self.m_width, -half, -self.m_thickness), (x + 0.5 * self.m_width, half, 0.0))
        return out

    def smallest_feature(self) -> float:
        features = [self.n_thickness, self.n_width, self.f_width, self.f_thickness, self.m_width,
                    self.m_thickness]
        return min(features + ([self.barrier_thickness] if self.barrier_thickness > 0 else []))

    def absorber_interface_size(self) -> float | None:
        """Element size normal to the N/M contact (m), as interface_size for the electrodes:
        mesh_size_interface, else min(lambda_M, lambda_N)/CELLS_PER_SPIN_FLIP_LENGTH when the
        model gives them and mesh_size_junction is not given; None when the junction size
        resolves it."""
        if self.mesh_size_interface:
            size = self.mesh_size_interface
        elif self.mesh_size_junction is None and self.spin_flip_lengths:
            size = min(self._length("M"), self._length("N")) / self.CELLS_PER_SPIN_FLIP_LENGTH
        else:
            return None
        return size if size < self.junction_size() else None

    def graded_blocks(self):
        out = super().graded_blocks()
        h0 = self.absorber_interface_size()
        if h0 is not None:
            (_, ny0, _), (_, ny1, _) = self.boxes()["N"]
            out.update(contact_layer_blocks("M", "M", self.boxes()["M"], (ny0, ny1), 0.0, h0,
                                            self.mesh_grading, self.junction_size()))
        return out

    def faces(self) -> dict[str, Box]:
        boxes = self.boxes()
        (nx0, ny0, nz0), (nx1, ny1, nz1) = boxes["N"]
        out = {"N_left_end": ((nx0, ny0, nz0), (nx0, ny1, nz1)),
               "N_right_end": ((nx1, ny0, nz0), (nx1, ny1, nz1))}
        for i in (1, 2):
            (fx0, fy0, fz0), (fx1, fy1, fz1) = boxes[f"F{i}"]
            out[f"F{i}_end"] = ((fx0, fy1, fz0), (fx1, fy1, fz1))
            out[f"F{i}_top"] = ((fx0, fy0, fz1), (fx1, fy1, fz1))
        (mx0, my0, mz0), (mx1, my1, mz1) = boxes["M"]
        out["M_end_ymin"] = ((mx0, my0, mz0), (mx1, my0, mz1))
        out["M_end_ymax"] = ((mx0, my1, mz0), (mx1, my1, mz1))
        return out

    def refinement_boxes(self) -> list[Box]:
        out = super().refinement_boxes()
        (mx0, my0, mz0), (mx1, my1, _) = self.boxes()["M"]
        margin = max(self.junction_size(), self.n_thickness)
        out.append(((mx0 - margin, my0 - margin, mz0 - margin), (mx1 + margin, my1 + margin,
                                                                  self.n_thickness + margin)))
        return out

    def estimate_mesh(self):
        return _estimate(self, self.refinement_boxes())

    def coarsened(self, factor: float) -> dict | None:
        keys = super().coarsened(factor)
        size = self.absorber_interface_size()
        if size is not None:
            keys["mesh_size_interface"] = min(size * factor, keys.get("mesh_size_interface", math.inf))
        return keys


# --------------------------------------------------------------------------- spin Hall nonlocal device
@register_geometry("spin_hall_nonlocal")
@dataclasses.dataclass(frozen=True)
class SpinHallNonlocalGeometry(GmshGeometry):
    """[geometry] type = "spin_hall_nonlocal": ferromagnetic injector F on an N bridge that
    ends on a heavy-metal wire H (Kimura et al. 2007). Default dimensions are illustrative."""

    separation: float = param(400e-9, unit="m", doc="distance L from the centre of F (x = 0) to the "
                              "centre of the wire H (x = L)", check=positive)
    n_width: float = param(100e-9, unit="m", doc="width (y) of the N bridge", check=positive)
    n_thickness: float = param(50e-9, unit="m", doc="thickness (z) of N, z in [0, n_thickness]",
                               check=positive)
    n_extension: float = param(1e-6, unit="m", doc="length of N beyond the centre of F away from H "
                               "(N starts at x = -n_extension)", check=positive)
    n_overhang: float = param(0.0, unit="m", doc="length of N beyond the far edge of H",
                              check=non_negative)
    f_width: float = param(100e-9, unit="m", doc="width (x) of F", check=positive)
    f_thickness: float = param(30e-9, unit="m", doc="thickness (z) of F", check=positive)
    f_overhang: float = param(0.0, unit="m", doc="length of F beyond N on the y < 0 side",
                              check=non_negative)
    f_arm: float | None = param(None, unit="m", doc="length of F beyond N towards its contact pad "
                                "(y > 0; default 3 f_width; 0: a pillar on the junction)",
                                check=lambda v: None if v is None else non_negative(v))
    h_width: float = param(100e-9, unit="m", doc="width (x) of the heavy-metal wire H", check=positive)
    h_thickness: float = param(20e-9, unit="m", doc="thickness (z) of H, z in [-h_thickness, 0]",
                               check=positive)
    h_length: float = param(1e-6, unit="m", doc="length (y) of H, centred on the bridge",
                            check=positive)
    mesh_size: float | None = param(None, unit="m", doc="element size far from the junctions "
                                    "(default 4 mesh_size_junction)", check=_optional_positive)
    mesh_size_junction: float | None = param(None, unit="m", doc="element size around the F/N "
                                             "junction and the N/H contact (default half the "
                                             "smallest width or thickness, at most a fifth of the "
                                             "N spin-flip length when the model gives it)",
                                             check=_optional_positive)
    mesh_size_interface: float | None = param(None, unit="m", doc="first layer of the structured "
                                              "boundary layers at the F/N junction and the N/H "
                                              "contact (default: a twentieth of the shorter "
                                              "spin-flip length on either side when the model gives "
                                              "them and mesh_size_junction is not given)",
                                              check=_optional_positive)
    mesh_grading: float = param(1.2, doc="ratio of successive layer thicknesses in the boundary "
                                "layers (1 < ratio <= 2)",
                                check=lambda v: None if 1.0 < v <= 2.0 else "must be in (1, 2]")
    spin_flip_lengths: dict | None = derived(doc="spin-flip length per cell group (m)")

    CELLS_PER_SPIN_FLIP_LENGTH = LateralSpinValveGeometry.CELLS_PER_SPIN_FLIP_LENGTH
    LATERAL_CELLS_PER_SPIN_FLIP_LENGTH = LateralSpinValveGeometry.LATERAL_CELLS_PER_SPIN_FLIP_LENGTH
    PLAUSIBLE_EXTENT = (1e-9, 1e-3)

    def __post_init__(self):
        run_checks(self)
        if not self.separation > 0.5 * (self.f_width + self.h_width):
            raise ConfigError("separation", f"F and H overlap: separation must exceed (f_width + "
                                            f"h_width)/2 = {0.5 * (self.f_width + self.h_width):g} m")
        if not self.n_extension > 0.5 * self.f_width:
            raise ConfigError("n_extension", f"F would hang off the N bridge: n_extension must exceed "
                                             f"f_width/2 ({self.n_extension:g} m <= {0.5 * self.f_width:g} m)")
        if not self.h_length >= self.n_width:
            raise ConfigError("h_length", f"H must cross the bridge: h_length >= n_width "
                                          f"({self.h_length:g} m < {self.n_width:g} m)")

    def builder(self):
        return build_box_device

    def arm_length(self) -> float:
        return self.f_arm if self.f_arm is not None else 3.0 * self.f_width

    def junction_area(self) -> float:
        """F/N contact area f_width n_width (m^2)."""
        return self.f_width * self.n_width

    def n_cross_section(self) -> float:
        return self.n_width * self.n_thickness

    def contact_area(self) -> float:
        """N/H contact area h_width n_width (m^2)."""
        return self.h_width * self.n_width

    def boxes(self) -> dict[str, Box]:
        wN, tN = self.n_width, self.n_thickness
        L = self.separation
        out = {"N": ((-self.n_extension, -0.5 * wN, 0.0), (L + 0.5 * self.h_width + self.n_overhang, 0.5 * wN, tN)),
               "F": ((-0.5 * self.f_width, -0.5 * wN - self.f_overhang, tN),
                     (0.5 * self.f_width, 0.5 * wN + self.arm_length(), tN + self.f_thickness)),
               "H": ((L - 0.5 * self.h_width, -0.5 * self.h_length, -self.h_thickness),
                     (L + 0.5 * self.h_width, 0.5 * self.h_length, 0.0))}
        return out

    def smallest_feature(self) -> float:
        return min(self.n_width, self.n_thickness, self.f_width, self.f_thickness, self.h_width,
                   self.h_thickness)

    def faces(self) -> dict[str, Box]:
        boxes = self.boxes()
        (nx0, ny0, nz0), (nx1, ny1, nz1) = boxes["N"]
        (fx0, fy0, fz0), (fx1, fy1, fz1) = boxes["F"]
        (hx0, hy0, hz0), (hx1, hy1, hz1) = boxes["H"]
        return {"N_left_end": ((nx0, ny0, nz0), (nx0, ny1, nz1)),
                "N_right_end": ((nx1, ny0, nz0), (nx1, ny1, nz1)),
                "F_end": ((fx0, fy1, fz0), (fx1, fy1, fz1)),
                "F_top": ((fx0, fy0, fz1), (fx1, fy1, fz1)),
                "H_end_ymin": ((hx0, hy0, hz0), (hx1, hy0, hz1)),
                "H_end_ymax": ((hx0, hy1, hz0), (hx1, hy1, hz1))}

    # ---- mesh sizes (as lateral_spin_valve's)
    def with_length_scales(self, lengths: dict[str, float]) -> "SpinHallNonlocalGeometry":
        known = {k: float(v) for k, v in lengths.items() if k in self.boxes() and v > 0}
        return dataclasses.replace(self, spin_flip_lengths=known) if known else self

    def _length(self, name: str) -> float:
        return (self.spin_flip_lengths or {}).get(name, math.inf)

    def junction_size(self) -> float:
        if self.mesh_size_junction:
            return self.mesh_size_junction
        size = 0.5 * min(self.f_width, self.n_width, self.n_thickness, self.f_thickness, self.h_width)
        return min(size, self._length("N") / self.LATERAL_CELLS_PER_SPIN_FLIP_LENGTH)

    def far_size(self) -> float:
        if self.mesh_size:
            return self.mesh_size
        hj = self.junction_size()
        return max(hj, min(4.0 * hj, self._length("N") / self.LATERAL_CELLS_PER_SPIN_FLIP_LENGTH))

    def interface_size(self, group: str) -> float | None:
        """First-layer size normal to the contact of ``group`` ("F" or "H") with N (m), or None."""
        if self.mesh_size_interface:
            size = self.mesh_size_interface
        elif self.mesh_size_junction is None and self.spin_flip_lengths:
            size = min(self._length(group), self._length("N")) / self.CELLS_PER_SPIN_FLIP_LENGTH
        else:
            return None
        return size if size < self.junction_size() else None

    def graded_blocks(self):
        boxes = self.boxes()
        (_, ny0, _), (_, ny1, _) = boxes["N"]
        out = {}
        for group, z in (("F", self.n_thickness), ("H", 0.0)):
            h0 = self.interface_size(group)
            if h0 is not None:
                out.update(contact_layer_blocks(group, group, boxes[group], (ny0, ny1), z, h0,
                                                self.mesh_grading, self.junction_size()))
        return out

    def refinement_boxes(self) -> list[Box]:
        boxes = self.boxes()
        margin = max(self.junction_size(), self.n_thickness)
        top = boxes["F"][1][2]
        out = []
        for group in ("F", "H"):
            (x0, y0, z0), (x1, y1, _) = boxes[group]
            y0, y1 = (y0, y1) if group == "F" else (boxes["N"][0][1], boxes["N"][1][1])
            out.append(((x0 - margin, y0 - margin, min(z0, 0.0) - margin), (x1 + margin, y1 + margin, top + margin)))
        return out

    def coarsened(self, factor: float) -> dict | None:
        keys = {"mesh_size_junction": self.junction_size() * factor, "mesh_size": self.far_size() * factor}
        layers = [s for s in (self.interface_size("F"), self.interface_size("H")) if s is not None]
        if layers:
            keys["mesh_size_interface"] = min(layers) * factor
        return keys

    def length_scale(self) -> float:
        lo, hi = self.sample_bounds()
        return max(h - l for h, l in zip(hi, lo))

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        boxes = self.boxes().values()
        return (tuple(min(b[0][k] for b in boxes) for k in range(3)),
                tuple(max(b[1][k] for b in boxes) for k in range(3)))

    def estimate_mesh(self):
        return _estimate(self, self.refinement_boxes())
