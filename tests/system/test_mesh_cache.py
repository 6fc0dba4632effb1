"""The on-disk mesh cache (fem_spin/geometry/mesh_cache.py) and setup/stepping times.

A second run of a gmsh geometry reads its mesh and multigrid coarse levels from the cache
without calling gmsh (gmsh is made to fail), gives the same result as an uncached run bit
for bit, ignores (and keeps, moved aside) a damaged entry, honours the off switch, and works
across rank counts. Every test points the cache to its own tmp directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, serial_only
from fem_spin import api
from fem_spin.geometry import mesh_cache

R_S = 0.6e-9
#: the default run's cube on the former default mesh (r_s/4, ~1.5k DOFs): the cache needs some
#: gmsh mesh, not the default's accuracy (its 24k DOFs cost ~2 min here)
CUBE = {"type": "dnp_cube", "electron_concentration": "40 mM", "source_radius": R_S,
        "mesh_size_source": R_S / 4}


def cube_raw(**solver) -> dict:
    """The default run's cube (its preset) on a coarse mesh (CUBE), a short run."""
    return {"name": "cube", "preset": "glassy_1H_nitroxide", "geometry": dict(CUBE),
            "model": {"source_polarization": 0.9, "speedup": "global"},
            "time": {"t_end": 2e-3, "dt_initial": 1e-5, "tolerance": 2e-3},
            "solver": {"preconditioner": "multigrid", **solver},
            "output": {"plot": False, "render": False, "field_snapshots": 1,
                       "progress_interval": 1e9}}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "mesh_cache"
    monkeypatch.setenv(mesh_cache.ENV, str(root))
    api.clear_mesh_cache()          # the in-memory reuse of simulate() must not hide the disk
    yield root
    api.clear_mesh_cache()


def _simulate(raw):
    api.clear_mesh_cache()
    return api.simulate(raw)


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if len(p.name) == 64) if root.exists() else []


def _kinds(root: Path) -> dict[str, list[Path]]:
    """The entries by kind: "mesh" (a fine mesh), "coarse" (a multigrid level), or the
    ``kind`` of a derived entry ("multigrid-transfers", "periodic-constraint")."""
    out: dict[str, list[Path]] = {}
    for entry in _entries(root):
        meta = json.loads((entry / "meta.json").read_text())
        kind = meta.get("kind") or ("mesh" if "info" in meta else "coarse")
        out.setdefault(kind, []).append(entry)
    return out


def _no_gmsh(monkeypatch):
    """Any gmsh meshing from here on fails the test."""
    from fem_spin.geometry import base
    from fem_spin.solvers import multigrid

    def fail(*args, **kwargs):
        raise AssertionError("gmsh was called although the mesh is cached")

    monkeypatch.setattr(base, "gmsh_session", fail)
    monkeypatch.setattr(multigrid, "_mesh_coarse", fail)


def _no_derived_work(monkeypatch):
    """Computing the multigrid transfers or dolfinx_mpc's periodic search fails the test."""
    import dolfinx_mpc

    from fem_spin.solvers import multigrid

    def fail(*args, **kwargs):
        raise AssertionError("derived data computed although it is cached")

    monkeypatch.setattr(multigrid, "_transfer_plan", fail)
    monkeypatch.setattr(dolfinx_mpc.MultiPointConstraint, "create_periodic_constraint_geometrical", fail)


def _same_series(a, b, atol=0.0):
    assert a.summary["dofs"] == b.summary["dofs"]
    for name in ("t", "P_mean"):
        x, y = np.asarray(a.series[name]), np.asarray(b.series[name])
        assert x.shape == y.shape, name
        np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=name)


