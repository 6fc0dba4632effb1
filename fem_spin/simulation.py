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
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from mpi4py import MPI

from fem_spin.config import ConfigError, RunConfig, dump_toml, parse_config
from fem_spin.io import FieldWriter, Progress, RunDirectory, TimeSeriesWriter, rank0_print
from fem_spin.solvers import SimulationFailed, TimeStepper

__all__ = ["run", "resume", "run_single", "run_steady", "snapshot_times", "output_times", "sample",
           "Interrupted", "SetupInterrupted", "Paused", "OutputFailed"]


class Interrupted(RuntimeError):
    """The run received SIGINT/SIGTERM; outputs written so far are closed and valid."""


class SetupInterrupted(Interrupted):
    """SIGINT/SIGTERM arrived before the run directory was created: nothing was written."""


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
    accepted one that a checkpoint can hold). A second one stops at once, but only while a
    step is being computed (``armed``): while files are closed and summary.json written,
    further signals are only counted, so a scheduler's repeated SIGTERM never cuts them.

    SIGUSR2 is a stop request relayed by ``fem-spin-mpirun`` (mpi_launcher.py: mpirun's own
    SIGTERM handling kills the ranks after 250 ms); it never escalates, and neither does a
    signal within :attr:`GRACE_S` of the first (a scheduler that signals mpirun and every rank
    delivers the same request twice)."""

    GRACE_S = 1.0

    def __init__(self):
        self.signal_name: str | None = None
        self.first_at = 0.0
        self.armed = False
        #: during setup (nothing written yet) the first signal stops at once
        self.immediate = False
        self.on_setup_stop: Callable[[], None] | None = None

    def handler(self, signum, frame):
        name = signal.Signals(signum).name
        relayed = signum == getattr(signal, "SIGUSR2", None)
        if relayed:
            name = "SIGTERM (relayed by fem-spin-mpirun)"
        if self.immediate:
            self.immediate = False
            message = f"stopped by {name} while setting the run up; nothing was written"
            if MPI.COMM_WORLD.size > 1:
                # Each rank gets the signal at its own moment, maybe inside a collective of the
                # setup (mesh distribution): an exception would leave the others waiting there.
                # Nothing but the staged directory exists yet, so remove it and leave at once.
                if self.on_setup_stop is not None:
                    self.on_setup_stop()
                if MPI.COMM_WORLD.rank == 0:
                    print(f"fem-spin: error: {message}", file=sys.stderr, flush=True)
                os._exit(130)
            raise SetupInterrupted(message)
        if self.signal_name is None:
            self.signal_name, self.first_at = name, time.monotonic()
            return
        if self.armed and not relayed and time.monotonic() - self.first_at > self.GRACE_S:
            self.armed = False
            raise Interrupted(f"stopped by a second {name}")


_ACTIVE_REQUEST: list[_StopRequest] = []


@contextlib.contextmanager
def _stop_on_signals():
    """The stop request of the whole command: nested uses share the outermost one, whose
    handlers stay installed until the command has written its last file."""
    if _ACTIVE_REQUEST:
        yield _ACTIVE_REQUEST[-1]
        return
    request = _StopRequest()
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2):
        try:
            previous[sig] = signal.signal(sig, request.handler)
        except ValueError:  # not the main thread
            pass
    _ACTIVE_REQUEST.append(request)
    try:
        yield request
    finally:
        _ACTIVE_REQUEST.pop()
        for sig, h in previous.items():
            if sig == signal.SIGUSR2 and h in (signal.SIG_DFL, None):
                # a relayed stop can arrive late (fem-spin-mpirun relays every signal it
                # gets): its default action would kill a process that is exiting cleanly
                h = signal.SIG_IGN
            signal.signal(sig, h)


@contextlib.contextmanager
def _armed(request: _StopRequest):
    request.armed = True
    try:
        yield
    finally:
        request.armed = False


class OutputFailed(RuntimeError):
    """A result file could not be written (disk full, I/O error); what was written before is
    closed and consistent."""


def _write_json_atomic(path: Path, data) -> None:
    """Write ``path`` through a temporary file and a rename: a full disk or a kill leaves the
    previous version, never half a file. Rank 0 only."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(_finite_or_null(data), indent=2, default=_json_default) + "\n")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputFailed(f"cannot write {path}: {exc.strerror or exc}") from None


