"""Spin-valve geometries for the Valet-Fert two-current model (physics.md 3.1 and 5).

* ``lateral_spin_valve`` - the nonlocal (lateral) spin valve: a non-magnetic strip N
  along x crossed by two ferromagnetic electrodes lying on top of it, the injector F1
  at x = -L/2 and the detector F2 at x = +L/2, optionally with a tunnel barrier
  between each electrode and the strip (a thin volume whose footprint is the F/N
  overlap). Every volume is fragmented with the others, so the mesh is conforming
  (shared nodes) across the F/N, F/barrier and barrier/N interfaces.

  Cell groups ``"N"``, ``"F1"``, ``"F2"`` (and ``"barrier1"``, ``"barrier2"`` when
  present); facet groups ``"N_left_end"`` (x-min face of N: ground of the injector
  circuit), ``"N_right_end"`` (x-max face of N: nonlocal reference probe),
  ``"F1_end"`` and ``"F2_end"`` (far y-end faces of the electrode arms: injector
  current contact and detector probe), ``"F1_top"`` and ``"F2_top"`` (top faces of the
  electrodes: with ``f_arm = 0`` and ``f_overhang = 0`` each electrode is a pillar on its
  junction, the Takahashi–Maekawa picture of a thick F contacted from above). Unstructured tetrahedra, of size
  ``mesh_size_junction`` in boxes around the two junctions and ``mesh_size`` elsewhere;
  with ``mesh_size_interface`` (by default derived from the model's spin-flip lengths when
  mesh_size_junction is not given) a structured boundary layer in each electrode next to
  its junction: layers growing by ``mesh_grading`` from mesh_size_interface at the F/N
  interface (and away from the interface's edge into the electrode's arm), cells of
  mesh_size_junction along the interface (``graded_blocks``).

  Layout (SI metres): N spans x in [-L/2 - n_extension, L/2 + n_extension],
  y in [-n_width/2, n_width/2], z in [0, n_thickness]. Electrode i spans
  x in [x_i - f_width/2, x_i + f_width/2], y in [-n_width/2 - f_overhang,
  n_width/2 + f_arm], z in [z_i, z_i + f_thickness] with z_i = n_thickness
  (transparent contact) or n_thickness + barrier_thickness (tunnel barrier).

* ``multilayer`` - a stack of layers along z with a rectangular cross-section
  (vertical CPP pillar F/N/F, and the quasi-1-D test bed): a structured transfinite
  hexahedral mesh, ``cells_per_layer`` cells through each layer. Cell groups: the
  layer names; facet groups ``"bottom"`` (z = 0) and ``"top"`` (z = total thickness).
  The cross-section spans x in [-width/2, width/2], y in [-depth/2, depth/2].
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from fem_spin.config import (ConfigError, cell_count_problem, derived, non_negative, param, positive,
                             register_geometry, run_checks)
from fem_spin.geometry.base import GmshGeometry

__all__ = ["LateralSpinValveGeometry", "MultilayerGeometry", "build_lateral_spin_valve",
           "build_multilayer"]

# physical group tags of the lateral spin valve
N_TAG, F1_TAG, F2_TAG, BARRIER1_TAG, BARRIER2_TAG = 1, 2, 3, 4, 5
FACET_TAGS = {"N_left_end": 11, "N_right_end": 12, "F1_end": 13, "F2_end": 14, "F1_top": 15, "F2_top": 16}

Box = tuple[tuple[float, float, float], tuple[float, float, float]]


def _optional_positive(value) -> str | None:
    return None if value is None else positive(value)


def _mesh_options() -> None:
    """Element sizes only from the background field (explicit: gmsh options are global)."""
    import gmsh

    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)


# --------------------------------------------------------------------------- lateral spin valve
@register_geometry("lateral_spin_valve")
@dataclasses.dataclass(frozen=True)
class LateralSpinValveGeometry(GmshGeometry):
    """[geometry] type = "lateral_spin_valve": nonlocal spin valve N strip + F1, F2 on top."""

    separation: float = param(500e-9, unit="m", doc="centre distance L of the two electrodes "
                              "(F1 at x = -L/2, F2 at x = +L/2)", check=positive)
    n_width: float = param(100e-9, unit="m", doc="width (y) of the non-magnetic strip N",
                           check=positive)
    n_thickness: float = param(50e-9, unit="m", doc="thickness (z) of N, z in [0, n_thickness]",
                               check=positive)
    n_extension: float = param(1e-6, unit="m", doc="length of N beyond each electrode centre: N "
                               "spans x in [-L/2 - n_extension, L/2 + n_extension]", check=positive)
    f_width: float = param(100e-9, unit="m", doc="width (x) of each ferromagnetic electrode",
                           check=positive)
    f_thickness: float = param(20e-9, unit="m", doc="thickness (z) of the electrodes",
                               check=positive)
    f_overhang: float = param(0.0, unit="m", doc="length of each electrode beyond the N strip on "
                              "the y < 0 side", check=non_negative)
    f_arm: float | None = param(None, unit="m", doc="length of each electrode beyond the N strip "
                                "towards its contact pad (y > 0; default 3 f_width; 0: a pillar on "
                                "the junction)", check=lambda v: None if v is None else non_negative(v))
    barrier_thickness: float = param(0.0, unit="m", doc="tunnel-barrier thickness between F and N "
                                     "(0: transparent contacts, no barrier volume)",
                                     check=non_negative)
    barriers: Literal["both", "injector", "detector", "none"] = param(
        "both", doc="which contacts have a barrier when barrier_thickness > 0")
    mesh_size: float | None = param(None, unit="m", doc="element size far from the junctions "
                                    "(default 4 mesh_size_junction)", check=_optional_positive)
    mesh_size_junction: float | None = param(None, unit="m", doc="element size in and around the "
                                             "junctions (default min(f_width, n_width, n_thickness, "
                                             "f_thickness)/2, and at most a fifth of the N "
                                             "strip's spin-diffusion length when the model gives it)",
                                             check=_optional_positive)
    mesh_size_interface: float | None = param(None, unit="m", doc="element size normal to each "
                                              "F/N (or F/barrier/N) interface: the first layer of a "
                                              "structured boundary layer over the junction whose "
                                              "layers grow by mesh_grading away from the interface "
                                              "up to mesh_size_junction (tangential size "
                                              "mesh_size_junction). Default: a twentieth of the shorter "
                                              "spin-diffusion length of the materials on either "
                                              "side, when the model gives them and "
                                              "mesh_size_junction is not given; else no boundary "
                                              "layer", check=_optional_positive)
    mesh_grading: float = param(1.2, doc="ratio of successive layer thicknesses in the interface "
                                "boundary layer (1 < ratio <= 2)",
                                check=lambda v: None if 1.0 < v <= 2.0 else "must be in (1, 2]")
    #: {cell group: spin-flip length (m)} from the model (ModelConfig.length_scales), which
    #: sizes the default mesh (Geometry.with_length_scales); None when meshed without a model
    spin_flip_lengths: dict | None = derived(doc="spin-flip length per cell group (m)")

    def __post_init__(self):
        run_checks(self)
        if self.barriers not in ("both", "injector", "detector", "none"):
            raise ConfigError("barriers", f"must be one of 'both', 'injector', 'detector', 'none' "
                                          f"(got {self.barriers!r})")
        if not self.separation > self.f_width:
            raise ConfigError("separation", f"electrodes overlap: separation must exceed f_width "
                                            f"({self.separation:g} m <= {self.f_width:g} m)")
        if not self.n_extension > 0.5 * self.f_width:
            raise ConfigError("n_extension", f"the electrodes would hang off the N strip: "
                                             f"n_extension must exceed f_width/2 "
                                             f"({self.n_extension:g} m <= {0.5 * self.f_width:g} m)")

    # ----------------------------------------------------------------- derived quantities
    def builder(self):
        return build_lateral_spin_valve

    def arm_length(self) -> float:
        return self.f_arm if self.f_arm is not None else 3.0 * self.f_width

    #: first-layer thickness at an interface per spin-flip length (default sizing), with the
    #: default mesh_grading 1.2: transparent-contact Delta R within 1 % of the converged value
    #: for lambda_F = 5 nm (benchmarks/bench_spin_valve_mesh.py; a 1-D P1 layer meshed
    #: uniformly at h has sqrt(1 + (h/lambda)^2/4) times the exact spin conductance, but the
    #: grading ratio and the edge of the junction dominate the 3-D error)
    CELLS_PER_SPIN_FLIP_LENGTH = 20.0
    #: the junction and far sizes (defaults) resolve the N strip's spin-flip length along it
    LATERAL_CELLS_PER_SPIN_FLIP_LENGTH = 5.0

    def with_length_scales(self, lengths: dict[str, float]) -> "LateralSpinValveGeometry":
        """This geometry sized by the model's spin-flip lengths ({cell group: m})."""
        known = {k: float(v) for k, v in lengths.items() if k in self.boxes() and v > 0}
        if not known:
            return self
        return dataclasses.replace(self, spin_flip_lengths=known)

    def _length(self, name: str) -> float:
        return (self.spin_flip_lengths or {}).get(name, math.inf)

    def junction_size(self) -> float:
        if self.mesh_size_junction:
            return self.mesh_size_junction
        size = 0.5 * min(self.f_width, self.n_width, self.n_thickness, self.f_thickness)
        return min(size, self._length("N") / self.LATERAL_CELLS_PER_SPIN_FLIP_LENGTH)

    def far_size(self) -> float:
        if self.mesh_size:
            return self.mesh_size
        hj = self.junction_size()
        return max(hj, min(4.0 * hj, self._length("N") / self.LATERAL_CELLS_PER_SPIN_FLIP_LENGTH))

    def coarsened(self, factor: float) -> dict | None:
        keys = {"mesh_size_junction": self.junction_size() * factor, "mesh_size": self.far_size() * factor}
        layers = [s for s in (self.interface_size(1), self.interface_size(2)) if s is not None]
        if layers:
            keys["mesh_size_interface"] = min(layers) * factor
        return keys

    def interface_size(self, electrode: int) -> float | None:
        """Element size normal to the junction of electrode 1 or 2 (m): mesh_size_interface,
        else (no mesh_size_junction given) 1/CELLS_PER_SPIN_FLIP_LENGTH of the shorter spin-flip length on either
        side; None when the junction size already resolves it (no boundary layer)."""
        if self.mesh_size_interface:
            size = self.mesh_size_interface
        elif self.mesh_size_junction is None and self.spin_flip_lengths:
            size = min(self._length(f"F{electrode}"), self._length("N")) / self.CELLS_PER_SPIN_FLIP_LENGTH
        else:
            return None
        return size if size < self.junction_size() else None

    def graded_blocks(self) -> dict[str, tuple[str, Box, tuple[int, int, int], tuple]]:
        """The structured boundary-layer blocks at each junction: {block name: (cell group,
        box (m), (nx, ny, nz) cells, per axis None or (ratio, coordinate (m) of the fine
        end))}. In each electrode, the slab next to the interface: over the F/N overlap
        (cells along z growing from mesh_size_interface by mesh_grading up to
        mesh_size_junction, or through the whole electrode if it is thinner; along x and y
        mesh_size_junction) and, where the electrode goes on beyond the N strip (arm,
        overhang), a block on either side graded along y as well, away from the edge of the
        interface (the spin accumulation decays on lambda_F from the interface's edge there
        too). Under the junction, on the N side, one more block when the N strip's
        spin-flip length is not resolved by the junction size either."""
        hj, g = self.junction_size(), self.mesh_grading
        boxes = self.boxes()
        out = {}
        (_, ny0, _), (_, ny1, _) = boxes["N"]
        for i in (1, 2):
            h0 = self.interface_size(i)
            if h0 is None:
                continue
            (fx0, fy0, fz0), (fx1, fy1, fz1) = boxes[f"F{i}"]
            nx, ny = max(1, round((fx1 - fx0) / hj)), max(1, round((ny1 - ny0) / hj))
            thickness, nz = _graded_layer(h0, g, hj, fz1 - fz0)
            up = (g, fz0)
            out[f"F{i}_layer"] = (f"F{i}", ((fx0, ny0, fz0), (fx1, ny1, fz0 + thickness)),
                                  (nx, ny, nz), (None, None, up))
            for side, (edge, available, sign) in {"arm": (ny1, fy1 - ny1, 1.0),
                                                  "overhang": (ny0, ny0 - fy0, -1.0)}.items():
                if available <= 0:
                    continue
                width, n_side = _graded_layer(h0, g, hj, available)
                far = edge + sign * width
                out[f"F{i}_{side}_layer"] = (f"F{i}", ((fx0, min(edge, far), fz0),
                                                       (fx1, max(edge, far), fz0 + thickness)),
                                             (nx, n_side, nz), (None, (g, edge), up))
            if self.mesh_size_interface is None and \
                    self._length("N") / self.CELLS_PER_SPIN_FLIP_LENGTH < hj:
                thickness, nz = _graded_layer(h0, g, hj, self.n_thickness)
                hN = self.n_thickness
                out[f"N_layer{i}"] = ("N", ((fx0, ny0, hN - thickness), (fx1, ny1, hN)),
                                      (nx, ny, nz), (None, None, (g, hN)))
        return out

    def layer_thickness(self, name: str) -> float | None:
        """barrier_thickness for the tunnel barriers (cell groups barrier1, barrier2), else None."""
        if name.startswith("barrier") and self.barrier_thickness:
            return float(self.barrier_thickness)
        return None

    def has_barrier(self, electrode: int) -> bool:
        """Whether electrode 1 (injector) or 2 (detector) has a tunnel-barrier volume."""
        if self.barrier_thickness <= 0:
            return False
        return self.barriers == "both" or self.barriers == ("injector", "detector")[electrode - 1]

    def electrode_centre(self, electrode: int) -> float:
        """x of the centre of electrode 1 (-L/2) or 2 (+L/2) (m)."""
        return (-0.5, 0.5)[electrode - 1] * self.separation

    def n_length(self) -> float:
        return self.separation + 2.0 * self.n_extension

    def junction_area(self) -> float:
        """F/N overlap (contact) area A_J = f_width n_width (m^2)."""
        return self.f_width * self.n_width

    def n_cross_section(self) -> float:
        """Cross-section A_N = n_width n_thickness of the N strip (m^2)."""
        return self.n_width * self.n_thickness

    def boxes(self) -> dict[str, Box]:
        """Every volume as (lower corner, upper corner) in metres, by cell-group name."""
        hN, wN, wF = self.n_thickness, self.n_width, self.f_width
        half = 0.5 * self.n_length()
        out = {"N": ((-half, -0.5 * wN, 0.0), (half, 0.5 * wN, hN))}
        for i in (1, 2):
            xc = self.electrode_centre(i)
            z0 = hN
            if self.has_barrier(i):
                z0 = hN + self.barrier_thickness
                out[f"barrier{i}"] = ((xc - 0.5 * wF, -0.5 * wN, hN), (xc + 0.5 * wF, 0.5 * wN, z0))
            out[f"F{i}"] = ((xc - 0.5 * wF, -0.5 * wN - self.f_overhang, z0),
                            (xc + 0.5 * wF, 0.5 * wN + self.arm_length(), z0 + self.f_thickness))
        return out

    def length_scale(self) -> float:
        """The largest extent of the device (m): gmsh builds in this unit (coordinates O(1))."""
        lo, hi = self.sample_bounds()
        return max(h - l for h, l in zip(hi, lo))

    #: nanostructured devices (config.py: others warn)
    PLAUSIBLE_EXTENT = (1e-9, 1e-3)

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The device's bounding box (m)."""
        boxes = self.boxes().values()
        return (tuple(min(b[0][k] for b in boxes) for k in range(3)),
                tuple(max(b[1][k] for b in boxes) for k in range(3)))

    def refinement_boxes(self) -> list[Box]:
        """The two boxes around the junctions meshed at mesh_size_junction (m), as the
        builder's Box fields define them."""
        boxes = self.boxes()
        margin = max(self.junction_size(), self.n_thickness)
        top = max(b[1][2] for b in boxes.values())
        (_, ny0, _), (_, ny1, _) = boxes["N"]
        out = []
        for i in (1, 2):
            (fx0, fy0, _), (fx1, _, _) = boxes[f"F{i}"]
            out.append(((fx0 - margin, min(fy0, ny0) - margin, -margin),
                        (fx1 + margin, ny1 + margin, top + margin)))
        return out

    def estimate_mesh(self):
        """Tetrahedra per volume: mesh_size_junction inside the refinement boxes (widened by
        the far size, half their transition layer), mesh_size outside; the barriers' and the
        boundary layers' structured blocks exactly, 6 tetrahedra per hexahedron
        (fem_spin.limits)."""
        from fem_spin.limits import MeshEstimate, tet_count, tet_vertices

        hj, hf = self.junction_size(), self.far_size()
        refine = [tuple(tuple(c + s * hf for c in corner) for corner, s in zip(box, (-1, 1)))
                  for box in self.refinement_boxes()]
        fine = coarse = 0.0
        structured_vertices = 0.0
        blocks = self.graded_blocks()
        for _, block, counts, _ in blocks.values():   # boundary layers: exact counts
            fine += 6.0 * counts[0] * counts[1] * counts[2]
            structured_vertices += (counts[0] + 1) * (counts[1] + 1) * (counts[2] + 1)
        for name, box in self.boxes().items():
            extents = [b - a for a, b in zip(*box)]
            if name.startswith("barrier"):
                counts = [max(1, round(e / hj)) for e in extents]
                fine += 6.0 * counts[0] * counts[1] * counts[2]
                continue
            volume = _box_volume(box) - sum(_box_volume(b[1]) for b in blocks.values() if b[0] == name)
            inside = (_box_volume(_intersect(box, refine[0])) + _box_volume(_intersect(box, refine[1]))
                      - _box_volume(_intersect(_intersect(box, refine[0]), refine[1])))
            inside -= sum(_box_volume(b[1]) for b in blocks.values() if b[0] == name)
            fine += tet_count(max(inside, 0.0), hj, extents)
            coarse += tet_count(max(volume - inside, 0.0), hf, extents)
        total = fine + coarse
        key = "geometry.mesh_size_junction" if fine >= coarse else "geometry.mesh_size"
        structured_cells = sum(6.0 * c[0] * c[1] * c[2] for _, _, c, _ in blocks.values())
        vertices = tet_vertices(total - structured_cells) + structured_vertices
        return MeshEstimate(total, vertices, key)


