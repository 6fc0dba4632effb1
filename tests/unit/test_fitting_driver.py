"""The fit driver end to end without a mesh: ``fem_spin.fit`` with an analytic stand-in for
``fem_spin.simulate`` (the objective takes the forward model as an argument). Recovery of a
known rate, a degenerate pair flagged when the data depend on a product only, and a fit that
stops short: written with its reason, exit code 3 from the command line's path."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from fem_spin.fitting.config import load_fit_config
from fem_spin.fitting.driver import FitNotConverged, fit

from test_fitting import RUN, write_case

T = np.linspace(0.0, 0.04, 400)


def analytic(product: bool = False):
    """P(t) = 0.9 (1 - exp(-k t)), k = exchange_rate (times D0/5e-16 with ``product``)."""
    calls = []

    def simulate(path, overrides):
        calls.append(dict(overrides))
        k = overrides["model.exchange_rate"] * (overrides.get("model.D0", 5e-16) / 5e-16 if product else 1.0)
        return types.SimpleNamespace(series={"t": T, "P_mean": 0.9 * (1 - np.exp(-k * T))})
    simulate.calls = calls
    return simulate


def data(k=120.0, scale=500.0, sigma=2.0, seed=5):
    t = np.linspace(1, 40, 20)
    y = scale * 0.9 * (1 - np.exp(-k * t * 1e-3)) + np.random.default_rng(seed).normal(0, sigma, 20)
    return "t_ms,signal,sigma\n" + "".join(f"{a},{b},{sigma}\n" for a, b in zip(t, y))


FIT_K = """\
name = "f"
[[dataset]]
name = "d"
file = "data.csv"
run = "run.toml"
time_unit = "ms"
[[parameter]]
key = "model.exchange_rate"
initial = 30.0
bounds = [1.0, 1e5]
"""


def test_recovers_a_rate_and_writes_the_directory(tmp_path):
    simulate = analytic()
    result = fit(load_fit_config(write_case(tmp_path, data=data(), fit=FIT_K)), simulate=simulate,
                 directory=tmp_path / "out")
    e = result["model.exchange_rate"]
    assert result.converged and abs(np.log(e.value / 120.0)) < 2 * e.relative_error < 0.1
    assert result.datasets["d"].nuisance["scale"].value == pytest.approx(500, rel=0.02)
    assert all(c["time.tolerance"] == 1e-6 for c in simulate.calls)
    saved = json.loads((tmp_path / "out" / "f" / "fit.json").read_text())
    assert saved["parameters"]["model.exchange_rate"]["value"] == pytest.approx(e.value)
    assert (tmp_path / "out" / "f" / "d_fit.png").is_file()


def test_a_pair_seen_only_as_a_product_is_flagged(tmp_path):
    fit_file = FIT_K + "[[parameter]]\nkey = \"model.D0\"\ninitial = 4e-16\nbounds = [1e-18, 1e-13]\n"
    result = fit(load_fit_config(write_case(tmp_path, data=data(), fit=fit_file)), simulate=analytic(product=True))
    s = result.statistics
    assert s.ill_conditioned
    assert any({a, b} == {"model.exchange_rate", "model.D0"} for a, b, _ in s.degenerate) or s.singular


def test_a_fit_stopped_short_writes_its_best_state_and_says_why(tmp_path):
    fit_file = FIT_K + "[fit]\nmax_evaluations = 1\n"
    with pytest.raises(FitNotConverged, match="did not converge") as info:
        fit(load_fit_config(write_case(tmp_path, data=data(), fit=fit_file)), simulate=analytic(),
            directory=tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "f" / "fit.json").read_text())
    assert saved["status"] == "not converged" and not saved["converged"]
    assert "maximum number of function evaluations" in saved["optimiser"]["message"]
    assert info.value.result.directory == tmp_path / "out" / "f"


@pytest.mark.parametrize("with_sigma", [True, False])
def test_the_one_sigma_interval_covers_the_truth_68_percent_of_the_time(tmp_path, with_sigma):
    """A seeded repeated experiment: 60 noisy data sets of the same curve, each fitted; the
    one-standard-error interval of the rate must contain the true rate in ~68 % of them
    (binomial spread 6 %). Standard errors off by a factor 2 would cover ~38 % or ~95 %.
    Without a sigma column the covariance is scaled by the reduced chi^2 (statistics.py),
    which must give the same coverage."""
    simulate, truth, covered = analytic(), 120.0, 0
    for seed in range(60):
        text = data(k=truth, seed=100 + seed)
        if not with_sigma:
            text = "t_ms,signal\n" + "".join(",".join(line.split(",")[:2]) + "\n"
                                             for line in text.splitlines()[1:])
        case = tmp_path / str(seed)
        case.mkdir()
        result = fit(load_fit_config(write_case(case, data=text, fit=FIT_K)), simulate=simulate)
        low, high = result["model.exchange_rate"].interval
        covered += low <= truth <= high
    assert 0.55 <= covered / 60 <= 0.81, covered
