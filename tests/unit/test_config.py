"""Unit tests of the configuration schema: every bad input names its key."""

import math

import pytest

from fem_spin.config import ConfigError, load_config, parse_config
from conftest import make_raw


def error_of(raw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source="case.toml")
    return info.value


@pytest.mark.parametrize("sections, key, words", [
    ({"model": {"D00": 1.0}}, "model.D00", "unknown key"),
    ({"model": {"D0": -1e-16}}, "model.D0", "> 0"),
    ({"model": {"D0": "fast"}}, "model.D0", "wrong type"),
    ({"model": {"region_polarization": 1.0}}, "model.region_polarization", "|P| < 1"),
    ({"model": {"P_eq": -1.2}}, "model.P_eq", "|P| < 1"),
    ({"model": {"speedup": "global2"}}, "model.speedup", "one of"),
    ({"model": {"R1": -1.0}}, "model.R1", ">= 0"),
    ({"model": {"type": "spin_soup"}}, "model.type", "unknown model"),
    ({"time": {"t_end": -5.0}}, "time.t_end", "> 0"),
    ({"time": {"dt_initial": 10.0}}, "time.dt_initial", "t_end"),
    ({"time": {"adaptive": "yes"}}, "time.adaptive", "true or false"),
    ({"geometry": {"type": "sphre"}}, "geometry.type", "unknown geometry"),
    ({"geometry": {"type": "file", "path": "nowhere.msh"}}, "geometry.path", "not found"),
    ({"geometry": {"cells": [0, 1, 1]}}, "geometry.cells", ">= 1"),
    ({"geometry": {"size": [1e-7, 1e-8]}}, "geometry.size", "3 values"),
    ({"bogus": 1}, "bogus", "unknown key"),
    ({"sweep": {"model.speedup": ["none", "nope"]}}, "model.speedup", "one of"),
    # inf is only accepted where it means "none" (dt_max); lengths must be plausible in metres
    ({"model": {"D0": math.inf}}, "model.D0", "finite"),
    ({"geometry": {"size": [1e-7, math.inf, 1e-8]}}, "geometry.size", "finite"),
    ({"time": {"t_end": math.inf}}, "time.t_end", "finite"),
    ({"geometry": {"size": [1e300, 1e-8, 1e-8]}}, "geometry.size", "between 1e-15 m and 1000 m"),
    ({"geometry": {"size": [1e-7, 1e-8, 5e-324]}}, "geometry.size", "between 1e-15 m and 1000 m"),
    ({"geometry": {"origin": [2.0**64, 0.0, 0.0]}}, "geometry.origin", "between 1e-15 m and 1000 m"),
])
def test_bad_values_name_the_key(sections, key, words):
    raw = make_raw(**sections)
    if sections.get("geometry", {}).get("type") == "file":
        raw["geometry"] = sections["geometry"]
    err = error_of(raw)
    assert err.key == key
    assert words in err.message
    line = str(err)
    assert line.startswith("case.toml: ") and key in line and "\n" not in line


def test_infinity_where_it_means_none():
    """dt_max = inf (the default) and an infinite absorption length are accepted."""
    cfg = parse_config(make_raw(time={"dt_max": math.inf}))
    assert cfg.time.dt_max == math.inf
    assert parse_config(make_raw(geometry={"origin": [0.0, -1e-8, 0.0]})).geometry.origin[1] == -1e-8


def test_tensor_D0_must_be_spd():
    err = error_of(make_raw(model={"D0": [[1e-16, 0, 0], [0, -1e-16, 0], [0, 0, 1e-16]]}))
    assert err.key == "model.D0" and "positive definite" in err.message
    err = error_of(make_raw(model={"D0": [[1e-16, 1e-17, 0], [0, 1e-16, 0], [0, 0, 1e-16]]}))
    assert "symmetric" in err.message


def test_missing_section_and_file(tmp_path):
    raw = make_raw()
    del raw["time"]
    assert error_of(raw).key == "time"
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nD0 = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_defaults_and_sweep_expansion():
    cfg = parse_config(make_raw(sweep={"model.speedup": ["none", "global", "local"]}))
    assert cfg.time.dt_max == math.inf and cfg.solver.max_iterations == 25
    variants = cfg.variants()
    assert [label for label, _ in variants] == ["speedup=none", "speedup=global", "speedup=local"]
    assert [c.model.speedup for _, c in variants] == ["none", "global", "local"]


def test_default_configuration_is_valid():
    from fem_spin.cli import default_config_path

    cfg = load_config(default_config_path())
    assert type(cfg.geometry).__name__ == "DNPCubeGeometry" and cfg.model.source == "continuous"
    assert cfg.model.source_polarization == 0.9 and len(cfg.variants()) == 2


# --------------------------------------------------------------------------- issue 18
@pytest.mark.parametrize("sections, key, words", [
    # NaN where a type admits several alternatives (D0: number, tensor or table) was "wrong type"
    ({"model": {"D0": math.nan}}, "model.D0", "must be a finite number"),
    ({"model": {"D0": [[1e-16, 0, 0], [0, math.nan, 0], [0, 0, 1e-16]]}}, "model.D0", "finite number"),
    ({"time": {"dt_min": 1e-3, "dt_max": 1e-4, "adaptive": True}}, "time.dt_min",
     "must not exceed time.dt_max"),
    # implausible physical coefficients are unit slips, not physics
    ({"model": {"D0": 1e300}}, "model.D0", "not a solid-state spin-diffusion coefficient"),
    ({"model": {"D0": [[1e-4, 0, 0], [0, 1e-16, 0], [0, 0, 1e-16]]}}, "model.D0", "m^2/s"),
    ({"model": {"R1": 1e9}}, "model.R1", "not a plausible"),
    ({"model": {"source": "continuous", "exchange_rate": 1e300}}, "model.exchange_rate", "not a plausible"),
    ({"output": {"field_snapshots": 10**9}}, "output.field_snapshots", "at most"),
    ({"geometry": {"cells": [99999999999999999999, 2, 2]}}, "geometry.cells", "cannot be meshed"),
])
def test_issue18_values_are_errors(sections, key, words):
    err = error_of(make_raw(**sections))
    assert err.key == key and words in err.message, str(err)