def _graded_layer(first: float, ratio: float, largest: float, available: float) -> tuple[float, int]:
    """(thickness, cells) of a layer graded geometrically from ``first`` by ``ratio`` until a
    cell reaches ``largest``, or through all of ``available`` (then the cells are made
    slightly finer so that they fill it: gmsh's Progression scales them to the length).
    A rest thinner than ``largest`` above the layer is taken into it."""
    n = max(1, math.ceil(math.log(largest / first) / math.log(ratio)))   # cells to reach largest
    thickness = first * (ratio**n - 1.0) / (ratio - 1.0)
    if thickness >= available - largest:
        n = max(1, math.ceil(math.log(1.0 + available * (ratio - 1.0) / first) / math.log(ratio)))
        return available, n
    return thickness, n


def _intersect(a: Box, b: Box) -> Box:
    lo = tuple(max(x, y) for x, y in zip(a[0], b[0]))
    hi = tuple(max(l, min(x, y)) for l, x, y in zip(lo, a[1], b[1]))
    return lo, hi


def _box_volume(box: Box) -> float:
    (x0, y0, z0), (x1, y1, z1) = box
    return max(x1 - x0, 0.0) * max(y1 - y0, 0.0) * max(z1 - z0, 0.0)


def _box_tag(occ, box: Box, unit: float) -> int:
    (x0, y0, z0), (x1, y1, z1) = box
    return occ.addBox(x0 / unit, y0 / unit, z0 / unit, (x1 - x0) / unit, (y1 - y0) / unit,
                      (z1 - z0) / unit)


