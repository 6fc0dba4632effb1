"""contracts.py: registries filled by the modules, capabilities declared by the classes, and
the frozen, resolved configuration (no model changes its section after parsing)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from conftest import REPO, make_raw

from fem_spin import contracts
from fem_spin.config import ConfigError, RunConfig, parse_config


def test_every_registered_class_derives_from_its_contract():
    for name in contracts.model_types():
        cls = contracts.model_class(name)
        assert issubclass(cls, contracts.ModelConfig) and cls.model_type == name
        assert isinstance(cls.problem_class, type) and hasattr(cls.problem_class, "initialise")
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    for name in contracts.geometry_types():
        cls = contracts.geometry_class(name)
        assert issubclass(cls, contracts.Geometry) and cls.geometry_type == name
        assert cls.__dataclass_params__.frozen
        assert cls.gmsh_built == hasattr(cls, "builder"), name


def test_capability_flags():
    G = contracts.geometry_class
    assert G("dnp_radial").radial and not G("dnp_sphere").radial
    assert G("dnp_cube").multigrid_auto and G("dnp_cube").gmsh_built
    assert not G("interval").gmsh_built and not G("file").gmsh_built
    assert G("mrfm_film").has_tip and G("crystal").has_beam and not G("box").has_tip
    M = contracts.model_class
    assert M("valet_fert").is_steady() and not M("nuclear_diffusion").is_steady()
    assert {n for n in contracts.model_types() if M(n).supports_multigrid} == {"nuclear_diffusion",
                                                                              "triplet_dnp"}
    box = parse_config(make_raw(geometry={"periodic": [True, False, False]})).geometry
    assert box.is_periodic and not parse_config(make_raw()).geometry.is_periodic


def test_registration_carries_the_problem_and_refuses_clashes():
    @contracts.register_model("_test_model", problem=object)
    @dataclasses.dataclass(frozen=True)
    class TestModel(contracts.ModelConfig):
        x: float = 1.0

    try:
        assert TestModel.problem_class is object and contracts.MODELS["_test_model"] is TestModel
        with pytest.raises(contracts.RegistryError):
            @contracts.register_model("_test_model", problem=object)
            class Other(contracts.ModelConfig):
                pass
        with pytest.raises(contracts.RegistryError):
            contracts.register_geometry("_test_geometry")(type("NotAGeometry", (), {}))
    finally:
        contracts.MODELS.pop("_test_model", None)


def test_configuration_is_frozen_and_the_sections_are_not_changed_by_models():
    raw = make_raw(model={"pre_coefficient": 1e-60})
    raw["geometry"] = {"type": "dnp_sphere", "electron_concentration": "40 mM", "source_radius": 1e-9}
    cfg = parse_config(raw)
    for section in (cfg, cfg.geometry, cfg.model, cfg.time, cfg.solver, cfg.output, cfg.limits):
        with pytest.raises(dataclasses.FrozenInstanceError):
            section.name = "x"
    assert cfg.model.pre_cutoff_radius == 1e-9          # resolved from the geometry, at parse time
    renamed = dataclasses.replace(cfg, name="other")
    assert renamed.name == "other" and cfg.name == "test"


def test_warnings_are_set_at_construction():
    cfg = parse_config(make_raw(output={"snapshot_times": [1.0, 9.0]}), source="run.toml")
    assert len(cfg.warnings) == 1 and "snapshot_times" in cfg.warnings[0]


def test_sweep_variants_are_built_once_and_keep_the_base_directory(tmp_path, monkeypatch):
    import fem_spin.config as C

    calls = []
    original = C._parse
    monkeypatch.setattr(C, "_parse", lambda *a: (calls.append(1), original(*a))[1])
    cfg = parse_config(make_raw(sweep={"model.speedup": ["none", "global", "local"]}))
    assert len(calls) == 1                                 # no parse per swept value
    first = cfg.variants()
    assert [v.model.speedup for _, v in first] == ["none", "global", "local"]
    assert cfg.variants()[1][1] is first[1][1]           # built once, not again per call
    assert all(v.sweep == {} and "sweep" not in v.raw for _, v in first)
    with pytest.raises(ConfigError, match="model.speedup"):
        parse_config(make_raw(sweep={"model.speedup": ["none", "nope"]}))


def test_variants_of_a_config_made_in_python():
    cfg = parse_config(make_raw(sweep={"model.D0": [1e-16, 2e-16]}))
    copy = dataclasses.replace(cfg, name="copy")
    assert copy.swept is None
    assert [v.model.D0 for _, v in copy.variants()] == [1e-16, 2e-16]


def test_importing_the_configuration_layer_starts_no_mpi():
    code = ("import sys, fem_spin.config as c; c.geometry_types(); "
            "print('mpi4py.MPI' in sys.modules, 'fem_spin.models' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", "import fem_spin.config, sys; "
                          "print('mpi4py.MPI' in sys.modules, 'fem_spin.models' in sys.modules)"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[1] == "True"      # asking a registry imports the declared plugin modules
    assert isinstance(RunConfig.__dataclass_params__.frozen, bool)
