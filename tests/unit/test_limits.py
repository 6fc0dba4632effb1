"""Resource estimates and limits (fem_spin/limits.py, issue 18): estimates against real
meshes, refusals that name the key, the [limits] section and its overrides."""

from __future__ import annotations

import copy
import math

import pytest

from fem_spin.config import ConfigError, dump_toml, parse_config
from fem_spin.limits import (BASE_BYTES, Estimate, check_resources, default_max_memory, estimate,
                             estimate_mesh, mesh_file_counts, physical_memory)
from conftest import make_raw, serial_only


def _gmsh_counts(geometry, builder=None) -> tuple[int, int]:
    """(tetrahedra or hexahedra, nodes) of the real gmsh mesh of ``geometry`` (this process)."""
    import gmsh

    from fem_spin.geometry.base import gmsh_session

    with gmsh_session():
        gmsh.model.add("count")
        (builder or geometry.builder())(gmsh.model, geometry, geometry.length_scale())
        _, tags, _ = gmsh.model.mesh.getElements(3)
        return sum(len(t) for t in tags), len(gmsh.model.mesh.getNodes()[0])


def _geometry(table: dict):
    raw = make_raw()
    raw["geometry"] = table
    return parse_config(raw).geometry


# Each case meshes in well under a second; sizes chosen so that the meshes have 2k-20k cells
# (tiny meshes are all boundary, where the estimate need not be close).
MESHED = {
    "box": {"type": "box", "size": [1e-6, 1e-6, 1e-6], "mesh_size": 1e-7},
    "box_thin_film": {"type": "box", "size": [2e-6, 2e-6, 5e-8], "mesh_size": 1e-7},
    "dnp_cube": {"type": "dnp_cube", "electron_concentration": "40 mM", "source_radius": 0.6e-9,
                 "mesh_size_source": 0.15e-9},
    "dnp_cube_barrier": {"type": "dnp_cube", "electron_concentration": "40 mM", "source_radius": 1e-9,
                         "barrier_radius": 0.4e-9, "mesh_size_bulk": 0.3e-9},
    "dnp_sphere": {"type": "dnp_sphere", "electron_concentration": 5.6e23, "source_radius": 1.4e-9,
                   "barrier_radius": 0.5e-9, "mesh_size_source": 0.3e-9},
    "crystal": {"type": "crystal"},
    "crystal_prism_oblique": {"type": "crystal", "shape": "prism", "beam_direction": [0.3, 0.2, -1.0],
                              "beam_diameter": 1e-3},
    "mrfm_film": {"type": "mrfm_film", "mesh_size_min": 1e-8, "mesh_size_max": 1e-7,
                  "film_size": [2e-6, 2e-6]},
    "lateral_spin_valve": {"type": "lateral_spin_valve", "barrier_thickness": 2e-9},
}


@pytest.mark.parametrize("name", sorted(MESHED))
def test_cell_and_vertex_estimates_match_real_meshes(name):
    """The estimate from the configuration alone is within a factor 2 of gmsh's mesh (cells)
    and 2.5 (vertices: DOFs of P1), and not below 0.6 of it: measured ratios 0.97-1.5."""
    geometry = _geometry(MESHED[name])
    est = estimate_mesh(geometry)
    cells, nodes = _gmsh_counts(geometry)
    assert 0.6 <= est.cells / cells <= 2.0, (name, est.cells, cells)
    assert 0.55 <= est.vertices / nodes <= 2.5, (name, est.vertices, nodes)
    assert not est.exact and est.key.startswith("geometry.")


