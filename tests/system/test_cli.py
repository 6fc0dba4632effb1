"""End-to-end tests of the fem-spin command: outputs, bad input, MPI rank independence,
interrupts. They spawn their own processes, so they run in the serial session only."""

import numpy as np
import pytest

from fem_spin.config import dump_toml
from fem_spin.io import read_timeseries
from conftest import make_raw, run_cli, run_until_rows_then_sigterm, serial_only

pytestmark = serial_only()


def write_config(path, **sections):
    raw = make_raw(**sections)
    path.write_text(dump_toml(raw))
    return path


def test_info_reports_the_stack():
    res = run_cli("info")
    assert res.returncode == 0, res.stderr
    for name in ("dolfinx", "PETSc", "gmsh", "pyvista", "MPI size"):
        assert name in res.stdout
    assert "0.9" in res.stdout.split("dolfinx", 1)[1].splitlines()[0]


def test_mesh_writes_msh_in_metres(tmp_path):
    out = tmp_path / "box.msh"
    res = run_cli("mesh", "box", "-p", "size=[2e-7,1e-7,1e-7]", "-p", "mesh_size=4e-8", "-o", str(out))
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert "$PhysicalNames" in text and '"sample"' in text and '"xmax"' in text
    # read back through a 'file' geometry: the volume is 2e-21 m^3
    from fem_spin.geometry import read_msh

    assert read_msh(out).volume() == pytest.approx(2e-21, rel=1e-9)


def test_bad_mesh_parameter_is_one_line():
    res = run_cli("mesh", "box", "-p", "size=[-1,1,1]", "-p", "mesh_size=0.1")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "geometry.size" in res.stderr
    assert "Traceback" not in res.stderr