def _json_default(value):
    value = float(value)
    return None if not np.isfinite(value) else value


def _finite_or_null(data):
    """NaN and infinities as JSON null: strict JSON readers reject NaN, and a number that is
    not there (e.g. the mean over an empty region) is better shown as missing."""
    if isinstance(data, dict):
        return {k: _finite_or_null(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite_or_null(v) for v in data]
    if isinstance(data, (float, np.floating)) and not np.isfinite(data):
        return None
    return data


#: a field snapshot or checkpoint is written only if the file system keeps at least this many
#: bytes free besides the estimated size (ADIOS2 aborts the process on a full disk)
DISK_RESERVE_BYTES = 4 << 20


def _free_bytes(directory: Path) -> int:
    import shutil

    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return 0


def _ensure_space(directory: Path, needed: int, what: str, comm: MPI.Comm) -> None:
    """Raise :class:`OutputFailed` on every rank if any rank's file system lacks ``needed``
    bytes (plus the reserve) for ``what``: checked before the write, since a parallel writer
    that runs out of space mid-write cannot be stopped cleanly."""
    short = comm.allreduce(_free_bytes(directory) < needed + DISK_RESERVE_BYTES, op=MPI.LOR)
    if short:
        raise OutputFailed(f"not enough free disk space in {directory} to write {what} (about "
                           f"{(needed + DISK_RESERVE_BYTES) / 1e6:.3g} MB needed)")


def _directory_bytes(paths) -> int:
    total = 0
    for p in paths:
        p = Path(p)
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total


class Paused(RuntimeError):
    """time.max_steps was reached: the run stopped with a checkpoint (fem-spin resume)."""


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label) or "run"