@pytest.mark.parametrize("cell,extra", [("dnp_sphere", {}), ("dnp_cube", {"barrier_radius": 0.25e-9})])
def test_estimate_follows_the_default_size_field_at_the_source_surface(cell, extra):
    """The default DNP mesh refined towards the source surface to resolve the model's
    boundary layer (Geometry.with_length_scales): the estimate integrates the same size field
    (at mesh_scale 2, the whole field twice as coarse: ~10 s a cell at 1 on a loaded machine)."""
    geometry = _geometry({"type": cell, "electron_concentration": "200 mM", "source_radius": 0.5e-9,
                          "mesh_scale": 2.0, **extra}).with_length_scales({"source": 0.05e-9})
    assert geometry.surface_size() < geometry.source_size()
    est = estimate_mesh(geometry)
    cells, nodes = _gmsh_counts(geometry)
    assert 0.6 <= est.cells / cells <= 2.0, (cell, est.cells, cells)
    assert 0.55 <= est.vertices / nodes <= 2.5, (cell, est.vertices, nodes)


def test_air_domain_estimate_of_the_fem_tip():
    """The magnetostatics mesh of onsager_transport's fem_tip field (sphere and cone tips)."""
    from fem_spin.geometry.mrfm import build_tip_air_domain

    for table in (MESHED["mrfm_film"], {"type": "mrfm_film", "tip_shape": "cylinder_cone",
                                        "mesh_size_min": 2e-8}):
        geometry = _geometry(table)
        cells, _ = _gmsh_counts(geometry, build_tip_air_domain)
        est = geometry.estimate_air_domain()
        assert 0.6 <= est.cells / cells <= 3.0, (table, est.cells, cells)


def test_structured_and_radial_counts_are_exact():
    box = _geometry({"type": "box", "size": [1e-7, 1e-8, 1e-8], "cells": [16, 2, 3]})
    est = estimate_mesh(box)
    assert (est.cells, est.vertices, est.exact, est.key) == (96, 17 * 3 * 4, True, "geometry.cells")
    layers = _geometry({"type": "multilayer", "cells_per_layer": [2, 3, 4], "lateral_cells": [2, 1]})
    assert estimate_mesh(layers).cells == 9 * 2 and estimate_mesh(layers).vertices == 10 * 3 * 2
    from fem_spin.geometry.dnp_cell import radial_nodes

    for table in ({"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": 0.6e-9},
                  {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": 1e-9,
                   "barrier_radius": 0.3e-9, "mesh_size_source": 1e-11, "mesh_size_bulk": 1e-10},
                  {"type": "dnp_radial", "electron_concentration": "40 mM", "source_radius": 0.5e-9,
                   "barrier_radius": 0.2e-9, "layer": 2e-11},
                  {"type": "dnp_radial", "electron_concentration": "10 mM", "source_radius": 0.5e-9,
                   "layer": 1e-12}):
        table = dict(table)
        layer = table.pop("layer", None)
        radial = _geometry(table).with_length_scales({"source": layer} if layer else {})
        real = len(radial_nodes(radial)) - 1
        assert real <= estimate_mesh(radial).cells <= 1.2 * real + 3, (estimate_mesh(radial), real)


def test_dofs_count_the_unknowns_per_node():
    nd = estimate(parse_config(make_raw()))
    assert nd.dofs == nd.vertices == 17 * 2 * 2 and nd.components == 1
    raw = make_raw()
    raw["model"] = {"type": "onsager_transport", "spin_density": 4.86e28, "B0": 1.0, "field": "uniform"}
    raw["time"] = {"t_end": 1e-3, "dt_initial": 1e-5}
    onsager = estimate(parse_config(raw))
    assert onsager.components == 2 and onsager.dofs == 2 * onsager.vertices


# --------------------------------------------------------------------------- refusals
def refusal(raw, **kwargs) -> ConfigError:
    cfg = parse_config(raw, source="run.toml")
    with pytest.raises(ConfigError) as info:
        check_resources(cfg, **kwargs)
    err = info.value
    assert str(err).startswith("run.toml: ") and "\n" not in str(err)
    return err


