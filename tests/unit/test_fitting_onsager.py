"""The ``onsager_signal`` observation's fit-file checks (no mesh, no solve): every bad input
is refused before any simulation with one line naming the fit file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fem_spin.config import ConfigError
from fem_spin.fitting.config import load_fit_config, parse_fit_config
from fem_spin.fitting.setup import prepare

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fit_onsager_relaxation"
RADIAL_RUN = Path(__file__).resolve().parents[2] / "examples" / "fit_dnp_radial" / "run.toml"


def _fit(tmp_path, observation=None, run=EXAMPLE / "run.toml", overrides=None, key="model.transport_coefficient"):
    (tmp_path / "d.csv").write_text("t_ms,signal\n0.5,88\n1,87\n5,80\n20,70\n")
    dataset = {"name": "s", "file": "d.csv", "run": str(run), "time_unit": "ms",
               "observation": {"type": "onsager_signal", **(observation or {})}}
    if overrides:
        dataset["overrides"] = overrides
    raw = {"name": "o", "dataset": [dataset],
           "parameter": [{"key": key, "initial": 2e-15, "bounds": [1e-16, 1e-13]}]}
    return parse_fit_config(raw, source="o.toml", base_dir=tmp_path)


def test_the_example_prepares_with_finite_differences_and_says_why():
    config = load_fit_config(EXAMPLE / "fit.toml")
    (d,) = prepare(config)
    assert d.spec.observation.kind == "onsager_signal" and d.spec.observation.quantity == "P_slice"
    assert d.spec.observation.nuisance_names() == ("scale",)
    assert d.tangent_keys == ()
    reasons = dict(d.tangent_refused)
    assert set(reasons) == {"model.transport_coefficient", "model.dipolar_field"}
    assert all("no forward sensitivities" in r for r in reasons.values()), reasons
    assert len(d.data) == 30 and d.data.x[-1] == pytest.approx(0.035)


@pytest.mark.parametrize("observation, key, words", [
    ({"bogus": 1}, "dataset[0].observation.bogus", "unknown key"),
    ({"quantity": "P_mean"}, "dataset[0].observation.quantity", "conserved by the model"),
    ({"quantity": "energy"}, "dataset[0].observation.quantity", "conserved by the model"),
    ({"quantity": "P_max"}, "dataset[0].observation.quantity", "nodal extreme"),
    ({"quantity": "P_slab"}, "dataset[0].observation.quantity", "not a time-series column"),
    ({"scale": "free"}, "dataset[0].observation.scale", "\"fit\" or a finite number"),
    ({"dead_time": -1.0}, "dataset[0].observation.dead_time", "time >= 0"),
])
def test_bad_observation_tables_are_named(tmp_path, observation, key, words):
    with pytest.raises(ConfigError) as info:
        _fit(tmp_path, observation)
    assert info.value.key == key and words in str(info.value)
    assert str(info.value).startswith("o.toml: ") and "\n" not in str(info.value)


def test_a_slice_quantity_needs_a_run_with_a_resonant_slice(tmp_path):
    config = _fit(tmp_path, {"quantity": "P_slice"}, overrides={"model.slice_half_width": 0.0})
    with pytest.raises(ConfigError) as info:
        prepare(config)
    assert info.value.key == "dataset[0].observation.quantity" and "o.toml" in str(info.value)
    assert "records no 'P_slice'" in str(info.value) and "slice_half_width" in str(info.value)
    # the sample's dipolar order is recorded with or without a slice
    (d,) = prepare(_fit(tmp_path, {"quantity": "dipolar_mean"}, overrides={"model.slice_half_width": 0.0}))
    assert d.spec.observation.quantity == "dipolar_mean"


def test_another_model_is_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        prepare(_fit(tmp_path, run=RADIAL_RUN, key="model.D0"))
    assert info.value.key == "dataset[0].observation"
    assert "transient onsager_transport run" in str(info.value) and "nuclear_diffusion" in str(info.value)