def run_single(config: RunConfig, directory: Path, comm: MPI.Comm = MPI.COMM_WORLD,
               quiet: bool = False, label: str = "", problem=None, resume: bool = False,
               config_changes: list | None = None) -> dict:
    """Run one configuration into ``directory`` (which must exist); returns the summary.

    With ``resume`` the run continues from ``directory/checkpoint`` (io/checkpoint.py, verified
    against its manifest first), on any number of ranks: the time series continues after the
    checkpoint's step, fields go to ``fields_rK.*`` (K = restart count; ``fields.pvd`` indexes
    all VTK snapshots). A completed run ends with a checkpoint too (unless
    ``output.checkpoint_interval`` is 0), so that ``fem-spin resume --t-end`` can extend it."""
    from fem_spin.io import checkpoint as ckpt

    cls = type(config.model).problem_class
    if cls.steady:
        return run_steady(config, directory, comm, quiet, label, problem, resume=resume)
    wall0 = time.perf_counter()
    state = ckpt.read_checkpoint_state(directory, comm) if resume else None
    if resume:
        mesh_data = ckpt.read_checkpoint_mesh(directory, comm, state)
        problem = cls(config, comm, mesh_data=mesh_data).initialise()
        history = ckpt.load_checkpoint_functions(directory, problem, state)
    problem = problem or cls(config, comm).initialise()
    out = config.output
    times = output_times(config)
    columns = ["step", "t", "dt", "newton_iterations", "linear_iterations", "rejected",
               *problem.observable_names]
    restarts = state["restarts"] + 1 if resume else 0
    summary = {"label": label, "model": type(config.model).__name__, "dofs": problem.num_dofs,
               "ranks": comm.size, "status": "running", "restarts": restarts}
    if config_changes:
        summary["config_changes"] = config_changes
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
    # bytes a field snapshot (VTX data + a VTK piece with its mesh) and a checkpoint may take
    snapshot_bytes = 400 * problem.num_dofs
    checkpoint_bytes = [1000 * problem.num_dofs]

    def checkpoint():
        previous = comm.bcast(_directory_bytes([directory / ckpt.CHECKPOINT_DIR])
                              if comm.rank == 0 else None, root=0)
        _ensure_space(directory, max(previous, checkpoint_bytes[0]), "a checkpoint", comm)
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
        write_error = ""
        try:
            series.write({"step": info.step, "t": info.t, "dt": info.dt,
                          "newton_iterations": info.newton_iterations,
                          "linear_iterations": info.linear_iterations, "rejected": info.rejected,
                          **problem.observables()})
        except OSError as exc:   # rank 0's CSV: the decision to stop is taken by all ranks below
            write_error = f"cannot write {series.path}: {exc.strerror or exc}"
        if not quiet:
            progress.update(info)
        # One collective decision per step: stop (signal, max_steps, output error) and/or checkpoint.
        due = (out.checkpoint_interval > 0
               and time.perf_counter() - last_checkpoint[0] >= out.checkpoint_interval)
        paused = config.time.max_steps > 0 and info.step - step0 >= config.time.max_steps \
            and info.t < config.time.t_end
        flags = np.array([request.signal_name is not None, due, paused, bool(write_error)],
                         dtype=np.int32)
        comm.Allreduce(MPI.IN_PLACE, flags, op=MPI.MAX)
        if flags[3]:
            raise OutputFailed(comm.bcast(write_error, root=0))
        if flags[0]:
            raise Interrupted(f"stopped by {request.signal_name or 'a signal on another rank'}")
        if flags[2]:
            raise Paused(f"paused after {config.time.max_steps} steps (time.max_steps)")
        if flags[1]:
            checkpoint()

    def snapshot(t):
        problem.update_output_functions()
        _ensure_space(directory, snapshot_bytes, f"the field snapshot at t = {t:g} s", comm)
        fields.write(t)
        if probe is not None:
            line, function = probe
            profiles[t] = line.evaluate(function)

    stepper.on_output = snapshot
    failure = None
    try:
        with _stop_on_signals() as request, _armed(request):
            stepper.on_step = lambda info: record(info, request)
            if not resume:
                series.write({"step": 0, "t": 0.0, "dt": 0.0, "newton_iterations": 0,
                              "linear_iterations": 0, "rejected": 0, **problem.observables()})
                snapshot(0.0)
            stepper.run()
        summary["status"] = "completed"
        if out.checkpoint_interval > 0:
            checkpoint()   # the final state: fem-spin resume --t-end continues from it
            summary["checkpoint"] = str(directory / ckpt.CHECKPOINT_DIR)
    except (SimulationFailed, Interrupted, Paused, OutputFailed) as exc:
        # The stepper stops at an accepted state (a failed step was rolled back), so the
        # checkpoint holds the last good state; a second signal may hit mid-step, then the
        # previous checkpoint stays.
        failure = exc
        summary["status"] = f"stopped: {exc}"
        at_accepted_step = not str(exc).startswith("stopped by a second")
        if at_accepted_step and not isinstance(exc, OutputFailed):
            if isinstance(exc, SimulationFailed):
                problem.reject_step()
            try:
                checkpoint()
                summary["checkpoint"] = str(directory / ckpt.CHECKPOINT_DIR)
            except OutputFailed as write_exc:
                summary["checkpoint_error"] = str(write_exc)
        raise
    finally:
        series.close()
        fields.close()
        summary.update(steps=stepper.step, t_final=stepper.t, newton_iterations=totals["newton"],
                       linear_iterations=totals["linear"], rejected_steps=totals["rejected"],
                       steps_above_tolerance=totals["above_tolerance"],
                       wall_time_s=wall_before + time.perf_counter() - wall0,
                       final=problem.observables(), snapshot_times=[0.0, *times])
        _finish_outputs(directory, summary, problem, probe, profiles, comm, failure)
    if hasattr(problem, "write_extra_outputs"):
        problem.write_extra_outputs(directory, times)
    problem.destroy()
    return summary