def test_a_mesh_beyond_memory_is_refused_naming_the_size_key():
    """The issue's cases: gmsh at mesh_size = 1e-12 in a box grew to 24 GB; a DNP cube with
    mesh_size_source = 1e-13 meshed for many minutes. Refused before meshing, naming the key,
    the estimate, the limit and how to override it."""
    raw = make_raw()
    raw["geometry"] = {"type": "box", "size": [1e-7, 1e-8, 1e-8], "mesh_size": 1e-12}
    err = refusal(raw)
    assert err.key == "geometry.mesh_size"
    for words in ("cells", "bytes", "limit", "memory", "[limits] max_memory", "--force"):
        assert words in err.message, (words, err.message)
    raw = make_raw()
    raw["geometry"] = {"type": "dnp_cube", "electron_concentration": "40 mM", "source_radius": 0.6e-9,
                       "mesh_size_source": 1e-13}
    assert refusal(raw).key == "geometry.mesh_size_source"
    raw["geometry"] = {"type": "crystal", "mesh_size_beam_edge": 1e-8}
    raw["model"] = {"type": "nuclear_diffusion", "D0": 1e-16}
    assert refusal(raw).key == "geometry.mesh_size_beam_edge"


def test_structured_cells_beyond_the_hard_bound_fail_at_parse_time():
    """cells = [99999999999999999999, 2, 2] passed validation and gmsh grew to 24 GB: now no
    configuration with more than 1e9 structured cells parses, whatever [limits] says."""
    for geometry, key in (({"cells": [99999999999999999999, 2, 2]}, "geometry.cells"),
                          ({"type": "interval", "x_min": 0.0, "x_max": 1e-6, "cells": 2 * 10**9},
                           "geometry.cells"),
                          ({"type": "rectangle", "size": [1e-6, 1e-6], "cells": [40000, 40000]},
                           "geometry.cells"),
                          ({"type": "multilayer", "cells_per_layer": 10**5, "lateral_cells": [100, 100]},
                           "geometry.cells_per_layer")):
        raw = make_raw(geometry=geometry, limits={"max_memory": 1e30, "max_dofs": 10**30})
        if "type" in geometry:
            raw["geometry"] = geometry
        with pytest.raises(ConfigError) as info:
            parse_config(raw, source="run.toml")
        assert info.value.key == key and "1e+09" in info.value.message, str(info.value)
    # just under the bound parses (and is then refused by memory, not by the bound)
    ok = parse_config(make_raw(geometry={"cells": [1000, 1000, 1000]}))
    assert estimate(ok).cells == 1e9


def test_too_many_steps_and_snapshots_are_refused():
    raw = make_raw(time={"dt_initial": 1e-8})              # fixed steps: 5e8 of them
    err = refusal(raw)
    assert err.key == "time.dt_initial" and "5e+08 time steps" in err.message
    assert "[limits] max_steps" in err.message
    raw = make_raw(time={"t_end": 1e30, "dt_initial": 1.0, "dt_max": 1e20, "adaptive": True})
    assert refusal(raw).key == "time.dt_max"
    raw = make_raw(model={"source": "pulsed", "repetition_rate": 1e6, "source_polarization": 0.5,
                          "source_regions": ["sample"]}, time={"t_end": 5.0, "adaptive": True},
                   limits={"max_steps": 1_000_000})
    err = refusal(raw)             # 5e6 pulses: at least one step each
    assert err.key == "time.t_end" and "5e+06 time steps" in err.message
    raw = make_raw(output={"field_snapshots": 20_000})
    err = refusal(raw)
    assert err.key == "output.field_snapshots" and "[limits] max_snapshots" in err.message
    # adaptive steps to an astronomically late t_end but no dt_max: the step can grow, accepted
    check_resources(parse_config(make_raw(time={"t_end": 1e30, "adaptive": True})))
    # ... unless it may not grow (growth_max = 1): then every step is dt_initial
    assert refusal(make_raw(time={"adaptive": True, "growth_max": 1.0, "dt_initial": 1e-7})).key \
        == "time.dt_initial"