def _faces_in(model, lo, hi, unit: float, tol: float) -> list[int]:
    """Surfaces lying entirely inside the box [lo, hi] (m), widened by tol (model units)."""
    lo = [c / unit - tol for c in lo]
    hi = [c / unit + tol for c in hi]
    return sorted(t for _, t in model.getEntitiesInBoundingBox(*lo, *hi, 2))


def build_lateral_spin_valve(model, p: LateralSpinValveGeometry, unit: float = 1.0) -> None:
    """Create the fragmented N/F1/F2(/barriers) device in gmsh (rank 0), lengths in ``unit``."""
    occ = model.occ
    boxes = p.boxes()
    blocks = p.graded_blocks()
    names = ["N"] + [n for n in ("F1", "F2", "barrier1", "barrier2") if n in boxes]
    tags = [_box_tag(occ, boxes[n], unit) for n in names]
    tags += [_box_tag(occ, block[1], unit) for block in blocks.values()]
    _, out_map = occ.fragment([(3, tags[0])], [(3, t) for t in tags[1:]])
    occ.synchronize()
    group_tag = {"N": N_TAG, "F1": F1_TAG, "F2": F2_TAG, "barrier1": BARRIER1_TAG,
                 "barrier2": BARRIER2_TAG}
    block_volume = {}
    for name, pieces in zip(blocks, out_map[len(names):]):
        volumes = sorted(t for d, t in pieces if d == 3)
        if len(volumes) != 1:
            raise RuntimeError(f"lateral_spin_valve: boundary layer {name} fragmented into {volumes}")
        block_volume[name] = volumes[0]
    for name, pieces in zip(names, out_map):
        volumes = sorted(t for d, t in pieces if d == 3)
        inside = {block_volume[b] for b, block in blocks.items() if block[0] == name}
        # the boxes only touch: fragmenting may split a volume only into its boundary layers
        # and one rest (none when a layer fills it; N's layers may cut the strip in pieces)
        if not inside <= set(volumes) or (not inside and len(volumes) != 1) or \
                (name != "N" and len(set(volumes) - inside) > 1):
            raise RuntimeError(f"lateral_spin_valve: volume {name} fragmented into {volumes}")
        model.addPhysicalGroup(3, volumes, tag=group_tag[name], name=name)

    # contact faces
    features = [p.n_thickness, p.n_width, p.f_width, p.f_thickness]
    if p.barrier_thickness > 0:
        features.append(p.barrier_thickness)
    tol = 0.01 * min(features) / unit
    (nx0, ny0, nz0), (nx1, ny1, nz1) = boxes["N"]
    faces = {"N_left_end": _faces_in(model, (nx0, ny0, nz0), (nx0, ny1, nz1), unit, tol),
             "N_right_end": _faces_in(model, (nx1, ny0, nz0), (nx1, ny1, nz1), unit, tol)}
    for i in (1, 2):
        (fx0, _, fz0), (fx1, fy1, fz1) = boxes[f"F{i}"]
        faces[f"F{i}_end"] = _faces_in(model, (fx0, fy1, fz0), (fx1, fy1, fz1), unit, tol)
        fy0 = boxes[f"F{i}"][0][1]
        faces[f"F{i}_top"] = _faces_in(model, (fx0, fy0, fz1), (fx1, fy1, fz1), unit, tol)
    for name, found in faces.items():
        # a face is one surface, or several when a boundary layer reaches it (F_top)
        if not found or (len(found) > 1 and not blocks):
            raise RuntimeError(f"lateral_spin_valve: face {name}: found surfaces {found}")
        model.addPhysicalGroup(2, found, tag=FACET_TAGS[name], name=name)

    # mesh size: fine boxes around the junctions, coarse elsewhere
    hj, hf = p.junction_size() / unit, p.far_size() / unit
    field = model.mesh.field
    box_fields = []
    margin = max(p.junction_size(), p.n_thickness)
    top = max(b[1][2] for b in boxes.values())
    for i in (1, 2):
        (fx0, fy0, _), (fx1, _, _) = boxes[f"F{i}"]
        f = field.add("Box")
        field.setNumber(f, "VIn", hj)
        field.setNumber(f, "VOut", hf)
        field.setNumber(f, "XMin", (fx0 - margin) / unit)
        field.setNumber(f, "XMax", (fx1 + margin) / unit)
        field.setNumber(f, "YMin", (min(fy0, ny0) - margin) / unit)
        field.setNumber(f, "YMax", (ny1 + margin) / unit)
        field.setNumber(f, "ZMin", -margin / unit)
        field.setNumber(f, "ZMax", (top + margin) / unit)
        field.setNumber(f, "Thickness", 2.0 * hf)
        box_fields.append(f)
    fmin = field.add("Min")
    field.setNumbers(fmin, "FieldsList", box_fields)
    field.setAsBackgroundMesh(fmin)
    _mesh_options()
    mesh_structured_layers(model, p, boxes, group_tag, blocks, block_volume, unit, "lateral_spin_valve")