def _finish_outputs(directory, summary, problem, probe, profiles, comm, failure) -> None:
    """Profiles, the model's analysis and summary.json (rank 0). When the run is already
    stopping for another reason, a write error here is reported, not raised over it."""
    error = ""
    if comm.rank == 0:
        try:
            if profiles:
                _write_profiles(directory / "profiles.csv", probe[0], profiles)
            if (not problem.steady and hasattr(problem, "analyse")
                    and summary["status"] == "completed"):
                from fem_spin.io.timeseries import read_timeseries

                summary.update(problem.analyse(read_timeseries(directory / "timeseries.csv")))
        except OSError as exc:
            error = f"cannot write the results in {directory}: {exc.strerror or exc}"
        try:
            _write_json_atomic(directory / "summary.json", summary)
        except OutputFailed as exc:
            error = error or str(exc)
    error = comm.bcast(error, root=0)
    if error:
        if failure is None:
            raise OutputFailed(error)
        rank0_print(f"  warning: {error}", comm=comm)


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
    snapshot_bytes = 400 * problem.num_dofs
    failure = None
    try:
        with _stop_on_signals() as request, _armed(request):
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
                    _ensure_space(directory, snapshot_bytes, f"the fields of case {count}", comm)
                    fields.write(float(len(written)))
                    written.append(count)
                write_error = ""
                try:
                    table.write({"case": count, **row})
                except OSError as exc:
                    write_error = f"cannot write {table.path}: {exc.strerror or exc}"
                if comm.allreduce(bool(write_error), op=MPI.LOR):
                    raise OutputFailed(comm.bcast(write_error, root=0))
                count += 1
                if not quiet and comm.rank == 0:
                    shown = ", ".join(f"{k} = {v:.6g}" if isinstance(v, float) else f"{k} = {v}"
                                      for k, v in row.items())
                    print(f"  case {count - 1}: {shown}", flush=True)
                if comm.allreduce(request.signal_name is not None, op=MPI.LOR):
                    raise Interrupted(f"stopped by {request.signal_name or 'a signal on another rank'}")
        summary["status"] = "completed"
        summary.update(problem.summary())
    except (Interrupted, OutputFailed) as exc:
        failure = exc
        summary["status"] = f"stopped: {exc}"
        raise
    finally:
        table.close()
        fields.close()
        summary.update(cases=count, field_snapshot_cases=written, wall_time_s=time.perf_counter() - wall0)
        _finish_outputs(directory, summary, problem, None, {}, comm, failure)
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


def _check_resources(config: RunConfig, force: bool, max_dofs, max_memory) -> None:
    from fem_spin.limits import check_resources

    check_resources(config, max_dofs=max_dofs, max_memory=max_memory, force=force)


def _run_variants(config: RunConfig, path: Path, variants, comm, quiet, request, first_problem=None,
                  resume_from: dict | None = None, config_changes=None) -> None:
    """Run (or resume) every variant into ``path``; then the comparison summary and pictures."""
    summaries = {}
    for index, (label, cfg) in enumerate(variants):
        directory = path / _slug(label) if label else path
        plan = (resume_from or {}).get(label, "run")
        if plan == "done":
            summaries[label] = json.loads((directory / "summary.json").read_text()) \
                if comm.rank == 0 else {}
            continue
        if comm.rank == 0:
            directory.mkdir(parents=True, exist_ok=True)
        comm.barrier()
        summaries[label] = run_single(cfg, directory, comm, quiet, label,
                                      problem=first_problem if index == 0 else None,
                                      resume=plan == "resume", config_changes=config_changes)
    if len(variants) > 1:
        error = ""
        if comm.rank == 0:
            try:
                _write_json_atomic(path / "summary.json", summaries)
            except OutputFailed as exc:
                error = str(exc)
        error = comm.bcast(error, root=0)
        if error:
            raise OutputFailed(error)
    if comm.allreduce(request.signal_name is not None, op=MPI.LOR):
        raise Interrupted(f"stopped by {request.signal_name or 'a signal on another rank'} after "
                          f"the runs completed, before their plots")
    _post_process(config, path, variants, comm, quiet)


