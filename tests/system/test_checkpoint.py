"""Robustness of long runs (issue 7): checkpoint/restart equals the uninterrupted run (also
1 -> 2 ranks), SIGTERM leaves a resumable checkpoint, failed and non-finite steps are
retried smaller, a run that cannot continue stops with its last good state saved, and
the same inputs give the same outputs."""

import json
import signal
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from conftest import resume_until_done, make_raw, run_cli, run_until_rows_then_sigterm, serial_only
from fem_spin.config import parse_config
from fem_spin.io import read_timeseries
from fem_spin.simulation import Paused, resume, run
from fem_spin.solvers import SimulationFailed

# a hyperpolarized ball spreading with the global speed-up: adaptive steps, f(Pbar) state
RAW = make_raw(geometry={"size": [1e-7, 4e-8, 4e-8], "cells": [12, 4, 4]},
               model={"speedup": "global", "region_shape": "ball", "region_radius": 3e-8,
                      "region_center": [5e-8, 2e-8, 2e-8], "region_polarization": 0.95},
               time={"t_end": 5.0, "dt_initial": 0.01, "adaptive": True},
               output={"field_snapshots": 4, "plot": False, "render": False,
                       "progress_interval": 1e9, "checkpoint_interval": 0.0})
COLUMNS = ("t", "dt", "P_mean", "P_max", "P_min", "P_region")


def out_dir(tmp_path):
    return MPI.COMM_WORLD.bcast(str(tmp_path), root=0)


def run_raw(raw, directory, name):
    raw = {**raw, "name": name}
    return run(parse_config(raw), output_dir=directory, quiet=True)


def paused_run(tmp_path, steps=8):
    raw = json.loads(json.dumps(RAW))
    raw["time"]["max_steps"] = steps
    with pytest.raises(Paused):
        run_raw(raw, out_dir(tmp_path), "resumed")
    return Path(out_dir(tmp_path)) / "resumed"


def assert_same_series(a, b, rtol):
    assert len(a["t"]) == len(b["t"])
    assert np.array_equal(a["step"], b["step"])
    for col in COLUMNS:
        # the step sizes follow error estimates (differences of up to six states) that pass
        # the solves' round-off on amplified: measured 1.2e-7 where the states agree to 1e-12
        np.testing.assert_allclose(b[col], a[col], rtol=max(rtol, 1e-6) if col == "dt" else rtol,
                                   atol=1e-14, err_msg=col)