def mesh_structured_layers(model, p, boxes: dict, group_tag: dict, blocks: dict, block_volume: dict,
                           unit: float, kind: str) -> None:
    """Generate the 3-D mesh with the tunnel barriers and the boundary-layer blocks structured
    (shared by every device built from lateral-spin-valve parts; ``kind`` names the device in
    errors).

    Barriers: a structured (transfinite) layer of tetrahedra, nodes of its top face right
    above those of its bottom face; left to the Delaunay mesher a nm-thin layer gets Steiner
    points inside and flat cap-shaped elements. Boundary layers: structured blocks over the
    junctions, layers growing geometrically away from the interface (the F/N spin accumulation
    varies on lambda_F normal to it, on the junction's size along it: anisotropic cells
    h_interface x h_junction^2)."""
    for name in ("barrier1", "barrier2"):
        if name in boxes:
            (x0, y0, z0), (x1, y1, z1) = boxes[name]
            counts = [max(1, round((b - a) / p.junction_size())) for a, b in ((x0, x1), (y0, y1), (z0, z1))]
            volume = model.getEntitiesForPhysicalGroup(3, group_tag[name])[0]
            _transfinite_box(model, volume, counts, recombine=False)
    for name, (_, _, counts, grading) in blocks.items():
        _transfinite_box(model, block_volume[name], counts, recombine=False,
                         grading=[None if a is None else (a[0], a[1] / unit) for a in grading])
    model.mesh.generate(3)
    if blocks and _flip_nonconforming_faces(model, list(block_volume.values())):
        # gmsh splits a transfinite hexahedron into tetrahedra along diagonals of its own,
        # which on some faces cross the faces' triangles (the neighbour's tetrahedra then
        # share the nodes but not the facets): those faces are triangulated the other way
        model.mesh.clear()
        model.mesh.generate(3)
        if _flip_nonconforming_faces(model, list(block_volume.values()), flip=False):
            raise RuntimeError(f"{kind}: boundary-layer mesh is not conforming")


