"""Model comparison by AIC/BIC (fitting/compare.py) without a mesh: the analytic stand-in for
``fem_spin.simulate`` draws a different curve shape for each value of the compared run key,
so which model the data prefer, and which they cannot tell apart, is known."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from fem_spin.config import ConfigError
from fem_spin.fitting.compare import compare, parse_compare_option
from fem_spin.fitting.config import load_fit_config

from test_fitting import write_case
from test_fitting_driver import FIT_K, T

STRETCH = {"none": 1.0, "global": 0.6, "local": 0.6}   # global and local: the same curve


def shapes(overrides):
    k, beta = overrides["model.exchange_rate"], STRETCH[overrides["model.speedup"]]
    return types.SimpleNamespace(series={"t": T, "P_mean": 0.9 * (1 - np.exp(-(k * T) ** beta))})


def stretched_data(k=120.0, scale=500.0, sigma=2.0, seed=3):
    t = np.linspace(1, 40, 25)
    y = scale * 0.9 * (1 - np.exp(-(k * t * 1e-3) ** 0.6)) + np.random.default_rng(seed).normal(0, sigma, t.size)
    return "t_ms,signal,sigma\n" + "".join(f"{a},{b},{sigma}\n" for a, b in zip(t, y))


def test_the_true_shape_wins_and_identical_shapes_are_called_indistinguishable(tmp_path):
    config = load_fit_config(write_case(tmp_path, data=stretched_data(), fit=FIT_K))
    result = compare(config, "model.speedup", ["none", "global", "local"],
                     simulate=lambda path, overrides: shapes(overrides), directory=tmp_path / "out")
    by_value = {f.value: f for f in result.fits}
    assert by_value["none"].delta_aic > 10                       # the wrong shape: no support
    assert abs(by_value["global"].aic - by_value["local"].aic) < 1e-6
    assert min(by_value["global"].delta_aic, by_value["local"].delta_aic) == 0.0
    assert sum(f.akaike_weight for f in result.fits) == pytest.approx(1.0)
    assert by_value["none"].akaike_weight < 0.01
    assert "cannot tell" in result.verdict()
    for value in ("global", "local"):                            # the right shape recovers the rate
        assert by_value[value].result["model.exchange_rate"].value == pytest.approx(120.0, rel=0.1)
    saved = json.loads((result.directory / "comparison.json").read_text())
    assert [f["value"] for f in saved["fits"]] == ["none", "global", "local"]
    assert (result.directory / "comparison.md").read_text().count("| none |") == 1
    assert (result.directory / "f-global" / "fit.json").is_file()


def test_a_clear_preference_is_stated():
    from fem_spin.fitting.compare import Comparison, _ranked

    def fake(aic):
        stats = types.SimpleNamespace(aic=aic, bic=aic + 1.0, reduced_chi2=1.0)
        return types.SimpleNamespace(statistics=stats, parameters={}, converged=True)

    comparison = Comparison("model.speedup", _ranked([("none", fake(100.0), None), ("global", fake(88.0), None),
                                                       ("local", None, "did not converge")]))
    assert comparison.verdict().startswith("the data decisively prefer model.speedup = global")
    assert comparison.fits[2].result is None and "did not converge" in comparison.markdown()


def test_bad_comparisons_are_refused_in_one_line(tmp_path):
    config = load_fit_config(write_case(tmp_path, fit=FIT_K))
    with pytest.raises(ConfigError, match="free parameter"):
        compare(config, "model.exchange_rate", [1.0, 2.0])
    with pytest.raises(ConfigError, match="at least two values"):
        compare(config, "model.speedup", ["none"])
    with pytest.raises(ConfigError, match="repeat"):
        compare(config, "model.speedup", ["none", "none"])
    with pytest.raises(ConfigError, match="model.speedup"):      # the run file rejects the value
        compare(config, "model.speedup", ["none", "sideways"])
    for text in ("model.speedup", "model.speedup=none", "=a,b"):
        with pytest.raises(ConfigError) as info:
            parse_compare_option(text)
        assert "\n" not in str(info.value) and "--compare" in str(info.value)
    assert parse_compare_option("model.R1=0.5, 1,'x'") == ("model.R1", [0.5, 1, "x"])
