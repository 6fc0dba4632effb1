"""Run driver: one mechanism for every model.

``run(config)`` creates the run directory, builds the problem the [model] section
names, steps it with the shared :class:`~fem_spin.solvers.TimeStepper`, writes the
CSV time series (rank 0), the fields (parallel VTX + VTK) at log-spaced snapshot
times, a summary, plots and a 3-D picture. A [sweep] runs one variant per value
into sub-directories and adds comparison plots. SIGTERM/SIGINT stop the run
cleanly: files are closed and stay readable.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
from mpi4py import MPI

from fem_spin.config import ConfigError, RunConfig, dump_toml, parse_config
from fem_spin.io import FieldWriter, Progress, RunDirectory, TimeSeriesWriter, rank0_print
from fem_spin.solvers import SimulationFailed, TimeStepper

__all__ = ["run", "resume", "run_single", "run_steady", "snapshot_times", "output_times", "sample",
           "Interrupted", "Paused"]


class Interrupted(RuntimeError):
    """The run received SIGINT/SIGTERM; outputs written so far are closed and valid."""


def snapshot_times(t_end: float, dt_initial: float, count: int) -> list[float]:
    """``count`` log-spaced times between ~dt_initial and t_end (t_end included)."""
    if count <= 0:
        return [t_end]
    start = min(max(dt_initial * 10, t_end * 1e-4), t_end)
    times = np.geomspace(start, t_end, count) if count > 1 else np.array([t_end])
    return sorted({float(f"{t:.6g}") for t in times[:-1]} | {t_end})


def output_times(config: RunConfig) -> list[float]:
    """The field snapshot times of a run: ``output.snapshot_times`` if given, else
    ``field_snapshots`` log-spaced ones; t_end always."""
    out, t_end = config.output, config.time.t_end
    if out.snapshot_times:
        return sorted({float(t) for t in out.snapshot_times if t < t_end} | {t_end})
    return snapshot_times(t_end, config.time.dt_initial, out.field_snapshots)


class _StopRequest:
    """SIGTERM/SIGINT handling: the first signal asks the run to stop at the end of the
    current step (all ranks agree on the step, so nothing deadlocks, and the state is an
    accepted one that a checkpoint can hold); a second one stops at once."""

    def __init__(self):
        self.signal_name: str | None = None

    def handler(self, signum, frame):
        name = signal.Signals(signum).name
        if self.signal_name is not None:
            raise Interrupted(f"stopped by a second {name}")
        self.signal_name = name


@contextlib.contextmanager
def _stop_on_signals():
    request = _StopRequest()
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, request.handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield request
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


class Paused(RuntimeError):
    """time.max_steps was reached: the run stopped with a checkpoint (fem-spin resume)."""


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label) or "run"


def run_single(config: RunConfig, directory: Path, comm: MPI.Comm = MPI.COMM_WORLD,
               quiet: bool = False, label: str = "", problem=None, resume: bool = False) -> dict:
    """Run one configuration into ``directory`` (which must exist); returns the summary.

    With ``resume`` the run continues from ``directory/checkpoint`` (io/checkpoint.py), on
    any number of ranks: the time series continues after the checkpoint's step, fields go
    to ``fields_rK.*`` (K = restart count; ``fields.pvd`` indexes all VTK snapshots)."""
    from fem_spin.io import checkpoint as ckpt

    cls = type(config.model).problem_class
    if cls.steady:
        return run_steady(config, directory, comm, quiet, label, problem, resume=resume)
    wall0 = time.perf_counter()
    state = ckpt.read_checkpoint_state(directory) if resume else None
    if resume:
        problem = cls(config, comm, mesh_data=ckpt.read_checkpoint_mesh(directory, comm)).initialise()
        history = ckpt.load_checkpoint_functions(directory, problem)
    problem = problem or cls(config, comm).initialise()
    out = config.output
    times = output_times(config)
    columns = ["step", "t", "dt", "newton_iterations", "linear_iterations", "rejected",
               *problem.observable_names]
    restarts = state["restarts"] + 1 if resume else 0
    summary = {"label": label, "model": type(config.model).__name__, "dofs": problem.num_dofs,
               "ranks": comm.size, "status": "running", "restarts": restarts}
    progress = Progress(config.time.t_end, out.progress_interval, comm, label)
    if not quiet:
        what = f"resuming at t = {state['t']:g} s (step {state['step']})" if resume else \
            f"t_end = {config.time.t_end:g} s"
        rank0_print(f"  {label + ': ' if label else ''}{problem.num_dofs} dofs on {comm.size} rank(s), "
                    f"{what}", comm=comm)

    series = TimeSeriesWriter(directory / "timeseries.csv", columns, comm,
                              continue_after_step=state["step"] if resume else None)
    problem.update_output_functions()
    fields = FieldWriter(comm, directory, problem.output_functions(),
                         basename=f"fields_r{restarts}" if resume else "fields",
                         merge_into="fields.pvd" if resume else None,
                         keep_until=state["t"] if resume else None)
    totals = dict(state["totals"]) if resume else {"newton": 0, "linear": 0, "rejected": 0}
    totals.setdefault("above_tolerance", 0)
    wall_before = state["wall_time_s"] if resume else 0.0
    probe = problem.profile_probe() if hasattr(problem, "profile_probe") else None
    profiles: dict[float, np.ndarray] = ({float(t): np.asarray(v) for t, v in state["profiles"].items()}
                                         if resume else {})
    stepper = TimeStepper(problem, config.time, output_times=times)
    if resume:
        stepper.restore(state["t"], state["step"], state["dt"], history)
    step0 = stepper.step
    last_checkpoint = [time.perf_counter()]

    def checkpoint():
        ckpt.write_checkpoint(directory, problem, stepper, {
            "totals": totals, "wall_time_s": wall_before + time.perf_counter() - wall0,
            "profiles": {repr(t): v.tolist() for t, v in profiles.items()}, "restarts": restarts,
            "source": config.source})
        last_checkpoint[0] = time.perf_counter()

    def record(info, request):
        totals["newton"] += info.newton_iterations
        totals["linear"] += info.linear_iterations
        totals["rejected"] += info.rejected
        if info.above_tolerance:
            if totals["above_tolerance"] == 0:
                rank0_print(f"  warning: at t = {info.t:.6g} s the time error estimate "
                            f"{info.error_estimate:.3g} exceeds time.tolerance = "
                            f"{config.time.tolerance:g} at time.dt_min = {config.time.dt_min:g} s; "
                            f"such steps are counted in summary.json (steps_above_tolerance)",
                            comm=comm)
            totals["above_tolerance"] += 1
        series.write({"step": info.step, "t": info.t, "dt": info.dt,
                      "newton_iterations": info.newton_iterations,
                      "linear_iterations": info.linear_iterations, "rejected": info.rejected,
                      **problem.observables()})
        if not quiet:
            progress.update(info)
        # One collective decision per step: stop (signal, max_steps) and/or checkpoint.
        due = (out.checkpoint_interval > 0
               and time.perf_counter() - last_checkpoint[0] >= out.checkpoint_interval)
        paused = config.time.max_steps > 0 and info.step - step0 >= config.time.max_steps \
            and info.t < config.time.t_end
        flags = np.array([request.signal_name is not None, due, paused], dtype=np.int32)
        comm.Allreduce(MPI.IN_PLACE, flags, op=MPI.MAX)
        if flags[0]:
            raise Interrupted(f"stopped by {request.signal_name or 'a signal on another rank'}")
        if flags[2]:
            raise Paused(f"paused after {config.time.max_steps} steps (time.max_steps)")
        if flags[1]:
            checkpoint()

    def snapshot(t):
        problem.update_output_functions()
        fields.write(t)
        if probe is not None:
            line, function = probe
            profiles[t] = line.evaluate(function)

    stepper.on_output = snapshot
    try:
        with _stop_on_signals() as request:
            stepper.on_step = lambda info: record(info, request)
            if not resume:
                series.write({"step": 0, "t": 0.0, "dt": 0.0, "newton_iterations": 0,
                              "linear_iterations": 0, "rejected": 0, **problem.observables()})
                snapshot(0.0)
            stepper.run()
        summary["status"] = "completed"
    except (SimulationFailed, Interrupted, Paused) as exc:
        # The stepper stops at an accepted state (a failed step was rolled back), so the
        # checkpoint holds the last good state; a second signal may hit mid-step, then the
        # previous checkpoint stays.
        summary["status"] = f"stopped: {exc}"
        at_accepted_step = not str(exc).startswith("stopped by a second")
        if at_accepted_step and out.checkpoint_interval >= 0:
            if isinstance(exc, SimulationFailed):
                problem.reject_step()
            checkpoint()
            summary["checkpoint"] = str(directory / ckpt.CHECKPOINT_DIR)
        raise
    finally:
        series.close()
        fields.close()
        summary.update(steps=stepper.step, t_final=stepper.t, newton_iterations=totals["newton"],
                       linear_iterations=totals["linear"], rejected_steps=totals["rejected"],
                       steps_above_tolerance=totals["above_tolerance"],
                       wall_time_s=wall_before + time.perf_counter() - wall0,
                       final=problem.observables(), snapshot_times=[0.0, *times])
        if comm.rank == 0 and profiles:
            _write_profiles(directory / "profiles.csv", probe[0], profiles)
        if comm.rank == 0 and hasattr(problem, "analyse") and summary["status"] == "completed":
            from fem_spin.io.timeseries import read_timeseries

            summary.update(problem.analyse(read_timeseries(directory / "timeseries.csv")))
        if comm.rank == 0:
            (directory / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    if hasattr(problem, "write_extra_outputs"):
        problem.write_extra_outputs(directory, times)
    problem.destroy()
    return summary


def _finished_cases(directory: Path, columns: list[str], comm: MPI.Comm) -> tuple[list[dict], int]:
    """Rows of a stopped stationary run's results.csv (numbers as floats; up to the first
    incomplete or out-of-order row) and the number of field segments it wrote (fields.pvd,
    fields_r1.pvd, ...). Read on rank 0; an unreadable file counts as no finished case."""
    import csv

    rows, segments = [], 0
    if comm.rank == 0:
        table = directory / "results.csv"
        try:
            with open(table, newline="") as f:
                lines = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error):
            lines = []
        if lines and lines[0] == columns:
            for index, line in enumerate(lines[1:]):
                if len(line) != len(columns) or line[0] != str(index):
                    break    # a row cut short by a hard kill, or not ours: solve it again
                row = {}
                for name, text in zip(columns[1:], line[1:]):
                    try:
                        row[name] = float(text)
                    except ValueError:
                        row[name] = text
                rows.append(row)
        segments = int((directory / "fields.pvd").exists()) + len(list(directory.glob("fields_r*.pvd")))
    return comm.bcast((rows, segments), root=0)


def run_steady(config: RunConfig, directory: Path, comm: MPI.Comm = MPI.COMM_WORLD,
               quiet: bool = False, label: str = "", problem=None, resume: bool = False) -> dict:
    """Run a stationary model: every case it solves becomes a row of ``results.csv``
    (rank 0, flushed per row); cases that ask for it are written as field snapshots
    (parallel VTX + VTK, snapshot k = k-th written case); ``summary.json`` holds the
    model's summary.

    With ``resume`` a model that supports it (``resumable_cases``) takes the rows a stopped
    run finished as solved and continues with the next case; the fields of the new segment
    go to ``fields_rK.*`` and are indexed in ``fields.pvd`` with the earlier ones."""
    cls = type(config.model).problem_class
    wall0 = time.perf_counter()
    problem = problem or cls(config, comm).initialise()
    columns = ["case", *problem.result_columns]
    finished, segments = _finished_cases(directory, columns, comm) if resume else ([], 0)
    if not problem.resumable_cases:
        finished = []
    problem.completed_cases = finished
    done = len(finished)
    restarts = max(segments, 1) if done else 0
    summary = {"label": label, "model": type(config.model).__name__, "dofs": problem.num_dofs,
               "ranks": comm.size, "status": "running", "restarts": restarts}
    if not quiet:
        what = f"resuming after case {done - 1}" if done else "stationary"
        rank0_print(f"  {label + ': ' if label else ''}{problem.num_dofs} dofs on {comm.size} rank(s), "
                    f"{what}", comm=comm)
    table = TimeSeriesWriter(directory / "results.csv", columns, comm,
                             continue_after_step=done - 1 if done else None)
    fields = FieldWriter(comm, directory, problem.output_functions(),
                         basename=f"fields_r{restarts}" if done else "fields",
                         merge_into="fields.pvd" if done else None, keep_until=-1.0)
    written, count = [], 0
    try:
        with _stop_on_signals() as request:
            for row, write_fields in problem.solve_cases():
                if count < done:
                    # finished before the stop: its row exists, and so does its snapshot (the
                    # snapshot is written before the row); index entries after it are dropped
                    if write_fields:
                        written.append(count)
                        fields.keep_until = len(written) - 1.0
                    count += 1
                    continue
                if write_fields:
                    problem.update_output_functions()
                    fields.write(float(len(written)))
                    written.append(count)
                table.write({"case": count, **row})
                count += 1
                if not quiet and comm.rank == 0:
                    shown = ", ".join(f"{k} = {v:.6g}" if isinstance(v, float) else f"{k} = {v}"
                                      for k, v in row.items())
                    print(f"  case {count - 1}: {shown}", flush=True)
                if comm.allreduce(request.signal_name is not None, op=MPI.LOR):
                    raise Interrupted(f"stopped by {request.signal_name or 'a signal on another rank'}")
        summary["status"] = "completed"
        summary.update(problem.summary())
    except Interrupted as exc:
        summary["status"] = f"stopped: {exc}"
        raise
    finally:
        table.close()
        fields.close()
        summary.update(cases=count, field_snapshot_cases=written, wall_time_s=time.perf_counter() - wall0)
        if comm.rank == 0:
            (directory / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    problem.destroy()
    return summary


def sample(raw: dict, times, quantity: Callable, comm: MPI.Comm = MPI.COMM_WORLD) -> np.ndarray:
    """Run a configuration dict without writing anything and return ``quantity(problem)``
    at ``times`` (e.g. ``lambda p: p.mean_polarization()``): the loop of parameter studies."""
    config = parse_config(raw)
    problem = type(config.model).problem_class(config, comm).initialise()
    values = {}
    TimeStepper(problem, config.time, output_times=times,
                on_output=lambda t: values.__setitem__(t, quantity(problem))).run()
    problem.destroy()
    return np.array([values[t] for t in times])


def _write_profiles(path: Path, line, profiles: dict) -> None:
    times = sorted(profiles)
    header = "distance_m," + ",".join(f"t={t:.6g}" for t in times)
    rows = np.column_stack([line.distance] + [profiles[t] for t in times])
    np.savetxt(path, rows, delimiter=",", header=header, comments="", fmt="%.10g")


def run(config: RunConfig, comm: MPI.Comm = MPI.COMM_WORLD, overwrite: bool = False,
        output_dir: str | Path | None = None, quiet: bool = False) -> Path:
    """Run a configuration (and its sweep) into ``<output.directory>/<name>``; returns that path."""
    rundir = RunDirectory(output_dir or config.output.directory, config.name, comm, overwrite)
    rundir.write_text("config.toml", dump_toml(config.raw))
    variants = config.variants()
    if not quiet:
        rank0_print(f"fem-spin: running '{config.name}' ({len(variants)} run(s)) -> {rundir.path}",
                    comm=comm)
    summaries = {}
    for label, cfg in variants:
        directory = rundir.path / _slug(label) if label else rundir.path
        if comm.rank == 0:
            directory.mkdir(parents=True, exist_ok=True)
        comm.barrier()
        summaries[label] = run_single(cfg, directory, comm, quiet, label)
    if comm.rank == 0 and len(variants) > 1:
        (rundir.path / "summary.json").write_text(json.dumps(summaries, indent=2, default=float) + "\n")
    _post_process(config, rundir.path, variants, comm, quiet)
    if not quiet:
        rank0_print(f"fem-spin: results in {rundir.path}", comm=comm)
    return rundir.path


def resume(run_dir: str | Path, comm: MPI.Comm = MPI.COMM_WORLD, quiet: bool = False) -> Path:
    """Continue a stopped run (SIGTERM, a failure, time.max_steps) from its checkpoints, on
    any number of ranks. Variants of a sweep that completed are kept, stopped ones resume
    from their checkpoint, ones that never started run from t = 0."""
    from fem_spin.io import checkpoint as ckpt

    path = Path(run_dir)
    config_file = path / "config.toml"
    if not comm.bcast(config_file.exists() if comm.rank == 0 else None, root=0):
        raise FileNotFoundError(f"{path}: not a run directory (no config.toml)")
    import tomllib

    raw = tomllib.loads(config_file.read_text())
    source = str(config_file)
    config = parse_config(raw, source=source, base_dir=path)
    steady = type(config.model).problem_class.steady
    variants = config.variants()
    if not quiet:
        rank0_print(f"fem-spin: resuming '{config.name}' ({len(variants)} run(s)) in {path}", comm=comm)
    summaries = {}
    for label, cfg in variants:
        directory = path / _slug(label) if label else path
        summary_file = directory / "summary.json"
        done = comm.bcast(summary_file.exists() and json.loads(summary_file.read_text()).get("status")
                          == "completed" if comm.rank == 0 else None, root=0)
        if done:
            summaries[label] = json.loads(summary_file.read_text()) if comm.rank == 0 else {}
            continue
        # a stationary run resumes from its results.csv (run_steady); a transient one from
        # its checkpoint, if it wrote one before it stopped
        has = steady or comm.bcast(ckpt.has_checkpoint(directory) if comm.rank == 0 else None, root=0)
        if comm.rank == 0:
            directory.mkdir(parents=True, exist_ok=True)
        comm.barrier()
        summaries[label] = run_single(cfg, directory, comm, quiet, label, resume=has)
    if comm.rank == 0 and len(variants) > 1:
        (path / "summary.json").write_text(json.dumps(summaries, indent=2, default=float) + "\n")
    _post_process(config, path, variants, comm, quiet)
    if not quiet:
        rank0_print(f"fem-spin: results in {path}", comm=comm)
    return path


def _post_process(config, path: Path, variants, comm, quiet) -> None:
    """Plots (rank 0) and 3-D pictures; optional extras never fail a finished run."""
    from fem_spin.viz import plots

    if config.output.plot and comm.rank == 0 and not type(config.model).problem_class.steady:
        dirs = {label or config.name: (path / _slug(label) if label else path) for label, _ in variants}
        for png in plots.plot_run(dirs, path, type(config.model).problem_class):
            if not quiet:
                print(f"  plot: {png}", flush=True)
    compare = getattr(type(config.model).problem_class, "compare_variants", None)
    if compare is not None and comm.rank == 0 and len(variants) > 1:
        dirs = {label: path / _slug(label) for label, _ in variants}
        for written in compare(dirs, path):
            if not quiet:
                print(f"  comparison: {written}", flush=True)
    problem_class = type(config.model).problem_class
    if config.output.plot and comm.rank == 0 and problem_class.steady:
        dirs = {label or config.name: (path / _slug(label) if label else path) for label, _ in variants}
        for png in problem_class.plot_results(dirs, path, config.sweep):
            if not quiet:
                print(f"  plot: {png}", flush=True)
    if config.output.render and comm.rank == 0:
        from fem_spin.viz import render

        for label, _ in variants:
            d = path / _slug(label) if label else path
            try:
                if problem_class.steady:
                    pngs = problem_class.render(d, title=label or config.name)
                elif hasattr(problem_class, "render_transient"):
                    pngs = problem_class.render_transient(d, title=label or config.name)
                else:
                    pngs = [render.render_result(d, title=label or config.name),
                            render.render_series(d, title=label or config.name)]
                if not quiet:
                    for png in pngs:
                        print(f"  picture: {png}", flush=True)
            except render.RenderUnavailable as exc:
                if not quiet:
                    print(f"  picture skipped: {exc}", flush=True)
    comm.barrier()
