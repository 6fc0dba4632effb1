"""Results in one line (issue 24): ``fem_spin.load`` round-trips the run directory of every
model (a sweep and a resumed run too) into tables, headline numbers, fields and the run's
own plots, whose axes carry SI units; ``plot_field`` draws off-screen."""

from __future__ import annotations

import copy
import re
import shutil

import numpy as np
import pytest

import fem_spin
from fem_spin.config import dump_toml
from fem_spin.results import FieldsNotWritten, unit_of
from conftest import resume_until_done, serial_only
from model_kit import CASES, LONGITUDINAL_RELAXATION
from test_fuzz_config import SEEDS

pytestmark = serial_only()

#: the field drawn for each model, and the observable holding its nodal minimum
FIELD = {"nuclear_diffusion": ("polarization", "P_min"), "onsager_transport": ("polarization", "P_min"),
         "onsager_framework": ("polarization", "P_min"), "triplet_dnp": ("polarization", "P_min"),
         "longitudinal_relaxation": ("magnetization", "M_min")}
#: an axis label ends in its SI unit (prefixed or derived) or says the number has none
SI_LABEL = re.compile(r"\((?:[nµmk]?(?:s|m|T|Ω|A|V|J/K)|dimensionless|[^()]*, dimensionless)\)$")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run directory per model (the kit's smallest transient runs and a two-case spin
    valve), written by fem_spin as ``fem-spin run`` writes them."""
    out = tmp_path_factory.mktemp("runs")
    raws = [case.config() for case in CASES]
    raws.append(copy.deepcopy(SEEDS["vf_multilayer"]))
    return {raw["model"]["type"] + ("_two" if "instance" in raw["model"] else ""):
            fem_spin.simulate(raw, directory=out).directory for raw in raws}


def test_load_round_trips_every_models_run_directory(runs):
    import pandas as pd

    assert set(runs) >= {"nuclear_diffusion", "onsager_transport", "onsager_framework_two",
                         "triplet_dnp", "longitudinal_relaxation", "valet_fert"}
    for model, directory in runs.items():
        result = fem_spin.load(directory)
        summary = result.summary
        assert summary["status"] == "completed" and summary["model_type"] == model.removesuffix("_two")
        table = result.table
        assert isinstance(table, pd.DataFrame) and result.to_pandas().equals(table)
        if model == "valet_fert":          # stationary: the results table, one row per case
            assert list(table["configuration"]) == ["parallel", "antiparallel"]
            assert table["resistance_ohm"][0] == pytest.approx(summary["R_parallel_ohm"], rel=1e-9)
            grid = result.field("spin_accumulation", index=1)
            assert grid.active_scalars_name == "spin_accumulation" and grid.n_points > 0
            assert result.sweep.loc[summary["label"] or "vf_multilayer", "delta_R_ohm"] == \
                pytest.approx(summary["delta_R_ohm"])
            continue
        assert len(table) == summary["steps"] + 1 and table["t"].is_monotonic_increasing
        assert table["t"].iloc[-1] == pytest.approx(summary["t_final"])
        for name, value in summary["final"].items():
            if name in table:
                assert table[name].iloc[-1] == pytest.approx(value, rel=1e-12, abs=1e-15), name
        # the last stored field is the state of the last row
        field, minimum = FIELD[model.removesuffix("_two")]
        assert result.field_times == [0.0, pytest.approx(summary["t_final"])]
        grid = result.field(field)
        assert float(grid.field_data["t"][0]) == pytest.approx(summary["t_final"])
        assert grid.point_data[field].min() == pytest.approx(table[minimum].iloc[-1], rel=1e-9)
        first = result.field(field, t=0.0)
        assert first.point_data[field].min() == pytest.approx(table[minimum].iloc[0], rel=1e-9)
        with pytest.raises(ValueError, match="no field snapshot at t = 0.123"):
            result.field(field, t=0.123)
        with pytest.raises(KeyError, match="no field 'nonsense'"):
            result.field("nonsense")
        # the headline numbers, with their units
        row = result.sweep.iloc[0]
        assert row["status"] == "completed"
        assert any(key.startswith(("final.", "buildup.")) for key in row.index)


def test_the_one_line_plots_are_the_runs_and_labelled_in_si_units(runs, tmp_path):
    for model, directory in runs.items():
        result = fem_spin.load(directory)
        figures = result.plot()
        # a spin valve solved at one field and not swept has no curve to draw
        assert bool(figures) == (model != "valet_fert"), model
        for name, fig in figures.items():
            for ax in fig.axes:
                for label in (ax.get_xlabel(), ax.get_ylabel()):
                    assert not label or SI_LABEL.search(label), (model, name, label)
                assert ax.get_ylabel(), (model, name)
        assert list(directory.glob("*.png")) == []      # plot() alone writes nothing
    # the same plots as the run draws: a run with [output] plot = true writes those PNGs
    raw = LONGITUDINAL_RELAXATION.config(output={"plot": True}, time={"t_end": 0.4})
    drawn = fem_spin.simulate(raw, directory=tmp_path / "drawn")
    figures = drawn.plot()
    assert sorted(f"{n}.png" for n in figures) == sorted(p.name for p in drawn.directory.glob("*.png"))
    png = drawn.plot("M_mean", png=tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 1000
    assert png.axes[0].get_xlabel() == "time t (s)"
    assert png.axes[0].get_ylabel() == "mean magnetization M/M0 (dimensionless)"
    with pytest.raises(FileExistsError, match="m.png exists"):
        drawn.plot("M_mean", png=tmp_path / "m.png")
    written = drawn.plot(directory=tmp_path / "all")
    assert sorted(p.stem for p in (tmp_path / "all").iterdir()) == sorted(written)
    with pytest.raises(KeyError, match="draws no plot 'nonsense'"):
        drawn.plot("nonsense")


def test_plot_field_draws_off_screen_and_says_when_there_are_no_fields(runs, tmp_path):
    pytest.importorskip("pyvista")
    for model in ("nuclear_diffusion", "longitudinal_relaxation"):   # a 3-D box, a 1-D interval
        result = fem_spin.load(runs[model])
        field = FIELD[model][0]
        png = result.plot_field(field, t=0.0, png=tmp_path / f"{model}.png")
        assert png.stat().st_size > 5000
    # without field files: one clear error, no picture
    bare = tmp_path / "bare"
    shutil.copytree(runs["longitudinal_relaxation"], bare)
    for path in bare.glob("fields*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    result = fem_spin.load(bare)
    with pytest.raises(FieldsNotWritten, match="no field files"):
        result.plot_field("magnetization")
    assert list(bare.glob("*.png")) == []


def test_a_sweep_and_a_resumed_run_load(tmp_path):
    from fem_spin.simulation import Paused

    raw = LONGITUDINAL_RELAXATION.config(time={"adaptive": True, "tolerance": 1e-3, "t_end": 2.0})
    raw["sweep"] = {"model.D": [1e-15, 4e-15]}
    sweep = fem_spin.simulate(raw, directory=tmp_path)
    loaded = fem_spin.load(sweep.directory)
    labels = sorted(loaded.variants)
    assert len(labels) == 2 and loaded.variants[labels[0]].directory.parent == loaded.directory
    table = loaded.sweep
    assert sorted(table.index) == labels
    assert sorted(table["model.D"]) == [1e-15, 4e-15]
    assert set(table["status"]) == {"completed"}
    for label in labels:
        assert table.loc[label, "final.M_mean"] == loaded[label].summary["final"]["M_mean"]
    stacked = loaded.table
    assert list(stacked.columns[:2]) == ["variant", "step"]
    assert sorted(set(stacked["variant"])) == labels
    assert len(stacked) == sum(len(loaded[label].table) for label in labels)
    figures = loaded.plot()
    assert len(figures["M_mean"].axes[0].get_lines()) == 2         # one curve per variant
    with pytest.raises(ValueError, match="pick a variant"):
        loaded.field("magnetization")
    # a run paused after 4 steps and resumed: one table, the fields of both segments
    raw = LONGITUDINAL_RELAXATION.config(time={"max_steps": 4}, output={"snapshot_times": [0.6, 1.4]})
    raw["name"] = "kit_lr_resumed"
    (tmp_path / "run.toml").write_text(dump_toml(raw))
    with pytest.raises(Paused):
        fem_spin.simulate(tmp_path / "run.toml", directory=tmp_path / "resumed")
    path = tmp_path / "resumed" / "kit_lr_resumed"
    assert resume_until_done(path) == 3
    resumed = fem_spin.load(path)
    assert resumed.summary["status"] == "completed" and resumed.summary["restarts"] == 2
    steps = resumed.table["step"].to_numpy()
    np.testing.assert_array_equal(steps, np.arange(11))
    assert resumed.field_times == pytest.approx([0.0, 0.6, 1.4, 2.0])
    assert resumed.field("magnetization", t=1.4).point_data["magnetization"].size > 0


def test_every_summary_records_what_made_it(runs):
    """summary.json: the fem_spin version, the commit of the checkout and the stack."""
    import json

    from fem_spin.provenance import git_commit

    for model, directory in runs.items():
        record = json.loads((directory / "summary.json").read_text())["provenance"]
        assert record["fem_spin"] == fem_spin.__version__, model
        assert record["commit"] == git_commit() and isinstance(record["dirty"], (bool, type(None)))
        stack = record["stack"]
        assert stack["dolfinx"].startswith("0.9") and stack["PETSc"][0].isdigit()
        assert {"petsc4py", "mpi4py", "basix", "ufl", "numpy", "python", "MPI library"} <= set(stack)


def test_units_of_summary_numbers():
    assert unit_of("buildup.t63_s") == unit_of("t50") == unit_of("t_final") == "s"
    assert unit_of("delta_R_ohm") == "Ω" and unit_of("current_A") == "A"
    assert unit_of("final.P_mean") == unit_of("gmr") == unit_of("steps") == "dimensionless"
    assert unit_of("entropy") == "J/K" and unit_of("something_else") == ""