@serial_only()
def test_second_run_reads_the_cache_without_gmsh_and_is_identical(cache, monkeypatch):
    first = _simulate(cube_raw())
    assert first.summary["mesh_cache"] == "stored"
    entries = _entries(cache)
    assert len(entries) >= 2, entries        # the mesh and at least one coarse level
    kinds = _kinds(cache)
    assert {"mesh", "coarse", "multigrid-transfers", "periodic-constraint"} <= set(kinds), kinds
    assert first.summary["steps"] > 3
    with monkeypatch.context() as m:
        _no_gmsh(m)
        _no_derived_work(m)
        second = _simulate(cube_raw())
    assert second.summary["mesh_cache"] == "hit"
    assert _entries(cache) == entries         # nothing new written
    _same_series(first, second, atol=1e-12)
    monkeypatch.setenv(mesh_cache.ENV, "off")
    uncached = _simulate(cube_raw())
    assert uncached.summary["mesh_cache"] == "off"
    _same_series(uncached, second, atol=1e-12)
    # the test can fail: the transfers and the constraint are really blocked when not cached
    monkeypatch.setenv(mesh_cache.ENV, str(cache))
    for kind in ("multigrid-transfers", "periodic-constraint"):
        (entry,) = _kinds(cache)[kind]
        entry.rename(cache / f"held-{kind}")
        with monkeypatch.context() as m:
            _no_derived_work(m)
            with pytest.raises(Exception, match="derived data computed"):
                _simulate(cube_raw())
        (cache / f"held-{kind}").rename(entry)
    # and gmsh is really blocked when the entry is missing
    monkeypatch.setenv(mesh_cache.ENV, str(cache.parent / "empty_cache"))
    with monkeypatch.context() as m:
        _no_gmsh(m)
        with pytest.raises(Exception, match="gmsh was called"):
            _simulate(cube_raw())


@serial_only()
def test_key_follows_parameters_and_derived_values(cache):
    from fem_spin.config import parse_config

    geo = parse_config(cube_raw()).geometry
    finer = parse_config({**cube_raw(), "geometry": {**CUBE, "mesh_size_source": R_S / 5}}).geometry
    other_n = parse_config({**cube_raw(), "geometry": {**CUBE, "electron_concentration": "30 mM"}}).geometry
    build, unit = geo.builder(), geo.length_scale()
    key = mesh_cache.entry_key(geo, build, unit, "mesh")
    assert key == mesh_cache.entry_key(parse_config(cube_raw()).geometry, build, unit, "mesh")
    assert key != mesh_cache.entry_key(finer, build, unit, "mesh")
    assert key != mesh_cache.entry_key(other_n, build, other_n.length_scale(), "mesh")
    assert key != mesh_cache.entry_key(geo, build, unit, "coarse:2.0")
    # the derived electron density (set in __post_init__) is part of the key
    assert "electron_density" in vars(geo)


@serial_only()
def test_damaged_entry_is_ignored_kept_aside_and_rebuilt(cache, monkeypatch, capfd):
    raw = cube_raw(preconditioner="ilu")
    first = _simulate(raw)
    (entry,) = _kinds(cache)["mesh"]
    data = entry / "arrays.npz"
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0xFF                     # one flipped byte, same size
    data.write_bytes(bytes(blob))
    again = _simulate(raw)
    assert again.summary["mesh_cache"] == "stored"   # rebuilt by gmsh and stored again
    assert "mesh cache" in capfd.readouterr().err
    damaged = [p for p in cache.iterdir() if ".damaged-" in p.name]
    assert len(damaged) == 1 and (damaged[0] / "arrays.npz").read_bytes() == bytes(blob)
    _same_series(first, again, atol=1e-12)
    # a partial entry (no manifest) is not trusted either
    (entry / "manifest.json").unlink()
    third = _simulate(raw)
    assert third.summary["mesh_cache"] == "stored"
    _same_series(first, third, atol=1e-12)
    # and the rebuilt one is read
    assert _simulate(raw).summary["mesh_cache"] == "hit"


def test_store_is_atomic_and_concurrent_writers_keep_one_entry(cache):
    arrays = {"x": np.arange(6.0).reshape(2, 3)}
    key = "a" * 64
    assert mesh_cache.store(key, arrays, {}) == cache / key
    # a second writer of the same entry (a concurrent run): its rename fails, it keeps ours
    os.rename(cache / key, cache / "held")
    (cache / key).mkdir()
    (cache / key / "someone_elses_file").write_text("keep")
    assert mesh_cache.store(key, arrays, {}) == cache / key
    assert (cache / key / "someone_elses_file").read_text() == "keep"
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]
    # that foreign directory is not an entry: ignored, moved aside, never deleted
    assert mesh_cache.load(key) is None
    assert [p for p in cache.iterdir() if p.name.startswith(key + ".damaged-")]
    found = mesh_cache.load("b" * 64)
    assert found is None
    os.rename(cache / "held", cache / key)
    loaded, meta = mesh_cache.load(key)
    np.testing.assert_array_equal(loaded["x"], arrays["x"])
    assert meta["key"] == key