def _flip_nonconforming_faces(model, volumes: list[int], flip: bool = True) -> list[int]:
    """Faces of the structured ``volumes`` whose triangles are not faces of the volume's
    tetrahedra (after meshing); with ``flip`` their transfinite arrangement is set to
    "Right" (the other diagonal) for the next generate."""
    import numpy as np

    bad = []
    for volume in volumes:
        _, _, nodes = model.mesh.getElements(3, volume)
        tets = np.asarray(nodes[0]).reshape(-1, 4)
        faces = {tuple(sorted(row)) for pick in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3))
                 for row in tets[:, pick].tolist()}
        for _, surface in model.getBoundary([(3, volume)], oriented=False):
            _, _, tri = model.mesh.getElements(2, abs(surface))
            triangles = {tuple(sorted(row)) for row in np.asarray(tri[0]).reshape(-1, 3).tolist()}
            if not triangles <= faces:
                bad.append(abs(surface))
    if flip:
        for surface in bad:
            model.mesh.setTransfiniteSurface(surface, "Right")
    return bad


def _transfinite_box(model, volume: int, counts, recombine: bool, grading=None) -> None:
    """Structured mesh of a box-shaped volume: ``counts`` cells along x, y, z; with
    ``grading`` (per axis None or (ratio, c)) the cells along an axis grow by ``ratio`` away
    from the plane where that coordinate is c (model units)."""
    mesh = model.mesh
    surfaces = [t for _, t in model.getBoundary([(3, volume)], oriented=False)]
    curves = sorted({abs(t) for _, t in model.getBoundary([(2, s) for s in surfaces],
                                                           combined=False, oriented=False)})
    for tag in curves:
        xa, ya, za, xb, yb, zb = model.getBoundingBox(1, tag)
        extent = (xb - xa, yb - ya, zb - za)
        axis = max(range(3), key=lambda k: extent[k])
        if grading is not None and grading[axis] is not None:
            ratio, fine = grading[axis]
            lo, _ = model.getParametrizationBounds(1, tag)
            start = model.getValue(1, tag, [lo[0]])[axis]
            starts_fine = abs(start - fine) < 0.5 * extent[axis]
            mesh.setTransfiniteCurve(tag, counts[axis] + 1, "Progression",
                                     ratio if starts_fine else 1.0 / ratio)
            continue
        mesh.setTransfiniteCurve(tag, counts[axis] + 1)
    for tag in surfaces:
        mesh.setTransfiniteSurface(tag)
        if recombine:
            mesh.setRecombine(2, tag)
    mesh.setTransfiniteVolume(volume)
    if recombine:
        mesh.setRecombine(3, volume)


