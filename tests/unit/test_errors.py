"""ConfigError stays at the boundary (issue 19, item 4): the configuration layer (the parser and
the validators of the sections) raises ConfigError; the physics that runs after parsing (problem
classes, physics terms, solvers, mesh reading) raises its own ModelError naming the key, and the
boundary (simulation, api, command line) turns it into the ConfigError naming key and file."""

from __future__ import annotations

import ast
import importlib
import inspect
import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fem_spin.config import ConfigError, naming_the_key
from fem_spin.contracts import Geometry, ModelConfig
from fem_spin.errors import ModelError

PACKAGE = Path(__file__).resolve().parents[2] / "fem_spin"

#: modules that run only after configuration: they must not name ConfigError at all
PHYSICS_MODULES = sorted([*PACKAGE.glob("physics/*.py"), *PACKAGE.glob("solvers/*.py"),
                          PACKAGE / "models" / "sources.py", PACKAGE / "models" / "base.py",
                          PACKAGE / "geometry" / "base.py", PACKAGE / "engine.py"])
#: modules holding both a [model] section (config layer) and the problem that solves it
MODEL_MODULES = sorted(p for p in PACKAGE.glob("models/*.py") if p.name != "__init__.py")


def names_config_error(source: str) -> list[int]:
    """Lines of ``source`` (Python code) that name ConfigError: an import of it, a use of the
    name or of an attribute ``X.ConfigError`` (docstrings and comments do not count)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and any(a.name == "ConfigError" for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id == "ConfigError":
            lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == "ConfigError":
            lines.append(node.lineno)
    return sorted(set(lines))


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def physics_classes() -> list[type]:
    """Every class defined in a model module that is not a [model] section or a geometry: the
    problem classes and their helpers (unit-cell tables, sources)."""
    found = []
    for path in MODEL_MODULES:
        module = importlib.import_module(_module_name(path))
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and not issubclass(cls, (ModelConfig, Geometry)):
                found.append(cls)
    return found


def test_the_checker_finds_config_error_in_code_not_in_text():
    code = ('"""Raises ConfigError? No."""\n'
            "from fem_spin.config import ConfigError, param\n"
            "import fem_spin.config as c\n"
            "def f():\n"
            "    # ConfigError in a comment\n"
            "    raise c.ConfigError('k', 'm')\n")
    assert names_config_error(code) == [2, 6]
    assert names_config_error("from fem_spin.errors import ModelError\n") == []


@pytest.mark.parametrize("path", PHYSICS_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_physics_and_solver_modules_do_not_name_config_error(path):
    lines = names_config_error(path.read_text())
    assert not lines, (f"{path.relative_to(PACKAGE)} names ConfigError at line(s) {lines}: raise "
                       f"fem_spin.errors.ModelError(message, key=...) instead")


def test_problem_classes_do_not_name_config_error():
    classes = physics_classes()
    names = {c.__name__ for c in classes}
    # the checker sees the problems of every model (so it cannot pass by seeing nothing)
    assert {"NuclearDiffusionProblem", "OnsagerTransportProblem", "ValetFertProblem",
            "TripletDNPProblem", "CoupledTripletDNPProblem", "UnitCellTable", "SourceTerm"} <= names
    offenders = {c.__qualname__: names_config_error(textwrap.dedent(inspect.getsource(c)))
                 for c in classes}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"problem code names ConfigError (raise ModelError instead): {offenders}"


def test_model_error_names_its_key_and_survives_pickling():
    error = ModelError("the mesh has no cell group 'x'", key="model.source_regions")
    assert isinstance(error, ValueError)
    assert str(error) == "model.source_regions: the mesh has no cell group 'x'"
    assert str(ModelError("no key")) == "no key" and ModelError("no key").key is None
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.key, copy.message) == (ModelError, error.key, error.message)


def test_missing_group_is_a_model_error_and_a_key_error():
    from fem_spin.geometry.base import MissingGroup

    error = MissingGroup("the mesh has no cell group 'source'")
    assert isinstance(error, ModelError) and isinstance(error, KeyError)
    assert str(error) == "the mesh has no cell group 'source'"


def test_the_boundary_turns_a_model_error_into_the_config_error_naming_key_and_file():
    with pytest.raises(ConfigError) as info:
        with naming_the_key("run.toml"):
            raise ModelError("initial |P| must be < 1", key="model.initial_polarization")
    assert str(info.value) == "run.toml: model.initial_polarization: initial |P| must be < 1"
    assert isinstance(info.value.__cause__, ModelError)
    with pytest.raises(ConfigError) as info:
        with naming_the_key("run.toml"):
            raise ModelError("no mesh cells in m.msh")
    assert str(info.value) == "run.toml: no mesh cells in m.msh"
    with pytest.raises(KeyError):                # other errors pass unchanged
        with naming_the_key("run.toml"):
            raise KeyError("x")


def test_a_missing_cell_group_names_the_key():
    import dolfinx.mesh
    from mpi4py import MPI

    from fem_spin.geometry.base import MeshData
    from fem_spin.physics import terms

    mesh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 4)
    tags = dolfinx.mesh.meshtags(mesh, 1, np.arange(4, dtype=np.int32), np.ones(4, dtype=np.int32))
    data = MeshData(mesh, tags, None, {"sample": 1}, {})
    f = terms.cell_group_function(mesh, data, {"sample": 2.0}, 1.0, "density", key="model.density")
    assert (f.x.array == 2.0).all()
    with pytest.raises(ModelError) as info:
        terms.cell_group_function(mesh, data, {"core": 2.0}, 1.0, "density", key="model.density")
    assert info.value.key == "model.density" and "'core'" in str(info.value) and "sample" in str(info.value)


def test_simulate_reports_a_model_error_as_the_config_error_naming_the_key():
    import fem_spin

    raw = {"name": "groups", "geometry": {"type": "interval", "x_min": 0.0, "x_max": 1e-7, "cells": 8},
           "model": {"type": "nuclear_diffusion", "D0": 1e-16, "source": "continuous",
                     "exchange_rate": 1e3, "source_polarization": 0.5, "source_regions": ["nowhere"]},
           "time": {"t_end": 1.0, "dt_initial": 0.1}}
    with pytest.raises(ConfigError) as info:
        fem_spin.simulate(raw)
    assert info.value.key == "model.source_regions" and info.value.file == "<memory>"
    assert "no cell group 'nowhere'" in str(info.value) and "\n" not in str(info.value)
