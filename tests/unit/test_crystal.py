"""Laser-illuminated crystal (physics.md 1.3 and 5): the ``crystal`` geometry and the optics.

Checks against exact answers: volumes of the cell groups (total exact; the illuminated
part pi d^2/4 lz up to the inscribed-polygon deficit (2/3)(h_e/d)^2 of the meshed beam
edge), areas of the faces, the prism's parallelogram volume, the beam edge lying on the
cylinder, the size grading across it; Beer--Lambert depth averages, hand-computed depths
of an oblique beam, the profiles' integrals, the low-fluence limit of the saturating law,
and validation messages that name the key. Mesh tests marked ``parallel`` also run on
2 ranks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.config import ConfigError, build_section, parse_config
from fem_spin.geometry import CrystalGeometry, mesh_from_builder
from fem_spin.geometry.crystal import PRISM_FACES, SLAB_FACES
from fem_spin.optics import (Beam, OpticsConfig, axis_distance_to_crystal, axis_segment,
                             beam_profile, depth_along_beam, effective_area,
                             excitation_probability, local_fluence, radial_distance)

from conftest import make_raw

LX, LY, LZ, D = 4e-3, 4e-3, 1e-3, 2e-3      # the default slab and beam


def approx(expected, rel=1e-9):
    """pytest.approx without its absolute tolerance of 1e-12 (SI volumes are far smaller)."""
    return pytest.approx(expected, rel=rel, abs=0)


def build(geom: CrystalGeometry, comm=MPI.COMM_WORLD):
    return mesh_from_builder(geom.builder(), geom, comm)


def volumes(data) -> dict[str, float]:
    import dolfinx.fem as fem
    import ufl

    dx = ufl.Measure("dx", domain=data.mesh, subdomain_data=data.cell_tags)
    one = fem.Constant(data.mesh, 1.0)
    return {name: data.mesh.comm.allreduce(fem.assemble_scalar(fem.form(one * dx(tag))), op=MPI.SUM)
            for name, tag in data.cell_groups.items()}


def facet_areas(data) -> dict[str, float]:
    """Areas of the facet groups; the interior beam edge with dS (counted once)."""
    import dolfinx.fem as fem
    import ufl

    from dolfinx.mesh import entities_to_geometry

    ds = ufl.Measure("ds", domain=data.mesh, subdomain_data=data.facet_tags)
    one = fem.Constant(data.mesh, 1.0)
    mesh = data.mesh
    out = {}
    for name, tag in data.facet_groups.items():
        if name == "beam_edge":
            # interior facets: dS needs shared-facet ghosting in parallel, so sum the
            # triangle areas of the facets this rank owns
            facets = data.facet_tags.find(tag)
            facets = facets[facets < mesh.topology.index_map(2).size_local]
            x = mesh.geometry.x[entities_to_geometry(mesh, 2, facets)]
            local = 0.5 * np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1).sum()
        else:
            local = fem.assemble_scalar(fem.form(one * ds(tag)))
        out[name] = mesh.comm.allreduce(float(local), op=MPI.SUM)
    return out


def owned_cells(mesh) -> np.ndarray:
    """Vertex coordinates (cells, 4, 3) of the owned tetrahedra."""
    n = mesh.topology.index_map(3).size_local
    return mesh.geometry.x[mesh.geometry.dofmap[:n, :4]]


def polygon_deficit(h_edge: float, diameter: float) -> float:
    """Relative area a polygon inscribed in a circle misses with chords h: (2/3)(h/d)^2."""
    return 2.0 / 3.0 * (h_edge / diameter) ** 2


@pytest.fixture(scope="module")
def slab():
    geom = CrystalGeometry()          # 4 x 4 x 1 mm, 2 mm beam down the z axis
    return geom, build(geom)


# =========================================================================== geometry
@pytest.mark.parallel
def test_slab_groups_volumes_and_faces(slab):
    geom, data = slab
    assert set(data.cell_groups) == {"illuminated", "dark"}
    assert set(data.facet_groups) == set(SLAB_FACES) | {"beam_edge"}
    vol = volumes(data)
    assert vol["illuminated"] + vol["dark"] == approx(LX * LY * LZ, rel=1e-12)
    assert geom.volume() == approx(LX * LY * LZ, rel=1e-15)
    exact = math.pi * D**2 / 4 * LZ
    assert geom.illuminated_volume() == approx(exact, rel=1e-14)
    # the meshed edge is a polygon inscribed in the circle: a small deficit, never a surplus
    deficit = 1.0 - vol["illuminated"] / exact
    assert 0.0 < deficit < polygon_deficit(geom.beam_edge_mesh_size(), D), deficit
    areas = facet_areas(data)
    for name in ("top", "bottom"):
        assert areas[name] == approx(LX * LY)
    for name in ("xmin", "xmax", "ymin", "ymax"):
        assert areas[name] == approx(LX * LZ)
    # the beam edge is the cylinder's lateral surface: area pi d lz (polygonal: a bit less)
    assert 0.0 < 1.0 - areas["beam_edge"] / (math.pi * D * LZ) < 2e-3
    mesh = data.mesh
    mesh.topology.create_connectivity(2, 0)
    from dolfinx.mesh import compute_midpoints

    mid = compute_midpoints(mesh, 2, data.facet_tags.find(data.facet_group("beam_edge")))
    r = radial_distance(mid.T, geom.beam())
    h = geom.beam_edge_mesh_size()
    # triangles inscribed in the cylinder: centroids within a sagitta h^2/(2d) inside it
    assert np.all(r <= D / 2 * (1 + 1e-9)) and np.all(r >= D / 2 - h**2 / D)


@pytest.mark.parallel
def test_mesh_is_finer_at_the_beam_edge(slab):
    """Mean equivalent edge length (6 sqrt(2) V)^(1/3) of the cells within the refined band
    around r = d/2 vs beyond the grading zone: the size field asks for h_e/h = 1/2."""
    geom, data = slab
    X = owned_cells(data.mesh)
    h_cell = (6 * math.sqrt(2) * np.abs(np.linalg.det(X[:, 1:] - X[:, :1])) / 6) ** (1 / 3)
    off_edge = np.abs(radial_distance(X.mean(axis=1).T, geom.beam()) - D / 2)
    band = geom.beam_edge_band() / 2
    near = off_edge < band
    far = off_edge > band + 2 * (geom.bulk_mesh_size() - geom.beam_edge_mesh_size())
    comm = data.mesh.comm
    sums = comm.allreduce(np.array([h_cell[near].sum(), near.sum(), h_cell[far].sum(), far.sum()]),
                          op=MPI.SUM)
    mean_near, mean_far = sums[0] / sums[1], sums[2] / sums[3]
    assert sums[1] > 1000 and sums[3] > 300
    assert mean_near < 0.7 * mean_far, (mean_near, mean_far)
    assert mean_near < 1.5 * geom.beam_edge_mesh_size()
    assert comm.allreduce(data.mesh.topology.index_map(3).size_local, op=MPI.SUM) < 30000


def test_default_mesh_is_deterministic():
    geom = CrystalGeometry(mesh_size=0.8e-3, mesh_size_beam_edge=0.2e-3)
    a, b = build(geom, MPI.COMM_SELF), build(geom, MPI.COMM_SELF)
    assert np.array_equal(a.mesh.geometry.x, b.mesh.geometry.x)
    assert np.array_equal(a.cell_tags.values, b.cell_tags.values)


def test_prism_is_a_parallelogram_with_named_faces():
    lx, ly, lz, angle = 4e-3, 3e-3, 1e-3, 60.0
    geom = CrystalGeometry(shape="prism", size=(lx, ly, lz), prism_angle=angle)
    data = build(geom)
    assert set(data.facet_groups) == set(PRISM_FACES) | {"beam_edge"}
    vol = volumes(data)
    assert sum(vol.values()) == approx(lx * ly * lz, rel=1e-12)
    assert geom.volume() == approx(lx * ly * lz, rel=1e-15)
    # a perpendicular beam through the cleavage faces: the disc fits at every height
    assert geom.illuminated_volume() == approx(math.pi * D**2 / 4 * lz, rel=1e-14)
    deficit = 1.0 - vol["illuminated"] / geom.illuminated_volume()
    assert 0.0 < deficit < polygon_deficit(geom.beam_edge_mesh_size(), D)
    areas = facet_areas(data)
    for name in ("cleavage_top", "cleavage_bottom"):
        assert areas[name] == approx(lx * ly)
    for name in ("side_xmin", "side_xmax"):
        assert areas[name] == approx(ly * lz / math.sin(math.radians(angle)))
    for name in ("ymin", "ymax"):
        assert areas[name] == approx(lx * lz)
    # the top face is shifted by lz/tan(angle): x spans [-lx/2 - c/2, lx/2 + c/2]
    c = lz / math.tan(math.radians(angle))
    x = data.mesh.geometry.x[:, 0]
    comm = data.mesh.comm
    assert comm.allreduce(x.max(), op=MPI.MAX) == approx(lx / 2 + c / 2, rel=1e-12)
    assert comm.allreduce(x.min(), op=MPI.MIN) == approx(-lx / 2 - c / 2, rel=1e-12)
    # every vertex satisfies the halfspaces, and the corners are the 8 vertices
    normals, offsets = geom.halfspaces()
    assert np.all(data.mesh.geometry.x @ normals.T <= offsets * (1 + 1e-12))
    assert len(geom.vertices()) == 8
    assert np.allclose(CrystalGeometry(shape="prism", prism_angle=90.0).halfspaces()[1],
                       CrystalGeometry().halfspaces()[1], rtol=1e-15)


def test_oblique_beam_meshes_and_matches_the_cut_cylinder():
    """An oblique beam through the cleavage faces of a prism: a cylinder cut by two
    parallel planes has the volume pi R^2 lz/|u_z| (chord along the axis)."""
    theta, phi = math.radians(25.0), math.radians(30.0)
    u = (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), -math.cos(theta))
    geom = CrystalGeometry(shape="prism", beam_direction=u, beam_point=(0.2e-3, -0.1e-3, 0.0))
    exact = math.pi * D**2 / 4 * LZ / math.cos(theta)
    assert geom.illuminated_volume() == approx(exact, rel=1e-12)
    data = build(geom)
    vol = volumes(data)
    assert sum(vol.values()) == approx(LX * LY * LZ, rel=1e-12)
    deficit = 1.0 - vol["illuminated"] / exact
    assert 0.0 < deficit < polygon_deficit(geom.beam_edge_mesh_size(), D), deficit


def test_beam_covering_the_crystal_leaves_one_group():
    geom = CrystalGeometry(beam_diameter=20e-3)
    data = build(geom)
    assert set(data.cell_groups) == {"illuminated"}
    assert "beam_edge" not in data.facet_groups
    assert volumes(data)["illuminated"] == approx(LX * LY * LZ, rel=1e-12)
    assert geom.illuminated_volume() == approx(LX * LY * LZ, rel=1e-15)


@pytest.mark.parametrize("kwargs, d_over_h", [
    # a beam 1/40 of the crystal, edge resolved by 4 elements per diameter
    (dict(beam_diameter=0.1e-3, mesh_size_beam_edge=25e-6), 4.0),
    # a micro-crystal (tens of um) and a 1 um thin film: same builder, units of the size
    (dict(size=(40e-6, 30e-6, 10e-6), beam_diameter=15e-6), 12.0),      # h_e = mesh_size/2
    (dict(size=(1e-3, 1e-3, 1e-6), beam_diameter=0.5e-3), 20.0),
])
def test_small_beams_and_samples_mesh(kwargs, d_over_h):
    geom = CrystalGeometry(**kwargs)
    assert geom.beam_diameter / geom.beam_edge_mesh_size() == pytest.approx(d_over_h)
    data = build(geom)
    vol = volumes(data)
    assert set(vol) == {"illuminated", "dark"}
    assert sum(vol.values()) == approx(geom.volume(), rel=1e-11)
    deficit = 1.0 - vol["illuminated"] / geom.illuminated_volume()
    assert 0.0 < deficit < polygon_deficit(geom.beam_edge_mesh_size(), geom.beam_diameter)


def test_illuminated_volume_closed_forms_and_none():
    R = D / 2
    # along x through the slab's side faces: fits in the 1 mm thickness only when d <= lz
    side = CrystalGeometry(beam_diameter=0.8e-3, beam_direction=(1.0, 0.0, 0.0))
    assert side.illuminated_volume() == approx(math.pi * 0.4e-3**2 * LX, rel=1e-14)
    assert CrystalGeometry(beam_diameter=1.2e-3, beam_direction=(1.0, 0.0, 0.0)).illuminated_volume() is None
    # the disc sticks out of the crystal: no closed form
    assert CrystalGeometry(beam_point=(1.5e-3, 0.0, 0.0)).illuminated_volume() is None
    # a steep oblique beam leaves through a side face: no closed form
    steep = CrystalGeometry(beam_direction=(1.0, 0.0, -0.3))
    assert steep.illuminated_volume() is None
    # slightly oblique through the slab: pi R^2 lz/|u_z|
    u = np.array([0.1, 0.2, -1.0])
    tilted = CrystalGeometry(beam_direction=tuple(u))
    assert tilted.illuminated_volume() == approx(math.pi * R**2 * LZ * np.linalg.norm(u), rel=1e-12)
    # another diameter of the same beam (the error band)
    assert CrystalGeometry().illuminated_volume(1e-3) == approx(math.pi * 0.25e-6 * LZ, rel=1e-14)


# =========================================================================== optics
def test_beer_lambert_mean_over_a_perpendicular_beam():
    """<exp(-s/l)> over the illuminated cylinder of a slab = (l/lz)(1 - exp(-lz/l))."""
    geom = CrystalGeometry()
    beam, (normals, offsets) = geom.beam(), geom.halfspaces()
    ell = 0.4e-3
    z, wz = np.polynomial.legendre.leggauss(24)
    z, wz = 0.5 * LZ * z, 0.5 * wz                    # mean over [-lz/2, lz/2]: weights sum to 1
    rng = np.random.default_rng(7)
    rho, ang = D / 2 * np.sqrt(rng.random(50)), 2 * math.pi * rng.random(50)
    xy = np.stack([rho * np.cos(ang), rho * np.sin(ang)])
    x = np.stack([np.repeat(xy[0], len(z)), np.repeat(xy[1], len(z)), np.tile(z, 50)])
    weights = np.tile(wz, 50) / 50
    s = depth_along_beam(x, beam, normals, offsets)
    assert s == pytest.approx(LZ / 2 - x[2], abs=1e-15)
    optics = OpticsConfig(absorption_length=ell)
    e = excitation_probability(x, beam, normals, offsets, optics)
    expected = ell / LZ * (1 - math.exp(-LZ / ell))
    assert float(weights @ e) == pytest.approx(expected, rel=1e-12)
    # no absorption: uniform inside the beam
    assert np.all(excitation_probability(x, beam, normals, offsets, OpticsConfig()) == 1.0)


def _crystal_quadrature(mesh, degree: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(points (3, n), weights (n,)) of a degree-``degree`` rule on the owned cells."""
    import basix

    ref_x, ref_w = basix.make_quadrature(basix.CellType.tetrahedron, degree)
    X = owned_cells(mesh)
    J = X[:, 1:, :] - X[:, :1, :]
    points = X[:, :1, :] + np.einsum("qk,ckd->cqd", ref_x, J)
    weights = np.abs(np.linalg.det(J))[:, None] * ref_w[None, :]
    return points.reshape(-1, 3).T, weights.ravel()