# --------------------------------------------------------------------------- multilayer pillar
def _default_layers() -> list[tuple[str, float]]:
    return [("F1", 10e-9), ("N", 10e-9), ("F2", 10e-9)]


@register_geometry("multilayer")
@dataclasses.dataclass(frozen=True)
class MultilayerGeometry(GmshGeometry):
    """[geometry] type = "multilayer": layers stacked along z, structured hexahedra."""

    layers: list[tuple[str, float]] = param(
        default_factory=_default_layers, unit="m",
        doc="the stack from z = 0 upwards as [name, thickness] pairs; the names (unique) are the "
            "cell groups")
    width: float = param(100e-9, unit="m", doc="cross-section extent along x", check=positive)
    depth: float = param(100e-9, unit="m", doc="cross-section extent along y", check=positive)
    cells_per_layer: int | list[int] = param(8, doc="cells through each layer (one number for all, "
                                             "or one per layer)")
    lateral_cells: tuple[int, int] = param((1, 1), doc="cells along x and y")

    def __post_init__(self):
        run_checks(self)
        if not self.layers:
            raise ConfigError("layers", "needs at least one [name, thickness] layer")
        seen = set()
        for entry in self.layers:
            if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
                raise ConfigError("layers", f"each layer is a [name, thickness] pair (got {entry!r})")
            name, thickness = entry
            if not isinstance(name, str) or not name:
                raise ConfigError("layers", f"a layer name must be a non-empty string (got {name!r})")
            if name in seen:
                raise ConfigError("layers", f"duplicate layer name {name!r}: layer names must be "
                                            f"unique (they name the cell groups)")
            seen.add(name)
            if isinstance(thickness, bool) or not isinstance(thickness, (int, float)) \
                    or not thickness > 0:
                raise ConfigError("layers", f"layer {name!r}: thickness must be > 0 "
                                            f"(got {thickness!r})")
        object.__setattr__(self, "layers", [(str(n), float(t)) for n, t in self.layers])
        cells = self.layer_cells()
        if len(cells) != len(self.layers):
            raise ConfigError("cells_per_layer", f"give one number per layer ({len(self.layers)}), "
                                                 f"got {len(cells)}")
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in cells):
            raise ConfigError("cells_per_layer", f"must be integers >= 1 (got {self.cells_per_layer})")
        if len(self.lateral_cells) != 2 or any(
                isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.lateral_cells):
            raise ConfigError("lateral_cells", f"must be two integers >= 1 (got {self.lateral_cells})")
        object.__setattr__(self, "lateral_cells", tuple(self.lateral_cells))
        problem = cell_count_problem(sum(cells) * self.lateral_cells[0] * self.lateral_cells[1])
        if problem:
            raise ConfigError("cells_per_layer" if sum(cells) > max(self.lateral_cells)
                              else "lateral_cells", problem)

    def builder(self):
        return build_multilayer

    def layer_cells(self) -> list[int]:
        if isinstance(self.cells_per_layer, (list, tuple)):
            return list(self.cells_per_layer)
        return [self.cells_per_layer] * len(self.layers)

    def total_thickness(self) -> float:
        return sum(t for _, t in self.layers)

    def layer_thickness(self, name: str) -> float | None:
        """The thickness of the layer ``name`` (m), None if there is no such layer."""
        return dict((n, float(t)) for n, t in self.layers).get(name)

    def layer_bounds(self) -> dict[str, tuple[float, float]]:
        """{name: (z_bottom, z_top)} of every layer (m), in stacking order."""
        out, z = {}, 0.0
        for name, thickness in self.layers:
            out[name] = (z, z + thickness)
            z += thickness
        return out

    def cross_section(self) -> float:
        """Area width x depth of the pillar (m^2)."""
        return self.width * self.depth

    def num_cells(self) -> int:
        return sum(self.layer_cells()) * self.lateral_cells[0] * self.lateral_cells[1]

    def length_scale(self) -> float:
        return max(self.width, self.depth, self.total_thickness())

    #: nanostructured pillars (config.py: others warn)
    PLAUSIBLE_EXTENT = (1e-9, 1e-3)

    def sample_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The pillar's bounding box (m)."""
        return ((-0.5 * self.width, -0.5 * self.depth, 0.0),
                (0.5 * self.width, 0.5 * self.depth, self.total_thickness()))

    def estimate_mesh(self):
        """Hexahedra and vertices of the structured mesh, exactly (fem_spin.limits)."""
        from fem_spin.limits import MeshEstimate

        nx, ny = (float(c) for c in self.lateral_cells)
        nz = float(sum(self.layer_cells()))
        return MeshEstimate(nz * nx * ny, (nz + 1) * (nx + 1) * (ny + 1), "geometry.cells_per_layer",
                            exact=True)