def test_run_writes_every_output(tmp_path):
    cfg = write_config(tmp_path / "run.toml", name="e2e",
                       output={"plot": True, "render": True, "field_snapshots": 3},
                       model={"region_shape": "box", "region_polarization": 0.9,
                              "region_upper": [5e-8, 1e-8, 1e-8]})
    res = run_cli("run", str(cfg), "--output-dir", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    d = tmp_path / "out" / "e2e"
    for name in ("config.toml", "timeseries.csv", "summary.json", "profiles.csv", "fields.pvd",
                 "P_mean.png", "profiles.png", "polarization_3d.png"):
        assert (d / name).exists(), name
    assert (d / "fields.bp").is_dir()
    series = read_timeseries(d / "timeseries.csv")
    assert series["t"][-1] == pytest.approx(5.0)
    assert np.all(np.abs(series["P_max"]) < 1)
    assert str(d) in res.stdout
    # the copied configuration runs again and is valid
    from fem_spin.config import load_config

    assert load_config(d / "config.toml").model.region_polarization == 0.9
    # existing results are not overwritten without --overwrite
    again = run_cli("run", str(cfg), "--output-dir", str(tmp_path / "out"))
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize("text, key", [
    ('name = "x"\n[geometry]\ntype = "box"\nsize = [1e-7, 1e-8, 1e-8]\ncells = [4, 1, 1]\n'
     '[model]\ntype = "nuclear_diffusion"\nD0 = -1e-16\n[time]\nt_end = 1.0\n', "model.D0"),
    ('[geometry]\ntype = "file"\npath = "missing.msh"\n[model]\ntype = "nuclear_diffusion"\n'
     'D0 = 1e-16\n[time]\nt_end = 1.0\n', "geometry.path"),
    ('[geometry]\ntype = "box"\nsize = [1e-7, 1e-8, 1e-8]\ncells = [4, 1, 1]\n[model]\n'
     'type = "nuclear_diffusion"\nD0 = 1e-16\nregion_polarization = 1.0\n[time]\nt_end = 1.0\n',
     "model.region_polarization"),
    ('[geometry]\ntype = "box"\nsize = [1e-7, 1e-8, 1e-8]\ncells = [4, 1, 1]\n[model]\n'
     'type = "nuclear_diffusion"\nD0 = 1e-16\n[time]\nt_end = -1.0\n', "time.t_end"),
])
def test_bad_config_gives_one_line_naming_file_and_key(tmp_path, text, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    res = run_cli("run", str(cfg), "--output-dir", str(tmp_path / "out"))
    assert res.returncode == 2
    err = res.stderr.strip()
    assert err.count("\n") == 0, err
    assert "bad.toml" in err and key in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.serial  # spawns mpirun: run alone (Makefile test-serial)
def test_results_do_not_depend_on_rank_count(tmp_path):
    cfg = write_config(tmp_path / "r.toml", name="ranks",
                       geometry={"size": [1e-7, 4e-8, 4e-8], "cells": [12, 4, 4]},
                       model={"speedup": "global", "region_shape": "ball", "region_radius": 3e-8,
                              "region_center": [5e-8, 2e-8, 2e-8], "region_polarization": 0.95},
                       time={"t_end": 5.0, "dt_initial": 0.01, "adaptive": True})
    serial = run_cli("run", str(cfg), "--output-dir", str(tmp_path / "one"), "-q")
    assert serial.returncode == 0, serial.stderr
    parallel = run_cli("run", str(cfg), "--output-dir", str(tmp_path / "two"), "-q", mpi=2)
    assert parallel.returncode == 0, parallel.stderr
    a = read_timeseries(tmp_path / "one" / "ranks" / "timeseries.csv")
    b = read_timeseries(tmp_path / "two" / "ranks" / "timeseries.csv")
    assert len(a["t"]) == len(b["t"])
    for col in ("t", "P_mean", "P_max", "P_min", "P_region"):
        # round-off of another partition, passed on to the step sizes by the error
        # estimate (a difference of up to six states)
        np.testing.assert_allclose(b[col], a[col], rtol=1e-7, atol=1e-12, err_msg=col)


def test_interrupted_run_leaves_readable_outputs(tmp_path):
    cfg = write_config(tmp_path / "long.toml", name="long",
                       geometry={"cells": [60, 6, 6]},
                       time={"t_end": 5e3, "dt_initial": 1e-3, "adaptive": False})
    csv = tmp_path / "out" / "long" / "timeseries.csv"
    returncode, err = run_until_rows_then_sigterm(cfg, tmp_path / "out", csv, 5)
    assert returncode == 130, err
    assert "SIGTERM" in err and "Traceback" not in err
    series = read_timeseries(csv)
    assert len(series["t"]) >= 4 and np.all(np.diff(series["t"]) > 0)
    import json

    summary = json.loads((tmp_path / "out" / "long" / "summary.json").read_text())
    assert summary["status"].startswith("stopped")
    assert (tmp_path / "out" / "long" / "fields.pvd").read_text().strip().endswith("</VTKFile>")


def test_version_reports_the_commit_and_the_stack():
    import fem_spin
    from fem_spin.provenance import git_commit

    res = run_cli("--version")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"fem_spin {fem_spin.__version__}"
    assert lines[1].startswith(f"commit {git_commit()}")
    stack = dict(line.split(None, 1) for line in lines[2:])
    assert stack["dolfinx"].startswith("0.9") and stack["petsc4py"][0].isdigit()
    assert {"mpi4py", "basix", "ufl", "python"} <= set(stack)


def test_show_summarises_a_run_and_a_sweep(tmp_path, capsys):
    import fem_spin
    from fem_spin.cli import main
    from model_kit import LONGITUDINAL_RELAXATION

    raw = LONGITUDINAL_RELAXATION.config(output={"plot": True}, time={"t_end": 0.4})
    run = fem_spin.simulate(raw, directory=tmp_path).directory
    res = run_cli("show", str(run))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for text in ("longitudinal_relaxation", "final.M_mean", "dimensionless", "completed",
                 "time steps", fem_spin.__version__, "dolfinx", "M_mean.png", "fields.pvd",
                 "2 snapshots at 0, 0.4 s", "timeseries.csv", f'fem_spin.load("{run}")'):
        assert text in out, text
    assert "\x1b[" not in out            # no terminal codes in a pipe
    # a sweep (in this process: the same command line, without the interpreter's start-up)
    raw["sweep"] = {"model.D": [1e-15, 2e-15]}
    raw["name"] = "kit_lr_sweep"
    sweep = fem_spin.simulate(raw, directory=tmp_path).directory
    capsys.readouterr()
    assert main(["show", str(sweep)]) == 0
    out = capsys.readouterr().out
    # the headline columns wrap in a narrow terminal (their unit may go to a second line)
    for text in ("Variants", "model.D", "1e-15", "2e-15", "final.M_mean", "(dimensionless)"):
        assert text in out, text


def test_show_refuses_what_is_no_run_directory(tmp_path, capsys):
    from fem_spin.cli import main

    (tmp_path / "stopped").mkdir()
    (tmp_path / "stopped" / "config.toml").write_text(dump_toml(make_raw(name="stopped")))
    for path, message in ((tmp_path / "missing", "no such run directory"),
                          (tmp_path, "not a run directory (no config.toml)"),
                          (tmp_path / "stopped", "summary.json: missing")):
        capsys.readouterr()
        assert main(["show", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.strip().count("\n") == 0 and str(path) in err and message in err
        assert "Traceback" not in err