@pytest.mark.parallel
def test_gaussian_attenuated_excitation_integrates_exactly_on_the_mesh(slab):
    """int e dV over the crystal mesh for a Gaussian beam with Beer-Lambert absorption:
    the profile factorises over the square cross-section and the depth is lz/2 - z, so
    int e dV = [w sqrt(pi/2) erf(sqrt(2) a/w)]^2 l (1 - exp(-lz/l)), a = lx/2."""
    geom, data = slab
    ell, w = 0.5e-3, D / 2
    points, weights = _crystal_quadrature(data.mesh)
    optics = OpticsConfig(beam_profile="gaussian", absorption_length=ell, peak_excitation=0.8)
    e = excitation_probability(points, geom.beam(), *geom.halfspaces(), optics)
    total = data.mesh.comm.allreduce(float(weights @ e), op=MPI.SUM)
    side = w * math.sqrt(math.pi / 2) * math.erf(math.sqrt(2) * (LX / 2) / w)
    exact = 0.8 * side**2 * ell * (1 - math.exp(-LZ / ell))
    assert total == approx(exact, rel=2e-4)


def test_depth_of_an_oblique_beam_in_a_prism_by_hand():
    """Prism lx x ly x lz = 4 x 3 x 1 mm, angle 60 deg (top face shifted by
    c = lz/sqrt(3)); light travelling along u = (sin 30, 0, -cos 30): back along -u it
    climbs at 30 deg from the vertical towards -x."""
    lz = 1e-3
    geom = CrystalGeometry(shape="prism", size=(4e-3, 3e-3, lz), prism_angle=60.0,
                           beam_direction=(0.5, 0.0, -math.sqrt(3) / 2))
    beam, (normals, offsets) = geom.beam(), geom.halfspaces()
    points = np.array([
        [0.0, 0.0, 0.0],           # centre: up to the top face, s = (lz/2)/cos 30
        [0.0, 1.2e-3, 0.25e-3],    # higher (and off-centre in y): s = (lz/4)/cos 30
        [-2.0e-3, 0.0, -0.25e-3],  # near side_xmin: back through the side face
    ]).T
    # third point: x(t) = -2 - t/2, z(t) = -1/4 + (sqrt3/2) t (mm) meets the side
    # x = -2 + z c/lz = -2 + z/sqrt3 where -t/2 = -1/(4 sqrt3) + t/2, t = 1/(4 sqrt3) mm;
    # it would reach the top only at t = (3/4)/(sqrt3/2) = sqrt3/2 mm
    by_hand = np.array([0.5e-3 / (math.sqrt(3) / 2), 0.25e-3 / (math.sqrt(3) / 2),
                        1e-3 / (4 * math.sqrt(3))])
    assert depth_along_beam(points, beam, normals, offsets) == pytest.approx(by_hand, rel=1e-12)
    # light going up (+z) enters through the bottom cleavage face: s = z + lz/2
    up = Beam((0.0, 0.0, 0.0), (0.0, 0.0, 2.0), D)
    assert depth_along_beam(points, up, normals, offsets) == pytest.approx(points[2] + lz / 2, abs=1e-15)
    entry, exit_ = axis_segment(beam, normals, offsets)
    assert entry == pytest.approx([-0.5e-3 * math.tan(math.radians(30)), 0.0, lz / 2], abs=1e-15)
    assert exit_ == pytest.approx([0.5e-3 * math.tan(math.radians(30)), 0.0, -lz / 2], abs=1e-15)


