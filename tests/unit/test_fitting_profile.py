"""Profile-likelihood intervals (fitting/profile.py) through the driver with analytic
forward models injected (no mesh): for a model linear in its parameters the profile interval
equals the Gaussian one; for data that depend on a product of two parameters only, the
profile is flat and the interval open on both sides; fit.profile selection and refusal."""

from __future__ import annotations

import types

import numpy as np
import pytest

from fem_spin.config import ConfigError
from fem_spin.fitting.config import load_fit_config
from fem_spin.fitting.driver import fit

from test_fitting import RUN, write_case
from test_fitting_driver import FIT_K, analytic, data

T = np.linspace(0.0, 0.04, 400)

LINEAR_FIT = """\
name = "lin"
[fit]
profile = "all"
[[dataset]]
name = "d"
file = "data.csv"
run = "run.toml"
time_unit = "ms"
observation = { type = "dnp_buildup", scale = 1000.0, offset = 0.0 }
[[parameter]]
key = "model.exchange_rate"
initial = 30.0
bounds = [1.0, 1e5]
scale = "linear"
[[parameter]]
key = "model.D0"
initial = 3e-16
bounds = [1e-18, 1e-13]
scale = "linear"
"""


def linear_simulate(path, overrides):
    """P(t) = 1e-3 k t/0.04 + 0.1 D0/5e-16: linear in (k, D0)."""
    k, D0 = overrides["model.exchange_rate"], overrides["model.D0"]
    return types.SimpleNamespace(series={"t": T, "P_mean": 1e-3 * k * T / 0.04 + 0.1 * D0 / 5e-16})


def linear_data(sigma=2.0, seed=7):
    t = np.linspace(1, 40, 25)
    y = 1000 * (1e-3 * 50.0 * t * 1e-3 / 0.04 + 0.1 * 4e-16 / 5e-16)
    y = y + np.random.default_rng(seed).normal(0, sigma, len(t))
    return "t_ms,signal,sigma\n" + "".join(f"{a},{b},{sigma}\n" for a, b in zip(t, y))


def test_profile_interval_equals_gaussian_for_a_linear_model(tmp_path):
    result = fit(load_fit_config(write_case(tmp_path, data=linear_data(), fit=LINEAR_FIT)),
                 simulate=linear_simulate)
    assert set(result.profiles) == {"model.exchange_rate", "model.D0"}
    for name, pr in result.profiles.items():
        est = result[name]
        assert not pr.is_open
        assert pr.threshold == 1.0
        assert pr.lower == pytest.approx(est.value - est.standard_error, abs=1e-3 * est.standard_error)
        assert pr.upper == pytest.approx(est.value + est.standard_error, abs=1e-3 * est.standard_error)
        # chi^2 is exactly quadratic: Delta chi^2 = ((p - best)/SE)^2 at every profiled point
        np.testing.assert_allclose(pr.delta_chi2, ((pr.values - est.value) / est.standard_error) ** 2,
                                   rtol=1e-4, atol=1e-6)


def test_profile_of_a_product_only_pair_is_open(tmp_path):
    fit_file = FIT_K.replace('bounds = [1.0, 1e5]', 'bounds = [1.0, 1e5]\n[[parameter]]\nkey = "model.D0"\n'
                             'initial = 5e-16\nbounds = [1e-17, 1e-14]') + '[fit]\nprofile = ["model.D0"]\n'
    result = fit(load_fit_config(write_case(tmp_path, data=data(), fit=fit_file)), simulate=analytic(product=True))
    pr = result.profiles["model.D0"]
    assert pr.open_lower and pr.open_upper
    assert np.all(np.abs(pr.delta_chi2) < 1e-3)
    assert "open below" in pr.describe() and "open above" in pr.describe()


def test_profile_auto_selects_flagged_parameters_only(tmp_path):
    result = fit(load_fit_config(write_case(tmp_path, data=data(), fit=FIT_K)), simulate=analytic())
    assert result.profiles == {}     # one well-determined parameter: nothing flagged
    fit_file = FIT_K.replace('bounds = [1.0, 1e5]', 'bounds = [1.0, 1e5]\n[[parameter]]\nkey = "model.D0"\n'
                             'initial = 5e-16\nbounds = [1e-17, 1e-14]')
    result = fit(load_fit_config(write_case(tmp_path, data=data(), fit=fit_file)), simulate=analytic(product=True))
    assert set(result.profiles) == {"model.exchange_rate", "model.D0"}   # the degenerate pair


def test_profile_names_checked(tmp_path):
    with pytest.raises(ConfigError, match="fit.profile.*'model.R1' is no free parameter"):
        load_fit_config(write_case(tmp_path, data=data(), fit=FIT_K + '[fit]\nprofile = ["model.R1"]\n'))
    with pytest.raises(ConfigError, match="fit.profile"):
        load_fit_config(write_case(tmp_path, data=data(), fit=FIT_K + '[fit]\nprofile = 3\n'))
