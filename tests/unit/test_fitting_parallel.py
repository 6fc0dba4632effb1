"""Fits spread over MPI rank groups (fem_spin/fitting/parallel.py) without a mesh: the
schedule, the check of ``ranks_per_model`` (fit file, API, command line), tasks and their
errors gathered on every rank, and a whole fit with an analytic forward model that must be
the serial fit bit for bit while each forward run is run by one rank only. The tests marked
``parallel`` also run under ``mpirun -n 2`` (tests/run_mpi_pytest.py), where the work is
really split."""

from __future__ import annotations

import pickle
import types
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.cli import main as cli_main
from fem_spin.config import ConfigError
from fem_spin.fitting.config import load_fit_config
from fem_spin.fitting.driver import fit
from fem_spin.fitting.objective import ForwardFailed
from fem_spin.fitting.parallel import check_ranks_per_model, rank_groups, schedule

from test_fitting import RUN, write_case

WORLD = MPI.COMM_WORLD
T = np.linspace(0.0, 0.04, 400)


def test_schedule_gives_the_costliest_first_to_the_least_loaded_group():
    assert schedule([1, 1, 1], 2) == [0, 1, 0]
    assert schedule([5, 1, 1, 1, 1], 2) == [0, 1, 1, 1, 1]          # 5 against 1+1+1+1
    assert schedule([3, 3, 2, 2, 2], 2) == [0, 1, 0, 1, 0]
    assert schedule([1, 4, 2], 3) == [2, 0, 1]
    assert schedule([2.0, 2.0], 1) == [0, 0]
    costs = np.random.default_rng(3).uniform(0.5, 2.0, 13).tolist()
    owner = schedule(costs, 4)
    assert owner == schedule(list(costs), 4)                        # deterministic
    loads = [sum(c for c, g in zip(costs, owner) if g == k) for k in range(4)]
    # longest-processing-time first is within 4/3 of the best possible makespan
    assert max(loads) <= 4 / 3 * max(sum(costs) / 4, max(costs)) + 1e-12


def test_ranks_per_model_must_be_a_positive_divisor_of_the_ranks():
    assert check_ranks_per_model(2, 4, "--ranks-per-model", "command line") == 2
    for bad, why in ((0, "must be a positive integer (got 0)"), (True, "positive integer"),
                     ("2", "positive integer (got '2')"), (1.0, "positive integer"),
                     (3, "must divide the number of MPI ranks, 4 (got 3)")):
        with pytest.raises(ConfigError) as info:
            check_ranks_per_model(bad, 4, "--ranks-per-model", "command line")
        assert str(info.value).startswith("command line: --ranks-per-model: ") and why in str(info.value)
        assert "\n" not in str(info.value)
    error = ConfigError("fit.ranks_per_model", "must divide", file="fit.toml")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)    # travels to every rank


def _model():
    """P = 0.9 (1 - exp(-(k + c D0/1e-16) t)), k = exchange_rate, c = the run's model.R1 (a
    per-dataset override): two datasets see D0 differently, so both parameters are
    determined. Records its calls; no sensitivities (finite differences for both columns)."""
    calls = []

    def simulate(path, overrides):
        calls.append(dict(overrides))
        rate = overrides["model.exchange_rate"] + overrides["model.R1"] * overrides["model.D0"] / 1e-16
        return types.SimpleNamespace(series={"t": T, "P_mean": 0.9 * (1 - np.exp(-rate * T))})
    simulate.calls = calls
    return simulate


def _data(c: float, seed: int, k=120.0, D0=2e-16, scale=500.0, sigma=2.0) -> str:
    t = np.linspace(1, 40, 20)
    y = scale * 0.9 * (1 - np.exp(-(k + c * D0 / 1e-16) * t * 1e-3))
    y += np.random.default_rng(seed).normal(0, sigma, t.size)
    return "t_ms,signal,sigma\n" + "".join(f"{a},{b},{sigma}\n" for a, b in zip(t, y))