def test_profiles_integrate_to_their_effective_areas():
    from scipy.integrate import quad

    w = D / 2
    for kind, area in (("top_hat", math.pi * D**2 / 4), ("gaussian", math.pi * w**2 / 2)):
        radial, _ = quad(lambda r: float(beam_profile(r, D, kind)) * 2 * math.pi * r, 0.0, 10 * D,
                         points=[D / 2], limit=200, epsabs=0, epsrel=1e-12)
        assert radial == approx(area, rel=1e-9), kind
        assert effective_area(D, kind) == approx(area, rel=1e-15)
    # Cartesian midpoint rule over the plane, Gaussian: pi w^2/2; d is the 1/e^2 diameter
    x = np.linspace(-3 * D, 3 * D, 1201)
    X, Y = np.meshgrid(0.5 * (x[1:] + x[:-1]), 0.5 * (x[1:] + x[:-1]))
    g = beam_profile(np.hypot(X, Y), D, "gaussian")
    assert float(g.sum() * (x[1] - x[0]) ** 2) == approx(math.pi * w**2 / 2, rel=1e-9)
    assert float(beam_profile(w, D, "gaussian")) == approx(math.exp(-2.0), rel=1e-15)
    assert beam_profile(np.array([0.999 * w, 1.001 * w]), D, "top_hat").tolist() == [1.0, 0.0]