def test_field_snapshots_beyond_the_hard_bound_fail_at_parse_time():
    """field_snapshots = 1e9 allocated 7.45 GiB and died with MemoryError."""
    with pytest.raises(ConfigError) as info:
        parse_config(make_raw(output={"field_snapshots": 10**9}, limits={"max_snapshots": 10**12}))
    assert info.value.key == "output.field_snapshots" and "at most" in info.value.message


def test_just_under_each_limit_passes_and_just_over_is_refused():
    raw = make_raw()
    raw["geometry"] = {"type": "box", "size": [1e-7, 1e-8, 1e-8], "mesh_size": 2e-9}
    cfg = parse_config(raw)
    est = check_resources(cfg)
    assert isinstance(est, Estimate) and est.cells > 1000 and est.memory > BASE_BYTES
    assert check_resources(cfg, max_memory=1.01 * est.memory, max_dofs=math.ceil(est.dofs)) == est
    with pytest.raises(ConfigError) as info:
        check_resources(cfg, max_memory=0.99 * est.memory)
    assert info.value.key == "geometry.mesh_size" and "--max-memory" in info.value.message
    with pytest.raises(ConfigError) as info:
        check_resources(cfg, max_dofs=math.floor(0.99 * est.dofs))
    assert info.value.key == "geometry.mesh_size" and "max_dofs" in info.value.message
    # steps and snapshots: exactly at the [limits] value passes, one more is refused
    steps = parse_config(make_raw(limits={"max_steps": 100, "max_snapshots": 3}))
    assert check_resources(steps).steps == 100 and check_resources(steps).snapshots == 3
    from fem_spin.simulation import output_times
    assert len(output_times(steps)) + 1 == 3           # t = 0 and the output times
    for limits, key in (({"max_steps": 99}, "time.dt_initial"),
                        ({"max_snapshots": 2}, "output.field_snapshots")):
        with pytest.raises(ConfigError) as info:
            check_resources(parse_config(make_raw(limits=limits)))
        assert info.value.key == key


def test_limits_section_and_command_line_overrides():
    """[limits] max_memory/max_dofs apply; the command line beats them; force refuses nothing
    but still returns the estimate."""
    raw = make_raw(limits={"max_memory": "100 MB"})
    cfg = parse_config(raw, source="run.toml")
    assert cfg.limits.max_memory == 100e6
    with pytest.raises(ConfigError) as info:
        check_resources(cfg)
    assert "[limits] max_memory" in info.value.message and "1e+08 bytes" in info.value.message
    assert check_resources(cfg, max_memory="1 GiB").memory < 2**30
    assert check_resources(cfg, force=True).memory > 100e6
    cfg = parse_config(make_raw(limits={"max_dofs": 10}))
    with pytest.raises(ConfigError):
        check_resources(cfg)
    check_resources(cfg, max_dofs=1000)
    with pytest.raises(ConfigError) as info:     # a bad override names the command line
        check_resources(cfg, max_dofs=1000, max_memory="lots")
    assert info.value.key == "--max-memory"
    for bad in (0, -5.0, math.nan):
        with pytest.raises(ConfigError) as info:
            check_resources(cfg, max_dofs=bad)
        assert info.value.key == "--max-dofs"
    # numbers as TOML floats are fine for counts
    assert parse_config(make_raw(limits={"max_dofs": 1e6, "max_steps": 1e7})).limits.max_steps == 1e7


@pytest.mark.parametrize("limits, key, words", [
    ({"max_memory": "8 furlongs"}, "limits.max_memory", "8 GB"),
    ({"max_memory": -1.0}, "limits.max_memory", "> 0"),
    ({"max_memory": math.nan}, "limits.max_memory", "finite"),
    ({"max_dofs": 0}, "limits.max_dofs", "> 0"),
    ({"max_steps": -1}, "limits.max_steps", "> 0"),
    ({"max_steps": math.nan}, "limits.max_steps", "finite number"),
    ({"max_dofs": True}, "limits.max_dofs", "wrong type"),
    ({"max_snapshot": 5}, "limits.max_snapshot", "unknown key"),
])
def test_bad_limits_name_the_key(limits, key, words):
    with pytest.raises(ConfigError) as info:
        parse_config(make_raw(limits=limits), source="run.toml")
    assert info.value.key == key and words in info.value.message, str(info.value)