def test_plausible_coefficients_still_pass():
    cfg = parse_config(make_raw(model={"D0": 1e-7, "R1": 1e5}))
    assert cfg.model.D0 == 1e-7 and cfg.warnings == ()


def test_a_directory_is_not_a_run_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory, not a configuration file"):
        load_config(tmp_path)
    raw = make_raw()
    raw["geometry"] = {"type": "file", "path": str(tmp_path)}
    err = error_of(raw)
    assert err.key == "geometry.path" and "is a directory" in err.message


def warnings_of(raw) -> tuple:
    cfg = parse_config(raw, source="run.toml")
    for w in cfg.warnings:
        assert isinstance(w, str) and w.startswith("run.toml: ") and "\n" not in w
    return cfg.warnings


def test_snapshot_times_beyond_t_end_warn():
    (w,) = warnings_of(make_raw(output={"snapshot_times": [1.0, 5.0, 7.0, 9.0]}))
    assert str(w) == ("run.toml: output.snapshot_times: 2 times beyond time.t_end = 5 s (7, 9 s) "
                      "are ignored")
    assert (w.key, w.file) == ("output.snapshot_times", "run.toml")
    assert warnings_of(make_raw(output={"snapshot_times": [1.0, 5.0]})) == ()


def test_regions_outside_the_sample_warn():
    """The issue's case: region_shape = 'ball' entirely outside the sample (P_region was NaN)."""
    (w,) = warnings_of(make_raw(model={"region_shape": "ball", "region_center": [1e-6, 0.0, 0.0],
                                       "region_radius": 1e-8, "region_polarization": 0.5}))
    assert w.key == "model.region_center" and "entirely outside the sample" in w
    (w,) = warnings_of(make_raw(model={"region_shape": "box", "region_lower": [2e-7, 0.0, 0.0],
                                       "region_upper": [3e-7, 1e-8, 1e-8]}))
    assert w.key == "model.region_lower"
    # touching the sample, or overlapping it: no warning
    assert warnings_of(make_raw(model={"region_shape": "ball", "region_center": [1.05e-7, 5e-9, 5e-9],
                                       "region_radius": 1e-8})) == ()
    assert warnings_of(make_raw(model={"region_shape": "box", "region_lower": [-1e-7, -1.0e-7, -1e-7],
                                       "region_upper": [1e-8, 1e-7, 1e-7]})) == ()
    raw = make_raw()
    raw["model"] = {"type": "onsager_transport", "spin_density": 4.86e28, "B0": 1.0, "field": "uniform",
                    "initial_profile": "step", "step_position": 5e-7}
    raw["time"] = {"t_end": 1e-3, "dt_initial": 1e-5}
    (w,) = warnings_of(raw)
    assert w.key == "model.step_position" and "region_polarization" not in w
    raw["model"].update(initial_profile="ball", region_center=[0.0, 5e-7, 0.0], region_radius=1e-8)
    assert [w.key for w in warnings_of(raw)] == ["model.region_center"]


def test_implausible_sample_sizes_warn():
    """A 200 nm box typed as 200 m validates (lengths up to 1 km) but warns, naming the key."""
    (w,) = warnings_of(make_raw(geometry={"size": [200.0, 1e-8, 1e-8]}))
    assert w.key == "geometry.size" and "200 m across" in w and "metres" in w
    raw = make_raw()
    raw["geometry"] = {"type": "dnp_cube", "electron_concentration": 1e12, "source_radius": 1e-9}
    (w,) = warnings_of(raw)
    assert w.key == "geometry.electron_concentration"
    assert warnings_of(make_raw()) == ()


def test_warnings_of_swept_values_are_collected():
    raw = make_raw(sweep={"output.snapshot_times": [[1.0], [1.0, 6.0]]})
    (w,) = warnings_of(raw)
    assert w.key == "output.snapshot_times" and "sweep output.snapshot_times" in w


def test_warnings_are_no_python_warnings_and_survive_copies():
    import copy
    import pickle
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = parse_config(make_raw(output={"snapshot_times": [9.0]}), source="run.toml")
    for clone in (copy.deepcopy(cfg.warnings), pickle.loads(pickle.dumps(cfg.warnings))):
        assert clone == cfg.warnings and clone[0].key == "output.snapshot_times"


def test_limits_section_is_parsed():
    cfg = parse_config(make_raw(limits={"max_dofs": 1000, "max_memory": "2 GiB", "max_steps": 10**6}))
    assert (cfg.limits.max_dofs, cfg.limits.max_memory, cfg.limits.max_steps, cfg.limits.max_snapshots) \
        == (1000, 2.0 * 2**30, 10**6, 10_000)
    assert parse_config(make_raw()).limits.max_memory is None
    assert error_of(make_raw(limits=[1])).key == "limits"