def test_saturating_law_is_linear_at_low_fluence_and_bounded():
    geom = CrystalGeometry()
    beam, (normals, offsets) = geom.beam(), geom.halfspaces()
    rng = np.random.default_rng(3)
    x = (rng.random((3, 400)) - 0.5) * np.array([[LX], [LY], [LZ]])
    for profile in ("top_hat", "gaussian"):
        area = math.pi * D**2 / 4 if profile == "top_hat" else math.pi * (D / 2) ** 2 / 2
        weak = OpticsConfig(beam_profile=profile, absorption_length=0.7e-3, excitation="saturating",
                            pulse_energy=1e-9, saturation_fluence=1e-9 / area * 1e4, triplet_yield=0.6)
        F = local_fluence(x, beam, normals, offsets, weak)
        # the peak fluence, on the axis at the entrance: E/A (Gaussian: 2E/(pi w^2))
        entry = np.array([[0.0], [0.0], [LZ / 2]])
        assert float(local_fluence(entry, beam, normals, offsets, weak)[0]) == approx(1e-9 / area, rel=1e-14)
        e = excitation_probability(x, beam, normals, offsets, weak)
        linear = 0.6 * F / weak.saturation_fluence
        lit = linear > 0
        assert lit.sum() > 50
        assert e[lit] == pytest.approx(linear[lit], rel=1e-4)      # e = Y x (1 - x/2 + ...)
        assert np.all(e[lit] <= linear[lit])
        strong = OpticsConfig(beam_profile=profile, excitation="saturating", pulse_energy=1.0,
                              saturation_fluence=1e-3, triplet_yield=0.6)
        e = excitation_probability(x, beam, normals, offsets, strong)
        assert np.all((e >= 0.0) & (e <= 0.6))
        assert e.max() == approx(0.6, rel=1e-12)                     # saturated on the axis


