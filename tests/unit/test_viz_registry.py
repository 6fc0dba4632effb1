"""Pictures are registered per model type (fem_spin/viz/registry.py), not methods of the physics
classes: a model without a registration gets the standard transient pictures or, stationary,
none, and never fails a finished run; user errors of the render command are one line."""

from __future__ import annotations

import types

import pytest
from mpi4py import MPI

from conftest import make_config, make_raw, run_cli, serial_only
from fem_spin.config import dump_toml
from fem_spin.geometry.base import MeshData, MissingGroup
from fem_spin.viz import registry


def test_every_built_in_model_registers_what_it_draws():
    from fem_spin.contracts import model_types

    for model in model_types():
        assert model in registry._REGISTRY, model
    assert registry.pictures_for("valet_fert").plots is not None
    assert registry.pictures_for("onsager_transport").compare is not None
    unknown = registry.pictures_for("a_model_nobody_registered")
    assert unknown == registry.ModelPictures()


def test_a_stationary_model_without_pictures_finishes_without_drawing(tmp_path, capsys):
    config = make_config(output={"plot": True, "render": True})
    steady_model = types.SimpleNamespace(model_type="unregistered", is_steady=lambda: True)
    config = types.SimpleNamespace(model=steady_model, output=config.output, sweep={})
    registry.post_process(config, tmp_path, {"run": tmp_path}, MPI.COMM_SELF, quiet=False)
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr().out == ""


def test_a_registered_model_gets_its_own_plots(tmp_path):
    calls = []
    registry.register_pictures("probe_model", plots=lambda d, out, sweep: calls.append(d) or [],
                               render=lambda d, title: calls.append(title) or [])
    try:
        config = make_config(output={"plot": True, "render": True})
        model = types.SimpleNamespace(model_type="probe_model", is_steady=lambda: True)
        config = types.SimpleNamespace(model=model, output=config.output, sweep={})
        registry.post_process(config, tmp_path, {"a": tmp_path}, MPI.COMM_SELF, quiet=True)
        assert calls == [{"a": tmp_path}, "a"]
    finally:
        registry._REGISTRY.pop("probe_model")


def test_a_missing_mesh_group_is_a_user_error_not_a_key_error():
    data = MeshData(None, None, None, {"sample": 1}, {"xmin": 1})
    with pytest.raises(MissingGroup, match="no cell group 'source' .*it has sample"):
        data.cell_group("source")
    assert str(MissingGroup("plain")) == "plain"     # no quotes of KeyError's repr


@serial_only()
def test_render_of_an_unknown_field_is_one_line(tmp_path):
    (tmp_path / "run.toml").write_text(dump_toml(make_raw(name="r")))
    assert run_cli("run", str(tmp_path / "run.toml"), "--output-dir", str(tmp_path), "-q").returncode == 0
    before = sorted(p.name for p in (tmp_path / "r").iterdir())
    res = run_cli("render", str(tmp_path / "r"), "--field", "no_such_field")
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().count("\n") == 0 and "--field" in res.stderr
    assert "no_such_field" in res.stderr and "Traceback" not in res.stderr
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == before
