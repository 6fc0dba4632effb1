"""The ``hanle`` observation's fit-file checks (fem_spin/fitting/hanle.py; no solve): signed
fields in mT/T/G, one run key value per point, both parameters of the example differentiated
(tau_sf, and P_J as the sum over both barriers); every bad input refused with one line naming
the file and the key; the material table's ``spin_lifetime``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fem_spin.config import ConfigError, parse_config
from fem_spin.fitting.config import parse_fit_config
from fem_spin.fitting.setup import prepare

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fit_hanle"
DATA = "B_mT,R,s\n-200,-0.01,0.001\n0,0.13,0.001\n100,0.02,0.001\n300,-0.012,0.001\n"


def _hanle_fit(tmp_path, data=DATA, run=EXAMPLE / "run.toml", **dataset_edits):
    (tmp_path / "h.csv").write_text(data)
    dataset = {"name": "h", "file": "h.csv", "run": str(run),
               "columns": {"x": "B_mT", "value": "R", "sigma": "s"},
               "observation": {"type": "hanle", "unit": "mT", "offset": "fit"}}
    dataset.update(dataset_edits)
    raw = {"name": "h", "dataset": [dataset],
           "parameter": [{"key": "model.regions.N.spin_lifetime", "initial": 1e-10, "bounds": [5e-12, 2e-9]},
                         {"key": "model.regions.barrier1.polarization", "initial": 0.3,
                          "bounds": [0.01, 0.95], "scale": "linear",
                          "also": ["model.regions.barrier2.polarization"]}]}
    return parse_fit_config(raw, source="h.toml", base_dir=tmp_path)


def test_hanle_reads_signed_fields_and_differentiates_both_parameters(tmp_path):
    (d,) = prepare(_hanle_fit(tmp_path))
    np.testing.assert_allclose(d.data.x, [-0.2, 0.0, 0.1, 0.3])      # T
    observation = d.spec.observation
    assert observation.run_key() == "model.hanle_fields" and observation.run_value(0.1) == [0.1]
    assert observation.nuisance_names() == ("offset",)
    assert set(d.tangent_keys) == {"model.regions.N.spin_lifetime", "model.regions.barrier1.polarization"}
    assert d.tangent_refused == ()
    (g,) = prepare(_hanle_fit(tmp_path, observation={"type": "hanle", "unit": "G"}))
    np.testing.assert_allclose(g.data.x, [-0.02, 0.0, 0.01, 0.03])


def test_a_parameter_the_model_cannot_differentiate_goes_by_finite_differences(tmp_path):
    config = _hanle_fit(tmp_path)
    import dataclasses

    smlo = dataclasses.replace(config.parameters[1], key="model.regions.barrier1.spin_memory_loss",
                               also=(), initial=0.1, lower=0.0, upper=1.0)
    (d,) = prepare(dataclasses.replace(config, parameters=(config.parameters[0], smlo)))
    assert d.tangent_keys == ("model.regions.N.spin_lifetime",)
    assert "not differentiated" in dict(d.tangent_refused)["model.regions.barrier1.spin_memory_loss"]


@pytest.mark.parametrize("edit, key, words", [
    ({"observation": {"type": "hanle", "quantity": "gmr"}}, "dataset[0].observation.quantity", "must be one of"),
    ({"observation": {"type": "hanle", "unit": "Oe"}}, "dataset[0].observation.unit", "must be one of T, mT, G"),
    ({"observation": {"type": "hanle", "key": "geometry.separation"}}, "dataset[0].observation.key",
     "unknown key"),
    ({"observation": {"type": "hanle", "offset": "free"}}, "dataset[0].observation.offset", "\"fit\" or a finite"),
    ({"time_unit": "ms"}, "dataset[0].time_unit", "observation.unit"),
    ({"overrides": {"model.hanle_fields": [0.1]}}, "dataset[0].overrides.model.hanle_fields",
     "each data point sets it"),
])
def test_hanle_bad_fit_file(tmp_path, edit, key, words):
    with pytest.raises(ConfigError) as info:
        _hanle_fit(tmp_path, **edit)
    assert info.value.key == key and words in str(info.value) and "h.toml" in str(info.value)


@pytest.mark.parametrize("edit, words", [
    ({"overrides": {"model.precession": False}}, "needs model.precession = true"),
    ({"observation": {"type": "hanle", "quantity": "delta_R_ohm"}}, "include 'antiparallel'"),
])
def test_hanle_refuses_a_run_it_cannot_observe(tmp_path, edit, words):
    with pytest.raises(ConfigError) as info:
        prepare(_hanle_fit(tmp_path, **edit))
    assert info.value.key == "dataset[0].observation" and words in str(info.value)
    assert "h.toml" in str(info.value)


def test_hanle_refuses_a_transient_run(tmp_path):
    import dataclasses

    config = _hanle_fit(tmp_path)
    radial = Path(__file__).resolve().parents[2] / "examples" / "fit_dnp_radial" / "run.toml"
    bad = dataclasses.replace(config, datasets=(dataclasses.replace(config.datasets[0], run=radial),),
                              parameters=(dataclasses.replace(config.parameters[0], key="model.D0",
                                                              initial=1e-16, lower=1e-18, upper=1e-13),))
    with pytest.raises(ConfigError, match="stationary valet_fert"):
        prepare(bad)


def _run(region: dict) -> dict:
    return {"name": "m", "geometry": {"type": "lateral_spin_valve", "barrier_thickness": 2e-9},
            "model": {"type": "valet_fert", "regions": {
                "N": region, "F1": {"material": "Py@4.2K", "magnetization": [0, 1, 0]},
                "F2": {"material": "Py@4.2K", "magnetization": [0, 1, 0]},
                "barrier1": {"interface": "AlOx tunnel barrier", "magnetization": [0, 1, 0]},
                "barrier2": {"interface": "AlOx tunnel barrier", "magnetization": [0, 1, 0]}}}}


def test_spin_lifetime_sets_the_spin_diffusion_length():
    config = parse_config(_run({"material": "Al@4.2K", "spin_lifetime": 120e-12}))
    al = config.model.region_data["N"].material
    assert al.spin_diffusion_length == pytest.approx(np.sqrt(al.diffusion_constant * 120e-12), rel=1e-14)
    assert al.spin_lifetime == pytest.approx(120e-12, rel=1e-12)
    explicit = parse_config(_run({"resistivity": 1e-8, "diffusion_constant": 4e-3, "spin_lifetime": 1e-10}))
    assert explicit.model.region_data["N"].material.spin_diffusion_length == pytest.approx(np.sqrt(4e-13), rel=1e-14)


@pytest.mark.parametrize("region, words", [
    ({"material": "Al@4.2K", "spin_lifetime": 1e-10, "spin_diffusion_length": 5e-7}, "not both"),
    ({"resistivity": 1e-8, "spin_lifetime": 1e-10}, "needs a diffusion_constant"),
    ({"material": "Al@4.2K", "spin_lifetime": -1e-10}, "must be > 0"),
])
def test_spin_lifetime_bad_input_names_the_key(region, words):
    with pytest.raises(ConfigError) as info:
        parse_config(_run(region), source="run.toml")
    assert info.value.key.endswith("regions.N.spin_lifetime") and words in str(info.value)
    assert "run.toml" in str(info.value)
