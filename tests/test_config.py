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