def run(config: RunConfig, comm: MPI.Comm = MPI.COMM_WORLD, overwrite: bool = False,
        output_dir: str | Path | None = None, quiet: bool = False, *, force: bool = False,
        max_dofs: float | None = None, max_memory: float | None = None) -> Path:
    """Run a configuration (and its sweep) into ``<output.directory>/<name>``; returns that path.

    Nothing is created before the resource estimate has passed (``fem_spin.limits``; ``force``
    skips the refusal) and the first variant has been set up (mesh, forms, solver) in a staged
    directory beside the final one (io/rundir.py): a configuration that fails there leaves no
    trace, and with ``overwrite`` the previous results stay untouched. Only a fem_spin run
    directory is ever replaced, and never one a running process holds."""
    import sys
    import tomllib

    from fem_spin.io.rundir import config_digest

    _check_resources(config, force, max_dofs, max_memory)
    rundir = RunDirectory(output_dir or config.output.directory, config.name, comm, overwrite)
    rundir.check()
    text = dump_toml(config.raw)
    written = tomllib.loads(text)
    variants = config.variants()
    with _stop_on_signals() as request:
        request.immediate, request.on_setup_stop = True, rundir.abort
        try:
            rundir.stage({"config.toml": text}, config_sha256=config_digest(written), config=written,
                         command=" ".join(sys.argv))
            first = type(variants[0][1].model).problem_class(variants[0][1], comm).initialise()
            request.immediate = False
        except BaseException:
            request.immediate = False
            rundir.abort()
            raise
        rundir.commit()
        try:
            if not quiet:
                rank0_print(f"fem-spin: running '{config.name}' ({len(variants)} run(s)) -> "
                            f"{rundir.path}", comm=comm)
            _run_variants(config, rundir.path, variants, comm, quiet, request, first_problem=first)
        finally:
            rundir.release()
    if not quiet:
        rank0_print(f"fem-spin: results in {rundir.path}", comm=comm)
    return rundir.path


def _resume_plan(config: RunConfig, path: Path, variants, comm) -> dict[str, str]:
    """Per variant: "done" (completed up to its t_end), "resume" (from its checkpoint, or from
    results.csv for a stationary model), or "run" (never started). Checkpoints to be read are
    verified here, before anything is changed (rank 0; the error is raised on every rank)."""
    from fem_spin.io import checkpoint as ckpt

    steady = type(config.model).problem_class.steady
    plan, error = {}, None
    if comm.rank == 0:
        for label, cfg in variants:
            directory = path / _slug(label) if label else path
            try:
                summary = json.loads((directory / "summary.json").read_text())
            except (OSError, ValueError):
                summary = {}
            completed = summary.get("status") == "completed"
            reached = steady or (completed and isinstance(summary.get("t_final"), (int, float))
                                 and summary["t_final"] >= cfg.time.t_end * (1 - 1e-12))
            if completed and reached:
                plan[label] = "done"
            elif steady:
                plan[label] = "resume"
            elif ckpt.has_checkpoint(directory) or (directory / ckpt.CHECKPOINT_DIR).exists():
                plan[label] = "resume"
                try:
                    ckpt.verify_checkpoint(directory)
                except ckpt.CheckpointError as exc:
                    error = exc
                    break
            elif completed:
                error = ConfigError("time.t_end", f"{directory} completed at t = "
                                    f"{summary.get('t_final')} s without a final checkpoint "
                                    f"(output.checkpoint_interval = 0): it cannot be extended")
                break
            elif summary or (directory / "timeseries.csv").exists():
                # it ran, but left no checkpoint (deleted, or killed before the first one):
                # starting again from t = 0 would overwrite what it wrote
                error = ckpt.CheckpointError(
                    f"{directory / ckpt.CHECKPOINT_DIR}: missing, so the run cannot be resumed; "
                    f"start it again with fem-spin run --overwrite")
                break
            else:
                plan[label] = "run"
    plan, error = comm.bcast((plan, error), root=0)
    if error is not None:
        raise error
    return plan


