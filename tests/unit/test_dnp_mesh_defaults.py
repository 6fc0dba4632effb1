"""The DNP cells' default mesh follows the model (issue 20, item 3): the source's boundary
layer sqrt(D_min/k) is handed from [model] to [geometry] once, in config resolution
(ModelConfig.mesh_lengths -> Geometry.resolve_mesh), and the user's sizes stay authoritative."""

from __future__ import annotations

import math

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