def test_limits_survive_dump_and_sweep_variants():
    import tomllib

    raw = make_raw(limits={"max_steps": 1000, "max_memory": 5e9},
                   sweep={"geometry.cells": [[16, 1, 1], [32, 1, 1]]})
    cfg = parse_config(raw)
    again = parse_config(tomllib.loads(dump_toml(cfg.raw)))
    assert again.limits == cfg.limits
    assert [v.limits.max_steps for _, v in cfg.variants()] == [1000, 1000]


def test_every_sweep_variant_is_checked():
    raw = make_raw(sweep={"geometry.mesh_size": [1e-8, 1e-12]})
    raw["geometry"] = {"type": "box", "size": [1e-7, 1e-8, 1e-8], "mesh_size": 1e-8}
    err = refusal(raw)
    assert err.key == "geometry.mesh_size" and "mesh_size=1e-12" in err.message


def test_default_memory_limit_is_half_the_physical_memory():
    total = physical_memory()
    assert total and total > 1e8
    assert default_max_memory() == pytest.approx(0.5 * total)
    # the default refusal says so
    raw = make_raw()
    raw["geometry"] = {"type": "box", "size": [1e-7, 1e-8, 1e-8], "mesh_size": 1e-12}
    assert "50% of the machine's memory" in refusal(raw).message


@pytest.mark.parallel
def test_every_rank_gets_the_same_estimate_and_refusal(comm):
    """Under mpirun each rank checks alone (no communication): the same estimate, the ranks
    of COMM_WORLD counted, and the same refusal everywhere (no rank left waiting)."""
    cfg = parse_config(make_raw())
    est = check_resources(cfg)
    assert est.ranks == comm.size
    assert comm.allgather(est.memory) == [est.memory] * comm.size
    raw = make_raw()
    raw["geometry"] = {"type": "box", "size": [1e-7, 1e-8, 1e-8], "mesh_size": 1e-12}
    with pytest.raises(ConfigError) as info:
        check_resources(parse_config(raw))
    assert comm.allgather(str(info.value)) == [str(info.value)] * comm.size


def test_more_ranks_cost_more_base_memory():
    cfg = parse_config(make_raw())
    assert estimate(cfg, ranks=4).memory - estimate(cfg, ranks=1).memory == pytest.approx(3 * BASE_BYTES)


@serial_only()
def test_mesh_file_headers_are_counted_without_reading_the_mesh(tmp_path):
    """.msh (ASCII and binary gmsh 4.1) from the node count in its header; unreadable: None."""
    import gmsh

    from fem_spin.geometry import write_msh
    from fem_spin.geometry.base import gmsh_session

    geometry = _geometry(MESHED["box"])
    cells, nodes = _gmsh_counts(geometry)
    for binary in (0, 1):
        path = tmp_path / f"box{binary}.msh"
        with gmsh_session():
            gmsh.option.setNumber("Mesh.Binary", binary)
            try:
                write_msh(geometry.builder(), geometry, path)
            finally:
                gmsh.option.setNumber("Mesh.Binary", 0)
        counted = mesh_file_counts(path)
        assert counted is not None and counted[1] == nodes, (binary, counted, nodes)
        assert 0.6 <= counted[0] / cells <= 2.0
        raw = make_raw()
        raw["geometry"] = {"type": "file", "path": str(path)}
        est = estimate(parse_config(raw))
        assert est.mesh_known and est.dofs == nodes and est.cells_key == "geometry.path"
    junk = tmp_path / "junk.msh"
    junk.write_bytes(b"$MeshFormat\n4.1 0 8\n$EndMeshFormat\n")
    assert mesh_file_counts(junk) is None and mesh_file_counts(tmp_path / "absent.xdmf") is None


