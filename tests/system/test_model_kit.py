"""The shared model test kit (tests/model_kit.py) on every transient model: conservation without
sources and relaxation, bounds from a state near them with large steps, 1 vs 2 ranks,
restart = uninterrupted run, and the configuration round trip through config.toml."""

import json
import tomllib

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin import simulate
from fem_spin.config import dump_toml, parse_config
from fem_spin.io import read_timeseries
from fem_spin.simulation import Paused, resume, run
from model_kit import CASES

ids = [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_conserved_without_sources_and_relaxation(case):
    series = simulate(case.raw).series
    assert len(series["t"]) > 5
    for name in case.conserved:
        values = np.asarray(series[name], float)
        assert np.max(np.abs(values - values[0])) <= 1e-10 * abs(values[0]), (name, values)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_bounds_hold_from_a_state_near_them_with_large_steps(case):
    series = simulate(case.config(**case.bound_overrides)).series
    for name, (lower, upper, strict) in case.bounds.items():
        values = np.asarray(series[name], float)
        if strict:
            assert np.all((values > lower) & (values < upper)), (name, values)
        else:
            slack = 1e-12 * (upper - lower)
            assert np.all((values >= lower - slack) & (values <= upper + slack)), (name, values)


@pytest.mark.parallel
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_one_and_two_ranks_agree(case):
    world = simulate(case.raw, comm=MPI.COMM_WORLD).series
    serial = simulate(case.raw, comm=MPI.COMM_SELF).series
    assert np.array_equal(world["t"], serial["t"])
    for name in world:
        np.testing.assert_allclose(world[name], serial[name], rtol=1e-8, atol=1e-300, err_msg=name)


@pytest.mark.parallel
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_restart_equals_the_uninterrupted_run(case, tmp_path):
    directory = MPI.COMM_WORLD.bcast(str(tmp_path), root=0)
    reference = run(parse_config({**case.raw, "name": "reference"}), output_dir=directory, quiet=True)
    paused = case.config(time={"max_steps": 3})
    paused["name"] = "resumed"
    with pytest.raises(Paused):
        run(parse_config(paused), output_dir=directory, quiet=True)
    path = reference.parent / "resumed"
    for _ in range(10):                       # max_steps holds for every job: resume until done
        try:
            resume(path, quiet=True)
            break
        except Paused:
            continue
    assert json.loads((path / "summary.json").read_text())["status"] == "completed"
    a = read_timeseries(reference / "timeseries.csv")
    b = read_timeseries(path / "timeseries.csv")
    assert np.array_equal(a["step"], b["step"])
    # the solution, not the solver's path (a restart forgets the extrapolation history)
    for name in set(a) - {"newton_iterations", "linear_iterations", "rejected"}:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-10, atol=1e-300, err_msg=name)
    # every probe line (profiles*.csv), those sampled before the pause from the checkpoint
    if MPI.COMM_WORLD.rank == 0:
        for profile in sorted(reference.glob("profiles*.csv")):
            again = path / profile.name
            assert again.exists(), profile.name
            np.testing.assert_allclose(np.loadtxt(again, delimiter=",", skiprows=1),
                                       np.loadtxt(profile, delimiter=",", skiprows=1),
                                       rtol=1e-10, atol=1e-12, err_msg=profile.name)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_configuration_round_trip(case):
    config = parse_config(case.raw)
    again = parse_config(tomllib.loads(dump_toml(config.raw)))
    assert again == config
    assert again.model == config.model and again.time == config.time
