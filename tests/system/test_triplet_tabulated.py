"""The tabulated triplet mode is evaluated, not stepped (Engine.run_sampled): one row of the
time series per sample time of the unit-cell table, no iterations, no rejections; a run
paused by time.max_steps and resumed from its checkpoints equals the uninterrupted run;
fem_spin.simulate gives the same series in memory."""

import json
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from fem_spin.config import parse_config
from fem_spin.io import read_timeseries
from fem_spin.simulation import Paused, run
from conftest import resume_until_done

# the setting of test_triplet_dnp.py: 1-D radial cycle-averaged cells (~0.1 s each)
RAW = {"name": "tabulated",
       "geometry": {"type": "crystal", "shape": "slab", "size": [4e-3, 4e-3, 1e-3],
                    "beam_diameter": 2e-3, "mesh_size": 0.8e-3, "mesh_size_beam_edge": 0.2e-3},
       "model": {"type": "triplet_dnp",
                 "cell_geometry": {"type": "dnp_radial", "electron_concentration": 1e24,
                                   "source_radius": 1.0e-9},
                 "cell_model": {"D0": 2e-18, "speedup": "global", "source": "cycle_averaged",
                                "source_polarization": 0.7, "exchange_probability": 1.0,
                                "repetition_rate": 50.0, "R1": 2e-3},
                 "band_diameters": [1.5e-3, 2.5e-3], "band_points": 3},
       "time": {"t_end": 400.0, "dt_initial": 0.05, "tolerance": 2e-3},
       "output": {"plot": False, "render": False, "snapshot_times": [100.0, 200.0],
                  "progress_interval": 1e9, "checkpoint_interval": 0.0}}
PAUSE_AFTER = 60


def _run(raw, directory, name):
    return run(parse_config({**raw, "name": name}), output_dir=directory, quiet=True)


def test_the_tabulated_problem_has_no_time_stepping():
    from fem_spin.models.base import SampledProblem
    from fem_spin.models.triplet_dnp import TripletDNPProblem

    assert issubclass(TripletDNPProblem, SampledProblem) and TripletDNPProblem.sampled
    for name in ("create_formulation", "create_solver", "solve_step", "set_time_step",
                 "error_quantity", "next_event_time"):
        assert not hasattr(TripletDNPProblem, name), name


@pytest.mark.parallel
def test_pause_and_resume_equal_the_uninterrupted_run(tmp_path):
    import fem_spin

    directory = MPI.COMM_WORLD.bcast(str(tmp_path), root=0)
    reference = _run(RAW, directory, "reference")
    a = read_timeseries(reference / "timeseries.csv")
    table = np.loadtxt(reference / "unit_cell_table.csv", delimiter=",", skiprows=1)
    # evaluated at the table's times (written with 10 digits), nothing in between
    assert len(a["t"]) == len(table) and np.allclose(a["t"], table[:, 0], rtol=1e-9, atol=0)
    assert np.all(a["newton_iterations"] == 0) and np.all(a["rejected"] == 0)
    assert np.array_equal(a["step"], np.arange(len(a["t"])))
    np.testing.assert_allclose(a["dt"][1:], np.diff(a["t"]), rtol=1e-14, atol=0)

    raw = json.loads(json.dumps(RAW))
    raw["time"]["max_steps"] = PAUSE_AFTER
    with pytest.raises(Paused):
        _run(raw, directory, "resumed")
    path = Path(directory) / "resumed"
    state = json.loads((path / "checkpoint" / "state.json").read_text())
    assert state["step"] == PAUSE_AFTER and state["t"] == a["t"][PAUSE_AFTER]
    segments = resume_until_done(path)    # max_steps holds for every job: a chain of resumes
    assert segments == -(-(len(a["t"]) - 1) // PAUSE_AFTER)
    b = read_timeseries(path / "timeseries.csv")
    assert set(a) == set(b) and np.array_equal(a["step"], b["step"])
    assert np.array_equal(a["t"], b["t"]) and np.array_equal(a["dt"], b["dt"])
    # the resumed mesh comes from the checkpoint (renumbered): quadrature sums round differently
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-11, atol=1e-15, err_msg=name)
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (reference, path))
    assert sb["status"] == "completed" and sb["restarts"] == segments - 1
    for key in ("steps", "t_final", "newton_iterations", "rejected_steps", "snapshot_times"):
        assert sb[key] == sa[key], key
    for key in ("P_crystal", "P_dark", "P_band_min", "P_band_max_uncorrected"):
        assert sb["final"][key] == pytest.approx(sa["final"][key], rel=1e-11, abs=1e-15)
    for key in ("t50_s", "t63_s", "t90_s"):
        assert sb["buildup"][key] == pytest.approx(sa["buildup"][key], rel=1e-9)
    pa, pb = (np.loadtxt(p / "profiles.csv", delimiter=",", skiprows=1) for p in (reference, path))
    np.testing.assert_allclose(pb, pa, rtol=1e-11, atol=1e-15)

    # in memory through fem_spin.simulate: the same series
    result = fem_spin.simulate({**RAW, "name": "memory"})
    assert np.array_equal(result.series["step"], a["step"])
    for name in ("t", "P_crystal", "P_illuminated", "P_crystal_uncorrected", "P_band_max"):
        np.testing.assert_allclose(result.series[name], a[name], rtol=1e-12, atol=1e-15, err_msg=name)
    assert result.summary["status"] == "completed" and result.summary["steps"] == sa["steps"]