def build_multilayer(model, p: MultilayerGeometry, unit: float = 1.0) -> None:
    """Stack of boxes, fragmented, meshed with transfinite hexahedra (rank 0)."""
    occ = model.occ
    w, d = p.width / unit, p.depth / unit
    bounds = p.layer_bounds()
    tags = [occ.addBox(-0.5 * w, -0.5 * d, z0 / unit, w, d, (z1 - z0) / unit)
            for z0, z1 in bounds.values()]
    if len(tags) > 1:
        _, out_map = occ.fragment([(3, tags[0])], [(3, t) for t in tags[1:]])
        volumes = []
        for (name, _), pieces in zip(p.layers, out_map):
            found = [t for dd, t in pieces if dd == 3]
            if len(found) != 1:
                raise RuntimeError(f"multilayer: layer {name} fragmented into {found}")
            volumes.append(found[0])
    else:
        volumes = tags
    occ.synchronize()
    for i, ((name, _), vol) in enumerate(zip(p.layers, volumes)):
        model.addPhysicalGroup(3, [vol], tag=i + 1, name=name)

    total = p.total_thickness() / unit
    tol = 0.01 * min([t for _, t in p.layers] + [p.width, p.depth]) / unit
    for tag, (name, z) in enumerate((("bottom", 0.0), ("top", total)), start=101):
        found = [t for _, t in model.getEntitiesInBoundingBox(
            -0.5 * w - tol, -0.5 * d - tol, z - tol, 0.5 * w + tol, 0.5 * d + tol, z + tol, 2)]
        if len(found) != 1:
            raise RuntimeError(f"multilayer: face {name}: found surfaces {found}")
        model.addPhysicalGroup(2, found, tag=tag, name=name)

    mesh = model.mesh
    cells = p.layer_cells()
    z_edges = [(z0 / unit, z1 / unit) for z0, z1 in bounds.values()]
    for dim, tag in model.getEntities(1):
        xa, ya, za, xb, yb, zb = model.getBoundingBox(dim, tag)
        extent = (xb - xa, yb - ya, zb - za)
        axis = max(range(3), key=lambda k: extent[k])
        if axis < 2:
            n = p.lateral_cells[axis]
        else:
            layer = min(range(len(z_edges)),
                        key=lambda k: abs(z_edges[k][0] - za) + abs(z_edges[k][1] - zb))
            n = cells[layer]
        mesh.setTransfiniteCurve(tag, n + 1)
    for dim, tag in model.getEntities(2):
        mesh.setTransfiniteSurface(tag)
        mesh.setRecombine(dim, tag)
    for vol in volumes:
        mesh.setTransfiniteVolume(vol)
        mesh.setRecombine(3, vol)
    mesh.generate(3)