def test_excitation_probability_stays_in_the_unit_interval():
    geom = CrystalGeometry(shape="prism", beam_direction=(0.3, -0.2, -1.0))
    beam, (normals, offsets) = geom.beam(), geom.halfspaces()
    rng = np.random.default_rng(11)
    x = (rng.random((3, 2000)) - 0.5) * 1.5 * np.array([[LX], [LY], [LZ]])   # also outside
    for optics in (OpticsConfig(), OpticsConfig(beam_profile="gaussian", absorption_length=1e-4),
                   OpticsConfig(excitation="saturating", pulse_energy=1e-3, saturation_fluence=1.0),
                   OpticsConfig(beam_profile="gaussian", excitation="saturating", pulse_energy=0.0,
                                saturation_fluence=1.0)):
        e = excitation_probability(x, beam, normals, offsets, optics)
        assert e.shape == (2000,) and np.all((e >= 0.0) & (e <= 1.0))
    assert np.all(depth_along_beam(x, beam, normals, offsets) >= 0.0)


# =========================================================================== validation
def _crystal_raw(**geometry) -> dict:
    raw = make_raw()
    raw["geometry"] = {"type": "crystal", **geometry}
    return raw


@pytest.mark.parametrize("geometry, key, words", [
    ({"beam_point": [5e-3, 0.0, 0.0]}, "geometry.beam_point", "misses the crystal"),
    # oblique, passing beside a corner: the axis misses by more than d/2
    ({"beam_point": [3.5e-3, 3.5e-3, 0.0], "beam_direction": [1.0, -1.0, 0.2]},
     "geometry.beam_point", "misses the crystal"),
    ({"beam_direction": [0.0, 0.0, 0.0]}, "geometry.beam_direction", "non-zero"),
    ({"shape": "prism", "prism_angle": 0.0}, "geometry.prism_angle", "(10, 170)"),
    ({"size": [4e-3, -1e-3, 1e-3]}, "geometry.size", "> 0"),
    ({"beam_diameter": 0.0}, "geometry.beam_diameter", "> 0"),
    ({"shape": "cube"}, "geometry.shape", "must be one of"),
    ({"mesh_size": 1e-4, "mesh_size_beam_edge": 2e-4}, "geometry.mesh_size_beam_edge", "mesh_size"),
])
def test_bad_geometry_names_the_key(geometry, key, words):
    with pytest.raises(ConfigError) as info:
        parse_config(_crystal_raw(**geometry), source="crystal.toml")
    message = str(info.value)
    assert message.startswith(f"crystal.toml: {key}: ") and words in message and "\n" not in message


