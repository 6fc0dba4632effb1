"""Spin-valve geometries (physics.md 3.1 and 5): lateral (nonlocal) spin valve and multilayer pillar.

Checks against exact answers: named groups, volumes of every region and areas of the
contact faces, a conforming mesh across the F/N, F/barrier and barrier/N interfaces
(the facets shared by the two regions cover exactly the junction area), structured
layer meshes (cell counts, node planes), validation messages and determinism.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.config import ConfigError, build_section, geometry_types
from fem_spin.geometry import LateralSpinValveGeometry, MultilayerGeometry, mesh_from_builder

# A small device (fast meshes): N 100 nm x 20-40 nm, electrodes 80 nm wide, 300 nm apart.
SMALL = dict(separation=300e-9, n_width=100e-9, n_thickness=40e-9, n_extension=250e-9,
             f_width=80e-9, f_thickness=20e-9, f_arm=150e-9, mesh_size_junction=10e-9,
             mesh_size=40e-9)
BARRIER = dict(SMALL, n_thickness=20e-9, barrier_thickness=1e-9)


def approx(expected, rel=1e-9):
    """pytest.approx without its absolute tolerance of 1e-12 (SI areas and volumes are far smaller)."""
    return pytest.approx(expected, rel=rel, abs=0)


def build(geom, comm=MPI.COMM_WORLD):
    return mesh_from_builder(geom.builder(), geom, comm)


def volumes(data) -> dict[str, float]:
    import dolfinx.fem as fem
    import ufl

    dx = ufl.Measure("dx", domain=data.mesh, subdomain_data=data.cell_tags)
    one = fem.Constant(data.mesh, 1.0)
    return {name: data.mesh.comm.allreduce(fem.assemble_scalar(fem.form(one * dx(tag))), op=MPI.SUM)
            for name, tag in data.cell_groups.items()}


def facet_areas(data) -> dict[str, float]:
    import dolfinx.fem as fem
    import ufl

    ds = ufl.Measure("ds", domain=data.mesh, subdomain_data=data.facet_tags)
    one = fem.Constant(data.mesh, 1.0)
    return {name: data.mesh.comm.allreduce(fem.assemble_scalar(fem.form(one * ds(tag))), op=MPI.SUM)
            for name, tag in data.facet_groups.items()}


def facet_midpoints(data, name: str) -> np.ndarray:
    from dolfinx.mesh import compute_midpoints

    data.mesh.topology.create_connectivity(2, 0)
    return compute_midpoints(data.mesh, 2, data.facet_tags.find(data.facet_group(name)))


def shared_facet_area(data, a: str, b: str) -> float:
    """Total area of the facets with one cell in group ``a`` and the other in group ``b``
    (serial: with a distributed mesh the second cell of a facet may live on another rank)."""
    from dolfinx.mesh import entities_to_geometry

    mesh = data.mesh
    mesh.topology.create_connectivity(2, 3)
    f2c = mesh.topology.connectivity(2, 3)
    num_cells = mesh.topology.index_map(3).size_local + mesh.topology.index_map(3).num_ghosts
    group = np.full(num_cells, -1, dtype=np.int32)
    group[data.cell_tags.indices] = data.cell_tags.values
    offsets = f2c.offsets
    two = np.flatnonzero(np.diff(offsets) == 2)
    g0, g1 = group[f2c.array[offsets[two]]], group[f2c.array[offsets[two] + 1]]
    ta, tb = data.cell_group(a), data.cell_group(b)
    facets = two[((g0 == ta) & (g1 == tb)) | ((g0 == tb) & (g1 == ta))].astype(np.int32)
    if len(facets) == 0:
        return 0.0
    pts = mesh.geometry.x[entities_to_geometry(mesh, 2, facets)]
    return float(0.5 * np.linalg.norm(np.cross(pts[:, 1] - pts[:, 0], pts[:, 2] - pts[:, 0]),
                                      axis=1).sum())


def lateral_expected(p: dict, barriers: tuple[bool, bool]) -> tuple[dict, dict]:
    """Analytic volumes and contact areas, written out from the parameters."""
    L, wN, tN, ext = p["separation"], p["n_width"], p["n_thickness"], p["n_extension"]
    wF, tF, arm = p["f_width"], p["f_thickness"], p["f_arm"] + p.get("f_overhang", 0.0)
    tb = p.get("barrier_thickness", 0.0)
    vol = {"N": (L + 2 * ext) * wN * tN, "F1": wF * (wN + arm) * tF, "F2": wF * (wN + arm) * tF}
    for i, has in enumerate(barriers, start=1):
        if has:
            vol[f"barrier{i}"] = wF * wN * tb
    area = {"N_left_end": wN * tN, "N_right_end": wN * tN, "F1_end": wF * tF, "F2_end": wF * tF,
            "F1_top": wF * (wN + arm), "F2_top": wF * (wN + arm)}
    return vol, area


# --------------------------------------------------------------------------- registry, helpers
def test_geometries_are_registered():
    assert {"lateral_spin_valve", "multilayer"} <= set(geometry_types())


def test_lateral_derived_quantities():
    g = LateralSpinValveGeometry(**SMALL)
    assert g.junction_area() == approx(80e-9 * 100e-9)
    assert g.n_cross_section() == approx(100e-9 * 40e-9)
    assert g.n_length() == approx(300e-9 + 2 * 250e-9)
    assert g.length_scale() == approx(800e-9)
    assert (g.electrode_centre(1), g.electrode_centre(2)) == approx((-150e-9, 150e-9))
    assert LateralSpinValveGeometry().arm_length() == approx(3 * 100e-9)
    d = LateralSpinValveGeometry()
    assert d.junction_size() == approx(10e-9) and d.far_size() == approx(40e-9)
    assert not d.has_barrier(1) and not d.has_barrier(2)          # barrier_thickness = 0
    b = LateralSpinValveGeometry(barrier_thickness=1e-9, barriers="detector")
    assert not b.has_barrier(1) and b.has_barrier(2)


# --------------------------------------------------------------------------- lateral: mesh
CASES = {
    "transparent": (SMALL, (False, False)),
    "barriers_1nm": (BARRIER, (True, True)),
    "injector_barrier_only": (dict(BARRIER, barriers="injector"), (True, False)),
    # structured boundary layers over the junctions (and into the arm and overhang)
    "graded_transparent": (dict(SMALL, mesh_size_interface=1e-9, f_overhang=30e-9), (False, False)),
    "graded_barriers": (dict(BARRIER, mesh_size_interface=1e-9), (True, True)),
}


@pytest.mark.parallel
@pytest.mark.parametrize("case", sorted(CASES))
def test_lateral_groups_volumes_and_contact_areas(case, comm):
    params, barriers = CASES[case]
    data = build(LateralSpinValveGeometry(**params), comm)
    vol, area = lateral_expected(params, barriers)
    assert set(data.cell_groups) == set(vol)
    assert set(data.facet_groups) == {"N_left_end", "N_right_end", "F1_end", "F2_end", "F1_top", "F2_top"}
    got = volumes(data)
    for name in vol:
        assert got[name] == approx(vol[name], rel=1e-9), name
    got = facet_areas(data)
    for name in area:
        assert got[name] == approx(area[name], rel=1e-9), name
    # the contact faces lie where they should: the ends of N, the far ends of the arms
    half = 0.5 * params["separation"] + params["n_extension"]
    y_end = 0.5 * params["n_width"] + params["f_arm"]
    for name, axis, value, x_range in (("N_left_end", 0, -half, None), ("N_right_end", 0, half, None),
                                       ("F1_end", 1, y_end, -1), ("F2_end", 1, y_end, 1)):
        x = facet_midpoints(data, name)
        assert np.allclose(x[:, axis], value, rtol=0, atol=1e-9 * half), name
        if x_range is not None:
            centre = 0.5 * x_range * params["separation"]
            assert (np.abs(x[:, 0] - centre) < 0.5 * params["f_width"]).all(), name
    # every cell belongs to exactly one group
    cells = comm.allreduce(data.mesh.topology.index_map(3).size_local, op=MPI.SUM)
    owned = data.cell_tags.indices < data.mesh.topology.index_map(3).size_local
    assert comm.allreduce(int(owned.sum()), op=MPI.SUM) == cells


@pytest.mark.parametrize("case", sorted(CASES))
def test_lateral_interfaces_are_conforming(case):
    """The facets shared by F and N (or F/barrier and barrier/N) tile the junction exactly."""
    params, barriers = CASES[case]
    g = LateralSpinValveGeometry(**params)
    data = build(g, MPI.COMM_SELF)
    A = g.junction_area()
    for i, has in enumerate(barriers, start=1):
        F = f"F{i}"
        if has:
            assert shared_facet_area(data, F, f"barrier{i}") == approx(A, rel=1e-9)
            assert shared_facet_area(data, f"barrier{i}", "N") == approx(A, rel=1e-9)
            assert shared_facet_area(data, F, "N") == 0.0
        else:
            assert shared_facet_area(data, F, "N") == approx(A, rel=1e-9)
    assert shared_facet_area(data, "F1", "F2") == 0.0


def test_lateral_barrier_layer_is_one_element_thick_and_sits_between_f_and_n():
    g = LateralSpinValveGeometry(**BARRIER)
    data = build(g, MPI.COMM_SELF)
    mesh = data.mesh
    cells = data.cell_tags.find(data.cell_group("barrier1"))
    assert len(cells) > 0
    from dolfinx.mesh import entities_to_geometry

    z = mesh.geometry.x[entities_to_geometry(mesh, 3, cells)][:, :, 2]
    tN, tb = BARRIER["n_thickness"], BARRIER["barrier_thickness"]
    # all barrier nodes lie on its bottom (top of N) or top (bottom of F) face
    on_face = np.isclose(z, tN, rtol=0, atol=1e-6 * tb) | np.isclose(z, tN + tb, rtol=0, atol=1e-6 * tb)
    assert on_face.all()
    # F1 starts on top of the barrier, F2 likewise
    for name in ("F1", "F2"):
        zf = mesh.geometry.x[entities_to_geometry(mesh, 3, data.cell_tags.find(data.cell_group(name)))][:, :, 2]
        assert zf.min() == approx(tN + tb, rel=1e-9)
        assert zf.max() == approx(tN + tb + BARRIER["f_thickness"], rel=1e-9)


def test_lateral_junction_mesh_size_refines_the_junctions():
    coarse = build(LateralSpinValveGeometry(**dict(SMALL, mesh_size_junction=20e-9)), MPI.COMM_SELF)
    fine = build(LateralSpinValveGeometry(**SMALL), MPI.COMM_SELF)
    count = lambda d, n: len(d.cell_tags.find(d.cell_group(n)))  # noqa: E731
    assert count(fine, "F1") > 3 * count(coarse, "F1")
    # N is refined around the junctions too
    assert count(fine, "N") > count(coarse, "N")


def test_lateral_mesh_is_deterministic():
    g = LateralSpinValveGeometry(**BARRIER)
    a, b = build(g, MPI.COMM_SELF), build(g, MPI.COMM_SELF)
    assert a.mesh.geometry.x.shape == b.mesh.geometry.x.shape
    assert np.array_equal(a.mesh.geometry.x, b.mesh.geometry.x)
    assert np.array_equal(a.mesh.geometry.dofmap, b.mesh.geometry.dofmap)
    assert np.array_equal(a.cell_tags.values, b.cell_tags.values)


# --------------------------------------------------------------------------- lateral: validation
@pytest.mark.parametrize("changes, key, text", [
    (dict(separation=80e-9), "separation", "overlap"),
    (dict(separation=50e-9), "separation", "overlap"),
    (dict(n_extension=40e-9), "n_extension", "hang off"),
    (dict(n_extension=30e-9), "n_extension", "hang off"),
    (dict(n_thickness=-1e-9), "n_thickness", "> 0"),
    (dict(f_thickness=0.0), "f_thickness", "> 0"),
    (dict(barrier_thickness=-1e-9), "barrier_thickness", ">= 0"),
    (dict(f_overhang=-1e-9), "f_overhang", ">= 0"),
    (dict(f_arm=-1e-9), "f_arm", ">= 0"),
    (dict(mesh_size=-1.0), "mesh_size", "> 0"),
    (dict(mesh_size_junction=0.0), "mesh_size_junction", "> 0"),
    (dict(barriers="left"), "barriers", "one of"),
])
def test_lateral_validation(changes, key, text):
    with pytest.raises(ConfigError, match=text) as info:
        LateralSpinValveGeometry(**dict(SMALL, **changes))
    assert info.value.key == key
    # through the config layer the key is prefixed with the section
    with pytest.raises(ConfigError) as info:
        build_section(LateralSpinValveGeometry, dict(SMALL, **changes), "geometry")
    assert info.value.key == f"geometry.{key}"


def test_lateral_accepts_the_limits():
    """Just above the rejected limits the geometry is valid: electrodes 1 nm apart, each just on
    the strip, transparent contacts (no barrier volumes)."""
    g = LateralSpinValveGeometry(**dict(SMALL, separation=81e-9, n_extension=41e-9, barrier_thickness=0.0))
    assert g.separation - g.f_width == pytest.approx(1e-9, rel=1e-9, abs=0)
    assert g.n_extension > 0.5 * g.f_width
    assert not g.has_barrier(1) and not g.has_barrier(2)
    assert set(g.boxes()) == {"N", "F1", "F2"}


# --------------------------------------------------------------------------- multilayer
STACK = [("F1", 8e-9), ("N1", 12e-9), ("spacer", 3e-9), ("N2", 10e-9), ("F2", 5e-9)]
CELLS = [6, 9, 2, 7, 4]


@pytest.mark.parallel
def test_multilayer_groups_volumes_cells_and_faces(comm):
    g = MultilayerGeometry(layers=STACK, width=60e-9, depth=40e-9, cells_per_layer=CELLS,
                           lateral_cells=(2, 3))
    data = build(g, comm)
    assert set(data.cell_groups) == {name for name, _ in STACK}
    assert set(data.facet_groups) == {"bottom", "top"}
    vols = volumes(data)
    for name, t in STACK:
        assert vols[name] == approx(60e-9 * 40e-9 * t, rel=1e-9), name
    areas = facet_areas(data)
    assert areas["bottom"] == approx(60e-9 * 40e-9, rel=1e-9)
    assert areas["top"] == approx(60e-9 * 40e-9, rel=1e-9)
    assert data.mesh.topology.index_map(3).size_global == sum(CELLS) * 2 * 3 == g.num_cells()
    assert data.mesh.topology.cell_name() == "hexahedron"
    # cells per layer
    for (name, _), n in zip(STACK, CELLS):
        owned = data.cell_tags.find(data.cell_group(name))
        owned = owned[owned < data.mesh.topology.index_map(3).size_local]
        assert comm.allreduce(len(owned), op=MPI.SUM) == n * 2 * 3, name


def test_multilayer_structured_node_planes():
    """Nodes sit exactly on the planes z = z0 + k t/n of every layer (interfaces shared)."""
    g = MultilayerGeometry(layers=STACK, cells_per_layer=CELLS)
    data = build(g, MPI.COMM_SELF)
    bounds = g.layer_bounds()
    assert list(bounds) == [name for name, _ in STACK]
    expected = np.unique(np.concatenate([np.linspace(z0, z1, n + 1)
                                         for (z0, z1), n in zip(bounds.values(), CELLS)]))
    z = np.unique(np.round(data.mesh.geometry.x[:, 2], 15))
    assert len(z) == len(expected) == sum(CELLS) + 1
    assert np.allclose(z, expected, rtol=0, atol=1e-15)
    assert len(data.mesh.geometry.x) == (sum(CELLS) + 1) * 4        # 1 x 1 lateral cells
    assert bounds["spacer"] == approx((20e-9, 23e-9))
    assert g.cross_section() == approx(100e-9 * 100e-9)
    assert g.total_thickness() == approx(38e-9)


def test_multilayer_one_dimensional_test_bed_is_fast_and_single_layer_works():
    g = MultilayerGeometry(layers=[(f"L{i}", 10e-9) for i in range(5)], cells_per_layer=40)
    data = build(g, MPI.COMM_SELF)
    assert data.mesh.topology.index_map(3).size_global == 200
    single = build(MultilayerGeometry(layers=[("N", 50e-9)], cells_per_layer=10), MPI.COMM_SELF)
    assert single.mesh.topology.index_map(3).size_global == 10
    assert set(single.cell_groups) == {"N"} and set(single.facet_groups) == {"bottom", "top"}


def test_multilayer_is_deterministic():
    g = MultilayerGeometry(layers=STACK, cells_per_layer=CELLS, lateral_cells=(2, 2))
    a, b = build(g, MPI.COMM_SELF), build(g, MPI.COMM_SELF)
    assert np.array_equal(a.mesh.geometry.x, b.mesh.geometry.x)


@pytest.mark.parametrize("changes, key, text", [
    (dict(layers=[("F", 5e-9), ("N", 5e-9), ("F", 5e-9)]), "layers", "duplicate"),
    (dict(layers=[]), "layers", "at least one"),
    (dict(layers=[("F", 5e-9), ("N", 0.0)]), "layers", "thickness must be > 0"),
    (dict(layers=[("F", -5e-9)]), "layers", "thickness must be > 0"),
    (dict(cells_per_layer=[4, 4]), "cells_per_layer", "one number per layer"),
    (dict(cells_per_layer=0), "cells_per_layer", ">= 1"),
    (dict(lateral_cells=(0, 1)), "lateral_cells", ">= 1"),
    (dict(width=-1e-9), "width", "> 0"),
])
def test_multilayer_validation(changes, key, text):
    with pytest.raises(ConfigError, match=text) as info:
        MultilayerGeometry(**changes)
    assert info.value.key == key


def test_multilayer_from_toml_table():
    g = build_section(MultilayerGeometry, {"layers": [["Co", 5e-9], ["Cu", 10e-9]],
                                           "cells_per_layer": [3, 5]}, "geometry")
    assert g.layers == [("Co", 5e-9), ("Cu", 10e-9)]
    assert g.layer_bounds() == {"Co": (0.0, 5e-9), "Cu": (5e-9, approx(15e-9))}
    with pytest.raises(ConfigError) as info:
        build_section(MultilayerGeometry, {"layers": [["Co", 5e-9], ["Co", 1e-9]]}, "geometry")
    assert info.value.key == "geometry.layers"


# --------------------------------------------------------------------------- boundary layers
def _resolved(geometry: dict, f_length: float = 5e-9, n_length: float = 1e-6):
    """The geometry as parse_config resolves it with a valet_fert model of these lengths."""
    from fem_spin.config import parse_config

    f = {"resistivity": 1.5e-7, "spin_diffusion_length": f_length, "bulk_polarization": 0.7,
         "magnetization": [0, 1, 0]}
    raw = {"geometry": {"type": "lateral_spin_valve", **geometry},
           "model": {"type": "valet_fert", "regions": {
               "N": {"resistivity": 2e-8, "spin_diffusion_length": n_length}, "F1": f, "F2": f}}}
    return parse_config(raw).geometry


def test_default_mesh_grades_from_the_shorter_spin_flip_length():
    """The model's spin-flip lengths size the default mesh: first layer lambda_min/20 at each
    F/N interface; given sizes stay authoritative (mesh_size_junction alone: the old uniform
    junction mesh; mesh_size_interface: that size)."""
    plain = {k: v for k, v in SMALL.items() if not k.startswith("mesh_size")}
    g = _resolved(plain)
    assert g.spin_flip_lengths == {"N": 1e-6, "F1": 5e-9, "F2": 5e-9}
    assert g.interface_size(1) == approx(5e-9 / 20) and g.interface_size(2) == approx(5e-9 / 20)
    assert g.junction_size() == approx(10e-9) and g.far_size() == approx(40e-9)
    blocks = g.graded_blocks()
    assert sorted(blocks) == ["F1_arm_layer", "F1_layer", "F2_arm_layer", "F2_layer"]
    group, box, counts, grading = blocks["F1_layer"]
    assert group == "F1" and counts[:2] == (8, 10) and grading[2] == (1.2, box[0][2])
    assert box[1][2] - box[0][2] == approx(SMALL["f_thickness"])  # thinner than the layer's reach
    assert _resolved(dict(plain, mesh_size_junction=10e-9)).graded_blocks() == {}
    assert _resolved(dict(plain, mesh_size_junction=10e-9, mesh_size_interface=2e-9)).interface_size(1) == 2e-9
    # the N strip's own short length grades its side too, and bounds the junction size
    short = _resolved(plain, f_length=5e-9, n_length=60e-9)
    assert short.interface_size(1) == approx(5e-9 / 20) and short.junction_size() == approx(10e-9)
    assert {"N_layer1", "N_layer2"} <= set(short.graded_blocks())
    assert _resolved(plain, n_length=20e-9).junction_size() == approx(4e-9)
    # without a model nothing changes
    assert LateralSpinValveGeometry(**plain).graded_blocks() == {}


def test_boundary_layer_cells_grow_geometrically_from_the_interface():
    """Node planes in F above the junction: the first layer is about mesh_size_interface thick
    (at most), the next ones grow by mesh_grading; the N-side block (short lambda_N) mirrors it downwards."""
    plain = {k: v for k, v in SMALL.items() if not k.startswith("mesh_size")}
    g = _resolved(plain, f_length=10e-9, n_length=60e-9)
    data = build(g, MPI.COMM_SELF)
    x = data.mesh.geometry.x
    xc, z0 = g.electrode_centre(1), g.n_thickness
    column = x[(np.abs(x[:, 0] - xc) < 0.3 * g.junction_size()) & (np.abs(x[:, 1]) < 0.3 * g.junction_size())]
    above = np.unique(np.round(column[column[:, 2] >= z0 - 1e-15, 2] - z0, 15))
    steps = np.diff(above)
    h0 = g.interface_size(1)
    assert 0.5 * h0 <= steps[0] <= 1.001 * h0      # finer when the layers fill the electrode
    assert steps[1] / steps[0] == approx(g.mesh_grading, rel=1e-3)
    below = np.unique(np.round(z0 - column[column[:, 2] <= z0 + 1e-15, 2], 15))
    assert 0.5 * h0 <= np.diff(below)[0] <= 1.001 * h0
    est = g.estimate_mesh()
    assert 0.6 <= est.vertices / len(x) <= 1.6, (est.vertices, len(x))