def test_every_fuzz_seed_has_a_finite_estimate():
    """check_resources runs on every model and geometry (the fuzz seeds) without meshing."""
    from test_fuzz_config import SEEDS

    for name, raw in SEEDS.items():
        est = check_resources(parse_config(copy.deepcopy(raw), source="fuzz.toml"))
        assert math.isfinite(est.memory) and est.memory >= BASE_BYTES, name
        assert est.mesh_known == (name != "nd_file") and est.snapshots >= 0, name
        assert est.summary()


# --------------------------------------------------------------------------- outputs
def _strict_json(path):
    import json

    def no_nan(name):
        raise AssertionError(f"{path.name} holds {name}")

    return json.loads(path.read_text(), parse_constant=no_nan)


def test_empty_region_and_unapplied_speedup_are_not_reported(tmp_path):
    """A region outside the sample gave "P_region": NaN in summary.json, and speedup = 'none'
    filled a speedup_factor column with f(Pbar) that was never applied. Now the run warns
    (test_config.py), omits P_region, and speedup_factor is reported only where it is the
    one factor applied to D0 (global mode)."""
    from fem_spin.io.timeseries import read_timeseries
    from fem_spin.simulation import run_single

    raw = make_raw(model={"region_shape": "ball", "region_center": [1e-6, 0.0, 0.0],
                          "region_radius": 1e-8, "region_polarization": 0.5},
                   time={"t_end": 0.5})
    cfg = parse_config(raw)
    assert [w.key for w in cfg.warnings] == ["model.region_center"]
    out = tmp_path / "outside"
    out.mkdir()
    run_single(cfg, out, quiet=True)
    summary = _strict_json(out / "summary.json")
    assert "P_region" not in summary["final"] and "speedup_factor" not in summary["final"]
    assert summary["final"]["P_outside"] == pytest.approx(summary["final"]["P_mean"])
    assert "speedup_factor" not in read_timeseries(out / "timeseries.csv")

    raw = make_raw(model={"region_shape": "ball", "region_center": [5e-8, 5e-9, 5e-9],
                          "region_radius": 2e-8, "region_polarization": 0.9, "speedup": "global"},
                   time={"t_end": 0.5})
    out = tmp_path / "global"
    out.mkdir()
    run_single(parse_config(raw), out, quiet=True)
    series = read_timeseries(out / "timeseries.csv")
    from fem_spin.models.nuclear_diffusion import speedup_factor

    assert series["speedup_factor"][-1] == pytest.approx(speedup_factor(series["P_mean"][-1]), rel=1e-9)
    assert series["speedup_factor"][0] > 1.0 and "P_region" in series
    assert _strict_json(out / "summary.json")["final"]["P_region"] > 0


def test_fuzzed_configurations_give_an_estimate_or_a_one_line_refusal():
    """Every configuration that parses (the fuzz strategies of test_fuzz_config.py) gets an
    estimate, or a ConfigError naming the file and a key; no other exception, no NaN."""
    import warnings

    from hypothesis import HealthCheck, given, settings

    from test_fuzz_config import SOURCE, mutated_configs, renumbered_configs

    def check(case):
        try:
            cfg = parse_config(case[1], source=SOURCE)
        except ConfigError:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                est = check_resources(cfg)
            except ConfigError as exc:
                assert str(exc).startswith(f"{SOURCE}: ") and exc.key and "\n" not in str(exc)
                est = check_resources(cfg, force=True)
        assert est.memory >= BASE_BYTES and not math.isnan(est.cells) and not math.isnan(est.steps)

    quick = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
    given(renumbered_configs())(quick(check))()
    given(mutated_configs())(quick(lambda case: check(case)))()