def test_off_switch_and_default_location(monkeypatch, tmp_path):
    for value in ("off", "0", "false", ""):
        monkeypatch.setenv(mesh_cache.ENV, value)
        assert not mesh_cache.enabled()
        assert mesh_cache.store("c" * 64, {"x": np.zeros(1)}, {}) is None
    monkeypatch.delenv(mesh_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mesh_cache.cache_root() == tmp_path / "xdg" / "fem_spin" / "meshes"


CLI_TOML = """name = "cached"
preset = "glassy_1H_nitroxide"
[geometry]
type = "dnp_cube"
source_radius = 0.6e-9
mesh_size_source = 0.15e-9
[model]
source_polarization = 0.9
speedup = "global"
[time]
t_end = 0.002
dt_initial = 1e-5
tolerance = 2e-3
[solver]
preconditioner = "multigrid"
[output]
plot = false
render = false
field_snapshots = 1
checkpoint_interval = 0
error_estimate = false
"""


def _cli_run(tmp_path, cache: Path, name: str, *extra, mpi: int = 0) -> dict:
    config = tmp_path / "cached.toml"
    config.write_text(CLI_TOML)
    os.environ[mesh_cache.ENV] = str(cache)
    res = run_cli("run", str(config), "--output-dir", str(tmp_path / name), *extra, mpi=mpi)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((tmp_path / name / "cached" / "summary.json").read_text())
    csv = tmp_path / name / "cached" / "timeseries.csv"
    header = csv.read_text().splitlines()[0].split(",")
    # time, step size and observables (iteration counts may differ between partitions)
    keep = [i for i, c in enumerate(header) if c not in ("newton_iterations", "linear_iterations")]
    series = np.loadtxt(csv, delimiter=",", skiprows=1)[:, keep]
    return {"summary": summary, "series": series, "stdout": res.stdout}


@pytest.mark.serial  # spawns mpirun: run alone (Makefile test-serial)
@serial_only()
def test_cli_flag_one_and_two_ranks_and_summary_times(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(mesh_cache.ENV, str(cache))
    off = _cli_run(tmp_path, cache, "off", "--no-mesh-cache")
    assert off["summary"]["mesh_cache"] == "off" and not cache.exists()
    two_first = _cli_run(tmp_path, cache, "two_first", mpi=2)     # 2 ranks store ...
    assert two_first["summary"]["mesh_cache"] == "stored" and _entries(cache)
    assert {"partition", "periodic-constraint", "multigrid-transfers"} <= set(_kinds(cache))
    stored_by_two = _entries(cache)
    one = _cli_run(tmp_path, cache, "one")                        # ... 1 rank reads
    assert one["summary"]["mesh_cache"] == "hit"
    two = _cli_run(tmp_path, cache, "two", mpi=2)                 # and 2 ranks again
    assert two["summary"]["mesh_cache"] == "hit"
    # the second 2-rank run found everything the first stored (partition, constraint,
    # transfers) and, on the cached partition, repeats it bit for bit
    new = [p for p in _entries(cache) if p not in stored_by_two]     # the 1-rank run's only
    assert new and all(json.loads((p / "meta.json").read_text())["ranks"] == 1 for p in new)
    np.testing.assert_array_equal(two["series"], two_first["series"])
    # same configuration, same mesh input: serially bit-identical to the uncached run
    np.testing.assert_array_equal(one["series"], off["series"])
    assert one["summary"]["dofs"] == two["summary"]["dofs"] == off["summary"]["dofs"]
    # 2 ranks: the graph partitioner is not reproducible from one mpirun to the next (two
    # uncached 2-rank runs differ), so 2-rank runs agree with the serial one to the solver's
    # round-off, as in the partition tests (rank_agreement)
    for other in (two_first, two):
        assert other["series"].shape == one["series"].shape
        np.testing.assert_allclose(other["series"], one["series"], rtol=1e-7, atol=1e-12)
    for run in (off, one, two):
        s = run["summary"]
        assert s["setup_s"] > 0 and s["stepping_s"] > 0
        assert s["wall_time_s"] == pytest.approx(s["setup_s"] + s["stepping_s"])
        assert set(s["setup_profile_s"]) >= {"define_mesh", "create_solver"}
    assert "setup" in one["stdout"] and "stepping" in one["stdout"]


def test_steady_summary_has_setup_and_stepping(tmp_path):
    from fem_spin.simulation import run

    raw = {"name": "vf", "output": {"plot": False, "render": False},
           "geometry": {"type": "multilayer", "layers": [["F", 1e-8], ["N", 1e-8]], "width": 20e-9,
                        "depth": 20e-9, "cells_per_layer": 4},
           "model": {"type": "valet_fert", "current_contact": "bottom", "ground": "top",
                     "voltage_probes": [], "configurations": ["parallel"], "switch_regions": [],
                     "regions": {"F": {"material": "Py@4.2K", "magnetization": [0, 0, 1]},
                                 "N": {"material": "Cu@4.2K"}}}}
    from fem_spin.config import parse_config

    path = run(parse_config(raw), output_dir=tmp_path, quiet=True)
    s = json.loads((path / "summary.json").read_text())
    assert s["setup_s"] > 0 and s["stepping_s"] > 0
    assert s["wall_time_s"] == pytest.approx(s["setup_s"] + s["stepping_s"])


def test_facet_matching_by_keys_equals_row_comparison():
    """geometry/base.py's facet tags: one int64 key per node set (the fast path) gives what
    comparing whole rows gives (the path for meshes too large for such keys), including
    a facet listed twice (the last value wins) and entities that are not listed."""
    from fem_spin.geometry import base

    rng = np.random.default_rng(3)
    local = np.sort(rng.integers(0, 60, size=(400, 3)), axis=1)
    listed = np.concatenate([local[rng.choice(400, 50, replace=False)],
                             np.sort(rng.integers(60, 70, size=(5, 3)), axis=1)])
    listed = np.concatenate([listed, listed[:7]])                # listed twice
    values = rng.integers(1, 9, size=listed.shape[0]).astype(np.int32)
    fast = base._match_node_sets(listed, values, local)
    slow = base._match_node_sets(listed + 2 ** 40, values, local + 2 ** 40)  # too big for keys
    np.testing.assert_array_equal(fast, slow)
    expect = np.full(local.shape[0], np.iinfo(np.int32).min, dtype=np.int64)
    for row, value in zip(listed, values):                       # in order: the last one wins
        expect[np.all(local == row, axis=1)] = value
    np.testing.assert_array_equal(fast, expect)
    assert (fast != np.iinfo(np.int32).min).sum() >= 50


@serial_only()
def test_periodic_constraint_entry_follows_the_mesh(cache, monkeypatch):
    """The cached periodic constraint equals the computed one; a mesh whose coordinates
    differ in one node gets another entry (a stale constraint is never used)."""
    import dolfinx.fem
    import dolfinx.mesh
    import dolfinx_mpc
    from mpi4py import MPI

    from fem_spin.solvers.periodic import periodic_constraint

    def space():
        mesh = dolfinx.mesh.create_unit_cube(MPI.COMM_WORLD, 4, 4, 4)
        return mesh, dolfinx.fem.functionspace(mesh, ("Lagrange", 1))

    def arrays(mpc):
        return (np.asarray(mpc.slaves), np.asarray(mpc.masters.array),
                np.asarray(mpc.coefficients()[0]), np.asarray(mpc.coefficients()[1]))

    mesh, V = space()
    computed = periodic_constraint(V, (0, 0, 0), (1, 1, 1))
    (entry,) = _entries(cache)
    mesh2, V2 = space()
    with monkeypatch.context() as m:
        def fail(*args, **kwargs):
            raise AssertionError("searched although cached")
        m.setattr(dolfinx_mpc.MultiPointConstraint, "create_periodic_constraint_geometrical", fail)
        cached = periodic_constraint(V2, (0, 0, 0), (1, 1, 1))
    assert _entries(cache) == [entry]
    for a, b in zip(arrays(computed), arrays(cached)):
        np.testing.assert_array_equal(a, b)
    assert len(computed.slaves) > 0
    np.testing.assert_array_equal(mesh.geometry.x, mesh2.geometry.x)   # scaled back alike
    mesh3, V3 = space()
    inner = np.flatnonzero(np.all((mesh3.geometry.x > 0.1) & (mesh3.geometry.x < 0.9), axis=1))[0]
    mesh3.geometry.x[inner, 0] += 1e-3
    periodic_constraint(V3, (0, 0, 0), (1, 1, 1))
    assert len(_entries(cache)) == 2