def resume(run_dir: str | Path, comm: MPI.Comm = MPI.COMM_WORLD, quiet: bool = False, *,
           t_end: float | None = None, allow_config_change: bool = False) -> Path:
    """Continue a stopped run (SIGTERM, a failure, time.max_steps) from its checkpoints, on
    any number of ranks. Variants of a sweep that completed are kept, stopped ones resume
    from their verified checkpoint, ones that never started run from t = 0.

    config.toml must be the one the run started with (compared with the digest in the run
    directory's marker): an edited one is refused unless ``allow_config_change``, which is
    recorded in summary.json and the marker. ``t_end`` extends a run (also a completed one,
    from its final checkpoint)."""
    import tomllib

    from fem_spin.io.rundir import (MARKER, changed_keys, config_digest, locked, read_marker,
                                    write_marker)

    path = Path(run_dir)
    config_file = path / "config.toml"
    found = comm.bcast((path.is_dir(), config_file.is_file(), path.exists()) if comm.rank == 0
                       else None, root=0)
    if not found[0]:
        raise FileNotFoundError(f"{path}: not a directory" if found[2] else
                                f"{path}: no such run directory")
    if not found[1]:
        raise FileNotFoundError(f"{path}: not a run directory (no config.toml)")
    with _stop_on_signals() as request, locked(path, comm):
        text, marker = comm.bcast((config_file.read_text(errors="replace"), read_marker(path))
                                  if comm.rank == 0 else None, root=0)
        try:
            raw = tomllib.loads(text)
        except ValueError as exc:
            raise ConfigError("", f"not valid TOML: {exc}", file=str(config_file)) from None
        changes = []
        if marker and "config_sha256" in marker and config_digest(raw) != marker["config_sha256"]:
            keys = changed_keys(marker.get("config", {}), raw) or ["(unknown keys)"]
            if not allow_config_change:
                raise ConfigError("", f"edited since the run started (changed: {', '.join(keys)}); "
                                  f"resuming would change the run midway. Restore it, or pass "
                                  f"--allow-config-change to resume with the edit (recorded in "
                                  f"summary.json); to run longer use --t-end T",
                                  file=str(config_file))
            changes.append({"keys": keys, "how": "--allow-config-change"})
        if t_end is not None:
            section = raw.get("time")
            if not isinstance(section, dict) or "t_end" not in section:
                raise ConfigError("--t-end", f"the run in {path} has no time.t_end (a stationary "
                                  f"model): there is nothing to extend", file="command line")
            if not t_end > section["t_end"]:
                raise ConfigError("--t-end", f"must exceed the run's time.t_end = {section['t_end']} s "
                                  f"(got {t_end})", file="command line")
            changes.append({"keys": ["time.t_end"], "from": section["t_end"], "to": t_end,
                            "how": "--t-end"})
            section["t_end"] = t_end
        config = parse_config(raw, source=str(config_file), base_dir=path)
        variants = config.variants()
        plan = _resume_plan(config, path, variants, comm)
        if changes and comm.rank == 0:
            # the checkpoints are verified: now the run directory takes the new configuration
            new_text = dump_toml(raw)
            info = {k: v for k, v in (marker or {}).items()
                    if k not in ("fem_spin", "created", "config_sha256", "config")}
            info["changes"] = [*info.get("changes", []), *changes]
            tmp = path / ".config.toml.tmp"
            tmp.write_text(new_text)
            tmp.replace(config_file)
            write_marker(path, config_sha256=config_digest(tomllib.loads(new_text)),
                         config=tomllib.loads(new_text), **info)
        elif not marker and comm.rank == 0:
            write_marker(path, name=config.name, config_sha256=config_digest(raw), config=raw,
                         note=f"{MARKER} added by fem-spin resume")
        comm.barrier()
        if not quiet:
            todo = sum(v != "done" for v in plan.values())
            rank0_print(f"fem-spin: resuming '{config.name}' ({todo} of {len(variants)} run(s) to "
                        f"finish) in {path}", comm=comm)
        _run_variants(config, path, variants, comm, quiet, request, resume_from=plan,
                      config_changes=changes or None)
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
