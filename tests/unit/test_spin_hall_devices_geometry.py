"""Spin–orbit device geometries (fem_spin/geometry/spin_hall_devices.py): the spin absorption
valve (lateral spin valve + middle absorber wire M) and the spin Hall nonlocal device (F on an
N bridge ending on a heavy-metal wire H, Kimura et al. 2007). Named groups, the volume of
every region and the area of every contact face against their values written out from the
parameters, conforming contacts, the boundary layers at the N/M contact, validation."""

from __future__ import annotations

import dataclasses

import pytest
from mpi4py import MPI

from fem_spin.config import ConfigError, build_section, geometry_types
from fem_spin.geometry import SpinAbsorptionValveGeometry, SpinHallNonlocalGeometry, mesh_from_builder
from test_spin_valve_geometry import approx, facet_areas, shared_facet_area, volumes

ABSORBER = dict(separation=300e-9, n_width=100e-9, n_thickness=40e-9, n_extension=250e-9, f_width=80e-9,
                f_thickness=20e-9, f_arm=150e-9, mesh_size_junction=20e-9, mesh_size=40e-9,
                m_width=60e-9, m_thickness=10e-9, m_length=300e-9, m_position=20e-9)
KIMURA = dict(separation=400e-9, n_width=100e-9, n_thickness=50e-9, n_extension=300e-9, n_overhang=20e-9,
              f_width=100e-9, f_thickness=30e-9, f_arm=200e-9, h_width=100e-9, h_thickness=20e-9,
              h_length=400e-9, mesh_size_junction=25e-9, mesh_size=100e-9)


def build(geometry):
    return mesh_from_builder(geometry.builder(), geometry, MPI.COMM_WORLD)


def test_registered_and_built_from_a_table():
    assert {"spin_absorption_valve", "spin_hall_nonlocal"} <= set(geometry_types())
    g = build_section(SpinAbsorptionValveGeometry, dict(ABSORBER, m_width=6e-8), "geometry")
    assert g.m_width == 6e-8 and g.absorber_contact_area() == approx(6e-8 * 1e-7)
    with pytest.raises(ConfigError) as info:
        build_section(SpinHallNonlocalGeometry, {"h_width": "wide"}, "geometry")
    assert info.value.key.endswith("h_width")


@pytest.mark.parametrize("graded", [False, True])
def test_absorber_valve_groups_volumes_and_faces(graded):
    p = dict(ABSORBER)
    if graded:   # the default sizing from the spin-flip lengths: boundary layers in F and M
        p.update(mesh_size_junction=None, mesh_size=None)
    g = SpinAbsorptionValveGeometry(**p)
    if graded:
        g = g.with_length_scales({"N": 350e-9, "F1": 20e-9, "F2": 20e-9, "M": 10e-9})
        assert {"F1_layer", "M_layer", "M_arm_layer", "M_overhang_layer"} <= set(g.graded_blocks())
    data = build(g)
    L, wN, tN, ext = p["separation"], p["n_width"], p["n_thickness"], p["n_extension"]
    wF, tF, arm = p["f_width"], p["f_thickness"], p["f_arm"]
    wM, tM, lM = p["m_width"], p["m_thickness"], p["m_length"]
    vol = {"N": (L + 2 * ext) * wN * tN, "F1": wF * (wN + arm) * tF, "F2": wF * (wN + arm) * tF,
           "M": wM * lM * tM}
    area = {"N_left_end": wN * tN, "N_right_end": wN * tN, "F1_end": wF * tF, "F2_end": wF * tF,
            "F1_top": wF * (wN + arm), "F2_top": wF * (wN + arm), "M_end_ymin": wM * tM, "M_end_ymax": wM * tM}
    assert set(data.cell_groups) == set(vol) and set(data.facet_groups) == set(area)
    got = volumes(data)
    for name in vol:
        assert got[name] == approx(vol[name]), name
    got = facet_areas(data)
    for name in area:
        assert got[name] == approx(area[name]), name
    # conforming: the facets shared by N and M cover exactly the contact m_width x n_width
    assert shared_facet_area(data, "N", "M") == approx(wM * wN)
    assert shared_facet_area(data, "N", "F1") == approx(wF * wN)


