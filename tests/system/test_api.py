"""fem_spin.simulate and fem_spin.load (issue 19, item 5): in memory equals the command line's
files, overrides are validated like a run file, the mesh is reused between calls, a finished
run directory loads into the same Result."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

import fem_spin
from fem_spin import api
from fem_spin.config import ConfigError, dump_toml
from conftest import make_raw, run_cli, serial_only

RAW = make_raw(name="api", model={"region_shape": "box", "region_polarization": 0.9,
                                  "region_upper": [5e-8, 1e-8, 1e-8], "speedup": "global"},
               time={"t_end": 5.0, "dt_initial": 0.05, "adaptive": True, "tolerance": 1e-3})


@serial_only()
def test_in_memory_equals_the_command_lines_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = fem_spin.simulate(RAW)
    assert list(tmp_path.iterdir()) == []          # nothing written
    (tmp_path / "api.toml").write_text(dump_toml(RAW))
    res = run_cli("run", "api.toml", "--output-dir", "out", "-q", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    loaded = fem_spin.load(tmp_path / "out" / "api")
    for name in ("t", "dt", "P_mean", "P_max", "P_region"):
        np.testing.assert_allclose(result.series[name], loaded.series[name], rtol=1e-12,
                                   atol=1e-15, err_msg=name)
    assert result.summary["status"] == loaded.summary["status"] == "completed"
    assert result.summary["steps"] == loaded.summary["steps"]
    for key in ("t50", "t63"):
        if key in loaded.summary:
            assert result.summary[key] == pytest.approx(loaded.summary[key], rel=1e-12)
    assert sorted(result.profiles) == sorted(loaded.profiles)
    np.testing.assert_allclose(result.profile_distance, loaded.profile_distance, rtol=1e-9)
    assert "polarization" in result.fields and loaded.field_files


def test_overrides_change_the_run_and_are_validated():
    slow = fem_spin.simulate(RAW)
    fast = fem_spin.simulate(RAW, overrides={"model.D0": 1e-15})
    assert fast.config.model.D0 == 1e-15 and slow.config.model.D0 == 1e-16
    assert fast.series["P_max"][-1] < slow.series["P_max"][-1] - 1e-3   # spreads faster
    with pytest.raises(ConfigError, match="model.D0"):
        fem_spin.simulate(RAW, overrides={"model.D0": -1.0})
    with pytest.raises(ConfigError, match="an override key"):
        fem_spin.simulate(RAW, overrides={"D0": 1e-15})
    assert api.apply_overrides({"model": {"optics": {"a": 1}}}, {"model.optics.a": 2}) == \
        {"model": {"optics": {"a": 2}}}


def test_the_mesh_is_built_once_per_geometry():
    api.clear_mesh_cache()
    first = fem_spin.simulate(RAW)
    second = fem_spin.simulate(RAW, overrides={"model.D0": 2e-16, "time.t_end": 2.0})
    mesh = lambda r: r.fields["polarization"].function_space.mesh   # noqa: E731
    assert mesh(first) is mesh(second) and len(api._MESHES) == 1
    other = fem_spin.simulate(RAW, overrides={"geometry.cells": [8, 1, 1]})
    assert mesh(other) is not mesh(first) and len(api._MESHES) == 2
    # the reused mesh gives the answer a fresh one gives
    api.clear_mesh_cache()
    fresh = fem_spin.simulate(RAW, overrides={"model.D0": 2e-16, "time.t_end": 2.0})
    np.testing.assert_allclose(second.series["P_mean"], fresh.series["P_mean"], rtol=1e-13)
    np.testing.assert_allclose(second.series["P_max"], fresh.series["P_max"], rtol=1e-12)


def test_sweeps_and_stationary_models():
    from test_fuzz_config import SEEDS

    raw = copy.deepcopy(RAW)
    raw["sweep"] = {"model.speedup": ["none", "global"]}
    result = fem_spin.simulate(raw)
    assert sorted(result.variants) == ["speedup=global", "speedup=none"]
    assert result["speedup=none"].summary["status"] == "completed"
    vf = fem_spin.simulate(SEEDS["vf_multilayer"])
    assert list(vf.series["configuration"]) == ["parallel", "antiparallel"]
    resistance = vf.series["resistance_ohm"]
    assert resistance[1] > resistance[0] > 0       # GMR: antiparallel above parallel


@serial_only()
def test_load_rejects_a_directory_without_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        fem_spin.load(tmp_path)


@pytest.mark.parallel
def test_in_memory_on_two_ranks_equals_one(comm):
    result = fem_spin.simulate(RAW)
    assert result.summary["ranks"] == comm.size
    # the 1-rank reference, computed in this process's rank-0 communicator alone
    if comm.size > 1:
        from mpi4py import MPI

        solo = fem_spin.simulate(RAW, comm=MPI.COMM_SELF) if comm.rank == 0 else None
        solo = comm.bcast(solo.series["P_mean"] if solo is not None else None, root=0)
        np.testing.assert_allclose(result.series["P_mean"], solo, rtol=1e-8)


def test_the_readme_example_runs():
    """docs/user_guide/python.md (formerly the README's 'Using it from Python'): the Onsager Fig. 8
    example, shortened, as a sweep."""
    result = fem_spin.simulate(str(api.Path(__file__).resolve().parents[2] / "examples" /
                                   "onsager_fig8.toml"), overrides={"time.t_end": 1e-3})
    assert sorted(result.variants) == ["formulation=linear", "formulation=nonlinear",
                                       "formulation=semilinear"]
    series = result["formulation=nonlinear"].series
    assert series["t"][-1] == pytest.approx(1e-3) and np.all(np.diff(series["t"]) > 0)


def test_the_series_as_a_pandas_dataframe():
    """Result.to_pandas(): the time series as a DataFrame (pandas is in the environment)."""
    result = fem_spin.simulate(RAW)
    frame = result.to_pandas()
    assert list(frame.columns) == list(result.series)
    np.testing.assert_array_equal(frame["P_mean"].to_numpy(), result.series["P_mean"])
    assert frame["t"].is_monotonic_increasing and len(frame) == result.summary["steps"] + 1