@pytest.mark.parallel
def test_restart_equals_the_uninterrupted_run(tmp_path):
    reference = run_raw(RAW, out_dir(tmp_path), "reference")
    path = paused_run(tmp_path)
    assert (path / "checkpoint" / "state.json").exists()
    state = json.loads((path / "checkpoint" / "state.json").read_text())
    assert state["step"] == 8 and 0 < state["t"] < RAW["time"]["t_end"]
    segments = resume_until_done(path)    # max_steps holds for every job: a chain of resumes
    assert segments >= 3
    a = read_timeseries(reference / "timeseries.csv")
    b = read_timeseries(path / "timeseries.csv")
    # the resumed mesh comes from the checkpoint, numbered and partitioned anew: the Krylov
    # solves round differently, the same at solver tolerance (Newton rtol 1e-10)
    assert_same_series(a, b, rtol=1e-8)
    summary = json.loads((path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["restarts"] == segments - 1
    # profiles across the restart and the VTK index of both segments
    pa = np.loadtxt(reference / "profiles.csv", delimiter=",", skiprows=1)
    pb = np.loadtxt(path / "profiles.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(pb, pa, rtol=1e-8, atol=1e-14)
    pvd = (path / "fields.pvd").read_text()
    assert pvd.count("<DataSet") == (reference / "fields.pvd").read_text().count("<DataSet")
    assert "fields_r" in pvd


@pytest.mark.serial  # spawns mpirun: run alone (Makefile test-serial)
@serial_only()
def test_restart_on_two_ranks_equals_the_serial_run(tmp_path):
    reference = run_raw(RAW, str(tmp_path), "reference")
    path = paused_run(tmp_path, steps=30)     # a few two-rank jobs (each starts MPI anew)
    for _ in range(20):              # exit code 4: paused again after time.max_steps
        res = run_cli("resume", str(path), "-q", mpi=2)
        if res.returncode != 4:
            break
    assert res.returncode == 0, res.stderr
    assert_same_series(read_timeseries(reference / "timeseries.csv"),
                       read_timeseries(path / "timeseries.csv"), rtol=1e-8)
    assert json.loads((path / "summary.json").read_text())["ranks"] == 2


@serial_only()
def test_sigterm_leaves_a_resumable_checkpoint(tmp_path):
    """SIGTERM mid-run: exit 130, outputs readable, a checkpoint at the last accepted step;
    resuming it reproduces the uninterrupted run."""
    from fem_spin.config import dump_toml

    raw = json.loads(json.dumps(RAW))
    raw["time"].update({"t_end": 1.0, "adaptive": False, "dt_initial": 2e-3})
    raw["geometry"]["cells"] = [30, 6, 6]
    raw["name"] = "long"
    reference = run(parse_config(raw), output_dir=str(tmp_path / "ref"), quiet=True)
    cfg = tmp_path / "long.toml"
    cfg.write_text(dump_toml(raw))
    returncode, err = run_until_rows_then_sigterm(cfg, tmp_path / "out",
                                                  tmp_path / "out" / "long" / "timeseries.csv", 20)
    assert returncode == 130, err
    assert "SIGTERM" in err and "Traceback" not in err and "fem-spin resume" in err
    path = tmp_path / "out" / "long"
    state = json.loads((path / "checkpoint" / "state.json").read_text())
    assert 0 < state["t"] < 1.0
    assert json.loads((path / "summary.json").read_text())["status"].startswith("stopped")
    res = run_cli("resume", str(path), "-q")
    assert res.returncode == 0, res.stderr
    assert_same_series(read_timeseries(reference / "timeseries.csv"),
                       read_timeseries(path / "timeseries.csv"), rtol=1e-8)


class FlakySolve:
    """Wrap a problem's solve_step: fail (or return NaN) on chosen calls."""

    def __init__(self, problem, fail_calls=(), nan_calls=(), fail_from=None):
        self.problem, self.inner = problem, problem.solve_step
        self.fail_calls, self.nan_calls, self.fail_from = set(fail_calls), set(nan_calls), fail_from
        self.calls = 0

    def __call__(self):
        from fem_spin.solvers.newton import NewtonResult

        self.calls += 1
        if self.calls in self.fail_calls or (self.fail_from is not None and self.calls >= self.fail_from):
            return NewtonResult(False, 3, 0, 1.0, "forced failure (test)")
        result = self.inner()
        if self.calls in self.nan_calls:
            self.problem.u.x.array[:] = np.nan      # a 'converged' solve that produced NaN
        return result


def problem_for(raw):
    return type(parse_config(raw).model).problem_class(parse_config(raw), MPI.COMM_WORLD).initialise()


@pytest.mark.parallel
def test_forced_newton_failure_and_nan_are_retried_smaller(tmp_path):
    from fem_spin.simulation import run_single

    reference = run_raw(RAW, out_dir(tmp_path), "reference")
    raw = {**RAW, "name": "flaky"}
    problem = problem_for(raw)
    problem.solve_step = FlakySolve(problem, fail_calls={3, 4}, nan_calls={7})
    directory = Path(out_dir(tmp_path)) / "flaky"
    if MPI.COMM_WORLD.rank == 0:
        directory.mkdir()
    MPI.COMM_WORLD.barrier()
    summary = run_single(parse_config(raw), directory, quiet=True, problem=problem)
    MPI.COMM_WORLD.barrier()          # rank 0 closes the CSV on its way out
    assert summary["status"] == "completed"
    assert summary["rejected_steps"] >= 3
    a = read_timeseries(reference / "timeseries.csv")
    b = read_timeseries(directory / "timeseries.csv")
    assert np.all(np.isfinite(b["P_mean"]))
    # different steps, same physics: within the time-discretisation error
    assert b["P_region"][-1] == pytest.approx(a["P_region"][-1], rel=2e-2)
    assert b["P_mean"][-1] == pytest.approx(a["P_mean"][-1], rel=1e-8)   # conserved exactly


@pytest.mark.parallel
def test_persistent_failure_stops_cleanly_with_the_last_good_state(tmp_path):
    from fem_spin.simulation import run_single

    raw = {**RAW, "name": "failing"}
    problem = problem_for(raw)
    problem.solve_step = FlakySolve(problem, fail_from=6)
    directory = Path(out_dir(tmp_path)) / "failing"
    if MPI.COMM_WORLD.rank == 0:
        directory.mkdir()
    MPI.COMM_WORLD.barrier()
    with pytest.raises(SimulationFailed, match="forced failure"):
        run_single(parse_config(raw), directory, quiet=True, problem=problem)
    MPI.COMM_WORLD.barrier()          # rank 0 writes the summary on its way out
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["status"].startswith("stopped: time step fell below dt_min")
    state = json.loads((directory / "checkpoint" / "state.json").read_text())
    series = read_timeseries(directory / "timeseries.csv")
    # the last accepted step (5 calls succeed; the error control may reject some of them)
    assert state["step"] == series["step"][-1] in (1, 2, 3, 4, 5) and state["t"] == pytest.approx(series["t"][-1])
    assert np.all(np.isfinite(series["P_mean"]))


class _SolvesOnlyShortSteps:
    """A Steppable whose solve fails for steps longer than ``longest``: q = t."""

    def __init__(self, longest):
        self.comm, self.longest, self.tried = MPI.COMM_SELF, longest, []
        self.t = self.t_new = 0.0

    def set_time_step(self, t_new, dt):
        self.t_new, self.dt = t_new, dt

    def solve_step(self):
        from fem_spin.solvers.newton import NewtonResult

        self.tried.append(self.dt)
        ok = self.dt <= self.longest * (1 + 1e-12)
        return NewtonResult(ok, 1, 1, 0.0, "" if ok else "step too long (test)")

    def accept_step(self):
        self.t = self.t_new

    def reject_step(self):
        pass

    def set_scheme_terms(self, dt_implicit, capacity_old):
        pass

    def capacity_values(self):
        return np.array([self.t])

    def error_scale(self):
        return 1.0

    def next_event_time(self, t):
        return None

    def apply_events(self, t):
        return False


def test_a_failing_step_is_tried_at_dt_min_before_the_run_gives_up():
    """Halving 0.4 s would give 0.2 s < dt_min = 0.25 s: the stepper tries 0.25 s (which
    succeeds here) instead of stopping; a step failing at dt_min stops the run."""
    from fem_spin.solvers import TimeStepper

    time_cfg = parse_config(make_raw(time={"t_end": 1.0, "dt_initial": 0.4, "dt_min": 0.25,
                                           "adaptive": False})).time
    problem = _SolvesOnlyShortSteps(longest=0.25)
    stepper = TimeStepper(problem, time_cfg)
    stepper.run()
    assert stepper.t == pytest.approx(1.0) and problem.tried[:2] == [0.4, 0.25]
    with pytest.raises(SimulationFailed, match="step too long"):
        TimeStepper(_SolvesOnlyShortSteps(longest=0.1), time_cfg).run()


@pytest.mark.parallel
def test_steps_above_tolerance_at_dt_min_are_warned_and_counted(tmp_path, capsys):
    """With dt_min too large for the tolerance the stepper cannot shrink the step: the step
    is accepted, but the run warns once and summary.json counts such steps; with a
    reachable tolerance the count is 0."""
    counts = {}
    for name, dt_min in (("capped", 0.01), ("free", 1e-9)):
        raw = json.loads(json.dumps(RAW))
        raw["time"].update({"dt_min": dt_min, "tolerance": 1e-4, "t_end": 0.5})
        raw["name"] = name
        run(parse_config(raw), output_dir=out_dir(tmp_path), quiet=False)
        MPI.COMM_WORLD.barrier()
        summary = json.loads((Path(out_dir(tmp_path)) / name / "summary.json").read_text())
        counts[name] = summary["steps_above_tolerance"]
    out = capsys.readouterr().out
    assert counts["capped"] > 0 and counts["free"] == 0
    if MPI.COMM_WORLD.rank == 0:
        assert out.count("exceeds time.tolerance") == 1
        assert "time.dt_min = 0.01 s" in out


@serial_only()
def test_same_inputs_give_identical_outputs(tmp_path):
    """Two fresh processes on the same file write byte-identical series and profiles."""
    from fem_spin.config import dump_toml

    cfg = tmp_path / "det.toml"
    cfg.write_text(dump_toml({**RAW, "name": "det"}))
    for sub in ("a", "b"):
        res = run_cli("run", str(cfg), "--output-dir", str(tmp_path / sub), "-q")
        assert res.returncode == 0, res.stderr
    for name in ("timeseries.csv", "profiles.csv"):
        assert (tmp_path / "a" / "det" / name).read_text() == (tmp_path / "b" / "det" / name).read_text()


def test_resume_rejects_a_directory_without_a_run(tmp_path):
    res = run_cli("resume", str(tmp_path))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "not a fem_spin run directory" in res.stderr


@pytest.mark.serial  # spawns mpirun: run alone (Makefile test-serial)
@serial_only()
def test_mesh_written_in_parallel_to_xdmf_gives_the_same_run(tmp_path):
    """Large runs: `fem-spin mesh ... -o NAME.xdmf` under mpirun writes the distributed mesh
    and its tags in parallel; a run reading it (every rank its part) equals the run that
    built the mesh itself."""
    from fem_spin.config import dump_toml

    xdmf = tmp_path / "box.xdmf"
    res = run_cli("mesh", "box", "-p", "size=[1e-7,4e-8,4e-8]", "-p", "cells=[12,4,4]", "-o", str(xdmf),
                  mpi=2)
    assert res.returncode == 0, res.stderr
    assert xdmf.exists() and (tmp_path / "box.groups.json").exists()
    raw = json.loads(json.dumps(RAW))
    direct = run_raw(raw, str(tmp_path / "direct"), "xd")
    raw["geometry"] = {"type": "file", "path": str(xdmf)}
    cfg = tmp_path / "xd.toml"
    cfg.write_text(dump_toml({**raw, "name": "xd"}))
    res = run_cli("run", str(cfg), "--output-dir", str(tmp_path / "read"), "-q", mpi=2)
    assert res.returncode == 0, res.stderr
    a = read_timeseries(direct / "timeseries.csv")
    b = read_timeseries(tmp_path / "read" / "xd" / "timeseries.csv")
    # another partition: round-off differs, and the BDF error estimate (up to a sixth
    # difference of states) passes it on to the step sizes at ~1e-8; measured 1.01e-7 relative
    # on P_min ~ 4e-6 (4e-13 absolute)
    assert_same_series(a, b, rtol=3e-7)


@pytest.mark.parallel
def test_stationary_run_resumes_after_its_last_finished_case(tmp_path, monkeypatch):
    """A Hanle sweep of the nonlocal spin valve (6 cases) stopped by SIGTERM after 3: `resume`
    solves only the other 3, and results.csv, the summary and the field index equal those of
    the uninterrupted run to solver tolerance (1e-8: the first resumed case starts its Krylov
    solve from zero, not from the previous case)."""
    from fem_spin.models.valet_fert import ValetFertProblem
    from fem_spin.simulation import Interrupted
    from test_valet_fert import lateral

    raw = lateral(1e-12, precession=True, hanle_fields=[0.0, 0.02, 0.05],
                  configurations=["parallel", "antiparallel"])
    base = out_dir(tmp_path)
    reference = run(parse_config({**raw, "name": "ref"}), output_dir=base, quiet=True)

    solve_cases, solve = ValetFertProblem.solve_cases, ValetFertProblem.solve
    solved = []

    def stopping(self):
        for n, item in enumerate(solve_cases(self)):
            if n == 2 and not self.completed_cases:
                signal.raise_signal(signal.SIGTERM)   # caught: the run stops after this case
            yield item

    def counting(self):
        solved.append(1)
        return solve(self)

    monkeypatch.setattr(ValetFertProblem, "solve_cases", stopping)
    monkeypatch.setattr(ValetFertProblem, "solve", counting)
    with pytest.raises(Interrupted):
        run(parse_config({**raw, "name": "cut"}), output_dir=base, quiet=True)
    path = Path(base) / "cut"
    MPI.COMM_WORLD.barrier()
    assert len(solved) == 3
    assert json.loads((path / "summary.json").read_text())["status"].startswith("stopped")
    resume(path, quiet=True)
    assert len(solved) == 6                       # the 3 finished cases were not solved again
    MPI.COMM_WORLD.barrier()
    ref_rows = (reference / "results.csv").read_text().splitlines()
    rows = (path / "results.csv").read_text().splitlines()
    assert len(rows) == len(ref_rows) == 7 and rows[0] == ref_rows[0]
    header = rows[0].split(",")
    balance = header.index("current_balance_A")     # round-off: compared absolutely
    for line, ref_line in zip(rows[1:], ref_rows[1:]):
        got, want = line.split(","), ref_line.split(",")
        assert got[:2] == want[:2]                 # case number and configuration
        assert abs(float(got[balance])) < 1e-12 and abs(float(want[balance])) < 1e-12
        keep = [i for i in range(2, len(header)) if i != balance]
        np.testing.assert_allclose([float(got[i]) for i in keep], [float(want[i]) for i in keep],
                                   rtol=1e-8, atol=0)
    summary, ref_summary = (json.loads((d / "summary.json").read_text()) for d in (path, reference))
    assert summary["status"] == "completed" and summary["restarts"] == 1
    assert summary["delta_R_ohm"] == pytest.approx(ref_summary["delta_R_ohm"], rel=1e-8, abs=0)
    # one snapshot per configuration: the parallel one from the first job, the other resumed
    pvd = (path / "fields.pvd").read_text()
    assert pvd.count("<DataSet") == (reference / "fields.pvd").read_text().count("<DataSet") == 2
    assert "fields_r1" in pvd


def test_finished_cases_stop_at_a_cut_or_foreign_row(tmp_path):
    """A results.csv cut short by a hard kill (or edited) gives only its complete, in-order
    rows; a foreign header or an unreadable file gives none, and segments are counted from the
    field indexes on disk (summary.json may be missing after a hard kill)."""
    from fem_spin.simulation import _finished_cases

    columns = ["case", "configuration", "field_T", "voltage_V"]
    csv = tmp_path / "results.csv"
    csv.write_text("case,configuration,field_T,voltage_V\n0,parallel,0.0,1.5e-06\n"
                   "1,parallel,0.02,1.25e-06\n2,parall")
    rows, segments = _finished_cases(tmp_path, columns, MPI.COMM_SELF)
    assert rows == [{"configuration": "parallel", "field_T": 0.0, "voltage_V": 1.5e-06},
                    {"configuration": "parallel", "field_T": 0.02, "voltage_V": 1.25e-06}]
    assert segments == 0
    csv.write_text("case,configuration,field_T,voltage_V\n0,parallel,0.0,1.5e-06\n2,parallel,0.1,1e-06\n")
    assert len(_finished_cases(tmp_path, columns, MPI.COMM_SELF)[0]) == 1
    csv.write_text("case,other\n0,1\n")
    assert _finished_cases(tmp_path, columns, MPI.COMM_SELF)[0] == []
    csv.write_bytes(b"\xff\xfe\x00bad")
    assert _finished_cases(tmp_path, columns, MPI.COMM_SELF)[0] == []
    for name in ("fields.pvd", "fields_r1.pvd"):
        (tmp_path / name).write_text("<VTKFile/>")
    assert _finished_cases(tmp_path, columns, MPI.COMM_SELF)[1] == 2
