"""The DNP cells' default mesh follows the model (issue 20, item 3): the source's boundary
layer sqrt(D_min/k) is handed from [model] to [geometry] once, in config resolution
(ModelConfig.length_scales -> Geometry.with_length_scales, {"source": lambda}), and the user's sizes stay authoritative."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from fem_spin.config import parse_config
from fem_spin.geometry import dnp_cell

R_S = 0.5e-9


def _config(geometry=None, model=None):
    raw = {"name": "mesh",
           "geometry": {"type": "dnp_sphere", "electron_concentration": "40 mM", "source_radius": R_S,
                        **(geometry or {})},
           "model": {"type": "nuclear_diffusion", "D0": 5e-16, "source": "continuous",
                     "source_polarization": 0.9, "exchange_rate": 1e6, **(model or {})},
           "time": {"t_end": 0.03, "dt_initial": 1e-7}}
    return parse_config(raw)


def test_the_boundary_layer_reaches_the_geometry():
    geometry = _config().geometry
    assert geometry.source_layer == pytest.approx(math.sqrt(5e-16 / 1e6))
    assert geometry.surface_size() == pytest.approx(geometry.source_layer / dnp_cell.SURFACE_LAYER_CELLS)
    # graded: h_0 on the surface (both sides), growing away from it, r/12 far out
    h = geometry.mesh_size
    assert h(R_S) == pytest.approx(geometry.surface_size())
    assert h(0.9 * R_S) > h(R_S) < h(1.1 * R_S)
    assert h(4 * R_S) == pytest.approx(4 * R_S / 12)


@pytest.mark.parametrize("model,layer", [
    ({"exchange_rate": 50.0}, math.sqrt(5e-16 / 50.0)),
    ({"source": "cycle_averaged", "repetition_rate": 1e3, "exchange_probability": 0.5},
     math.sqrt(5e-16 / 500.0)),
    ({"source": "pulsed", "repetition_rate": 1e3, "exchange_probability": 0.5}, math.sqrt(5e-16 / 500.0)),
    ({"D0": [[5e-16, 0, 0], [0, 5e-16, 0], [0, 0, 1e-16]]}, math.sqrt(1e-16 / 1e6)),
    ({"source": "none"}, None),
])
def test_the_layer_is_the_thinnest_the_source_makes(model, layer):
    geometry = _config(model=model).geometry
    assert (geometry.source_layer is None) if layer is None else geometry.source_layer == pytest.approx(layer)


def test_a_thick_layer_leaves_the_envelope_and_a_barrier_shell_is_resolved():
    slow = _config(model={"exchange_rate": 1.0}).geometry
    assert slow.surface_size() == pytest.approx(R_S / 12)
    barrier = _config(geometry={"barrier_radius": 0.45e-9}, model={"exchange_rate": 1.0}).geometry
    assert barrier.surface_size() == pytest.approx(0.05e-9 / dnp_cell.SURFACE_SHELL_CELLS)


def test_given_sizes_are_authoritative():
    given = _config(geometry={"mesh_size_source": R_S / 4, "mesh_size_bulk": 0.8e-9}).geometry
    assert given.surface_size() == given.source_size() == R_S / 4
    # the former rule exactly: h_s inside, h_s r/r_s outside, capped at the bulk size
    for r in (0.0, 0.5 * R_S, R_S, 2 * R_S, 20 * R_S):
        assert given.mesh_size(r) == pytest.approx(min(0.8e-9, R_S / 4 * max(r, R_S) / R_S))
    assert "abs(" not in given.size_expression(1e-9)


def test_the_resolved_geometry_is_compared_and_sweeps_resolve_each_variant():
    fast, slow = _config().geometry, _config(model={"exchange_rate": 1e3}).geometry
    assert fast != slow
    raw = _config().raw
    raw["sweep"] = {"model.exchange_rate": [1e6, 1e2]}
    variants = parse_config(raw).variants()
    layers = [cfg.geometry.source_layer for _, cfg in variants]
    assert layers == pytest.approx([math.sqrt(5e-16 / 1e6), math.sqrt(5e-16 / 1e2)])


def test_the_radial_cell_is_graded_from_the_surface():
    raw_geometry = {"type": "dnp_radial"}
    geometry = _config(geometry=raw_geometry).geometry
    r = dnp_cell.radial_nodes(geometry)
    steps = (r[1:] - r[:-1])
    assert r[0] == 0.0 and r[-1] == pytest.approx(geometry.outer_radius()) and min(steps) > 0
    assert R_S in r
    assert min(steps) == pytest.approx(geometry.surface_size(), rel=0.01)
    assert max(steps) <= geometry.outer_radius() / 10


def test_coarsened_scales_the_whole_size_field():
    """Geometry.coarsened (the error estimate's coarser meshes) scales the new rule everywhere:
    the surface layer, the grading, the envelope and the bulk (mesh_scale), for default and
    given sizes alike."""
    for geometry_keys in ({}, {"mesh_size_source": R_S / 4, "mesh_size_bulk": 0.8e-9},
                          {"barrier_radius": 0.3e-9}):
        cfg = _config(geometry=geometry_keys)
        geometry = cfg.geometry
        keys = geometry.coarsened(2.0)
        assert keys == {"mesh_scale": 2.0}
        raw = cfg.raw
        raw["geometry"].update(keys)
        coarse = parse_config(raw).geometry
        assert coarse.source_layer == geometry.source_layer
        r = np.concatenate([np.linspace(0.0, 3 * R_S, 301), np.geomspace(3 * R_S, geometry.outer_radius(), 50)])
        assert np.allclose(coarse.mesh_size(r), 2.0 * geometry.mesh_size(r), rtol=1e-12)
        assert coarse.size_expression(1e-9) != geometry.size_expression(1e-9)


@pytest.mark.parametrize("cell,dim", [("dnp_radial", 1), ("dnp_sphere", 3)])
def test_the_coarsened_mesh_has_about_factor_to_the_dim_fewer_dofs(cell, dim):
    """The meshes built: vertices drop by about factor^dim (radial: factor; 3-D: factor^3).
    A fast source (k_x = 1e6/s) so that the surface layer is what is coarsened too; the 3-D
    case at 200 mM keeps the mesh small (20k -> 3.2k vertices, measured ratio 6.3: gmsh's
    surface meshes of the spheres coarsen less than the volume; radial 44 -> 23, 1.9)."""
    from mpi4py import MPI

    concentration = "200 mM" if dim == 3 else "40 mM"
    geometry = _config(geometry={"type": cell, "electron_concentration": concentration},
                       model={"D0": 5e-15}).geometry
    assert geometry.mesh_dimension == dim
    factor = 2.0
    coarse = dataclasses.replace(geometry, **geometry.coarsened(factor))

    def vertices(g):
        mesh = g.create_mesh(MPI.COMM_SELF).mesh
        return mesh.geometry.index_map().size_global

    fine_n, coarse_n = vertices(geometry), vertices(coarse)
    ratio = fine_n / coarse_n
    assert 0.7 * factor**dim < ratio < 1.3 * factor**dim, (fine_n, coarse_n, ratio)