def test_beam_hit_is_decided_by_the_distance_of_the_axis():
    # axis 0.9 d/2 beside the x = lx/2 face hits (the beam clips the edge); 1.1 d/2 misses
    CrystalGeometry(beam_point=(LX / 2 + 0.9 * D / 2, 0.0, 0.0))
    with pytest.raises(ConfigError, match="beam_point: the laser beam misses the crystal"):
        CrystalGeometry(beam_point=(LX / 2 + 1.1 * D / 2, 0.0, 0.0))
    # an oblique axis through a point outside can still cross the crystal
    CrystalGeometry(beam_point=(3e-3, 0.0, 1e-3), beam_direction=(-1.0, 0.0, -0.5))
    beam = Beam((LX / 2 + 1e-3, LY / 2 + 1e-3, 0.0), (0.0, 0.0, -1.0), D)
    assert axis_distance_to_crystal(beam, *CrystalGeometry().halfspaces()) == approx(math.sqrt(2) * 1e-3)


@pytest.mark.parametrize("optics, key", [
    ({"absorption_length": -1e-3}, "optics.absorption_length"),
    ({"absorption_length": 0.0}, "optics.absorption_length"),
    ({"peak_excitation": 1.5}, "optics.peak_excitation"),
    ({"triplet_yield": -0.1}, "optics.triplet_yield"),
    ({"excitation": "saturating", "saturation_fluence": 1.0}, "optics.pulse_energy"),
    ({"excitation": "saturating", "pulse_energy": 1e-3, "saturation_fluence": -1.0},
     "optics.saturation_fluence"),
    ({"beam_profile": "lorentzian"}, "optics.beam_profile"),
])
def test_bad_optics_names_the_key(optics, key):
    with pytest.raises(ConfigError) as info:
        build_section(OpticsConfig, optics, "optics")
    assert str(info.value).startswith(f"{key}: ")
    # built directly in Python: the same checks
    with pytest.raises(ConfigError) as info:
        OpticsConfig(**optics)
    assert str(info.value).startswith(key.split(".", 1)[1] + ": ")


def test_infinite_absorption_length_and_toml_round_trip():
    import tomllib

    optics = build_section(OpticsConfig, tomllib.loads("absorption_length = inf"), "optics")
    assert math.isinf(optics.absorption_length)
    cfg = parse_config(_crystal_raw(shape="prism", beam_direction=[0.1, 0.0, -1.0]))
    assert isinstance(cfg.geometry, CrystalGeometry)
    assert cfg.geometry.beam().direction == pytest.approx(tuple(np.array([0.1, 0, -1]) / math.hypot(0.1, 1)))
    with pytest.raises(ValueError, match="non-zero"):
        Beam((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), D)