TWO_DATASETS = """\
name = "two"
[fit]
profile = "all"
profile_points = 4
[[dataset]]
name = "a"
file = "a.csv"
run = "run.toml"
time_unit = "ms"
overrides = { "model.R1" = 10.0 }
[[dataset]]
name = "b"
file = "b.csv"
run = "run.toml"
time_unit = "ms"
overrides = { "model.R1" = 100.0 }
[[parameter]]
key = "model.exchange_rate"
initial = 60.0
bounds = [1.0, 1e5]
[[parameter]]
key = "model.D0"
initial = 5e-16
bounds = [1e-18, 1e-13]
"""


def _two_datasets(tmp_path, fit_file: str = TWO_DATASETS):
    path = write_case(tmp_path, data="", fit=fit_file, run=RUN)
    (tmp_path / "a.csv").write_text(_data(10.0, seed=1))
    (tmp_path / "b.csv").write_text(_data(100.0, seed=2))
    return load_fit_config(path)


@pytest.mark.parallel
def test_a_fit_over_rank_groups_is_the_serial_fit_bit_for_bit(tmp_path):
    """One rank per model: the fit on every rank of COMM_WORLD (groups of one rank) against
    the serial fit (COMM_SELF), with finite-difference columns and both profiles as tasks."""
    config = _two_datasets(tmp_path)
    serial_model, spread_model = _model(), _model()
    serial = fit(config, simulate=serial_model, comm=MPI.COMM_SELF)
    spread = fit(config, simulate=spread_model, ranks_per_model=1)
    assert serial.converged and spread.parallel == {"ranks": WORLD.size, "ranks_per_model": 1,
                                                     "groups": WORLD.size}
    assert serial.jacobian["columns"] == {"model.exchange_rate": "finite_differences",
                                          "model.D0": "finite_differences"}
    for name, e in serial.parameters.items():
        assert (spread[name].value, spread[name].standard_error) == (e.value, e.standard_error), name
    assert spread.statistics.chi2 == serial.statistics.chi2
    assert spread.optimiser == serial.optimiser
    for name in ("a", "b"):
        np.testing.assert_array_equal(spread.datasets[name].model, serial.datasets[name].model)
    assert set(spread.profiles) == set(serial.profiles) == {"model.exchange_rate", "model.D0"}
    for name, pr in serial.profiles.items():
        other = spread.profiles[name]
        np.testing.assert_array_equal(other.values, pr.values)
        np.testing.assert_array_equal(other.delta_chi2, pr.delta_chi2)
        assert (other.lower, other.upper, other.forward_runs) == (pr.lower, pr.upper, pr.forward_runs)
    # every forward run of the serial fit ran exactly once, on one rank (both ranks worked)
    assert spread.forward_runs == serial.forward_runs == len(serial_model.calls)
    counts = WORLD.allgather(len(spread_model.calls))
    assert sum(counts) == len(serial_model.calls)
    if WORLD.size > 1:
        assert min(counts) > 0.25 * len(serial_model.calls)
    # the same result on every rank
    assert WORLD.allgather(spread["model.D0"].value) == [spread["model.D0"].value] * WORLD.size


@pytest.mark.parallel
def test_tasks_are_gathered_on_every_rank_and_the_first_failure_is_raised_everywhere():
    groups = rank_groups(WORLD, 1)
    ran = []

    def square(i):
        ran.append(i)
        return {"i": i, "square": np.array([i * i])}

    out = groups.run(square, list(range(7)), costs=[1, 3, 1, 2, 1, 1, 2])
    assert [o["i"] for o in out] == list(range(7)) and [int(o["square"][0]) for o in out] == [i * i for i in range(7)]
    assert sorted(sum(WORLD.allgather(ran), [])) == list(range(7))    # each task once

    def failing(i):
        if i == 4:
            raise ForwardFailed("task 4 failed")
        if i == 3:   # on the other group under two ranks: still the one every rank raises
            raise ConfigError("dataset[3].run", "refused", file="fit.toml")
        return i

    with pytest.raises(ConfigError, match=r"^fit.toml: dataset\[3\].run: refused$"):
        groups.run(failing, list(range(6)))
    with pytest.raises(ForwardFailed, match="task 4 failed"):
        groups.run(failing, [0, 1, 2, 4, 5])
    assert groups.run(failing, []) == []