def test_absorber_boundary_layer_grows_from_the_contact():
    g = SpinAbsorptionValveGeometry(**dict(ABSORBER, mesh_size_junction=None, mesh_size=None,
                                           m_thickness=100e-9)).with_length_scales({"N": 350e-9, "M": 4e-9})
    assert g.absorber_interface_size() == approx(4e-9 / 20)
    group, box, counts, grading = g.graded_blocks()["M_layer"]
    assert group == "M" and box[1][2] == 0.0 and grading[2] == (1.2, 0.0)     # fine end at the contact
    first, n = 4e-9 / 20, counts[2]
    assert box[1][2] - box[0][2] == approx(first * (1.2**n - 1) / 0.2)       # geometric layers
    assert g.estimate_mesh().cells > 6 * counts[0] * counts[1] * counts[2]


def test_spin_hall_nonlocal_groups_volumes_and_faces():
    data = build(SpinHallNonlocalGeometry(**KIMURA))
    p = KIMURA
    n_length = p["n_extension"] + p["separation"] + 0.5 * p["h_width"] + p["n_overhang"]
    vol = {"N": n_length * p["n_width"] * p["n_thickness"],
           "F": p["f_width"] * (p["n_width"] + p["f_arm"]) * p["f_thickness"],
           "H": p["h_width"] * p["h_length"] * p["h_thickness"]}
    area = {"N_left_end": p["n_width"] * p["n_thickness"], "N_right_end": p["n_width"] * p["n_thickness"],
            "F_end": p["f_width"] * p["f_thickness"], "F_top": p["f_width"] * (p["n_width"] + p["f_arm"]),
            "H_end_ymin": p["h_width"] * p["h_thickness"], "H_end_ymax": p["h_width"] * p["h_thickness"]}
    assert set(data.cell_groups) == set(vol) and set(data.facet_groups) == set(area)
    got = volumes(data)
    for name in vol:
        assert got[name] == approx(vol[name]), name
    got = facet_areas(data)
    for name in area:
        assert got[name] == approx(area[name]), name
    assert shared_facet_area(data, "N", "H") == approx(p["h_width"] * p["n_width"])
    assert shared_facet_area(data, "N", "F") == approx(p["f_width"] * p["n_width"])


def test_spin_hall_nonlocal_default_mesh_is_graded_and_deterministic():
    g = SpinHallNonlocalGeometry(**dict(KIMURA, mesh_size_junction=None, mesh_size=None)).with_length_scales(
        {"N": 500e-9, "F": 5e-9, "H": 3.4e-9})
    assert g.junction_size() == approx(15e-9) and g.interface_size("H") == approx(3.4e-9 / 20)
    assert {"F_layer", "F_arm_layer", "H_layer", "H_arm_layer", "H_overhang_layer"} == set(g.graded_blocks())
    coarse = dataclasses.replace(g, **g.coarsened(4.0))
    a, b = build(coarse), build(coarse)
    assert (a.mesh.geometry.x == b.mesh.geometry.x).all()


@pytest.mark.parametrize("cls, changes, key", [
    (SpinAbsorptionValveGeometry, dict(m_position=120e-9), "m_position"),
    (SpinAbsorptionValveGeometry, dict(m_length=50e-9), "m_length"),
    (SpinAbsorptionValveGeometry, dict(m_thickness=0.0), "m_thickness"),
    (SpinHallNonlocalGeometry, dict(separation=90e-9), "separation"),
    (SpinHallNonlocalGeometry, dict(h_length=50e-9), "h_length"),
    (SpinHallNonlocalGeometry, dict(mesh_grading=3.0), "mesh_grading"),
])
def test_validation_names_the_key(cls, changes, key):
    base = ABSORBER if cls is SpinAbsorptionValveGeometry else KIMURA
    with pytest.raises(ConfigError) as info:
        cls(**dict(base, **changes))
    assert info.value.key.endswith(key)