@pytest.mark.parallel
def test_ranks_per_model_is_checked_before_any_forward_run(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"fit.toml: fit.ranks_per_model: must be a positive integer \(got 0\)"):
        _two_datasets(tmp_path, TWO_DATASETS.replace("[fit]\n", "[fit]\nranks_per_model = 0\n"))
    config = _two_datasets(tmp_path, TWO_DATASETS.replace("[fit]\n", "[fit]\nranks_per_model = 3\n"))
    model = _model()
    with pytest.raises(ConfigError, match=rf"fit.toml: fit.ranks_per_model: must divide the number of MPI "
                                          rf"ranks, {WORLD.size} \(got 3\)"):
        fit(config, simulate=model)
    with pytest.raises(ConfigError, match=r"fem_spin.fit: ranks_per_model: must be a positive integer"):
        fit(config, simulate=model, ranks_per_model=-2)
    assert model.calls == []
    out = tmp_path / "out"
    code = cli_main(["fit", str(tmp_path / "fit.toml"), "--output-dir", str(out), "--ranks-per-model", "x"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    if WORLD.rank == 0:
        assert err.strip() == "fem-spin: error: command line: --ranks-per-model: must be a positive integer (got 'x')"


SPIN_VALVE_RUN = Path(__file__).resolve().parents[2] / "examples" / "fit_nonlocal_spin_valve" / "run.toml"
LAMBDA, POLARIZATION = "model.regions.N.spin_diffusion_length", "model.regions.barrier1.polarization"


def _delta_r_model():
    """Delta R(L) = P^2 (lambda/1 um) exp(-L/lambda) Ohm (the tunnel-contact form): one
    'device' per distance L; records its calls."""
    calls = []

    def simulate(path, overrides):
        calls.append(dict(overrides))
        lam, P, L = overrides[LAMBDA], overrides[POLARIZATION], overrides["geometry.separation"]
        return types.SimpleNamespace(summary={"delta_R_ohm": P * P * lam / 1e-6 * np.exp(-L / lam)},
                                     series={})
    simulate.calls = calls
    return simulate


@pytest.mark.parallel
def test_a_fit_whose_points_are_runs_spreads_the_points_and_is_the_serial_fit(tmp_path):
    """A nonlocal_delta_r dataset: every distance is a run of its own, hence a task."""
    L = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])
    y = 0.35 ** 2 * 0.8 * np.exp(-L / 0.8) + np.random.default_rng(4).normal(0, 1e-3, L.size)
    (tmp_path / "dr.csv").write_text("L_um,dR,sigma\n" + "".join(f"{a},{b},0.001\n" for a, b in zip(L, y)))
    (tmp_path / "fit.toml").write_text(f"""\
name = "nl"
[fit]
profile = "none"
[[dataset]]
name = "devices"
file = "dr.csv"
run = "{SPIN_VALVE_RUN}"
columns = {{ x = "L_um", value = "dR", sigma = "sigma" }}
observation = {{ type = "nonlocal_delta_r" }}
[[parameter]]
key = "{LAMBDA}"
initial = 1.2e-6
bounds = [1e-7, 1e-5]
[[parameter]]
key = "{POLARIZATION}"
also = ["model.regions.barrier2.polarization"]
initial = 0.25
bounds = [0.01, 0.95]
scale = "linear"
""")
    config = load_fit_config(tmp_path / "fit.toml")
    serial_model, spread_model = _delta_r_model(), _delta_r_model()
    serial = fit(config, simulate=serial_model, comm=MPI.COMM_SELF)
    spread = fit(config, simulate=spread_model, ranks_per_model=1)
    assert serial.converged and abs(serial[LAMBDA].value / 0.8e-6 - 1) < 3 * serial[LAMBDA].relative_error
    for name, e in serial.parameters.items():
        assert (spread[name].value, spread[name].standard_error) == (e.value, e.standard_error), name
    np.testing.assert_array_equal(spread.datasets["devices"].model, serial.datasets["devices"].model)
    assert spread.forward_runs == serial.forward_runs == len(serial_model.calls)
    counts = WORLD.allgather(len(spread_model.calls))
    assert sum(counts) == len(serial_model.calls)
    if WORLD.size > 1:   # one dataset, yet both ranks ran its devices
        assert min(counts) > 0.25 * len(serial_model.calls)
